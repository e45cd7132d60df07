"""Getting a modem port into data mode: find the port, run a connect script or the AT dialer.

Used by `pppstack up` before PPP starts.  A `connect 'chat ...'` line runs in-process through the
modem room's chat engine (chat(8)'s flags and exit codes); any other connect line runs as a
program with the port on its stdin/stdout, as pppd does.  Without a connect line, `--apn` dials
with our own AT dialer (SIM, registration, PDP context, ATD).  Ports are found by USB interface
roles (sysfs), switching a stick out of CD-ROM mode first.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pppstack.exitcodes import EdgeCause, dial_cause
from pppstack.io.atport import StopRequested, StopSignal
from pppstack.io.serialport import PortVanished, SerialPort, SerialPortError
from pppstack.options import OptionError

__all__ = ["ConnectSpec", "parse_connect", "run_connect", "run_dialer", "find_ppp_port", "wait_for_port",
           "read_text"]

log = logging.getLogger("pppstack")


def read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


# -- connect scripts ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ConnectSpec:
    """A `connect` line: our chat engine when it runs chat, otherwise an external program."""

    chat_words: tuple[str, ...] | None
    chat_file: str | None = None
    timeout: int = 45
    use_env: bool = False
    verbose: bool = False
    phone: str | None = None
    phone2: str | None = None
    command: str | None = None


def parse_connect(line: str) -> ConnectSpec:
    """Split `connect '...'` the way a shell would; recognise chat and its flags."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise OptionError(f"connect {line!r}: {exc}") from None
    if argv and os.path.basename(argv[0]) == "pppstack" and len(argv) > 1 and argv[1] == "chat":
        argv = argv[1:]
    if not argv or os.path.basename(argv[0]) != "chat":
        return ConnectSpec(None, command=line)
    spec: dict[str, Any] = {}
    i = 1
    while i < len(argv) and argv[i].startswith("-") and len(argv[i]) > 1:
        flag = argv[i]
        attached = None
        if len(flag) > 2 and flag[:2] in ("-f", "-t", "-T", "-U", "-r"):  # getopt style: -t5 (OpenWrt's 3g.sh)
            flag, attached = flag[:2], flag[2:]
        takes = flag in ("-f", "-t", "-T", "-U", "-r")
        if attached is not None:
            value: str | None = attached
        else:
            value = argv[i + 1] if takes and i + 1 < len(argv) else None
        if takes and value is None:
            raise OptionError(f"connect: chat {flag} needs a value")
        if flag == "-f":
            spec["chat_file"] = value
        elif flag == "-t":
            try:
                spec["timeout"] = int(value)  # type: ignore[arg-type]
            except ValueError:
                raise OptionError(f"connect: chat -t needs a number, got {value!r}") from None
        elif flag == "-T":
            spec["phone"] = value
        elif flag == "-U":
            spec["phone2"] = value
        elif flag == "-E":
            spec["use_env"] = True
        elif flag == "-v":
            spec["verbose"] = True
        i += 2 if takes and attached is None else 1
    return ConnectSpec(tuple(argv[i:]), **spec)


