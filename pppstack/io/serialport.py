"""The serial edge: open a tty raw, non-blocking, and tell a hang-up from a vanished port.

Defaults suit a USB modem: raw 8N1, CLOCAL on (ignore DCD: the E3372's ttys report no useful
carrier and pppd's default of clearing CLOCAL is one cause of "Modem hangup" right after CONNECT),
no flow control unless asked (OpenWrt forces crtscts; USB serial ignores it anyway).  With
``modem_control=True`` CLOCAL is cleared and HUPCL set, so a carrier drop reads as a hang-up, the
way pppd behaves.

Errors are told apart because users act differently on them:
* `Hangup`: end of file or EIO on a port that still exists (the other end hung up, carrier lost);
* `PortVanished`: ENODEV/ENXIO, or the device node is gone (the modem dropped off USB, often a
  power brown-out on 2G, as in the E3372h-320 thread).  For a pty the node always goes with the
  master, so a pty reached through /dev/pts is a hang-up; a symlink to it vanishes only when the
  link is removed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import termios
import time

__all__ = ["SerialPortError", "Hangup", "PortVanished", "SerialPort", "open_port", "is_usb_tty", "BAUDRATES"]


class SerialPortError(OSError):
    """Base of the serial edge's errors (an OSError, so generic handlers still catch it).
    str() is the sentence alone, without OSError's "[Errno 5]" prefix."""

    def __str__(self) -> str:
        return str(self.strerror) if self.strerror else super().__str__()


class Hangup(SerialPortError):
    """The port reported end of file or an I/O error but still exists."""


class PortVanished(SerialPortError):
    """The port's device disappeared (USB disconnect)."""


BAUDRATES = {
    9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400, 57600: termios.B57600,
    115200: termios.B115200, 230400: termios.B230400, 460800: termios.B460800, 921600: termios.B921600,
}

_VANISHED = {errno.ENODEV, errno.ENXIO, errno.ENOENT}
# How long a USB tty's node may outlive the hang-up that its disconnect caused (option on
# dummy_hcd: a few milliseconds; a loaded machine: more). Found by tests/test_guest_vstick.py.
USB_NODE_SETTLE = 1.0


