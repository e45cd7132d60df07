"""Runs inside the NCM guest: talk to Linux's NCM gadget with pyusb and hand-built NTB16 blocks.

Independent of the ncm package on purpose (it checks the gadget and the guest, not our codec):
GET_NTB_PARAMETERS, alt-setting 1, the connection notification, then an ARP request and an
ICMP echo request to the gadget's usb0, each answered through NTB16. Prints one JSON line.
"""

import json
import struct
import sys
import time

import usb.core
import usb.util

VID, PID = int(sys.argv[1], 0), int(sys.argv[2], 0)
HOST_MAC = bytes.fromhex(sys.argv[3].replace(":", ""))
GADGET_IP = bytes(int(x) for x in sys.argv[4].split("."))
HOST_IP = bytes(int(x) for x in sys.argv[5].split("."))

dev = None
for _ in range(100):
    dev = usb.core.find(idVendor=VID, idProduct=PID)
    if dev is not None:
        break
    time.sleep(0.05)
assert dev is not None, "gadget not enumerated"
cfg = dev.get_active_configuration()
comm = next(i for i in cfg if i.bInterfaceClass == 2 and i.bInterfaceSubClass == 0x0D)
data_if = comm.bInterfaceNumber + 1
for n in (comm.bInterfaceNumber, data_if):
    if dev.is_kernel_driver_active(n):
        dev.detach_kernel_driver(n)
    usb.util.claim_interface(dev, n)

raw = bytes(dev.ctrl_transfer(0xA1, 0x80, 0, comm.bInterfaceNumber, 28))   # GET_NTB_PARAMETERS
(w_length, formats, in_max, in_div, in_rem, in_align, _res, out_max, out_div, out_rem, out_align,
 out_max_dgrams) = struct.unpack("<HHIHHHHIHHHH", raw)

dev.set_interface_altsetting(interface=data_if, alternate_setting=1)
intf = cfg[(data_if, 1)]
ep_in = next(e for e in intf if usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN)
ep_out = next(e for e in intf if usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_OUT)
ep_int = comm[0]

notes = []
t_end = time.monotonic() + 3
while time.monotonic() < t_end and not any(n[1] == 0x00 and n[2] == 1 for n in notes):
    try:
        buf = bytes(ep_int.read(64, timeout=500))
    except usb.core.USBTimeoutError:
        continue
    while len(buf) >= 8:   # several notifications may share one read
        req, value, length = buf[1], buf[2] | buf[3] << 8, buf[6] | buf[7] << 8
        notes.append((buf[0], req, value))
        buf = buf[8 + length:]

seq = 0


def ntb16(frame: bytes) -> bytes:
    global seq
    dgram_off = 32
    ndp = b"NCM0" + struct.pack("<HH", 16, 0) + struct.pack("<HHHH", dgram_off, len(frame), 0, 0)
    block_len = dgram_off + len(frame)
    nth = b"NCMH" + struct.pack("<HHHH", 12, seq, block_len, 12)
    seq += 1
    return nth + ndp + b"\x00" * (dgram_off - 28) + frame


def parse_ntb16(block: bytes) -> list:
    assert block[:4] == b"NCMH", block[:16]
    _hl, _seq, blen, ndp_idx = struct.unpack_from("<HHHH", block, 4)
    frames = []
    while ndp_idx:
        assert block[ndp_idx:ndp_idx + 4] in (b"NCM0", b"NCM1")
        length, nxt = struct.unpack_from("<HH", block, ndp_idx + 4)
        for off in range(ndp_idx + 8, ndp_idx + length, 4):
            idx, ln = struct.unpack_from("<HH", block, off)
            if idx == 0 or ln == 0:
                break
            frames.append(block[idx:idx + ln])
        ndp_idx = nxt
    return frames


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def wait_frame(pred, timeout=5.0):
    seen = 0
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            block = bytes(ep_in.read(in_max, timeout=500))
        except usb.core.USBTimeoutError:
            continue
        for f in parse_ntb16(block):
            seen += 1
            if pred(f):
                return f, seen
    return None, seen


def ask(frame: bytes, pred, tries: int = 4, each: float = 1.5):
    """Send `frame` and wait for the answer, again up to `tries` times, as ARP and ping do: the
    gadget's usb0 may still be coming up (under load its connection notice can take longer than
    the 3 s waited above) and drops what comes before."""
    seen_all = 0
    for _ in range(tries):
        ep_out.write(ntb16(frame))
        got, seen = wait_frame(pred, each)
        seen_all += seen
        if got is not None:
            return got, seen_all
    return None, seen_all


arp = (b"\xff" * 6 + HOST_MAC + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
       + HOST_MAC + HOST_IP + b"\x00" * 6 + GADGET_IP)
reply, seen = ask(arp, lambda f: f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and f[28:32] == GADGET_IP)
assert reply is not None, f"no ARP reply to 4 requests (saw {seen} frames; notifications {notes})"
gadget_mac = reply[6:12]

payload = bytes(range(256)) * 4
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + payload
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 7, 0, 64, 1, 0, HOST_IP, GADGET_IP)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
t0 = time.monotonic()
echo, seen2 = ask(gadget_mac + HOST_MAC + b"\x08\x00" + ip + icmp,
                  lambda f: f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 0 and f[26:30] == GADGET_IP)
rtt = time.monotonic() - t0
assert echo is not None, f"no ICMP echo reply to 4 requests (saw {seen2} frames)"

print(json.dumps({
    "w_length": w_length, "formats": formats, "in_max": in_max, "in_divisor": in_div, "in_align": in_align,
    "out_max": out_max, "out_divisor": out_div, "out_remainder": out_rem, "out_align": out_align,
    "out_max_datagrams": out_max_dgrams, "notifications": notes, "gadget_mac": gadget_mac.hex(":"),
    "echo_payload_ok": echo[42:] == payload, "rtt_ms": round(rtt * 1000, 2),
}))