def run_connect(port: SerialPort, spec: ConnectSpec, stop: StopSignal | None = None) -> tuple[bool, str, bytes]:
    """Run the connect script on the port; (ok, sentence, bytes after CONNECT).

    Raises `StopRequested` when ``stop`` fires first; an external program is then killed with its
    process group (as pppd kills its connect script's), so nothing holds the port after we go."""
    import subprocess

    from pppstack.io.atport import run
    from pppstack.modem.chat import Chat, ChatScript, ChatScriptError, OutputKind

    if spec.chat_words is None:
        log.info("running connect script: %s", spec.command)
        proc = subprocess.Popen(spec.command or "", shell=True, stdin=port.read_fd, stdout=port.write_fd,
                                start_new_session=True)
        status = _wait_child(proc, stop)
        if status is None:
            _kill_group(proc)
            raise StopRequested(f"{stop.signal_name if stop else 'a signal'} received")
        if status:
            return False, f"Connect script failed (exit status {status})", b""
        return True, "connect script succeeded", b""
    try:
        script = (ChatScript.parse(read_text(spec.chat_file)) if spec.chat_file
                  else ChatScript.from_argv(spec.chat_words))
    except (OSError, ChatScriptError) as exc:
        return False, f"Connect script failed: {getattr(exc, 'strerror', None) or exc}", b""
    machine = Chat(script, dict(os.environ) if spec.use_env else None, timeout=spec.timeout, verbose=True,
                   phone=(spec.phone, spec.phone2), read_file=read_text)

    def show() -> None:
        for item in machine.take_output():
            if item.kind is OutputKind.ERROR:
                log.warning("chat: %s", item.text)
            elif item.kind is OutputKind.LOG and spec.verbose:
                log.info("chat: %s", item.text)
            elif item.kind is not OutputKind.LOG:
                log.info("chat: %s", item.text.strip())

    result = run(port, machine, on_progress=show, stop=stop)
    show()
    if not result.ok:
        return False, f"Connect script failed (chat exit code {result.exit_code}: {result.message})", b""
    return True, "connect script succeeded", machine.take_unconsumed()


def _wait_child(proc: Any, stop: StopSignal | None) -> int | None:
    """The program's exit status, or None when a stop signal came first.  On the one loop: the
    child's pidfd and the signal self-pipe wake it, nothing is polled (a kernel older than 5.3
    has no pidfd: then the child is looked at every 50 ms, a deadline of the loop)."""
    from pppstack.io.loop import Loop

    try:
        pidfd: int | None = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    status: list[int] = []

    def reap(now: float) -> None:
        code = proc.poll()
        if code is not None:
            status.append(int(code))
        elif pidfd is None:
            loop.call_later(0.05, reap)

    with Loop() as loop:
        try:
            if pidfd is not None:
                loop.add_reader(pidfd, reap)
            if stop is not None and stop.wake_fd >= 0:
                loop.add_reader(stop.wake_fd, lambda now: stop.drain())
            reap(loop.clock())
            loop.run(until=lambda: bool(status) or (stop is not None and stop.stop_requested))
        finally:
            if pidfd is not None:
                loop.forget(pidfd)
                os.close(pidfd)
    return status[0] if status else None


