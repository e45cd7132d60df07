"""The virtual E3372h-320's "firmware": runs inside the vstick guest, as root, on the gadget side.

Run as ``python3 -m tests.guest.vstick_fw`` (the checkout on PYTHONPATH). It builds two configfs
gadgets on dummy_hcd's device controller and plays the stick:

* **Stage 1 (12d1:1f01, CD-ROM mode)**: one mass-storage interface (08/06/50) implemented here
  over FunctionFS (usb_f_fs). Why not Linux's own mass-storage function (usb_f_mass_storage)? It
  answers every command it does not know with ILLEGAL REQUEST and gives user space no hook: the
  Huawei switch is exactly such a command (CDB ``11 06 30 …``, with bCBWCBLength 0 in the thread's
  message), and the stick must react to it by leaving the bus. With FunctionFS we see every CBW,
  so this program answers the bulk-only transport and the SCSI commands usb-storage, the SCSI
  scan and sr send at bind time (INQUIRY, TEST UNIT READY, REQUEST SENSE, READ CAPACITY, MODE
  SENSE, READ(10), PREVENT ALLOW, GET MAX LUN on ep0, ...), refuses others with ILLEGAL REQUEST,
  and on the Huawei CDB unbinds stage 1 and binds stage 2, as the firmware re-enumerates.
* **Stage 2 (12d1:155e)**: three vendor-class serial interfaces, also over FunctionFS, because
  Linux's serial functions (usb_f_serial: ff/00/00; usb_f_acm: CDC 02/02) cannot carry Huawei's
  class codes, and those codes are what ``option`` and ``pppstack ports`` read. Behind each is
  this program: the project's simulated E3372 (pppstack.sim.SimModem) on the PCUI and modem
  ports, nothing on diag. After CONNECT on the modem port the bytes go to real pppd on a pty (the
  network's side); carrier (DCD) is reported to the host as CDC SERIAL_STATE on the interrupt
  endpoint, which ``option`` turns into the tty's DCD. Then Linux's usb_f_ncm as interfaces 3-4.

Layout and the unknowns: tests/guest/vstick_layout.py. Control: lines written to the FIFO
``/tmp/vstick/ctl`` (``replug``: power-cycle, back in CD-ROM mode; ``brownout SECONDS``: drop off
the bus and come back in CD-ROM mode after SECONDS; ``dcd-drop``: the modem port loses carrier;
``reset SECONDS``: NO CARRIER on the modem port, ^BOOT on the PCUI port, then off the bus and back
in CD-ROM mode after SECONDS).
State: ``/tmp/vstick/stage`` (``cdrom`` | ``stick``); log ``/tmp/vstick/fw.log``.
"""

from __future__ import annotations

import errno
import os
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import tty

from tests.guest import vstick_layout as L

RUN = "/tmp/vstick"
CONFIGFS = "/sys/kernel/config/usb_gadget"
UDC = "dummy_udc.0"
HS_BULK = 512

# FunctionFS (include/uapi/linux/usb/functionfs.h)
DESC_MAGIC_V2, STRINGS_MAGIC = 3, 2
HAS_FS_DESC, HAS_HS_DESC = 1, 2
EV_BIND, EV_UNBIND, EV_ENABLE, EV_DISABLE, EV_SETUP = 0, 1, 2, 3, 4


def log(msg: str) -> None:
    print(f"{time.monotonic():9.3f} {msg}", flush=True)


def write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


# --------------------------------------------------------------------------- FunctionFS plumbing

def _ep(addr: int, attr: int, fs_mps: int, hs_mps: int, hs_interval: int, fs_interval: int) -> tuple[bytes, bytes]:
    return (struct.pack("<BBBBHB", 7, 5, addr, attr, fs_mps, fs_interval),
            struct.pack("<BBBBHB", 7, 5, addr, attr, hs_mps, hs_interval))


