"""A pyusb backend (usb.backend.IBackend) that plays a Huawei-like NCM modem, for unit tests.

It answers the descriptors, the NCM class requests and string descriptors, enforces the spec's
"only in alternate setting 0" rules, sends SPEED_CHANGE + NETWORK_CONNECTION packed into one
interrupt transfer when the host selects the data setting, and on the bulk endpoints plays the
network: it answers ARP for its address, Neighbor Solicitations for its link-local address and
ICMP/ICMPv6 echo for any destination.  Its NTB parser and builder are written separately from
`ncm.ntb` (NDP after the datagrams, like Linux's f_ncm), so the two check each other.

Descriptors: `huawei_class_ncm()` is the class-compliant function (02/0d/00 + 0a/00/01, as the
E3372h-320 in 12d1:155e mode); `huawei_vendor_ncm()` uses vendor classes (ff/02/16 control and
ff/03/16 data, the huawei_cdc_ncm match table) behind two vendor serial interfaces, so only the
functional descriptors tell where the NCM function is.  Neither is a byte copy of a real device.
"""

from __future__ import annotations

import array
import errno
import queue
import struct
import threading
import time
from dataclasses import dataclass, field

import usb.backend
import usb.core

ETIMEDOUT_ERR = ("Operation timed out", -7, errno.ETIMEDOUT)
NODEV_ERR = ("No such device (it may have been disconnected)", -4, errno.ENODEV)
IO_ERR = ("Input/Output Error", -1, errno.EIO)
PIPE_ERR = ("Pipe error", -9, errno.EPIPE)

DEVICE_MAC = bytes.fromhex("001e101f0000")
HOST_MAC_STRING = "0C5B8F279A64"
HOST_MAC = bytes.fromhex(HOST_MAC_STRING)
DEVICE_IP = bytes([10, 10, 1, 2])
HOST_IP = bytes([10, 10, 1, 1])
DEVICE_LL = bytes.fromhex("fe80000000000000021e10fffe1f0000")


class _D:
    """A descriptor: attributes only (what pyusb's core reads)."""

    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


def _ep(addr: int, attrs: int, mps: int, interval: int = 0) -> _D:
    return _D(bLength=7, bDescriptorType=5, bEndpointAddress=addr, bmAttributes=attrs, wMaxPacketSize=mps,
              bInterval=interval, bRefresh=0, bSynchAddress=0, extra_descriptors=[])


def _intf(num: int, alt: int, cls: tuple[int, int, int], eps: list[_D], extra: bytes = b"") -> _D:
    return _D(bLength=9, bDescriptorType=4, bInterfaceNumber=num, bAlternateSetting=alt, bNumEndpoints=len(eps),
              bInterfaceClass=cls[0], bInterfaceSubClass=cls[1], bInterfaceProtocol=cls[2], iInterface=0,
              extra_descriptors=list(extra), endpoints=eps)


def ncm_functional_descriptors(control: int, data: int, mac_index: int = 4, caps: int = 0x11) -> bytes:
    header = bytes([5, 0x24, 0x00]) + struct.pack("<H", 0x0110)
    union = bytes([5, 0x24, 0x06, control, data])
    ether = bytes([13, 0x24, 0x0F, mac_index]) + struct.pack("<IHHB", 0, 1514, 0, 0)
    ncm = bytes([6, 0x24, 0x1A]) + struct.pack("<HB", 0x0100, caps)
    return header + union + ether + ncm


def huawei_class_ncm() -> list[list[_D]]:
    fd = ncm_functional_descriptors(0, 1)
    return [
        [_intf(0, 0, (0x02, 0x0D, 0x00), [_ep(0x83, 3, 16, 9)], fd)],
        [_intf(1, 0, (0x0A, 0x00, 0x01), []),
         _intf(1, 1, (0x0A, 0x00, 0x01), [_ep(0x81, 2, 512), _ep(0x02, 2, 512)])],
    ]


def huawei_vendor_ncm() -> list[list[_D]]:
    fd = ncm_functional_descriptors(2, 3)
    return [
        [_intf(0, 0, (0xFF, 0x02, 0x01), [_ep(0x84, 2, 512), _ep(0x05, 2, 512)])],      # modem (PPP)
        [_intf(1, 0, (0xFF, 0x02, 0x02), [_ep(0x86, 2, 512), _ep(0x07, 2, 512)])],      # PCUI (AT)
        [_intf(2, 0, (0xFF, 0x02, 0x16), [_ep(0x83, 3, 64, 9)], fd)],
        [_intf(3, 0, (0xFF, 0x03, 0x16), []),
         _intf(3, 1, (0xFF, 0x03, 0x16), [_ep(0x81, 2, 512), _ep(0x02, 2, 512)])],
    ]