def _kill_group(proc: Any, grace: float = 0.2) -> None:
    """SIGTERM the program's process group (chat and whatever it started), SIGKILL after ``grace``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(grace)
            break
        except Exception:  # subprocess.TimeoutExpired: it ignored SIGTERM
            continue
    log.info("stopped the connect program (process group %d)", proc.pid)


def run_dialer(port: SerialPort, args: argparse.Namespace,
               stop: StopSignal | None = None) -> tuple[EdgeCause, str, bytes]:
    """Our AT dialer on ``port``: (EdgeCause.STOPPED and the bytes after CONNECT, or why not)."""
    from pppstack.io.atport import run
    from pppstack.modem.dial import DialError, PppDialer

    try:
        dialer = PppDialer(args.apn, args.pin, args.pdp_type, args.number)
    except ValueError as exc:
        return EdgeCause.BAD_OPTION, str(exc), b""
    log.info("dialling on %s%s", port.path, f" (APN {args.apn})" if args.apn else "")
    watched = _WatchedPort(port)
    try:
        result = run(watched, dialer, timeout=180, stop=stop)  # type: ignore[arg-type]
    except StopRequested as exc:
        log.info("dial stopped (%s) during: %s", exc, dialer.transcript[-1].strip() if dialer.transcript else "-")
        return EdgeCause.INTERRUPTED, f"{exc} while dialling", b""
    for note in dialer.notes:
        log.info("note: %s", note)
    # the AT transcript: with --debug always, and on failure at any level, so the failing
    # command and what the modem said to it are on screen
    level = logging.DEBUG if result.ok else logging.WARNING
    if log.isEnabledFor(level) and dialer.transcript:
        log.log(level, "AT transcript (seconds since the first command):")
        for line in dialer.transcript:
            log.log(level, "  %s", line)
    if result.ok:
        log.info("%s", result.message)
        return EdgeCause.STOPPED, result.message, dialer.take_unconsumed()
    if result.error is DialError.PORT_LOST:
        # serialport already tells a vanished node (PortVanished) from EOF/EIO (Hangup); keep that split
        if isinstance(watched.error, PortVanished):
            where = "the modem dropped off USB" if getattr(port, "usb", False) else "the port went away"
            message = result.message if where in result.message else f"{result.message} ({where})"
            return EdgeCause.PORT_VANISHED, message, b""
        return EdgeCause.HANGUP, result.message, b""
    return dial_cause(result.error, ncm=False), result.message, b""


class _WatchedPort:
    """Delegates to a SerialPort and remembers the last error, so the dial result keeps its cause."""

    def __init__(self, port: SerialPort) -> None:
        self._port = port
        self.error: Exception | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)

    def read(self) -> bytes:
        try:
            return self._port.read()
        except SerialPortError as exc:
            self.error = exc
            raise

    def write(self, data: bytes) -> int:
        try:
            return self._port.write(data)
        except SerialPortError as exc:
            self.error = exc
            raise


# -- finding the modem -------------------------------------------------------------------------

def find_ppp_port(args: argparse.Namespace, wait: float = 0.0,
                  stop: StopSignal | None = None) -> tuple[str | None, str]:
    """The PPP port of the first modem (switching a CD-ROM-mode stick first); (path, why not).
    A stop signal ends the wait at once (path None, why "interrupted")."""
    from pppstack.io.sysfs import find_modems
    from pppstack.modem.ports import DeviceMode

    deadline = time.monotonic() + wait
    switched = False
    while True:
        modems = find_modems()
        for m in modems:
            if m.mode is DeviceMode.NEEDS_SWITCH and not switched:
                log.info("%s (%s) is in CD-ROM mode: sending the mode switch", m.product_name or "modem", m.id)
                try:
                    from pppstack.cli.modeswitch import BUILTIN
                    from pppstack.io.modeswitch import switch
                    from pppstack.modem.usbmode import parse_config

                    config = parse_config(read_text(args.usb_mode), args.usb_mode) if args.usb_mode else BUILTIN
                    kw = {} if stop is None else {"sleep": _sleep_or_raise(stop)}  # its 20 s wait obeys signals
                    for line in switch(config, vendor=m.vendor, product=m.product, **kw).lines():
                        log.info("  %s", line)
                except StopRequested:
                    return None, "interrupted"
                except Exception as exc:  # the switch reports in words; keep looking for ports
                    return None, f"the mode switch failed: {exc}"
                switched = True
                deadline = max(deadline, time.monotonic() + 20)
                break
            path = m.ppp_port
            if path:
                log.info("found %s %s (%s): PPP port %s", m.manufacturer, m.product_name, m.id, path)
                return path, ""
        else:
            if time.monotonic() >= deadline:
                why = "no USB modem found" if not modems else "the modem has no PPP-capable serial port"
                if any(m.mode is DeviceMode.HILINK for m in modems):
                    why = "the modem is in HiLink (router) mode, which has no PPP port; switch it to stick mode"
                return None, why
        if stop is None:
            time.sleep(0.5)
        elif not stop.sleep(0.5) or stop.stop_requested:
            return None, "interrupted"


def _sleep_or_raise(stop: StopSignal) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        if not stop.sleep(seconds) or stop.stop_requested:
            raise StopRequested(f"{stop.signal_name or 'a signal'} received")
    return sleep


def wait_for_port(path: str, seconds: float, signals: Any) -> bool:
    """A port that went away (USB reset) may come back: wait for its node."""
    end = time.monotonic() + seconds
    while not signals.stop_requested:
        if os.path.exists(path):
            return True
        if time.monotonic() >= end:
            return False
        signals.sleep(0.2)
    return False