def descriptors(cls: tuple[int, int, int], notify: bool, string: bool) -> bytes:
    """FunctionFS v2 descriptors: one interface, bulk IN (ep1), bulk OUT (ep2), [interrupt IN (ep3)]."""
    eps = [_ep(0x81, 2, 64, HS_BULK, 0, 0), _ep(0x02, 2, 64, HS_BULK, 0, 0)]
    if notify:
        eps.append(_ep(0x83, 3, L.NOTIFY_MAX_PACKET, L.NOTIFY_MAX_PACKET, L.NOTIFY_INTERVAL_HS, 32))
    intf = struct.pack("<BBBBBBBBB", 9, 4, 0, 0, len(eps), *cls, 1 if string else 0)
    fs = intf + b"".join(e[0] for e in eps)
    hs = intf + b"".join(e[1] for e in eps)
    body = struct.pack("<II", 1 + len(eps), 1 + len(eps)) + fs + hs
    return struct.pack("<III", DESC_MAGIC_V2, 12 + len(body), HAS_FS_DESC | HAS_HS_DESC) + body


def strings(text: str) -> bytes:
    body = struct.pack("<H", 0x0409) + text.encode() + b"\0"
    return struct.pack("<IIII", STRINGS_MAGIC, 16 + len(body), 1, 1) + body


class Ffs:
    """One FunctionFS instance: ep0 events handled in a thread; ep1 IN, ep2 OUT, ep3 notify IN."""

    def __init__(self, gadget: str, name: str, cls: tuple[int, int, int], notify: bool, string: str,
                 on_setup: object = None) -> None:
        self.name = name
        os.makedirs(f"{CONFIGFS}/{gadget}/functions/ffs.{name}", exist_ok=True)
        self.mnt = f"/dev/ffs-{name}"
        os.makedirs(self.mnt, exist_ok=True)
        subprocess.run(["mount", "-t", "functionfs", name, self.mnt], check=True)
        self.ep0 = os.open(f"{self.mnt}/ep0", os.O_RDWR)
        os.write(self.ep0, descriptors(cls, notify, True))
        os.write(self.ep0, strings(string))
        self.ep_in = os.open(f"{self.mnt}/ep1", os.O_RDWR)
        self.ep_out = os.open(f"{self.mnt}/ep2", os.O_RDWR)
        self.ep_notify = os.open(f"{self.mnt}/ep3", os.O_RDWR) if notify else None
        self.on_setup = on_setup      # (bRequestType, bRequest, wValue, wIndex, data) -> bytes | None
        self.enabled = threading.Event()
        threading.Thread(target=self._ep0_loop, name=f"{name}-ep0", daemon=True).start()

    def _ep0_loop(self) -> None:
        while True:
            try:
                raw = os.read(self.ep0, 12 * 4)
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.EAGAIN):
                    continue
                log(f"{self.name}: ep0 read: {exc}")
                time.sleep(0.1)
                continue
            for off in range(0, len(raw) - 11, 12):
                rtype, req, value, index, length, kind = struct.unpack_from("<BBHHHB", raw, off)
                if kind == EV_ENABLE:
                    self.enabled.set()
                elif kind in (EV_DISABLE, EV_UNBIND):
                    self.enabled.clear()
                elif kind == EV_SETUP:
                    self._setup(rtype, req, value, index, length)

    def _setup(self, rtype: int, req: int, value: int, index: int, length: int) -> None:
        try:
            if rtype & 0x80:                       # device to host: answer, or stall by reading
                answer = self.on_setup(rtype, req, value, index, b"") if self.on_setup else None
                if answer is None:
                    os.read(self.ep0, 0)
                else:
                    os.write(self.ep0, answer[:length])
            else:                                   # host to device: reading the data acks it
                data = os.read(self.ep0, length)
                if self.on_setup:
                    self.on_setup(rtype, req, value, index, data)
        except OSError as exc:
            if exc.errno != errno.EL2HLT:           # the stall we asked for
                log(f"{self.name}: setup {rtype:02x}/{req:02x}: {exc}")

    def read(self, size: int = 16384) -> bytes:
        """A blocking read of the bulk OUT endpoint; retries across unbind/rebind."""
        while True:
            try:
                return os.read(self.ep_out, size)
            except OSError as exc:
                if exc.errno not in (errno.ESHUTDOWN, errno.ECONNRESET, errno.EINTR, errno.EAGAIN, errno.ENODEV):
                    raise
                time.sleep(0.05)

    def write_in(self, data: bytes) -> bool:
        try:
            os.write(self.ep_in, data)
            return True
        except OSError:
            return False


