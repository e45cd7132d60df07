"""A scripted modem on the master side of a real pty pair (tests of the modem room).

The client under test opens the slave path like any tty; this thread reads CR-terminated command
lines from the master and answers from a table.  No pyserial mocks: real termios, real fds.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable

Reply = bytes | Callable[[str], bytes | None] | None


class ScriptedModem:
    """Answers commands from ``replies`` (exact command text -> bytes or callable).  Unknown
    commands get ``default``.  ``hangup_after`` (a command) closes the master once answered,
    which the client sees as a hang-up (EIO)."""

    def __init__(self, replies: dict[str, Reply], default: bytes | None = b"\r\nERROR\r\n",
                 hangup_after: str | None = None, echo: bool = False, greeting: bytes = b"") -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.replies = dict(replies)
        self.default = default
        self.hangup_after = hangup_after
        self.echo = echo
        self.greeting = greeting
        self.commands: list[str] = []
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.closed = False

    def __enter__(self) -> ScriptedModem:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._close_master()
        try:
            os.close(self.slave)
        except OSError:
            pass

    def _close_master(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                os.close(self.master)
            except OSError:
                pass

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def _run(self) -> None:
        if self.greeting:
            self.write(self.greeting)
        buf = b""
        while not self._stop.is_set() and not self.closed:
            r, _, _ = select.select([self.master], [], [], 0.02)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            self.received += data
            buf += data
            while b"\r" in buf:
                line, buf = buf.split(b"\r", 1)
                cmd = line.decode("latin-1").strip()
                if not cmd:
                    continue
                self.commands.append(cmd)
                if self.echo:
                    self.write(line + b"\r")
                reply = self.replies.get(cmd, self.default)
                if callable(reply):
                    reply = reply(cmd)
                if reply:
                    time.sleep(0.001)
                    self.write(reply)
                if self.hangup_after is not None and cmd == self.hangup_after:
                    time.sleep(0.05)
                    self._close_master()
                    return
