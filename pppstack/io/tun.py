"""The TUN edge: a point-to-point IP interface for the packets PPP (or NCM) carries.

The device is opened with IFF_TUN | IFF_NO_PI, so one read is one IP packet and one write is one
IP packet; the kernel tells IPv4 from IPv6 by the version nibble.  python-pytun opens it when it is
installed; otherwise (the NCM guest runs Debian's bare python3) the TUNSETIFF ioctl is done here.
Either way the fd is non-blocking and read/written with os.read/os.write, the cheapest path from
Python (perf-baselines.md §7: ~1.4 µs per read, ~1.9 µs per write).  With the C core built, the
PPP driver reads a wakeup's packets in one C call instead (`read_slots`, native/tunio.c), into
one buffer with room for the PPP header before each packet, which the engine frames in place,
and writes a read's received packets (a PacketRun: spans of the read's buffer) in one C call too
(`write_ip`): no Python per packet.  PPPSTACK_TUN_BATCH_C=0 goes back to os.read/os.write loops
(for comparison).

Offloads (opt-in: PPPSTACK_TUN_OFFLOAD=1 or ``offload=True``): the device is opened with
IFF_VNET_HDR and TUNSETOFFLOAD(CSUM | TSO4 | TSO6), as wireguard-go does, so the kernel hands over
TCP super-packets of up to 64 KiB and takes them back: one syscall where there were ~44.  The
read/write methods still deal in MTU-sized IP packets; pppstack.offload cuts and merges.  If the
kernel (or pytun) refuses any step the device is reopened plain, with one log line saying so.

Addresses, MTU, routes and IPv6 link-local addresses are set with iproute2 (`ip`), the way a user
would check them.  A non-persistent TUN disappears with its fd, and the kernel then drops its
addresses and routes too, so `close()` is the whole cleanup; routes are still removed one by one
first so that a device kept open for a redial does not keep stale routes.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import logging
import os
import struct
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pppstack import hdlc as _hdlc
from pppstack import offload as _offload
from pppstack.pppos import flatten_ip

try:
    from pppstack._hdlc_c import ffi as _ffi
    from pppstack._hdlc_c import lib as _lib
    # with the C framing backend only: PPPSTACK_HDLC=python means no C in the data path
    _TUNIO = (hasattr(_lib, "tunio_read") and _hdlc.BACKEND == "c"
              and os.environ.get("PPPSTACK_TUN_BATCH_C", "1").strip() != "0")
except ImportError:  # the pure-Python install
    _ffi = _lib = None
    _TUNIO = False

try:  # python-pytun is the preferred opener; it is absent in the NCM guest.
    import pytun as _pytun
except ImportError:  # pragma: no cover - depends on the host
    _pytun = None

__all__ = [
    "TunDevice", "Slots", "TunError", "TunPermissionError", "IpCommandError", "Route",
    "ip", "link_local_from_ifid", "interface_exists", "free_ifname",
]

log = logging.getLogger("pppstack.tun")

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUNSETOFFLOAD = 0x400454D0      # _IOW('T', 208, unsigned int)
TUNSETVNETHDRSZ = 0x400454D8    # _IOW('T', 216, int)
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04
READ_SIZE = 65536
VNET_READ_SIZE = _offload.VNET_HDR_LEN + 65536 + 64   # a 64 KiB super-packet behind its header
VNET_READ_BUDGET = 256 * 1024   # bytes per read_batch: super-packets fill the link's buffer fast
SLOTS_BUDGET = 320 * 1024       # bytes per read_slots: ~210 packets of 1500, 256 small ones
SLOT_ROOM = 65536               # what one read may return: any IP packet (a shorter read truncates)
SLOT_HEADROOM_MAX = 16
_SINGLE = frozenset((bytes, bytearray, memoryview))    # write_ip: a packet, not a PacketRun


def offload_wanted() -> bool:
    """PPPSTACK_TUN_OFFLOAD=1 (or yes/on/true) turns TUN offloads on; they are off otherwise.

    Off by default: on a quiet run of bench_link they carried TCP no faster and for no less CPU
    per GB, and cost 64-byte packets ~0.8 us each (two more copies and an object per packet in
    split/coalesce): 0.56 -> 0.41 of the C relay's packets/s."""
    return os.environ.get("PPPSTACK_TUN_OFFLOAD", "0").strip().lower() in ("1", "yes", "on", "true")