# --------------------------------------------------------------------------- stage 1: the CD-ROM

SENSE_NONE = (0, 0, 0)
SENSE_ILLEGAL_OPCODE = (0x05, 0x20, 0x00)
SENSE_LBA_OUT_OF_RANGE = (0x05, 0x21, 0x00)


class CdRom:
    """Bulk-only transport (USB MSC BOT 1.0) and the SCSI commands a Linux host sends a CD-ROM."""

    def __init__(self, gadget: str, on_switch: object) -> None:
        self.on_switch = on_switch
        self.sense = SENSE_NONE
        self.image = self._image()
        self.ffs = Ffs(gadget, "storage", L.STORAGE_CLASS, False, "Mass Storage", self._setup)
        self.seen: list[str] = []
        threading.Thread(target=self._loop, name="storage", daemon=True).start()

    @staticmethod
    def _image() -> bytes:
        img = bytearray(L.CD_BLOCKS * 2048)
        # an ISO 9660 primary volume descriptor at block 16, so whoever looks sees a CD
        pvd = b"\x01CD001\x01\x00" + b"PPPSTACK VIRTUAL STICK".ljust(32) + b"MOBILE PARTNER".ljust(32)
        img[16 * 2048:16 * 2048 + len(pvd)] = pvd
        img[17 * 2048:17 * 2048 + 7] = b"\xffCD001\x01"
        return bytes(img)

    def _setup(self, rtype: int, req: int, value: int, index: int, data: bytes) -> bytes | None:
        if rtype == 0xA1 and req == 0xFE:   # GET MAX LUN: one LUN
            return b"\x00"
        return None                          # BULK-ONLY RESET (0x21/0xFF) is acked by the read

    def _loop(self) -> None:
        while True:
            cbw = self.ffs.read(HS_BULK)
            if len(cbw) != 31 or cbw[:4] != b"USBC":
                log(f"storage: not a CBW ({len(cbw)} bytes)")
                continue
            tag, length, flags, lun, _cblen = struct.unpack_from("<IIBBB", cbw, 4)
            cdb = cbw[15:31]
            data_in = bool(flags & 0x80)
            self.seen.append(f"{cdb[0]:02x}")
            if cdb[0] == 0x11 and cdb[1] == 0x06:
                log(f"storage: Huawei switch CDB {cdb.hex()}")
                self.on_switch(cdb)
                self._csw(tag, length, 0)
                continue
            if not data_in and length:
                got = 0
                while got < length:
                    got += len(self.ffs.read(min(65536, length - got + HS_BULK - 1) // HS_BULK * HS_BULK or HS_BULK))
            status, reply = self._scsi(cdb, length)
            if data_in and length:
                if status:
                    reply = bytes(length)            # fill data (BOT allows it), then a failed CSW
                reply = reply[:length]
                if len(reply) < length and len(reply) % HS_BULK == 0:
                    reply = reply + bytes(length - len(reply))   # a short transfer must end short
                if not self.ffs.write_in(reply):
                    continue
                residue = length - len(reply) if not status else length
            else:
                residue = 0 if not status else length
            self._csw(tag, residue, status)

    def _csw(self, tag: int, residue: int, status: int) -> None:
        self.ffs.write_in(b"USBS" + struct.pack("<IIB", tag, residue, status))

    def _fail(self, sense: tuple[int, int, int]) -> tuple[int, bytes]:
        self.sense = sense
        return 1, b""

    def _scsi(self, cdb: bytes, length: int) -> tuple[int, bytes]:
        op = cdb[0]
        if op == 0x12:                                          # INQUIRY
            if cdb[1] & 1:
                return self._fail(SENSE_ILLEGAL_OPCODE) if cdb[2] else (0, bytes([5, 0, 0, 1, 0]))
            data = bytes([0x05, 0x80, 0x02, 0x02, 31, 0, 0, 0]) + L.INQUIRY_VENDOR.ljust(8).encode() \
                + L.INQUIRY_PRODUCT.ljust(16).encode() + L.INQUIRY_REVISION.ljust(4).encode()
            return 0, data
        if op == 0x00 or op == 0x1E or op == 0x1B:             # TEST UNIT READY, PREVENT ALLOW, START STOP
            return 0, b""
        if op == 0x03:                                          # REQUEST SENSE (fixed format)
            key, asc, ascq = self.sense
            self.sense = SENSE_NONE
            return 0, bytes([0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq, 0, 0, 0, 0])
        if op == 0x25:                                          # READ CAPACITY(10)
            return 0, struct.pack(">II", L.CD_BLOCKS - 1, 2048)
        if op == 0x28:                                          # READ(10)
            lba, = struct.unpack_from(">I", cdb, 2)
            count, = struct.unpack_from(">H", cdb, 7)
            if lba + count > L.CD_BLOCKS:
                return self._fail(SENSE_LBA_OUT_OF_RANGE)
            return 0, self.image[lba * 2048:(lba + count) * 2048]
        if op == 0x1A:                                          # MODE SENSE(6): header, write-protected
            return 0, bytes([3, 0, 0x80, 0])
        if op == 0x5A:                                          # MODE SENSE(10)
            return 0, bytes([0, 6, 0, 0x80, 0, 0, 0, 0])
        return self._fail(SENSE_ILLEGAL_OPCODE)


# --------------------------------------------------------------------------- stage 2: serial ports

class SerialPort:
    """One vendor serial interface: bytes from the host arrive in a pipe for the main loop."""

    def __init__(self, gadget: str, spec: L.SerialInterface) -> None:
        self.spec = spec
        self.dtr = False
        self.events: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self.rfd, self.wfd = os.pipe()
        self.ffs = Ffs(gadget, spec.name, spec.cls, spec.notify, spec.string, self._setup)
        self.out_q: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.notify_q: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        threading.Thread(target=self._reader, name=f"{spec.name}-rx", daemon=True).start()
        threading.Thread(target=self._writer, name=f"{spec.name}-tx", daemon=True).start()
        if spec.notify:
            threading.Thread(target=self._notifier, name=f"{spec.name}-int", daemon=True).start()

    def _setup(self, rtype: int, req: int, value: int, index: int, data: bytes) -> bytes | None:
        if rtype == 0x21 and req == 0x22:          # SET_CONTROL_LINE_STATE: DTR is bit 0
            dtr = bool(value & 1)
            if dtr != self.dtr:
                self.dtr = dtr
                self.events.put(("dtr", dtr))
            return None
        if rtype == 0xA1 and req == 0x21:          # GET_LINE_CODING
            return struct.pack("<IBBB", 115200, 0, 0, 8)
        return None

    def _reader(self) -> None:
        while True:
            data = self.ffs.read()
            if data:
                os.write(self.wfd, data)

    def _writer(self) -> None:
        while True:
            data = self.out_q.get()
            # the host's read URB completes on a short packet: never end a write on a packet edge
            if len(data) % HS_BULK == 0:
                self.ffs.write_in(data[:-1])
                data = data[-1:]
            self.ffs.write_in(data)

    def _notifier(self) -> None:
        while True:
            data = self.notify_q.get()
            try:
                os.write(self.ffs.ep_notify, data)
            except OSError:
                pass

    def send(self, data: bytes) -> None:
        if data:
            self.out_q.put(data)

    def serial_state(self, dcd: bool, dsr: bool = True) -> None:
        """CDC SERIAL_STATE (PSTN 1.2 §6.5.4): bit 0 DCD, bit 1 DSR; option reads it as the tty's lines.

        Sent only while the host holds DTR (has the tty open): a notification the host does not
        poll for waits in the endpoint and would reach the next open as a stale carrier edge,
        which option turns into a hang-up of a tty that has just been opened."""
        if self.spec.notify and self.dtr:
            bits = (1 if dcd else 0) | (2 if dsr else 0)
            self.notify_q.put(struct.pack("<BBHHHH", 0xA1, 0x20, 0, self.spec.number, 2, bits))


class ModemFunction:
    """SimModem behind a serial port; after CONNECT on the modem port, real pppd on a pty."""

    def __init__(self, port: SerialPort, wrong_port: bool) -> None:
        from pppstack.sim.modem import Fault, SimConfig, SimModem

        self.port = port
        faults = {Fault.WRONG_PORT} if wrong_port else set()
        self.sim = SimModem(SimConfig(faults=frozenset(faults), signal_interval=0), os.urandom,
                            port_index=port.spec.number)
        self.sim.start(time.monotonic())
        self.pppd: subprocess.Popen[bytes] | None = None
        self.master: int | None = None
        self.slave: int | None = None
        self.ndis_up = False

    def fds(self) -> list[int]:
        return [self.port.rfd] + ([self.master] if self.master is not None else [])

    def timer(self) -> float | None:
        return None if self.master is not None else self.sim.get_timer()

    def on_readable(self, fd: int, now: float) -> None:
        if fd == self.port.rfd:
            data = os.read(self.port.rfd, 65536)
            if self.master is not None:
                try:
                    os.write(self.master, data)
                except OSError:
                    pass
                return
            self.sim.receive_data(data, now)
            self._pump(now)
        elif fd == self.master:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                data = b""
            if data:
                self.port.send(data)
            else:
                self.end_data("pppd closed its tty")

    def on_timer(self, now: float) -> None:
        if self.master is None:
            self.sim.handle_timer(now)
            self._pump(now)

    def on_dtr(self, dtr: bool, now: float) -> None:
        if dtr:
            self.sim.port_opened(now)
            self._pump(now)
        elif self.master is not None:            # AT&D2: DTR dropped in data mode hangs up
            self.end_data("DTR dropped")

    def _pump(self, now: float) -> None:
        from pppstack.sim.modem import Connected, PortHangup

        out = self.sim.data_to_send()
        connected = False
        while (e := self.sim.next_event()) is not None:
            if isinstance(e, Connected):
                connected = True
            elif isinstance(e, PortHangup):
                log(f"{self.port.spec.name}: hang-up ({e})")
                self.port.serial_state(dcd=False)
        if connected and self.port.spec.role == "modem":
            # the sim's own network side is not used: cut its output after the CONNECT line
            i = out.find(b"CONNECT")
            j = out.find(b"\r\n", i)
            out = out[:j + 2] if i >= 0 and j >= 0 else out
            self.port.send(out)
            self.port.serial_state(dcd=True)
            self._start_pppd()
            return
        if connected:
            self.port.serial_state(dcd=True)
        self.port.send(out)
        if self.sim.ndis_up != self.ndis_up:
            self.ndis_up = self.sim.ndis_up
            ncm_link(self.ndis_up)

    def _start_pppd(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)        # until pppd sets its modes, a cooked pty would echo the host's LCP back
        name = os.ttyname(slave)
        opts = [name, "115200", "local", "nocrtscts", "nodetach", "noauth", "debug", "logfile",
                f"{RUN}/pppd.log", f"{L.PPP_GATEWAY}:{L.PPP_CLIENT}", "ms-dns", L.PPP_DNS[0], "ms-dns",
                L.PPP_DNS[1], "noccp", "novj", "lcp-echo-interval", "0"]
        self.pppd = subprocess.Popen(["pppd", *opts], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(f"{RUN}/pppd.stderr", "ab"), preexec_fn=NETWORK.enter)
        self.slave = slave       # held open: a pty whose slave nobody holds reads EIO at the master
        self.master = master
        log(f"{self.port.spec.name}: CONNECT, pppd {self.pppd.pid} on {name}")

    def end_data(self, why: str) -> None:
        from pppstack.sim.modem import SimConfig, SimModem

        if self.pppd is not None and self.pppd.poll() is None:
            self.pppd.send_signal(signal.SIGTERM)
            try:
                self.pppd.wait(5)
            except subprocess.TimeoutExpired:
                self.pppd.kill()
                self.pppd.wait()
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None
        self.pppd = None
        log(f"{self.port.spec.name}: data mode ended ({why}): NO CARRIER")
        self.port.send(b"\r\nNO CARRIER\r\n")
        self.port.serial_state(dcd=False)
        self.sim = SimModem(SimConfig(signal_interval=0), os.urandom, port_index=self.port.spec.number)
        self.sim.start(time.monotonic())

    def carrier_lost(self) -> None:
        """The network drops the bearer: DCD falls first, and no PPP goodbye (pppd is killed)."""
        if self.master is None:
            return
        self.port.serial_state(dcd=False)
        time.sleep(0.5)
        if self.pppd is not None and self.pppd.poll() is None:
            self.pppd.kill()
        self.end_data("carrier lost")

    def power_off(self) -> None:
        if self.master is not None:
            self.end_data("power off")


class Network:
    """The mobile network behind the stick: its own network namespace, so what the host side sends
    there really crosses USB (in one namespace the kernel would answer it locally), and the host
    side (pppstack) runs in the root namespace as a user runs it. pppd and the NCM gadget's usb0
    live here."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", "1000000"])
        path = f"/proc/{self.holder.pid}/ns/net"
        deadline = time.monotonic() + 10
        while os.readlink(path) == os.readlink("/proc/self/ns/net") and time.monotonic() < deadline:
            time.sleep(0.02)
        self.path = path
        self.run("ip link set lo up")

    def enter(self) -> None:
        import ctypes

        fd = os.open(self.path, os.O_RDONLY)
        if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:   # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns")
        os.close(fd)

    def run(self, cmd: str) -> None:
        subprocess.run(["sh", "-c", cmd], preexec_fn=self.enter)


NETWORK: Network


def ncm_link(up: bool) -> None:
    """^NDISDUP: the network behind the NCM function comes up (the gadget's usb0 gets the gateway)."""
    log(f"NCM data path {'up' if up else 'down'}")
    if up:
        NETWORK.run(f"ip addr add {L.NCM_GATEWAY}/{L.NCM_PREFIX} dev usb0 2>/dev/null; ip link set usb0 up")
    else:
        NETWORK.run("ip addr flush dev usb0; ip link set usb0 down")


# --------------------------------------------------------------------------- the stick

class Stick:
    def __init__(self) -> None:
        os.makedirs(RUN, exist_ok=True)
        self.ctl = f"{RUN}/ctl"
        if not os.path.exists(self.ctl):
            os.mkfifo(self.ctl)
        self.ctl_fd = os.open(self.ctl, os.O_RDWR | os.O_NONBLOCK)
        self.switch_requested = threading.Event()
        self._gadget("cdrom", L.CDROM_PRODUCT)
        self._gadget("stick", L.STICK_PRODUCT)
        self.cdrom = CdRom("cdrom", lambda cdb: self.switch_requested.set())
        os.symlink(f"{CONFIGFS}/cdrom/functions/ffs.storage", f"{CONFIGFS}/cdrom/configs/c.1/ffs.storage")
        self.ports = {s.name: SerialPort("stick", s) for s in L.SERIAL_INTERFACES}
        for s in L.SERIAL_INTERFACES:
            os.symlink(f"{CONFIGFS}/stick/functions/ffs.{s.name}", f"{CONFIGFS}/stick/configs/c.1/ffs.{s.name}")
        ncm = f"{CONFIGFS}/stick/functions/ncm.usb0"
        os.makedirs(ncm, exist_ok=True)
        write(f"{ncm}/dev_addr", L.NCM_GADGET_MAC)
        write(f"{ncm}/host_addr", L.NCM_HOST_MAC)
        os.symlink(ncm, f"{CONFIGFS}/stick/configs/c.1/ncm.usb0")
        self.functions: dict[str, ModemFunction] = {}
        self.stage = ""
        self.pending: list[tuple[float, str]] = []

    def _gadget(self, name: str, product: int) -> None:
        g = f"{CONFIGFS}/{name}"
        for d in ("strings/0x409", "configs/c.1/strings/0x409"):
            os.makedirs(f"{g}/{d}", exist_ok=True)
        write(f"{g}/idVendor", f"{L.VENDOR:#06x}")
        write(f"{g}/idProduct", f"{product:#06x}")
        write(f"{g}/bcdDevice", f"{L.BCD_DEVICE:#06x}")
        write(f"{g}/bcdUSB", "0x0200")
        write(f"{g}/strings/0x409/manufacturer", L.MANUFACTURER)
        write(f"{g}/strings/0x409/product", L.PRODUCT)
        write(f"{g}/strings/0x409/serialnumber", L.SERIAL)
        write(f"{g}/configs/c.1/MaxPower", str(L.MAX_POWER_MA))
        write(f"{g}/configs/c.1/bmAttributes", "0x80")

    def bind(self, stage: str) -> None:
        for g in ("cdrom", "stick"):
            if open(f"{CONFIGFS}/{g}/UDC").read().strip():
                write(f"{CONFIGFS}/{g}/UDC", "\n")
        for f in self.functions.values():
            f.power_off()
        self.functions = {}
        if stage == "stick":
            self.functions = {name: ModemFunction(self.ports[name], wrong_port=(name == "pcui"))
                              for name in ("pcui", "modem")}
        if stage:
            write(f"{CONFIGFS}/{stage}/UDC", UDC)
        if stage == "stick" and os.path.exists("/sys/class/net/usb0"):
            # usb_f_ncm registers usb0 at its first bind; it belongs to the network behind the stick
            subprocess.run(["ip", "link", "set", "usb0", "netns", str(NETWORK.holder.pid)])
        self.stage = stage or "off"
        write(f"{RUN}/stage.tmp", self.stage + "\n")
        os.rename(f"{RUN}/stage.tmp", f"{RUN}/stage")
        log(f"stage: {self.stage}")

    def run(self) -> None:
        self.bind("cdrom")
        buf = b""
        while True:
            now = time.monotonic()
            if self.switch_requested.is_set():
                self.switch_requested.clear()
                time.sleep(0.05)              # let the CSW go out first, as a firmware reboots after it
                self.bind("stick")
            for when, what in list(self.pending):
                if now >= when:
                    self.pending.remove((when, what))
                    self.bind(what)
            for f in self.functions.values():
                while not f.port.events.empty():
                    _kind, dtr = f.port.events.get()
                    f.on_dtr(bool(dtr), now)
            fds = {self.ctl_fd: None}
            for f in self.functions.values():
                for fd in f.fds():
                    fds[fd] = f
            diag = self.ports["diag"].rfd
            fds[diag] = None
            timers = [t for f in self.functions.values() if (t := f.timer()) is not None]
            timers += [w for w, _ in self.pending]
            timeout = max(0.0, min(timers) - now) if timers else 0.2
            r, _, _ = select.select(list(fds), [], [], min(timeout, 0.1))
            now = time.monotonic()
            for fd in r:
                if fd == self.ctl_fd:
                    buf += os.read(fd, 4096)
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        self.command(line.decode().split())
                elif fd == diag:
                    os.read(diag, 65536)         # diagnostics: swallowed, never answered
                elif fds[fd] is not None:
                    fds[fd].on_readable(fd, now)
            for f in self.functions.values():
                if f.timer() is not None and now >= f.timer():
                    f.on_timer(now)
                if f.pppd is not None and f.pppd.poll() is not None and f.master is not None:
                    f.end_data(f"pppd exited ({f.pppd.returncode})")

    def command(self, words: list[str]) -> None:
        log(f"ctl: {' '.join(words)}")
        if not words:
            return
        if words[0] == "replug":
            self.bind("cdrom")
        elif words[0] == "brownout":
            self.bind("")
            self.pending.append((time.monotonic() + float(words[1] if len(words) > 1 else 2), "cdrom"))
        elif words[0] == "dcd-drop" and "modem" in self.functions:
            self.functions["modem"].carrier_lost()
        elif words[0] == "reset":
            # The firmware resets mid-call: the modem port says NO CARRIER and the PCUI port ^BOOT,
            # then the stick leaves the bus and comes back as after a power cycle (CD-ROM mode).
            if "modem" in self.functions:
                self.functions["modem"].power_off()
            if "pcui" in self.functions:
                self.functions["pcui"].port.send(b"\r\n^BOOT:37206354,0,0,0,75\r\n")
            now = time.monotonic()
            self.pending += [(now + 0.5, ""), (now + 0.5 + float(words[1] if len(words) > 1 else 2), "cdrom")]


def main() -> int:
    global NETWORK
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    NETWORK = Network()
    Stick().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
