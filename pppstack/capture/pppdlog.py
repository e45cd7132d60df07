"""pppd's debug text back into packets: the inverse of pppstack.describe.

`rebuild("[LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0xa1e27395>]")` gives the PPP frame
(FF 03, protocol, information) that pppd printed.  Every rebuilt packet is checked by printing it
again with describe: `exact` says the text round-trips, so a user knows which frames in a pcapng
made from an old log are faithful.  What pppd's printer throws away cannot come back: a PAP
password (`<hidden>`: rebuilt empty), data packets (pppd prints 8 octets: skipped), tails cut
at 32 octets (` ...`).  Then `exact` is False and `note` says what is missing.

`read_log(lines)` finds the `sent [...]`/`rcvd [...]` lines in any wrapper the doctor knows
(syslog, logread, journalctl, pppd's own logfile) and yields them with their time if any.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pppstack.describe import describe_frame
from pppstack.describe.auth import CHAP_CODE_NAMES, EAP_CODE_NAMES, EAP_TYPE_NAMES, PAP_CODE_NAMES
from pppstack.describe.lcp import LCP_CODE_NAMES
from pppstack.describe.ncp import CCP_CODE_NAMES, NCP_CODE_NAMES
from pppstack.describe.packet import PROTOCOLS
from pppstack.doctor.lines import normalise
from pppstack.wire import Protocol

__all__ = ["Rebuilt", "LogFrame", "rebuild", "read_log", "looks_like_pppd_log"]


class _Unparsed(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rebuilt:
    frame: bytes       # FF 03 + two-octet protocol + information (+ padding)
    exact: bool        # describe_frame(frame) gives the text back
    note: str = ""     # what could not be recovered


@dataclass(frozen=True, slots=True)
class LogFrame:
    line_number: int
    sent: bool
    text: str                  # "[LCP ...]" as logged
    time: float | None         # seconds from the log's time stamp (comparable within one log)
    rebuilt: Rebuilt | None    # None when the text cannot be turned back into octets
    why: str = ""              # why not, for the user


_NAMES = {e.name: e.number for e in PROTOCOLS}
_DATA_NAMES = {e.data_name: e.number & 0x7FFF for e in PROTOCOLS if e.data_name}
_CODES: dict[int, tuple[str | None, ...]] = {
    Protocol.LCP: LCP_CODE_NAMES, Protocol.IPCP: NCP_CODE_NAMES, Protocol.IPV6CP: NCP_CODE_NAMES,
    Protocol.CCP: CCP_CODE_NAMES,
    Protocol.PAP: PAP_CODE_NAMES, Protocol.CHAP: CHAP_CODE_NAMES, Protocol.EAP: EAP_CODE_NAMES,
}  # fmt: skip
_HEX = re.compile(r"^(?: [0-9a-f]{2})*")


# -- small lexers ---------------------------------------------------------------------------------

class _Text:
    """A cursor over the printed body."""

    __slots__ = ("s", "i")

    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0

    def eat(self, literal: str) -> bool:
        if self.s.startswith(literal, self.i):
            self.i += len(literal)
            return True
        return False

    def need(self, literal: str) -> None:
        if not self.eat(literal):
            raise _Unparsed(f"expected {literal!r} at {self.s[self.i:self.i + 20]!r}")

    def match(self, pattern: str) -> re.Match[str]:
        m = re.compile(pattern).match(self.s, self.i)
        if m is None:
            raise _Unparsed(f"unexpected {self.s[self.i:self.i + 20]!r}")
        self.i = m.end()
        return m

    def hex(self) -> bytes:
        """Any run of " xx" octets."""
        m = _HEX.match(self.s[self.i:])
        text = m.group() if m else ""
        self.i += len(text)
        return bytes.fromhex(text.replace(" ", ""))

    def quoted(self) -> bytes:
        """pppd's print_string() undone: C escapes and octal."""
        self.need('"')
        out = bytearray()
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == '"':
                self.i += 1
                return bytes(out)
            if c == "\\":
                nxt = s[self.i + 1 : self.i + 2]
                simple = {"n": 10, "r": 13, "t": 9, "\\": 0x5C, '"': 0x22}
                if nxt in simple:
                    out.append(simple[nxt])
                    self.i += 2
                    continue
                m = re.compile(r"\\([0-7]{3})").match(s, self.i)
                if m is None:
                    raise _Unparsed("bad escape in a quoted string")
                out.append(int(m.group(1), 8) & 0xFF)
                self.i = m.end()
                continue
            out += c.encode("latin-1", "replace")
            self.i += 1
        raise _Unparsed("unterminated string")

    def done(self) -> bool:
        return self.i >= len(self.s)


def _ip(text: str) -> bytes:
    parts = [int(p) for p in text.split(".")]
    if len(parts) != 4 or any(not 0 <= p <= 255 for p in parts):
        raise _Unparsed(f"bad address {text!r}")
    return bytes(parts)


