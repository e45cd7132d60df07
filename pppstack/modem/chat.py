"""A chat(8)-compatible script engine, sans-I/O.

Theory of operation (ppp-project/ppp chat/chat.c, chat.8): a script is a list of words taken
alternately as expect and send strings.  Keywords (ABORT, CLR_ABORT, REPORT, CLR_REPORT, TIMEOUT,
ECHO, SAY, HANGUP) stand in the expect position and consume the next word.  An expect word may be
``expect-subsend-subexpect...``: on timeout the sub-send goes out and the next sub-expect is
tried.  Strings are "cleaned" as chat does (escapes, ^X control characters, $VAR with -E), and
every send gets a CR unless it ends in \\c.  Expecting reads the input one byte at a time, so
bytes after a match stay for the next expect (that is why chat logs the ``^M`` left over from
``OK\\r\\n`` under the next ``expect (CONNECT)``).  Log lines, exit codes and the REPORT output are
chat's own; \\d and \\p become deadlines instead of sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum

from pppstack.modem.machine import Program, SansIoMachine

__all__ = ["ChatExit", "ChatScript", "ChatScriptError", "Chat", "ChatResult", "ChatOutput", "OutputKind",
           "clean", "visible", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 45        # chat.c DEFAULT_CHAT_TIMEOUT
MAX_ABORTS = 50
MAX_REPORTS = 50
STR_LEN = 1024
FAIL_BUFFER = 50            # chat.c fail_buffer[50]: ABORT/REPORT strings must be shorter
DELAY_D = 1.0               # \d: sleep(1)
DELAY_P = 0.01              # \p: usleep(10000) in chat.c (the man page says 1/10 s)
KEYWORDS = ("HANGUP", "ABORT", "CLR_ABORT", "REPORT", "CLR_REPORT", "TIMEOUT", "ECHO", "SAY")


class ChatExit(IntEnum):
    OK = 0
    PARAMS = 1        # invalid parameters / script error
    IO = 2            # I/O error, or a signal (SIGHUP, SIGTERM)
    TIMEOUT = 3       # an expect timed out with no sub-send left
    ABORT = 4         # the first ABORT string; the n-th gives 3 + n


class ChatScriptError(ValueError):
    """The script text cannot be read (chat exit code 1)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"{message} (line {line})")
        self.line = line


@dataclass(frozen=True, slots=True)
class ChatScript:
    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ChatScript:
        """Split a chat file the way chat.c do_file() does: '#' lines are comments, words are
        separated by blanks, '...' and "..." quote (backslash keeps the next character)."""
        words: list[str] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.startswith("#"):
                continue
            i, n = 0, len(line)
            while i < n:
                ch = line[i]
                if ch in " \t":
                    i += 1
                    continue
                if ch in "'\"":
                    quote, i = ch, i + 1
                    start = i
                    while True:
                        if i >= n:
                            raise ChatScriptError("unterminated quote", lineno)
                        if line[i] == quote:
                            break
                        i += 2 if line[i] == "\\" and i + 1 < n else 1
                    words.append(line[start:i])
                    i += 1
                else:
                    start = i
                    while i < n and line[i] not in " \t":
                        i += 1
                    words.append(line[start:i])
        return cls(tuple(words))

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> ChatScript:
        return cls(tuple(argv))


class OutputKind(Enum):
    LOG = "log"          # chat's msgf() lines (syslog LOG_INFO; shown with -v)
    ERROR = "error"      # fatal() lines (LOG_ERR; always shown)
    STDERR = "stderr"    # raw text chat writes to stderr: SAY, ECHO ON, -V
    REPORT = "report"    # a REPORT line, without chat's "chat:  <date> " prefix


@dataclass(frozen=True, slots=True)
class ChatOutput:
    kind: OutputKind
    text: str


@dataclass(frozen=True, slots=True)
class ChatResult:
    exit_code: int
    message: str
    reports: tuple[str, ...] = ()
    abort: str | None = None          # the ABORT string that matched

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _char(c: int) -> str:
    """chat.c character(): how a received byte is shown."""
    meta = "M-" if c & 0x80 else ""
    c &= 0x7F
    if c < 32:
        return f"{meta}^{chr(c + 64)}"
    if c == 127:
        return f"{meta}^?"
    return meta + chr(c)


def visible(s: str) -> str:
    """chat's %v format: control characters as ^X (tab kept), high bit as M-."""
    out = []
    for ch in s:
        c = ord(ch) & 0xFF
        meta = ""
        if c >= 0x80:
            meta, c = "M-", c - 0x80
        if c == 9:
            out.append(meta + "\t")
        elif c < 0x20 or c == 0x7F:
            out.append(f"{meta}^{chr(c ^ 0x40)}")
        else:
            out.append(meta + chr(c))
    return "".join(out)