class SerialPort:
    """A non-blocking tty (or any fd pair: chat's stdin/stdout)."""

    def __init__(self, read_fd: int, write_fd: int | None = None, path: str | None = None,
                 owns_fd: bool = True) -> None:
        self.read_fd = read_fd
        self.write_fd = read_fd if write_fd is None else write_fd
        self.path = path
        self.usb = is_usb_tty(path)  # known now: once the stick is gone, sysfs cannot say any more
        self._owns = owns_fd
        self._saved: list | None = None
        self._blocking: dict[int, bool] = {}
        self.closed = False

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_fds(cls, read_fd: int, write_fd: int, configure: bool = True, **options: object) -> SerialPort:
        """Wrap descriptors we did not open (pppd hands chat the modem on stdin/stdout)."""
        port = cls(read_fd, write_fd, None, owns_fd=False)
        # The descriptors are shared with our parent (pppd keeps using the tty after chat):
        # remember their blocking mode and give it back on close().
        port._blocking = {fd: os.get_blocking(fd) for fd in {read_fd, write_fd}}
        for fd in port._blocking:
            os.set_blocking(fd, False)
        if configure and os.isatty(read_fd):
            port.configure(**options)  # type: ignore[arg-type]
        return port

    def configure(self, baudrate: int = 115200, crtscts: bool = False, modem_control: bool = False) -> None:
        fd = self.read_fd
        attrs = termios.tcgetattr(fd)
        if self._saved is None:
            self._saved = [list(a) if isinstance(a, list) else a for a in attrs]
        iflag, oflag, cflag, lflag, _, _, cc = attrs
        iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
                   | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF | termios.IXANY)
        oflag &= ~termios.OPOST
        lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
        cflag &= ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | termios.CRTSCTS)
        cflag |= termios.CS8 | termios.CREAD
        if crtscts:
            cflag |= termios.CRTSCTS
        if modem_control:
            cflag = (cflag & ~termios.CLOCAL) | termios.HUPCL
        else:
            cflag |= termios.CLOCAL
        speed = BAUDRATES.get(baudrate)
        if speed is None:
            raise ValueError(f"unsupported baud rate {baudrate} (use one of {sorted(BAUDRATES)})")
        cc = list(cc)
        cc[termios.VMIN] = 1
        cc[termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, speed, speed, cc])

    # -- I/O --------------------------------------------------------------------------------------
    def fileno(self) -> int:
        return self.read_fd

    def _classify(self, exc: OSError | None, what: str) -> SerialPortError:
        code = exc.errno if exc is not None else None
        name = self.path or f"fd {self.read_fd}"
        if code in _VANISHED or self._node_gone(settle=USB_NODE_SETTLE if self.usb else 0.0):
            why = "the modem dropped off USB" if self.usb else "the port went away"
            return PortVanished(code or errno.ENODEV, f"{name} disappeared ({what}): {why}")
        reason = "end of file" if exc is None else os.strerror(code or errno.EIO)
        return Hangup(code or errno.EIO, f"{name}: {reason} on {what}: the modem hung up")

    def _node_gone(self, settle: float = 0.0) -> bool:
        # A pty's /dev/pts/N disappears whenever its master closes, i.e. on every hang-up, so only
        # other paths count.  A symlink to a pty (the simulator's /tmp/.../ttyUSB2) counts as
        # present while the link itself exists: removing the link is how a brown-out is simulated.
        # A USB disconnect hangs the tty up (EOF) before usb-serial removes its node, so a USB
        # port gets `settle` seconds for the node to go before the end is called a hang-up.
        if self.path is None or self.path.startswith("/dev/pts/"):
            return False
        deadline = time.monotonic() + settle
        while os.path.lexists(self.path):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def read(self, n: int = 4096) -> bytes:
        """Up to n bytes; b"" when nothing is waiting.  Raises Hangup / PortVanished."""
        try:
            data = os.read(self.read_fd, n)
        except BlockingIOError:
            return b""
        except InterruptedError:
            return b""
        except OSError as exc:
            raise self._classify(exc, "read") from exc
        if not data:
            raise self._classify(None, "read")
        return data

    def write(self, data: bytes) -> int:
        """Write what the port accepts now; returns the count (0 if it would block)."""
        if not data:
            return 0
        try:
            return os.write(self.write_fd, data)
        except BlockingIOError:
            return 0
        except InterruptedError:
            return 0
        except OSError as exc:
            raise self._classify(exc, "write") from exc

    def carrier(self) -> bool | None:
        """DCD from TIOCMGET, or None when the device has no modem lines (a pty, a pipe)."""
        try:
            raw = fcntl.ioctl(self.read_fd, termios.TIOCMGET, struct.pack("i", 0))
        except OSError as exc:
            if exc.errno in (errno.ENOTTY, errno.EINVAL, errno.ENOTSUP):
                return None
            raise self._classify(exc, "TIOCMGET") from exc
        return bool(struct.unpack("i", raw)[0] & termios.TIOCM_CAR)

    def send_break(self) -> None:
        try:
            termios.tcsendbreak(self.write_fd, 0)
        except termios.error:
            pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._saved is not None:
            try:
                termios.tcsetattr(self.read_fd, termios.TCSANOW, self._saved)
            except (termios.error, OSError):
                pass
        for fd, blocking in self._blocking.items():
            try:
                os.set_blocking(fd, blocking)
            except OSError:
                pass
        if self._owns:
            # A pty's slave outlives our close while its master is open, and TIOCEXCL with it: without
            # this, a non-root redial (persist) of the same pty fails with EBUSY.  Harmless on a ttyUSB.
            if os.isatty(self.read_fd):
                try:
                    fcntl.ioctl(self.read_fd, termios.TIOCNXCL)
                except OSError:
                    pass
            for fd in {self.read_fd, self.write_fd}:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def __enter__(self) -> SerialPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_usb_tty(path: str | None, sysroot: str = "/sys") -> bool:
    """True when the tty at ``path`` (or what its symlink names) is a USB device's port in sysfs
    (ttyUSB*, ttyACM*); False for ptys, on-board UARTs and anything sysfs does not place on USB."""
    if not path:
        return False
    name = os.path.basename(os.path.realpath(path))
    device = os.path.join(sysroot, "class", "tty", name, "device")
    if not os.path.exists(device):
        return False
    return "/usb" in os.path.realpath(device)


def open_port(path: str, baudrate: int = 115200, crtscts: bool = False, modem_control: bool = False,
              exclusive: bool = True) -> SerialPort:
    """Open a serial port raw and non-blocking.  Raises PortVanished if it does not exist and
    OSError (EACCES, EBUSY...) for the rest; the CLI turns both into a sentence."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise PortVanished(errno.ENOENT, f"{path} does not exist (is the modem plugged in and switched?)") from exc
    except OSError as exc:
        if exc.errno in _VANISHED:
            raise PortVanished(exc.errno, f"{path}: {os.strerror(exc.errno)}") from exc
        raise
    port = SerialPort(fd, None, path)
    try:
        if os.isatty(fd):
            port.configure(baudrate, crtscts, modem_control)
            if exclusive:
                try:
                    fcntl.ioctl(fd, termios.TIOCEXCL)
                except OSError:
                    pass
    except Exception:
        os.close(fd)
        raise
    return port