def _u(value: int, size: int) -> bytes:
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "big")


# -- options --------------------------------------------------------------------------------------

_CHAP_DIGESTS = {"MD5": 5, "MS": 0x80, "MS-v2": 0x81}
_ENDP = ("null", "local", "IP", "MAC", "magic", "phone")
OptionParser = Callable[[_Text, dict[str, int]], tuple[int, bytes]]


def _lcp(t: _Text, seen: dict[str, int]) -> tuple[int, bytes]:
    for word, code in (("mru ", 1), ("mrru ", 17)):
        if t.eat(word):
            return code, _u(int(t.match(r"\d+").group()), 2)
    if t.eat("asyncmap 0x"):
        return 2, _u(int(t.match(r"[0-9a-f]+").group(), 16), 4)
    if t.eat("magic 0x"):
        return 5, _u(int(t.match(r"[0-9a-f]+").group(), 16), 4)
    if t.eat("auth "):
        if t.eat("pap"):
            return 3, b"\xc0\x23"
        if t.eat("eap"):
            return 3, b"\xc2\x27"
        if t.eat("chap"):
            m = re.compile(r" (MS-v2|MD5|MS)(?=[ >])").match(t.s, t.i)
            if m:
                t.i = m.end()
                return 3, b"\xc2\x23" + bytes((_CHAP_DIGESTS[m.group(1)],))
            return 3, b"\xc2\x23"
        t.need("0x")
        return 3, _u(int(t.match(r"[0-9a-f]+").group(), 16), 2)
    if t.eat("quality "):
        if t.eat("lqr"):
            return 4, b"\xc0\x25"
        t.need("0x")
        return 4, _u(int(t.match(r"[0-9a-f]+").group(), 16), 2)
    if t.eat("callback "):
        if t.eat("CBCP"):
            return 13, b"\x06"
        t.need("0x")
        return 13, _u(int(t.match(r"[0-9a-f]+").group(), 16), 1)
    for word, code in (("pcomp", 7), ("accomp", 8), ("ssnhf", 18)):
        if t.eat(word):
            return code, b""
    if t.eat("endpoint ["):
        body = t.match(r"[^\]]*").group()
        t.need("]")
        return 19, _endpoint(body)
    raise _Unparsed("unknown LCP option")


def _endpoint(text: str) -> bytes:
    if text == "null":
        return b"\0"
    klass_text, _, value = text.partition(":")
    klass = _ENDP.index(klass_text) if klass_text in _ENDP else int(klass_text)
    if klass == 2 and value.count(".") == 3 and all(p.isdigit() for p in value.split(".")):
        return bytes((2,)) + _ip(value)
    return bytes((klass,)) + bytes.fromhex(value.replace(":", "").replace(".", ""))


def _ipcp(t: _Text, seen: dict[str, int]) -> tuple[int, bytes]:
    if t.eat("addrs "):
        m = t.match(r"([\d.]+) ([\d.]+)")
        return 1, _ip(m.group(1)) + _ip(m.group(2))
    if t.eat("addr "):
        return 3, _ip(t.match(r"[\d.]+").group())
    if t.eat("compress "):
        if t.eat("VJ"):
            return 2, b"\x00\x2d"
        if t.eat("old-VJ"):
            return 2, b"\x00\x37"
        t.need("0x")
        return 2, _u(int(t.match(r"[0-9a-f]+").group(), 16), 2)
    m = t.match(r"ms-(dns1|dns2|wins) ([\d.]+)")
    if m.group(1) == "wins":  # pppd prints both WINS options alike: the first is 130, the second 132
        seen["wins"] = seen.get("wins", 0) + 1
        return (130 if seen["wins"] == 1 else 132), _ip(m.group(2))
    return (129 if m.group(1) == "dns1" else 131), _ip(m.group(2))


def _ipv6cp(t: _Text, seen: dict[str, int]) -> tuple[int, bytes]:
    if t.eat("compress 0x"):
        return 2, _u(int(t.match(r"[0-9a-f]+").group(), 16), 2)
    m = t.match(r"addr fe80::([0-9a-f]{4}):([0-9a-f]{4}):([0-9a-f]{4}):([0-9a-f]{4})")
    return 1, bytes.fromhex("".join(m.groups()))