# ---------------------------------------------------------------- an independent NTB codec

def parse_ntb_device(block: bytes) -> list[bytes]:
    """The device's own reading of an NTB (NTB16 or NTB32), raising AssertionError when bad."""
    sig = block[:4]
    if sig == b"NCMH":
        _, hlen, _seq, blen, ndp = struct.unpack_from("<4sHHHH", block)
        assert hlen == 12 and blen <= len(block), (hlen, blen, len(block))
        frames = []
        while ndp:
            assert ndp % 4 == 0 and block[ndp:ndp + 4] == b"NCM0", block[ndp:ndp + 4]
            wlen, nxt = struct.unpack_from("<HH", block, ndp + 4)
            for k in range(ndp + 8, ndp + wlen, 4):
                idx, ln = struct.unpack_from("<HH", block, k)
                if idx == 0 or ln == 0:
                    break
                assert idx + ln <= blen
                frames.append(block[idx:idx + ln])
            ndp = nxt
        return frames
    assert sig == b"ncmh", sig
    _, hlen, _seq, blen, ndp = struct.unpack_from("<4sHHII", block)
    assert hlen == 16 and blen <= len(block)
    frames = []
    while ndp:
        assert ndp % 4 == 0 and block[ndp:ndp + 4] == b"ncm0"
        wlen, _r, nxt = struct.unpack_from("<HHI", block, ndp + 4)
        for k in range(ndp + 16, ndp + wlen, 8):
            idx, ln = struct.unpack_from("<II", block, k)
            if idx == 0 or ln == 0:
                break
            frames.append(block[idx:idx + ln])
        ndp = nxt
    return frames


def _ndp_after_datagrams(block: bytes) -> bool:
    ntb32 = block[:4] == b"ncmh"
    ndp = struct.unpack_from("<I" if ntb32 else "<H", block, 12 if ntb32 else 10)[0]
    first = struct.unpack_from("<I" if ntb32 else "<H", block, ndp + (16 if ntb32 else 8))[0]
    return ndp > first


def build_ntb_device(frames: list[bytes], ntb32: bool = False, seq: int = 0) -> bytes:
    """f_ncm's layout: NTH, datagrams 4-aligned, then the NDP (with its zero entry)."""
    hlen = 16 if ntb32 else 12
    body = bytearray(hlen)
    entries = []
    for f in frames:
        body += bytes(-len(body) % 4)
        entries.append((len(body), len(f)))
        body += f
    body += bytes(-len(body) % 4)
    ndp = len(body)
    if ntb32:
        wlen = 16 + 8 * (len(entries) + 1)
        body += struct.pack("<4sHHII", b"ncm0", wlen, 0, 0, 0)
        for e in entries:
            body += struct.pack("<II", *e)
        body += bytes(8)
        struct.pack_into("<4sHHII", body, 0, b"ncmh", 16, seq, len(body), ndp)
    else:
        wlen = 8 + 4 * (len(entries) + 1)
        body += struct.pack("<4sHH", b"NCM0", wlen, 0)
        for e in entries:
            body += struct.pack("<HH", *e)
        body += bytes(4)
        struct.pack_into("<4sHHHH", body, 0, b"NCMH", 12, seq, len(body), ndp)
    return bytes(body)


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# ---------------------------------------------------------------- the device

