"""Real pppd (Debian's ``ppp`` on Debian's kernel) as a peer, behind a tiny AT modem.

The guest's virtio-serial port ``modem`` is a pty on the host (``PppdGuest.pty_path``): what a
test opens as its "modem". ``start_modem(options)`` launches, on that port, a busybox-sh AT
responder that answers
``AT…`` with ``OK`` (with E3372-like lines for ``+CPIN?``, ``+CREG?``/``+CGREG?``/``+CEREG?``,
``+CSQ``, ``^HCSQ?``, ``^SYSINFOEX``, ``+COPS?``; ``ATE0`` turns echo off) and ``ATD…``
with ``CONNECT``, then execs pppd on the same port with the options given — so a client goes
through a dial phase just as with a real modem. A port is not a tty, so pppd runs with
``notty``: it makes its own pty pair and shunts bytes between it and the port (its stdin and
stdout); when the host closes the pty, the port reads end of file and pppd sees a hangup.
Debian's ``/etc/ppp/options`` (``auth crtscts lock modem``) is left out of the image; each test
states its options. pppd logs with ``debug``
to ``/tmp/ppp/pppd.log``, which ``pppd_log()`` returns for tests to check what pppd agreed to.
"""

from __future__ import annotations

import atexit
import shlex

from .build import PPPD_PACKAGES, GuestImage, Recipe, build
from .qemu import Guest, GuestSpec, registry

# where the guest kernel says whether the host side of the modem port is open (nr=1 in qemu.py)
_MODEM_DEBUGFS = "/sys/kernel/debug/virtio-ports/vport0p1"

PPP_MODULES = ("virtio_console", "virtio_pci", "ppp_async", "ppp_deflate", "bsd_comp", "tun")

LOCAL_IP = "10.64.64.1"    # pppd's end
REMOTE_IP = "10.64.64.2"   # handed to the client
DNS1 = "10.64.64.53"
DNS2 = "10.64.64.54"