def _ccp(t: _Text, seen: dict[str, int]) -> tuple[int, bytes]:
    if t.eat("mppe "):
        m = t.match(r"([+-])H ([+-])M ([+-])S ([+-])L ([+-])D ([+-])C")
        if t.eat(" +U ("):
            raw = bytes.fromhex(t.match(r"[0-9a-f ]+").group().replace(" ", ""))
            t.need(")")
            return 18, raw
        h, mm, s, l_, d, c = (g == "+" for g in m.groups())
        last = (0x80 if mm else 0) | (0x40 if s else 0) | (0x20 if l_ else 0) | (0x10 if d else 0) | (1 if c else 0)
        return 18, bytes((1 if h else 0, 0, 0, last))
    m = t.match(r"(deflate\(old#\)|deflate|bsd v(\d)|predictor) (\d+)")
    if m.group(1) == "predictor":
        return int(m.group(3)), b""
    if m.group(2) is not None:
        return 21, bytes(((int(m.group(2)) << 5) | int(m.group(3)),))
    method, check = 8, 0
    if t.eat(" method "):
        method = int(t.match(r"\d+").group())
    if t.eat(" check "):
        check = int(t.match(r"\d+").group())
    return (24 if "old" in m.group(1) else 26), bytes((((int(m.group(3)) - 8) << 4) | method, check))


_OPTION_PARSERS: dict[int, OptionParser] = {Protocol.LCP: _lcp, Protocol.IPCP: _ipcp, Protocol.IPV6CP: _ipv6cp,
                                            Protocol.CCP: _ccp}


def _options(t: _Text, parser: OptionParser) -> bytes:
    out = bytearray()
    seen: dict[str, int] = {}
    while t.eat(" <"):
        if t.s.startswith(" ", t.i):  # an option pppd has no keyword for: all its octets in hex
            out += t.hex()
        else:
            code, data = parser(t, seen)
            data += t.hex()
            out += bytes((code, 2 + len(data))) + data
        t.need(">")
    return bytes(out)


# -- packet bodies --------------------------------------------------------------------------------

def _code(t: _Text, names: tuple[str | None, ...]) -> int:
    m = t.match(r" (code=0x[0-9a-f]+|[A-Za-z]+)")
    word = m.group(1)
    if word.startswith("code=0x"):
        return int(word[7:], 16)
    if word in names:
        return names.index(word) + 1
    raise _Unparsed(f"unknown code {word!r}")


def _fsm_body(proto: int, code: int, t: _Text) -> bytes:
    if 1 <= code <= 4 and proto in _OPTION_PARSERS:
        return _options(t, _OPTION_PARSERS[proto]) + t.hex()
    if code in (5, 6) and proto != Protocol.ECP:
        space = "" if proto == Protocol.CCP else " "
        if t.s.startswith(space + '"', t.i):
            t.need(space)
            return t.quoted()
        return t.hex()
    if proto == Protocol.LCP and code in (9, 10, 11, 12, 13):
        body = b""
        if t.eat(" magic=0x"):
            body = _u(int(t.match(r"[0-9a-f]+").group(), 16), 4)
            if code == 13 and t.eat(" seconds="):
                body += _u(int(t.match(r"\d+").group()), 4)
            if code in (12, 13) and t.s.startswith(' "', t.i):
                t.need(" ")
                return body + t.hex() + t.quoted()
        return body + t.hex()
    return t.hex()


def _pap_body(code: int, t: _Text) -> tuple[bytes, str]:
    if code == 1:
        if t.eat(" user="):
            user = t.quoted()
            t.need(" password=<hidden>")
            rest = t.hex()
            return bytes((len(user),)) + user + b"\0" + rest, "the password is not in the log (rebuilt empty)"
        m = re.compile(r" <(\d+) octets hidden>").match(t.s, t.i)
        if m:
            t.i = m.end()
            return b"\0" * int(m.group(1)), "octets pppstack hid are zeros"
    elif code in (2, 3) and t.s.startswith(' "', t.i):
        t.need(" ")
        msg = t.quoted()
        return bytes((len(msg),)) + msg + t.hex(), ""
    return t.hex(), ""


def _chap_body(code: int, t: _Text) -> bytes:
    if code in (1, 2) and t.eat(" <"):
        value = bytes.fromhex(t.match(r"[0-9a-f]*").group())
        t.need(">, name = ")
        return bytes((len(value),)) + value + t.quoted()
    if code in (3, 4):
        t.need(" ")
        return t.quoted()
    return t.hex()