@dataclass
class FakeNcmModem:
    """The device's state; tests read `requests`, `rx_frames` and friends."""
    layout: list[list[_D]] = field(default_factory=huawei_class_ncm)
    vid: int = 0x12D1
    pid: int = 0x155E
    params: bytes = struct.pack("<HHIHHHHIHHHH", 28, 0x0003, 32768, 4, 0, 4, 0, 16384, 4, 0, 4, 0)
    connect_on_alt: bool = True
    arp_host_on_connect: bool = True
    answer_arp: bool = True
    kernel_driver: bool = True
    require_ndp_at_end: bool = False      # E5785/E5885-style firmware (huawei_cdc_ncm's NDP_TO_END)
    # A device that is behind: each bulk OUT transfer takes this long; the next `write_timeouts`
    # writes time out with nothing taken; the next `cut_writes` take whole packets of the first
    # half and time out (pyusb then returns the count).  `cut_reads`: reads that time out after
    # the first half of a block, whose rest comes with the next read.
    write_delay: float = 0.0
    write_timeouts: int = 0
    cut_writes: int = 0
    cut_reads: int = 0
    max_packet: int = 512

    def __post_init__(self) -> None:
        self.requests: list[tuple[int, int, int, int, bytes]] = []
        self.alt: dict[int, int] = {}
        self.ntb32 = False
        self.input_size: int | None = None
        self.rx_blocks: list[bytes] = []
        self.rx_frames: list[bytes] = []
        self.bulk_in: queue.Queue[bytes | None] = queue.Queue()
        self.notify_in: queue.Queue[bytes | None] = queue.Queue()
        self.detached: set[int] = set()
        self.unplugged = threading.Event()
        self._io_errors_until = 0.0
        self._out_held = b""                  # a transfer cut off by a timeout, continued next write
        self._in_rest = b""
        self.cut_write_count = self.cut_read_count = self.timed_out_writes = 0
        self.echo_replies = 0
        self.dropped_blocks = 0
        self.seq = 0
        ctrl, data = self._ncm_numbers()
        self.control_if, self.data_if = ctrl, data

    def _ncm_numbers(self) -> tuple[int, int]:
        for settings in self.layout:
            if settings[0].bInterfaceClass in (0x02, 0xFF) and settings[0].extra_descriptors:
                ex = bytes(settings[0].extra_descriptors)
                i = ex.index(bytes([5, 0x24, 0x06]))
                return ex[i + 3], ex[i + 4]
        return -1, -1          # a device without an NCM function (serial ports only)

    # -- test controls ---------------------------------------------------------------------
    def unplug(self, io_errors: float = 0.0) -> None:
        """Gone from the bus.  ``io_errors``: for that long every transfer first fails with EIO,
        as on Linux when the host controller fails URBs in flight (-EPROTO) before the hub
        reports the disconnect and usbfs answers ENODEV."""
        self._io_errors_until = time.monotonic() + io_errors
        self.unplugged.set()
        self.bulk_in.put(None)
        self.notify_in.put(None)

    def gone(self) -> usb.core.USBError:
        return usb.core.USBError(*(IO_ERR if time.monotonic() < self._io_errors_until else NODEV_ERR))

    def notify(self, data: bytes) -> None:
        self.notify_in.put(data)

    def send_frames(self, frames: list[bytes]) -> None:
        self.seq = (self.seq + 1) & 0xFFFF
        self.bulk_in.put(build_ntb_device(frames, self.ntb32, self.seq))

    def send_block(self, block: bytes) -> None:
        self.bulk_in.put(block)

    # -- USB side --------------------------------------------------------------------------
    def control(self, rt: int, req: int, value: int, index: int, data: array.array) -> int:
        if self.unplugged.is_set():
            raise self.gone()
        self.requests.append((rt, req, value, index, bytes(data) if rt & 0x80 == 0 else b""))
        if rt == 0x80 and req == 6:                      # GET_DESCRIPTOR
            return self._get_descriptor(value, data)
        if rt & 0x7F != 0x21 or index != self.control_if:
            raise usb.core.USBError(*PIPE_ERR)
        in_alt0 = self.alt.get(self.data_if, 0) == 0
        if rt == 0xA1 and req == 0x80:                   # GET_NTB_PARAMETERS
            n = min(len(data), len(self.params))
            data[:n] = array.array("B", self.params[:n])
            return n
        if rt == 0x21 and req == 0x84 and in_alt0 and value in (0, 1):      # SET_NTB_FORMAT
            self.ntb32 = value == 1
            return 0
        if rt == 0x21 and req == 0x86 and in_alt0 and len(data) in (4, 8):  # SET_NTB_INPUT_SIZE
            size = struct.unpack_from("<I", bytes(data))[0]
            in_max = struct.unpack_from("<I", self.params, 4)[0]
            if not 2048 <= size <= in_max:
                raise usb.core.USBError(*PIPE_ERR)
            self.input_size = size
            return len(data)
        if rt == 0x21 and req in (0x8A, 0x43):           # SET_CRC_MODE, SET_ETHERNET_PACKET_FILTER
            return 0
        raise usb.core.USBError(*PIPE_ERR)

    def _get_descriptor(self, value: int, data: array.array) -> int:
        if value >> 8 != 3:
            raise usb.core.USBError(*PIPE_ERR)
        idx = value & 0xFF
        if idx == 0:
            raw = bytes([4, 3, 0x09, 0x04])
        elif idx == 4:
            text = HOST_MAC_STRING.encode("utf-16-le")
            raw = bytes([2 + len(text), 3]) + text
        else:
            text = "HUAWEI_MOBILE".encode("utf-16-le")
            raw = bytes([2 + len(text), 3]) + text
        n = min(len(data), len(raw))
        data[:n] = array.array("B", raw[:n])
        return n

    def set_alt(self, intf: int, alt: int) -> None:
        if self.unplugged.is_set():
            raise self.gone()
        self.alt[intf] = alt
        if intf == self.data_if and alt == 1 and self.connect_on_alt:
            # SPEED_CHANGE (with DLBitRRate, ULBitRate) and NETWORK_CONNECTION=1 in one transfer
            packed = (struct.pack("<BBHHHII", 0xA1, 0x2A, 0, self.control_if, 8, 150_000_000, 50_000_000)
                      + struct.pack("<BBHHH", 0xA1, 0x00, 1, self.control_if, 0))
            self.notify_in.put(packed)
            if self.arp_host_on_connect:
                self.send_frames([b"\xff" * 6 + DEVICE_MAC + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
                                  + DEVICE_MAC + DEVICE_IP + bytes(6) + HOST_IP])

    def bulk_out(self, data: bytes) -> int:
        if self.unplugged.is_set():
            raise self.gone()
        if self.alt.get(self.data_if, 0) != 1:
            raise usb.core.USBError(*PIPE_ERR)
        if self.write_delay:
            time.sleep(self.write_delay)
        if self.write_timeouts:
            self.write_timeouts -= 1
            self.timed_out_writes += 1
            raise usb.core.USBTimeoutError(*ETIMEDOUT_ERR)
        taken = len(data)
        if self.cut_writes and len(data) >= 2 * self.max_packet:
            self.cut_writes -= 1
            self.cut_write_count += 1
            k = len(data) // 2 // self.max_packet * self.max_packet
            self._out_held += data[:k]
            return k                          # what pyusb returns for a timeout after k bytes
        data, self._out_held = self._out_held + data, b""
        self.rx_blocks.append(data)
        if self.require_ndp_at_end and not _ndp_after_datagrams(data):
            self.dropped_blocks += 1          # such firmware silently ignores other layouts
            return len(data)
        frames = parse_ntb_device(data)
        self.rx_frames.extend(frames)
        replies = [r for f in frames if (r := self._answer(f)) is not None]
        if replies:
            self.send_frames(replies)
        return taken

    def _answer(self, f: bytes) -> bytes | None:
        et = f[12:14]
        if et == b"\x08\x06" and self.answer_arp and f[20:22] == b"\x00\x01" and f[38:42] == DEVICE_IP:
            return (f[6:12] + DEVICE_MAC + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + DEVICE_MAC
                    + DEVICE_IP + f[22:28] + f[28:32])
        if et == b"\x08\x00" and f[23] == 1 and f[34] == 8:                 # ICMP echo request
            ihl = (f[14] & 15) * 4
            ip = bytearray(f[14:])
            ip[12:16], ip[16:20] = f[30:34], f[26:30]
            ip[8] = 64
            ip[10:12] = b"\0\0"
            ip[10:12] = struct.pack("!H", _csum(bytes(ip[:ihl])))
            icmp = bytearray(ip[ihl:])
            icmp[0] = 0
            icmp[2:4] = b"\0\0"
            icmp[2:4] = struct.pack("!H", _csum(bytes(icmp)))
            self.echo_replies += 1
            return f[6:12] + DEVICE_MAC + b"\x08\x00" + bytes(ip[:ihl]) + bytes(icmp)
        if et == b"\x86\xdd" and f[20] == 58 and len(f) >= 62:
            src, dst, icmp = f[22:38], f[38:54], f[54:]
            if icmp[0] == 135 and icmp[8:24] == DEVICE_LL:                  # NS for us -> NA
                na = bytearray(struct.pack("!BBHI", 136, 0, 0, 0x60000000) + DEVICE_LL + b"\x02\x01" + DEVICE_MAC)
                pseudo = DEVICE_LL + src + struct.pack("!I3xB", len(na), 58)
                na[2:4] = struct.pack("!H", _csum(pseudo + bytes(na)))
                return (f[6:12] + DEVICE_MAC + b"\x86\xdd" + struct.pack("!IHBB", 0x60000000, len(na), 58, 255)
                        + DEVICE_LL + src + bytes(na))
            if icmp[0] == 128:                                              # echo request -> reply
                rep = bytearray(icmp)
                rep[0] = 129
                rep[2:4] = b"\0\0"
                pseudo = dst + src + struct.pack("!I3xB", len(rep), 58)
                rep[2:4] = struct.pack("!H", _csum(pseudo + bytes(rep)))
                self.echo_replies += 1
                return (f[6:12] + DEVICE_MAC + b"\x86\xdd" + struct.pack("!IHBB", 0x60000000, len(rep), 58, 64)
                        + dst + src + bytes(rep))
        return None