def _isalnumx(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def clean(s: str, sending: bool, env: Mapping[str, str] | None = None,
          phone: tuple[str | None, str | None] = (None, None)) -> tuple[str, bool]:
    """chat.c clean(): returns (cleaned string, quiet).  When sending, the delay/break escapes
    stay as backslash pairs (\\d \\p \\K \\\\ \\N) for the sender to act on, and a CR is added
    unless the string ends in \\c.  ``env`` is not None when -E is on."""
    out: list[str] = []
    add_return = sending
    quiet = False
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        i += 1
        if ch == "^":
            if i >= n:
                out.append("^")
                break
            c = ord(s[i]) & 0x1F
            i += 1
            if c:
                out.append(chr(c))
            continue
        if env is not None and ch == "$":
            j = i
            while j < n and _isalnumx(s[j]):
                j += 1
            out.append(env.get(s[i:j], ""))
            i = j
            continue
        if ch != "\\":
            out.append(ch)
            continue
        if i >= n:
            if sending:
                out.append("\\\\")
            break
        ch = s[i]
        i += 1
        if ch == "b":
            out.append("\b")
        elif ch == "c":
            if sending and i >= n:
                add_return = False
            else:
                out.append("c")
        elif ch in "\\Kpd":
            out.append(("\\" if sending else "") + ch)
        elif ch in "TU":
            num = phone[0] if ch == "T" else phone[1]
            out.append(num if sending and num else "\\" + ch)
        elif ch == "q":
            quiet = True
        elif ch == "r":
            out.append("\r")
        elif ch == "n":
            out.append("\n")
        elif ch == "s":
            out.append(" ")
        elif ch == "t":
            out.append("\t")
        elif ch == "N":
            out.append("\\\0" if sending else "N")
        elif ch == "$" and env is not None:
            out.append("$")
        elif ch in "01234567":
            c = ord(ch) & 7
            for _ in range(2):
                if i < n and s[i] in "01234567":
                    c = (c << 3) | (ord(s[i]) - 48)
                    i += 1
            c &= 0xFF
            if c or sending:
                if sending and (c == 0x5C or c == 0):
                    out.append("\\")
                out.append(chr(c))
        else:
            out.append(("\\" if sending else "") + ch)
    if add_return:
        out.append("\r")
    return "".join(out), quiet


class Chat(SansIoMachine):
    """Runs one chat script against a modem, sans-I/O.

    ``env`` enables -E ($VAR substitution) when not None.  ``read_file`` serves ``@file`` sends
    (the CLI passes a real reader; without one such a send fails with exit code 1).
    Read log lines, SAY text and REPORT lines with ``take_output()``.
    """

    def __init__(self, script: ChatScript, env: Mapping[str, str] | None = None, *,
                 timeout: int = DEFAULT_TIMEOUT, verbose: bool = True, verbose_stderr: bool = False,
                 echo: bool = False, phone: tuple[str | None, str | None] = (None, None),
                 read_file: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.script = script
        self.env = env
        self.timeout = timeout if timeout > 0 else DEFAULT_TIMEOUT
        self.verbose = verbose
        self.verbose_stderr = verbose_stderr
        self.echo = echo
        self.phone = phone
        self.read_file = read_file
        self.hangup_is_fatal = True       # HANGUP OFF: the driver ignores SIGHUP-style hangups
        self.aborts: list[str] = []
        self.report_strings: list[str] = []
        self.reports: list[str] = []
        self._report_buffer: str | None = None   # gathering a report line
        self._output: list[ChatOutput] = []
        self._exit: int | None = None
        self._fail_reason: str | None = None
        self._message = ""
        self._need_lf = False
        self._code = 0                    # chat.c exit_code while expecting

    # -- output -----------------------------------------------------------------------------
    def take_output(self) -> list[ChatOutput]:
        out, self._output = self._output, []
        return out

    def _msg(self, text: str) -> None:
        if self.verbose:
            self._output.append(ChatOutput(OutputKind.LOG, text))

    def _fatal(self, code: int, text: str) -> None:
        self._output.append(ChatOutput(OutputKind.ERROR, text))
        self._exit = code
        self._message = text

    def _stderr(self, text: str) -> None:
        self._output.append(ChatOutput(OutputKind.STDERR, text))

    def _echo_char(self, c: int) -> None:
        if c == 0x0D:
            return
        if c == 0x0A:
            self._stderr("\n")
            self._need_lf = False
        else:
            self._stderr(_char(c))
            self._need_lf = True

    def _lost_result(self, reason: str) -> ChatResult:
        self._output.append(ChatOutput(OutputKind.ERROR, reason))
        return ChatResult(int(ChatExit.IO), reason, tuple(self.reports))

    # -- the program ------------------------------------------------------------------------
    def _clean(self, s: str, sending: bool) -> tuple[str, bool]:
        return clean(s, sending, self.env, self.phone)

    def _program(self) -> Program:
        words = list(self.script.words)
        i = 0
        sending = False
        pending_kw: str | None = None
        while i < len(words) and self._exit is None:
            word = words[i]
            i += 1
            if not sending:
                if word in KEYWORDS:
                    pending_kw = word
                else:
                    pending_kw = None
                    yield from self._expect(word)
            else:
                yield from self._send(word, pending_kw)
                pending_kw = None
            sending = not sending
        if self._exit is None:
            self._exit = 0
            self._message = "the script completed"
        yield from self._terminate()

    def _terminate(self) -> Program:
        if self.echo and self._need_lf:
            self._stderr("\n")
        if self._report_buffer is not None:
            # chat.c terminate(): let the rest of the report line arrive (1 s per character)
            while True:
                c = yield from self._get_char(self.now + 1.0)
                if c is None or c < 32 or c == 127:
                    break
                self._report_buffer += chr(c)
            self._finish_report()
        self.result = ChatResult(self._exit or 0, self._message, tuple(self.reports), self._fail_reason)

    def _finish_report(self) -> None:
        assert self._report_buffer is not None
        self.reports.append(self._report_buffer)
        self._output.append(ChatOutput(OutputKind.REPORT, self._report_buffer))
        self._report_buffer = None

    def _get_char(self, deadline: float) -> Program:
        while not self._inbuf:
            if self.now >= deadline:
                return None
            yield deadline
        c = self._inbuf[0] & 0x7F
        del self._inbuf[:1]
        return c

    def _send(self, word: str, keyword: str | None) -> Program:
        if keyword == "SAY":
            self._stderr(self._clean(word, True)[0])
            return
        if keyword == "HANGUP":
            self.hangup_is_fatal = word != "OFF"
            return
        if keyword == "ECHO":
            self.echo = word == "ON"
            return
        if keyword in ("ABORT", "REPORT"):
            table = self.aborts if keyword == "ABORT" else self.report_strings
            if len(table) >= (MAX_ABORTS if keyword == "ABORT" else MAX_REPORTS):
                self._fatal(2, f"Too many {keyword} strings")
                return
            s1 = self._clean(word, False)[0]
            if len(s1) + 1 > FAIL_BUFFER:
                self._fatal(1, f"Illegal or too-long {keyword} string ('{visible(word)}')")
                return
            table.append(s1)
            self._msg(f"{'abort on' if keyword == 'ABORT' else 'report'} ({visible(s1)})")
            return
        if keyword in ("CLR_ABORT", "CLR_REPORT"):
            table = self.aborts if keyword == "CLR_ABORT" else self.report_strings
            s1 = self._clean(word, False)[0]
            if len(s1) + 1 > FAIL_BUFFER:
                kind = "CLR_ABORT" if keyword == "CLR_ABORT" else "REPORT"
                self._fatal(1, f"Illegal or too-long {kind} string ('{visible(word)}')")
                return
            while s1 in table:
                table.remove(s1)
                self._msg(f"clear {'abort on' if keyword == 'CLR_ABORT' else 'report'} ({visible(s1)})")
            return
        if keyword == "TIMEOUT":
            s1 = self._clean(word, False)[0]
            digits = ""
            for ch in s1.strip():
                if not (ch.isdigit() or (not digits and ch in "+-")):
                    break
                digits += ch
            try:
                value = int(digits)
            except ValueError:
                value = 0
            self.timeout = value if value > 0 else DEFAULT_TIMEOUT
            self._msg(f"timeout set to {self.timeout} seconds")
            return
        if word.startswith("@"):
            fn = word[1:].lstrip(" \t")
            if fn:
                if self.read_file is None:
                    self._fatal(1, f"{fn} -- open failed: reading files is not enabled")
                    return
                try:
                    data = self.read_file(fn)[: STR_LEN - 1]
                except OSError as exc:
                    self._fatal(1, f"{fn} -- open failed: {exc.strerror or exc}")
                    return
                word = data[:-1] if data.endswith("\n") else data
        if word == "EOT":
            word = "^D\\c"
        elif word == "BREAK":
            word = "\\K\\c"
        yield from self._put_string(word)

    def _put_string(self, word: str) -> Program:
        s, quiet = self._clean(word, True)
        self._msg("send (??????)" if quiet else f"send ({visible(s)})")
        i = 0
        while i < len(s):
            ch = s[i]
            i += 1
            if ch != "\\":
                self._outbuf.append(ord(ch) & 0xFF)
                continue
            ch = s[i] if i < len(s) else ""
            i += 1
            if ch == "d":
                yield from self._sleep_until(self.now + DELAY_D)
            elif ch == "p":
                yield from self._sleep_until(self.now + DELAY_P)
            elif ch == "K":
                self.breaks_requested += 1
            elif ch:
                self._outbuf.append(ord(ch) & 0xFF)

    def _expect(self, word: str) -> Program:
        # expect-subsend-subexpect: split on '-' not preceded by a backslash (expect_strtok)
        parts: list[str] = []
        cur: list[str] = []
        esc = False
        for ch in word:
            if esc:
                cur.append(ch)
                esc = False
            elif ch == "\\":
                cur.append(ch)
                esc = True
            elif ch == "-":
                parts.append("".join(cur))
                cur = []
            else:
                cur.append(ch)
        parts.append("".join(cur))
        k = 0
        while k < len(parts):
            expect = parts[k]
            reply = parts[k + 1] if k + 1 < len(parts) else None
            got = yield from self._get_string(expect)
            if got:
                return
            if reply is None or self._code != 3:
                break
            yield from self._send(reply, None)
            if self._exit is not None:
                return
            k += 2
        if self._exit is not None:
            return
        if self._fail_reason:
            self._msg(f"Failed ({visible(self._fail_reason)})")
            self._message = f"the modem answered {self._fail_reason!r} (ABORT string {self._code - 3})"
        else:
            self._msg("Failed")
            self._message = f"timed out after {self.timeout} s waiting for {parts[k] if k < len(parts) else expect!r}"
        self._exit = self._code

    def _get_string(self, word: str) -> Program:
        self._fail_reason = None
        string = self._clean(word, False)[0]
        self._msg(f"expect ({visible(string)})")
        if len(string) > STR_LEN:
            self._msg("expect string is too long")
            self._code = 1
            return False
        if not string:
            self._msg("got it")
            return True
        target = string.encode("latin-1", "replace")
        deadline = self.now + self.timeout
        temp = bytearray()
        logged = 0
        minlen = max(len(target), FAIL_BUFFER) - 1
        while True:
            c = yield from self._get_char(deadline)
            if c is None:
                self._msg("alarm")
                self._code = 3
                return False
            if self.echo:
                self._echo_char(c)
            if c == 0x0A:
                self._msg(visible(temp[logged:].decode("latin-1")) if len(temp) > logged else "")
                logged = len(temp) + 1
            temp.append(c)
            if len(temp) >= logged + 80:
                self._msg(visible(temp[logged:].decode("latin-1")))
                logged = len(temp)
            if self.verbose_stderr:
                if c == 0x0A:
                    self._stderr("\n")
                elif c != 0x0D:
                    self._stderr(_char(c))
            self._gather_report(c, temp)
            if temp.endswith(target):
                if len(temp) > logged:
                    self._msg(visible(temp[logged:].decode("latin-1")))
                self._msg(" -- got it")
                return True
            for n, ab in enumerate(self.aborts):
                if ab and temp.endswith(ab.encode("latin-1", "replace")):
                    if len(temp) > logged:
                        self._msg(visible(temp[logged:].decode("latin-1")))
                    self._msg(" -- failed")
                    self._code = n + 4
                    self._fail_reason = ab
                    return False
            if len(temp) >= STR_LEN:
                if logged < len(temp) - minlen:
                    self._msg(visible(temp[logged:].decode("latin-1")))
                    logged = len(temp)
                drop = len(temp) - minlen
                del temp[:drop]
                logged = max(0, logged - drop)

    def _gather_report(self, c: int, temp: bytearray) -> None:
        if self._report_buffer is None:
            for n, rep in enumerate(self.report_strings):
                if rep and temp.endswith(rep.encode("latin-1", "replace")):
                    self._report_buffer = rep
                    del self.report_strings[n]   # chat reports each string once
                    break
        elif c < 32 or c == 127:
            self._finish_report()
        elif len(self._report_buffer) < 4095:
            self._report_buffer += chr(c)