def _eap_body(code: int, t: _Text) -> bytes:
    if code not in (1, 2):
        return t.hex()
    if t.done() or t.s.startswith("]", t.i):
        return b""
    t.need(" ")
    known = sorted((n for n in EAP_TYPE_NAMES if n), key=len, reverse=True)
    name = next((n for n in known if t.s.startswith(n, t.i)), None)
    if name is None:
        raise _Unparsed("EAP type")
    t.i += len(name)
    rtype = bytes((EAP_TYPE_NAMES.index(name) + 1,))
    if name == "TLS":
        if t.eat(" Ack"):
            return rtype + b"\0"
        m = t.match(r" ([L-])([M-])(S|- )")
        flags = (0x80 if m.group(1) == "L" else 0) | (0x40 if m.group(2) == "M" else 0)
        flags |= 0x20 if m.group(3) == "S" else 0
        return rtype + bytes((flags,)) + t.hex()
    if name == "Nak":
        if t.eat(" <missing hint>"):
            return rtype
        m = t.match(r" <Suggested-type ([0-9A-F]{2})(?: \([^)]*\))?>")
        return rtype + bytes.fromhex(m.group(1))
    if name in ("Identity", "Notification"):
        if t.eat(" <No message>") or t.done():
            return rtype
        t.match(r" <(Message|Name) ")
        text = t.quoted()
        t.need(">")
        return rtype + text
    if name == "MD5-Challenge":
        t.need(" <Value")
        value = t.hex()
        t.need(">")
        body = rtype + bytes((len(value),)) + value
        if t.eat(" <Name "):
            body += t.quoted()
            t.need(">")
        else:
            t.need(" <No name>")
        return body
    raise _Unparsed(f"EAP {name} is not rebuilt")


def _packet(text: str) -> tuple[bytes, str]:
    """The packet for pppd's bracketed text; raises _Unparsed."""
    m = re.match(r"^\[(?:([A-Z0-9]+) data\]|proto=0x([0-9a-f]+)\]|([A-Z0-9]+))", text)
    if m is None:
        raise _Unparsed("not a pppd packet description")
    if m.group(1):
        raise _Unparsed(f"{m.group(1)} data: pppd logs only its first 8 octets")
    if m.group(2):
        t = _Text(text[m.end():])
        proto = int(m.group(2), 16)
        return b"\xff\x03" + _u(proto, 2) + t.hex(), ("" if t.done() else "truncated at 32 octets")
    found = _NAMES.get(m.group(3) or "")
    if found is None or found not in _CODES and found != Protocol.ECP:
        raise _Unparsed(f"protocol {m.group(3)} is not rebuilt")
    proto = found
    close = text.rfind("]")
    t = _Text(text[m.end():close])
    tail = _Text(text[close + 1 :])
    names = _CODES.get(proto, NCP_CODE_NAMES)
    note = ""
    if proto == Protocol.ECP:  # ECP: pppd prints only the octets
        return b"\xff\x03" + _u(proto, 2) + _Text(text[m.end():]).hex() + tail.hex(), ""
    code = _code(t, names)
    t.need(" id=0x")
    ident = int(t.match(r"[0-9a-f]+").group(), 16)
    if proto == Protocol.PAP:
        body, note = _pap_body(code, t)
    elif proto == Protocol.CHAP:
        body = _chap_body(code, t)
    elif proto == Protocol.EAP:
        body = _eap_body(code, t)
    else:
        body = _fsm_body(proto, code, t)
    if t.eat(" ..."):
        note = "truncated at 32 octets"
    if not t.done():
        raise _Unparsed(f"cannot read {t.s[t.i:t.i + 30]!r}")
    padding = tail.hex()
    if tail.eat(" ..."):
        note = "truncated at 32 octets"
    if not tail.done():
        raise _Unparsed(f"cannot read {tail.s[tail.i:tail.i + 30]!r}")
    info = bytes((code & 0xFF, ident & 0xFF)) + _u(4 + len(body), 2) + body + padding
    return b"\xff\x03" + _u(proto, 2) + info, note


def rebuild(text: str) -> Rebuilt | None:
    """The frame pppd described as `text` ("[LCP ...]"), or None if it cannot be read back."""
    text = text.strip()
    try:
        frame, note = _packet(text)
    except (_Unparsed, ValueError, IndexError):
        return None
    exact = describe_frame(frame) == text
    if not exact and not note:
        note = "printed differently when rebuilt"
    return Rebuilt(frame, exact, note)


def why_not(text: str) -> str:
    try:
        _packet(text.strip())
    except (_Unparsed, ValueError, IndexError) as exc:
        return str(exc)
    return ""


_LINE = re.compile(r"(?:^|\s)(sent|rcvd) (\[.*)$")


def read_log(lines: Iterable[str]) -> Iterator[LogFrame]:
    """The packets of a pppd debug log, in order, whatever wrapper each line came in."""
    for number, raw in enumerate(lines, 1):
        line = normalise(raw)
        m = _LINE.search(line.message)
        if m is None or line.program not in ("", "pppd"):
            continue
        text = m.group(2).rstrip()
        built = rebuild(text)
        yield LogFrame(number, m.group(1) == "sent", text, line.time, built, "" if built else why_not(text))


def looks_like_pppd_log(head: bytes) -> bool:
    """True when the start of an input reads as a pppd log (text with sent/rcvd [ lines)."""
    if b"\x7e" in head or b"\x00" in head:
        return False
    return re.search(rb"(?:^|\s)(?:sent|rcvd) \[[A-Z]", head) is not None