class FakeBackend(usb.backend.IBackend):
    """pyusb backend serving one or more FakeNcmModem devices."""

    def __init__(self, *modems: FakeNcmModem) -> None:
        super().__init__()
        self.modems = list(modems)
        self.config_value: dict[int, int] = {}

    def enumerate_devices(self):  # noqa: ANN201 - IBackend's signature
        return iter(range(len(self.modems)))

    def get_device_descriptor(self, dev: int) -> _D:
        m = self.modems[dev]
        return _D(bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
                  bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=m.vid, idProduct=m.pid, bcdDevice=0x0102,
                  iManufacturer=1, iProduct=2, iSerialNumber=0, bNumConfigurations=1, address=dev + 2, bus=1,
                  port_number=dev + 1, port_numbers=(dev + 1,), speed=3)

    def get_configuration_descriptor(self, dev: int, config: int) -> _D:
        if config != 0:
            raise IndexError(config)
        m = self.modems[dev]
        return _D(bLength=9, bDescriptorType=2, wTotalLength=0, bNumInterfaces=len(m.layout), bConfigurationValue=1,
                  iConfiguration=0, bmAttributes=0xA0, bMaxPower=250, extra_descriptors=[])

    def get_interface_descriptor(self, dev: int, intf: int, alt: int, config: int) -> _D:
        settings = self.modems[dev].layout[intf]
        if alt >= len(settings):
            raise IndexError(alt)
        return settings[alt]

    def get_endpoint_descriptor(self, dev: int, ep: int, intf: int, alt: int, config: int) -> _D:
        return self.modems[dev].layout[intf][alt].endpoints[ep]

    def open_device(self, dev: int) -> int:
        if self.modems[dev].unplugged.is_set():
            raise usb.core.USBError(*NODEV_ERR)
        return dev

    def close_device(self, handle: int) -> None:
        pass

    def set_configuration(self, handle: int, value: int) -> None:
        self.config_value[handle] = value

    def get_configuration(self, handle: int) -> int:
        return self.config_value.get(handle, 1)

    def set_interface_altsetting(self, handle: int, intf: int, alt: int) -> None:
        self.modems[handle].set_alt(intf, alt)

    def claim_interface(self, handle: int, intf: int) -> None:
        m = self.modems[handle]
        if m.kernel_driver and intf in (m.control_if, m.data_if) and intf not in m.detached:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)

    def release_interface(self, handle: int, intf: int) -> None:
        pass

    def is_kernel_driver_active(self, handle: int, intf: int) -> bool:
        m = self.modems[handle]
        return m.kernel_driver and intf in (m.control_if, m.data_if) and intf not in m.detached

    def detach_kernel_driver(self, handle: int, intf: int) -> None:
        self.modems[handle].detached.add(intf)

    def attach_kernel_driver(self, handle: int, intf: int) -> None:
        self.modems[handle].detached.discard(intf)

    def clear_halt(self, handle: int, ep: int) -> None:
        pass

    def ctrl_transfer(self, handle: int, rt: int, req: int, value: int, index: int, data: array.array,
                      timeout: int) -> int:
        return self.modems[handle].control(rt, req, value, index, data)

    @staticmethod
    def _take(q: queue.Queue, m: FakeNcmModem, buff: array.array, timeout: int) -> int:
        if m.unplugged.is_set():
            raise m.gone()
        try:
            data = q.get(timeout=max(timeout, 1) / 1000)
        except queue.Empty:
            raise usb.core.USBTimeoutError(*ETIMEDOUT_ERR) from None
        if data is None:
            q.put(None)
            raise m.gone()
        if len(data) > len(buff):
            raise usb.core.USBError("Overflow", -8, errno.EOVERFLOW)
        buff[:len(data)] = array.array("B", data)
        return len(data)

    def bulk_read(self, handle: int, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        m = self.modems[handle]
        if m._in_rest and not m.unplugged.is_set():
            rest, m._in_rest = m._in_rest, b""
            buff[:len(rest)] = array.array("B", rest)
            return len(rest)
        n = self._take(m.bulk_in, m, buff, timeout)
        if m.cut_reads and n >= 2 * m.max_packet:
            m.cut_reads -= 1
            m.cut_read_count += 1
            k = n // 2 // m.max_packet * m.max_packet
            m._in_rest = bytes(buff[k:n])
            return k                          # pyusb: a timeout after k bytes returns k
        return n

    def intr_read(self, handle: int, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        m = self.modems[handle]
        return self._take(m.notify_in, m, buff, timeout)

    def bulk_write(self, handle: int, ep: int, intf: int, data: array.array, timeout: int) -> int:
        return self.modems[handle].bulk_out(bytes(data))