class Slots:
    """One batched TUN read: ``count`` packets in slots of one reused buffer, slot i being
    lens[i] bytes (the headroom asked for, then the packet), ``total`` bytes in all.  ``ptr`` is
    the buffer for C, ``view`` the same memory for Python.  Valid until the next read."""

    __slots__ = ("ptr", "view", "lens", "count", "total", "cap", "_total", "_err")

    def __init__(self, limit: int) -> None:
        self.cap = SLOTS_BUDGET + SLOT_HEADROOM_MAX + SLOT_ROOM
        self.ptr = _ffi.new("uint8_t[]", self.cap)
        self.view = memoryview(_ffi.buffer(self.ptr))
        self.lens = _ffi.new("size_t[]", limit)
        self._total = _ffi.new("size_t *")
        self._err = _ffi.new("int *")
        self.count = self.total = 0


class TunError(OSError):
    """The TUN device could not be created or configured."""


class TunPermissionError(TunError, PermissionError):
    """Creating a TUN device or changing addresses/routes needs root or CAP_NET_ADMIN."""


class IpCommandError(TunError):
    """An `ip` command failed; the message holds the command and iproute2's own words."""


@dataclass(frozen=True)
class Route:
    """A route we added, so that exactly it can be removed again."""

    destination: str  # "default", "10.0.0.0/8", "fe80::1/128"
    family: int  # 4 or 6
    metric: int | None = None
    via: str | None = None


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS` (iproute2); raises IpCommandError / TunPermissionError with its stderr."""
    cmd = ["ip", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise TunError(errno.ENOENT, "the `ip` command (iproute2) is not installed") from exc
    if check and proc.returncode != 0:
        words = proc.stderr.strip() or f"exit status {proc.returncode}"
        if "Operation not permitted" in words:
            raise TunPermissionError(errno.EPERM,
                                     f"`{' '.join(cmd)}` was refused: {words} (needs root or CAP_NET_ADMIN)")
        raise IpCommandError(errno.EINVAL, f"`{' '.join(cmd)}` failed: {words}")
    return proc


def link_local_from_ifid(ifid: bytes) -> ipaddress.IPv6Address:
    """fe80::/64 plus the 8-byte interface identifier IPv6CP negotiated (RFC 5072 §4.1)."""
    if len(ifid) != 8:
        raise ValueError(f"an IPv6CP interface identifier has 8 bytes, not {len(ifid)}")
    return ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + bytes(ifid))


def interface_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def free_ifname(prefix: str = "ppp") -> str:
    """The first pppN not in use (what the kernel's ``ppp%d`` would pick)."""
    n = 0
    while interface_exists(f"{prefix}{n}"):
        n += 1
    return f"{prefix}{n}"


class TunDevice:
    """An open TUN interface.  Create with `TunDevice.create(name, mtu)`."""

    def __init__(self, fd: int, name: str, keeper: object | None = None) -> None:
        self._fd = fd
        self.name = name
        self._keeper = keeper  # the pytun object owning the fd, kept alive with it
        self.routes: list[Route] = []
        self.addresses: list[tuple[str, str]] = []  # (local/prefix, peer/prefix)
        self.closed = False
        self.write_errors = 0
        self.offload: _offload.TunOffload | None = None   # set when the fd carries vnet headers
        self._pending: list[bytes] = []   # segments of a super-packet that read() returned one of
        self._slots: Slots | None = None  # read_slots' buffer, made on first use
        self._res = _ffi.new("size_t[2]") if _TUNIO else None    # write_ip's counters from C

    # -- creation -----------------------------------------------------------------------------
    @classmethod
    def create(cls, name: str = "ppp%d", mtu: int | None = 1500, txqueuelen: int | None = 1000,
               use_pytun: bool | None = None, offload: bool | None = None) -> TunDevice:
        """Open a TUN named ``name`` (``%d`` lets the kernel pick the first free number).

        ``use_pytun=None`` uses python-pytun when installed and the raw ioctl otherwise; False
        forces the ioctl (tests check that path too).  ``offload=None`` follows
        PPPSTACK_TUN_OFFLOAD (off by default).  Raises TunPermissionError without
        CAP_NET_ADMIN and TunError for the rest, each with a sentence.
        """
        if len(name.encode()) > 15:
            raise TunError(errno.EINVAL, f"interface name {name!r} is longer than the kernel's 15 characters")
        want_pytun = _pytun is not None if use_pytun is None else use_pytun
        if want_pytun and _pytun is None:
            raise TunError(errno.ENOENT, "python-pytun is not installed")
        want_offload = offload_wanted() if offload is None else offload
        if want_offload and not _offload.available:
            log.info("TUN offloads are off: pppstack's C core is not built; packets cross the TUN one by one")
            want_offload = False
        extra = IFF_VNET_HDR if want_offload else 0
        try:
            if want_pytun:
                dev = _pytun.TunTapDevice(name=name, flags=_pytun.IFF_TUN | _pytun.IFF_NO_PI | extra)
                tun = cls(dev.fileno(), dev.name, keeper=dev)
            else:
                tun = cls._create_raw(name, extra)
            if want_offload:
                why = tun._enable_offload()
                if why is not None:
                    tun.close()
                    log.info("TUN offloads are off on %s (%s); packets cross the TUN one by one", name, why)
                    return cls.create(name, mtu, txqueuelen, use_pytun, offload=False)
        except PermissionError as exc:
            raise TunPermissionError(errno.EPERM, "creating a TUN device needs root or CAP_NET_ADMIN") from exc
        except OSError as exc:
            raise cls._explain(exc, name) from exc
        except Exception as exc:  # pytun.Error is not an OSError
            text = str(exc)
            if "not permitted" in text or "EPERM" in text:
                raise TunPermissionError(errno.EPERM, "creating a TUN device needs root or CAP_NET_ADMIN") from exc
            raise TunError(errno.EIO, f"could not create TUN device {name!r}: {text}") from exc
        os.set_blocking(tun._fd, False)
        try:
            # Without this the kernel gives the interface an EUI-64/random fe80:: address of its
            # own; PPP's link-local address comes from IPv6CP instead (RFC 5072 §5).
            ip("link", "set", "dev", tun.name, "addrgenmode", "none", check=False)
            if mtu is not None:
                tun.set_mtu(mtu)
            if txqueuelen is not None:
                ip("link", "set", "dev", tun.name, "txqueuelen", str(txqueuelen), check=False)
        except Exception:
            tun.close()
            raise
        log.debug("created TUN %s (fd %d, %s)", tun.name, tun._fd, "pytun" if tun._keeper else "ioctl")
        return tun

    @classmethod
    def _create_raw(cls, name: str, extra_flags: int = 0) -> TunDevice:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        try:
            ifr = struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI | extra_flags)
            out = fcntl.ioctl(fd, TUNSETIFF, ifr)
        except BaseException:
            os.close(fd)
            raise
        real = out[:16].split(b"\0", 1)[0].decode()
        return cls(fd, real)

    def _enable_offload(self) -> str | None:
        """Vnet header size, then checksum and TSO offloads; None when on, else why not."""
        try:
            fcntl.ioctl(self._fd, TUNSETVNETHDRSZ, struct.pack("i", _offload.VNET_HDR_LEN))
        except OSError as exc:
            return f"TUNSETVNETHDRSZ: {exc.strerror}"
        try:
            fcntl.ioctl(self._fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
        except OSError as exc:
            return f"TUNSETOFFLOAD: {exc.strerror}"
        self.offload = _offload.TunOffload()
        return None

    @staticmethod
    def _explain(exc: OSError, name: str) -> TunError:
        # pytun.Error is an OSError carrying EPERM/EACCES but not a PermissionError
        if exc.errno in (errno.EPERM, errno.EACCES):
            return TunPermissionError(errno.EPERM, "creating a TUN device needs root or CAP_NET_ADMIN")
        if exc.errno == errno.ENOENT:
            return TunError(errno.ENOENT, "/dev/net/tun is missing: load the tun module (modprobe tun)")
        if exc.errno == errno.EBUSY:
            return TunError(errno.EBUSY, f"interface {name!r} exists and is in use by another program")
        if exc.errno == errno.EINVAL:
            return TunError(errno.EINVAL, f"interface {name!r} exists and is not a TUN device")
        return TunError(exc.errno or errno.EIO, f"could not create TUN device {name!r}: {os.strerror(exc.errno or 5)}")

    # -- data -----------------------------------------------------------------------------------
    def fileno(self) -> int:
        return self._fd

    def read(self, n: int = READ_SIZE) -> bytes:
        """One IP packet, or b"" when none is waiting."""
        if self.offload is not None:
            if not self._pending:
                self._pending = self.read_batch(1)[::-1]
            return self._pending.pop() if self._pending else b""
        try:
            return os.read(self._fd, n)
        except (BlockingIOError, InterruptedError):
            return b""

    @property
    def slots_available(self) -> bool:
        """`read_slots` works here: the C core is built and the device is plain (no offloads)."""
        return _TUNIO and self.offload is None

    def read_slots(self, limit: int, headroom: int) -> Slots:
        """The waiting packets (up to ``limit``, ~SLOTS_BUDGET bytes) in one C call, each behind
        ``headroom`` free bytes (see `Slots`).  Raises OSError as os.read would, once the
        packets read before the failing read are handed over (the next call meets it again)."""
        slots = self._slots
        if slots is None or len(slots.lens) < limit:
            slots = self._slots = Slots(limit)
        if not 0 <= headroom <= SLOT_HEADROOM_MAX:
            raise ValueError(f"headroom {headroom} is outside 0..{SLOT_HEADROOM_MAX}")
        n = int(_lib.tunio_read(self._fd, slots.ptr, slots.cap, headroom, SLOT_ROOM, slots.lens, limit,
                                slots._total, slots._err))
        slots.count, slots.total = n, int(slots._total[0])
        err = slots._err[0]
        if err > 0 and not n:
            raise OSError(err, os.strerror(err))
        return slots

    def read_batch(self, limit: int = 256) -> list[bytes]:
        """All packets waiting (up to ``limit`` reads): one wakeup, many packets.  With offloads
        a read may be a super-packet: its segments come back, and reading stops after
        VNET_READ_BUDGET bytes so one wakeup does not queue megabytes for the port."""
        out: list[bytes] = []
        fd = self._fd
        read = os.read
        off = self.offload
        if off is None:
            try:
                while len(out) < limit:
                    out.append(read(fd, READ_SIZE))
            except (BlockingIOError, InterruptedError):
                pass
            return out
        if self._pending:
            out, self._pending = self._pending[::-1], []
        got = 0
        try:
            while len(out) < limit and got < VNET_READ_BUDGET:
                r = read(fd, VNET_READ_SIZE)
                out.append(r)
                got += len(r)
        except (BlockingIOError, InterruptedError):
            pass
        return off.split(out) if out else out

    def write(self, packet: bytes) -> bool:
        """Hand one IP packet to the kernel; False (and counted) if it refused it."""
        try:
            os.write(self._fd, packet if self.offload is None else _offload.ZERO_HDR + packet)
            return True
        except (BlockingIOError, InterruptedError):
            self.write_errors += 1
            return False
        except OSError as exc:  # EINVAL for a malformed packet, EIO if the interface is down
            self.write_errors += 1
            if self.write_errors <= 3:
                log.info("the kernel refused a %d-byte packet on %s: %s", len(packet), self.name, exc.strerror)
            return False

    def write_ip(self, items: Sequence[Any]) -> int:
        """Write what PPPoS.take_ip gave: single packets and PacketRuns (a read's packets as
        spans of its buffer, written in one C call, native/tunio.c).  Returns how many packets
        the kernel took; a refused one is counted in write_errors, as write_many does."""
        if self.offload is not None or not _TUNIO:
            return self.write_many(flatten_ip(items))
        n = 0
        singles: list[Any] = []     # runs of single packets go out in one write_many call
        for p in items:
            if type(p) in _SINGLE:
                singles.append(p)
                continue
            if singles:
                n += self.write_many(singles)
                singles = []
            res = self._res
            done = int(_lib.tunio_write(self._fd, _ffi.from_buffer(p.buffer), p.spans, p.count, res, res + 1))
            n += done
            if done < p.count:
                self._refused(p.count - done, int(res[1]))
        if singles:
            n += self.write_many(singles)
        return n

    def _refused(self, count: int, err: int) -> None:
        self.write_errors += count
        if self.write_errors <= 3:
            log.info("the kernel refused %d packet(s) on %s: %s", count, self.name, os.strerror(err))

    def write_many(self, packets: Iterable[bytes]) -> int:
        """Write IP packets; returns how many the kernel took.  With offloads, runs of in-order
        TCP segments go as one super-packet each (counted as the packets they carry)."""
        fd = self._fd
        write = os.write
        n = 0
        if self.offload is None:
            for p in packets:
                try:
                    write(fd, p)
                    n += 1
                except OSError:
                    self.write_errors += 1
            return n
        units, segs = self.offload.coalesce(packets if type(packets) is list else list(packets))
        for u, k in zip(units, segs, strict=True):
            try:
                write(fd, u)
                n += k
            except OSError:
                self.write_errors += k
        return n

    # -- configuration --------------------------------------------------------------------------
    def set_mtu(self, mtu: int) -> None:
        ip("link", "set", "dev", self.name, "mtu", str(int(mtu)))

    def up(self) -> None:
        ip("link", "set", "dev", self.name, "up")

    def down(self) -> None:
        ip("link", "set", "dev", self.name, "down", check=False)

    def set_ipv4(self, local: ipaddress.IPv4Address | str, peer: ipaddress.IPv4Address | str) -> None:
        """local/32 with peer/32, as pppd does (sifaddr): the peer route comes with the address."""
        self.flush_addresses(4)
        ip("-4", "addr", "add", f"{local}/32", "peer", f"{peer}/32", "dev", self.name)
        self.addresses.append((f"{local}/32", f"{peer}/32"))

    def set_ipv6_link_local(self, local_ifid: bytes, peer_ifid: bytes) -> tuple[ipaddress.IPv6Address,
                                                                                  ipaddress.IPv6Address]:
        """fe80::<our ifid>/128 with peer fe80::<his ifid>/128 (pppd sif6addr); returns both."""
        lo, pe = link_local_from_ifid(local_ifid), link_local_from_ifid(peer_ifid)
        self.flush_addresses(6)
        ip("-6", "addr", "add", f"{lo}/128", "peer", f"{pe}/128", "dev", self.name, "nodad")
        self.addresses.append((f"{lo}/128", f"{pe}/128"))
        return lo, pe

    def flush_addresses(self, family: int) -> None:
        ip(f"-{family}", "addr", "flush", "dev", self.name, check=False)
        self.addresses = [a for a in self.addresses if (":" in a[0]) != (family == 4)]

    def add_route(self, destination: str, family: int = 4, metric: int | None = None,
                  via: str | None = None) -> Route:
        """Add a route through this interface (`destination` may be "default")."""
        args = [f"-{family}", "route", "add", destination]
        if via:
            args += ["via", via]
        args += ["dev", self.name]
        if metric is not None:
            args += ["metric", str(metric)]
        ip(*args)
        route = Route(destination, family, metric, via)
        self.routes.append(route)
        return route

    def add_default_route(self, metric: int = 0, family: int = 4) -> Route:
        """pppd's defaultroute: always appended at `metric` (replacedefaultroute is gone, PR #544)."""
        return self.add_route("default", family, metric)

    def remove_routes(self, family: int | None = None) -> None:
        keep: list[Route] = []
        for r in self.routes:
            if family is not None and r.family != family:
                keep.append(r)
                continue
            args = [f"-{r.family}", "route", "del", r.destination, "dev", self.name]
            if r.metric is not None:
                args += ["metric", str(r.metric)]
            ip(*args, check=False)
        self.routes = keep

    def add_routes(self, destinations: Sequence[str], metric: int | None = None) -> None:
        for d in destinations:
            self.add_route(d, 6 if ":" in d else 4, metric)

    def stats(self) -> dict[str, int]:
        """The kernel's own counters for the interface (rx/tx packets, bytes, drops)."""
        out: dict[str, int] = {}
        base = f"/sys/class/net/{self.name}/statistics"
        for key in ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped"):
            try:
                with open(f"{base}/{key}") as f:
                    out[key] = int(f.read())
            except (OSError, ValueError):
                pass
        return out

    # -- teardown -------------------------------------------------------------------------------
    def close(self) -> None:
        """Remove our routes, then the device (closing the fd deletes a non-persistent TUN)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.remove_routes()
        except Exception:  # cleanup must finish; the device going away removes them anyway
            log.debug("route removal on %s failed", self.name, exc_info=True)
        if self._keeper is not None:
            try:
                self._keeper.close()  # type: ignore[attr-defined]
            except Exception:
                pass
        else:
            try:
                os.close(self._fd)
            except OSError:
                pass

    def __enter__(self) -> TunDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TunDevice {self.name} fd={self._fd}{' closed' if self.closed else ''}>"