# Canned answers of the AT responder: command prefix (any case, as a modem takes it) -> reply.
_AT_REPLIES = (
    ("AT+CPIN?", r"\r\n+CPIN: READY\r\n\r\nOK\r\n"),
    ("AT+CREG?", r"\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
    ("AT+CGREG?", r"\r\n+CGREG: 0,1\r\n\r\nOK\r\n"),
    ("AT+CEREG?", r"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"),
    ("AT+CSQ", r"\r\n+CSQ: 23,99\r\n\r\nOK\r\n"),
    ("AT^HCSQ?", r'\r\n^HCSQ: "LTE",52,41,120,30\r\n\r\nOK\r\n'),
    ("AT^SYSINFOEX", r'\r\n^SYSINFOEX: 2,3,0,1,,6,"LTE",101,"LTE"\r\n\r\nOK\r\n'),
    ("AT+COPS?", r'\r\n+COPS: 0,0,"pppd guest",7\r\n\r\nOK\r\n'),
    ("AT+CGMI", r"\r\nhuawei\r\n\r\nOK\r\n"),
    ("AT+CGMM", r"\r\nE3372h-320 (pppd guest)\r\n\r\nOK\r\n"),
)


def _any_case(prefix: str) -> str:
    """A sh case pattern matching ``prefix`` in any letter case, then anything."""
    out = "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else "\\" + c if c in "?*[]^" else c for c in prefix)
    return out + "*"


# The AT responder. Each command ends at CR (`read -d`); busybox sh reads one byte at a time, so
# nothing after the ATD line is consumed before pppd. The port reads end of file while the host
# has the pty closed: then wait and read again, keeping the port open (a close discards its buffer).
# Only shell builtins per command (no tr, no subshell): on a loaded host every fork in a TCG guest
# costs a good part of a second, and a dialer gives the first AT about a second.
_MODEM_SH = r"""#!/bin/sh
port=/dev/virtio-ports/modem
exec 0<> $port 1>&0   # one open for both ways: a port allows one open at a time
cr=$(printf '\r')
nl='
'
echo_on=$(cat /tmp/ppp/echo 2>/dev/null || echo 1)
while true; do
  read -r -d "$cr" line || { sleep 0.05; continue; }
  line=${line//$nl/}
  [ -n "$line" ] || continue
  echo "$line" >> /tmp/ppp/at.log
  [ "$echo_on" = 1 ] && printf '%s\r' "$line"
  case "$line" in
    """ + _any_case("ATD") + r""")
      printf '\r\nCONNECT 150000000\r\n'
      # notty: pppd on its own pty, bytes shunted to and from this port (stdin/stdout)
      exec pppd file /tmp/ppp/options notty 2> /tmp/ppp/pppd.stdout ;;
    """ + _any_case("ATE0") + r""") echo_on=0; printf '\r\nOK\r\n' ;;
    """ + _any_case("ATE1") + r""") echo_on=1; printf '\r\nOK\r\n' ;;
""" + "".join(f"    {_any_case(cmd)}) printf '{reply}' ;;\n" for cmd, reply in _AT_REPLIES) + r"""    """ \
    + _any_case("AT") + r""") printf '\r\nOK\r\n' ;;
    *) printf '\r\nERROR\r\n' ;;
  esac
done
"""

PPPD_RECIPE = Recipe(
    name="pppd",
    packages=PPPD_PACKAGES,
    modules=PPP_MODULES,
    setup="mkdir -p /tmp/ppp /etc/ppp\n",
    executables=("usr/sbin/pppd",),
    extra_files=(("/etc/guest/modem.sh", _MODEM_SH),),
)

# What every test's pppd gets before its own options: the tty, logging, addresses, DNS.
BASE_OPTIONS = (
    "115200", "local", "nocrtscts", "nodetach", "debug", "logfile /tmp/ppp/pppd.log",
    f"{LOCAL_IP}:{REMOTE_IP}", f"ms-dns {DNS1}", f"ms-dns {DNS2}",
)

# pppd as a client of our network side: no addresses of its own, it asks for ours and for DNS.
CLIENT_BASE_OPTIONS = ("115200", "local", "nocrtscts", "nodetach", "debug", "logfile /tmp/ppp/pppd.log",
                       "noipdefault", "usepeerdns", "noauth", "noccp")

# Debian's /etc/ppp/options without the four lines that cannot work on a virtio port / in a
# test (auth crtscts lock modem): what "pppd as Debian ships it" means for the tests.
DEBIAN_OPTIONS = ("asyncmap 0", "hide-password", "lcp-echo-interval 30", "lcp-echo-failure 4", "noipx")


class PppdGuest:
    """A booted pppd guest. ``pty_path`` is the modem; ``start_modem`` arms pppd for one call."""

    def __init__(self, image: GuestImage | None = None) -> None:
        self.image = image or build(PPPD_RECIPE)
        self.guest = Guest(self.image, GuestSpec(memory_mb=256, modem_pty=True))

    def start(self) -> PppdGuest:
        self.guest.start()
        return self

    @property
    def pty_path(self) -> str:
        assert self.guest.pty_path is not None
        return self.guest.pty_path

    @property
    def boot_seconds(self) -> float | None:
        return self.guest.boot_seconds

    def shell(self, cmd: str, timeout: float = 60.0) -> str:
        return self.guest.shell(cmd, timeout)

    def run(self, cmd: str, timeout: float = 60.0) -> tuple[int, str]:
        return self.guest.run(cmd, timeout)

    def start_modem(self, options: list[str] | tuple[str, ...] = ("noauth",), *, pap_secrets: str = "",
                    chap_secrets: str = "", echo: bool = True) -> None:
        """Stop any previous pppd, write the options, and start the AT responder on the port."""
        self.stop_modem()
        text = "\n".join((*BASE_OPTIONS, *options)) + "\n"
        self.guest.shell("rm -rf /tmp/ppp; mkdir -p /tmp/ppp; : > /tmp/ppp/pppd.log")
        self.guest.write_file("/tmp/ppp/options", text)
        self.guest.write_file("/etc/ppp/pap-secrets", pap_secrets, 0o600)
        self.guest.write_file("/etc/ppp/chap-secrets", chap_secrets, 0o600)
        self.guest.shell(f"echo {1 if echo else 0} > /tmp/ppp/echo")
        self.guest.shell("setsid sh /etc/guest/modem.sh > /dev/null 2>&1 < /dev/null & echo $! > /tmp/ppp/modem.pid")

    def start_pppd_client(self, options: list[str] | tuple[str, ...], *, pap_secrets: str = "",
                          chap_secrets: str = "") -> None:
        """Run pppd as the *client* straight on the port (no AT dialogue): for tests of our network
        side (`pppstack serve`). pppd gets its address and DNS from us (noipdefault, usepeerdns).

        pppd starts once the host has the pty open: before, the port reads end of file, which
        pppd's shunt takes for a hangup."""
        self.stop_modem()
        text = "\n".join((*CLIENT_BASE_OPTIONS, *options)) + "\n"
        self.guest.shell("rm -rf /tmp/ppp; mkdir -p /tmp/ppp; : > /tmp/ppp/pppd.log")
        self.guest.write_file("/tmp/ppp/options", text)
        self.guest.write_file("/etc/ppp/pap-secrets", pap_secrets, 0o600)
        self.guest.write_file("/etc/ppp/chap-secrets", chap_secrets, 0o600)
        wait_host = f'until grep -qx "host_connected: 1" {_MODEM_DEBUGFS}; do sleep 0.05; done'
        self.guest.shell(f"setsid sh -c '{wait_host}; "
                         "exec pppd file /tmp/ppp/options notty 0<> /dev/virtio-ports/modem 1>&0 "
                         "2> /tmp/ppp/pppd.stdout' > /dev/null 2>&1 < /dev/null & echo $! > /tmp/ppp/modem.pid")

    def wait_host_open(self, timeout: float = 30.0) -> None:
        """Wait until the guest sees the host side of the modem pty open. QEMU notices an opened
        pty within its 1 s poll; until then what the host writes waits and the guest reads end
        of file. A dialer that gives the first AT a second to be answered needs this first."""
        rc, _ = self.guest.run(f'i=0; until grep -qx "host_connected: 1" {_MODEM_DEBUGFS}; do '
                               f'[ $i -ge {int(timeout * 20)} ] && exit 1; sleep 0.05; i=$((i+1)); done',
                               timeout=timeout + 5)
        if rc != 0:
            raise TimeoutError(f"the guest did not see the modem pty opened within {timeout} s")

    def stop_modem(self, timeout: float = 10.0) -> None:
        """End pppd (or the responder) if it runs: SIGTERM (pppd sends LCP Terminate), then KILL
        its whole session, so no leftover (pppd's byte shunt) keeps reading the port."""
        self.guest.run(
            "p=$(cat /tmp/ppp/modem.pid 2>/dev/null) || exit 0; kill $p 2>/dev/null; "
            f"i=0; while kill -0 $p 2>/dev/null && [ $i -lt {int(timeout * 10)} ]; do sleep 0.1; i=$((i+1)); done; "
            "kill -9 -$p 2>/dev/null; true", timeout=timeout + 5)

    def pppd_running(self) -> bool:
        rc, out = self.guest.run("p=$(cat /tmp/ppp/modem.pid) && kill -0 $p && cat /proc/$p/comm")
        return rc == 0 and out.strip() == "pppd"

    def wait_for_log(self, needle: str, timeout: float = 30.0) -> str:
        """Wait until pppd's log contains ``needle``; return the log."""
        q = shlex.quote(needle)
        self.guest.run(f"i=0; while ! grep -qF -- {q} /tmp/ppp/pppd.log && [ $i -lt {int(timeout * 10)} ]; "
                       "do sleep 0.1; i=$((i+1)); done", timeout=timeout + 5)
        return self.pppd_log()

    def pppd_log(self) -> str:
        return self.guest.read_file("/tmp/ppp/pppd.log").decode(errors="replace")

    def at_log(self) -> list[str]:
        rc, out = self.guest.run("cat /tmp/ppp/at.log")
        return out.splitlines() if rc == 0 else []

    def stop(self) -> None:
        self.guest.stop()


def shared_pppd_guest() -> PppdGuest:
    """One pppd guest per test process (booting costs seconds), powered off at exit."""
    shared = registry()
    g = shared.get("pppd")
    if g is None or g.guest.proc is None or g.guest.proc.poll() is not None:  # type: ignore[attr-defined]
        g = PppdGuest()
        g.start()
        shared["pppd"] = g
        atexit.register(g.stop)
    return g  # type: ignore[return-value]


# -- host side of the modem pty ----------------------------------------------------------------


def open_host_pty(path: str) -> int:
    """Open the guest's modem pty like a serial port: raw, CLOCAL, no flow control, nonblocking.

    Anything less (echo, ICRNL, IXON) makes the host tty rewrite or echo PPP frames.
    """
    import os
    import termios
    import tty

    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[0] &= ~(termios.IXON | termios.IXOFF | termios.IXANY)
    attrs[2] = (attrs[2] & ~termios.CRTSCTS) | termios.CLOCAL | termios.CREAD
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


def read_until(fd: int, needle: bytes, timeout: float, buf: bytearray | None = None) -> bytes:
    """Read from ``fd`` until ``needle`` appears; return everything read (raise TimeoutError)."""
    import os
    import select
    import time

    out = buf if buf is not None else bytearray()
    deadline = time.monotonic() + timeout
    while needle not in out:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {needle!r} within {timeout} s; got {bytes(out)!r}")
        if select.select([fd], [], [], left)[0]:
            try:
                out += os.read(fd, 4096)
            except BlockingIOError:
                pass
    return bytes(out)


def at_command(fd: int, cmd: str, expect: bytes = b"OK\r\n", timeout: float = 15.0, retry: float = 0.0) -> bytes:
    """Send an AT command and wait for ``expect``; return everything read.

    With ``retry`` > 0 the command is resent every ``retry`` seconds until it is answered: the
    first line the responder reads may carry bytes a previous test left in the port (it then
    answers ERROR). Every command sent gets exactly one final result (OK or ERROR; the port
    loses nothing), so before returning we wait for all of them: no late answer to a resent
    command is left to be mistaken for the answer to the next one.
    """
    import os
    import select
    import time

    deadline = time.monotonic() + timeout
    buf = bytearray()
    sent = 0

    def results() -> int:
        return buf.count(b"\r\nOK\r\n") + buf.count(b"\r\nERROR\r\n")

    while True:
        os.write(fd, cmd.encode() + b"\r")
        sent += 1
        step = min(retry or timeout, max(0.01, deadline - time.monotonic()))
        try:
            read_until(fd, expect, step, buf)
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
            continue
        while results() < sent:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{sent} x {cmd!r} sent, {results()} answered in {timeout} s: {bytes(buf)!r}")
            if select.select([fd], [], [], left)[0]:
                try:
                    buf += os.read(fd, 4096)
                except BlockingIOError:
                    pass
        if retry:
            _resync(fd, buf, deadline)
        return bytes(buf)


def _resync(fd: int, buf: bytearray, deadline: float) -> None:
    """End a retried exchange on a command of our own whose echo and result we see.

    Counting results is not enough after a restart of the responder: a line a previous test left
    in the port is answered too, so one of our answers can still be on its way when the counts
    match (it once landed on the next test's AT+CPIN?). The responder answers in order, so once
    a unique command's echo and its result are read, nothing older is left to arrive.
    """
    import os
    import select
    import time
    import uuid

    marker = f"AT+PSYNC{uuid.uuid4().hex[:8].upper()}".encode()
    start = len(buf)
    os.write(fd, marker + b"\r")
    while True:
        tail = bytes(buf[start:])
        at = tail.find(marker + b"\r")
        if at >= 0 and (b"\r\nOK\r\n" in tail[at:] or b"\r\nERROR\r\n" in tail[at:]):
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no echo and result for the sync command {marker!r}: {bytes(buf)!r}")
        if select.select([fd], [], [], left)[0]:
            try:
                buf += os.read(fd, 4096)
            except BlockingIOError:
                pass
