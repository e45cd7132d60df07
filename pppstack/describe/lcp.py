"""pppd's LCP and CBCP printers (pppd/lcp.c lcp_printpkt, multilink.c epdisc_to_str, cbcp.c).

Each printer gets the information field, appends text to `out` and returns how many
octets it consumed; format_packet prints whatever is left as hex, as pppd does.
"""

from __future__ import annotations

from collections.abc import Callable

from pppstack.describe._printf import Cursor, Out, hexbytes, ipv4, quoted
from pppstack.wire import Protocol

__all__ = ["lcp_printpkt", "cbcp_printpkt", "print_options", "LCP_CODE_NAMES", "LCP_OPTION_NAMES"]

LCP_CODE_NAMES = (
    "ConfReq", "ConfAck", "ConfNak", "ConfRej", "TermReq", "TermAck", "CodeRej", "ProtRej",
    "EchoReq", "EchoRep", "DiscReq", "Ident", "TimeRem",
)  # fmt: skip

# Option type -> the keyword pppd prints (used by the JSON decoder for names too).
LCP_OPTION_NAMES = {
    0: "vendor", 1: "mru", 2: "asyncmap", 3: "auth", 4: "quality", 5: "magic", 7: "pcomp",
    8: "accomp", 9: "fcs-alternatives", 10: "self-describing-pad", 11: "numbered-mode",
    13: "callback", 17: "mrru", 18: "ssnhf", 19: "endpoint",
}  # fmt: skip

_CHAP_DIGESTS = {5: " MD5", 0x80: " MS", 0x81: " MS-v2"}
_ENDP_CLASSES = ("null", "local", "IP", "MAC", "magic", "phone")
_MAX_ENDP_LEN = 20


def _epdisc(klass: int, value: bytes) -> str:
    """multilink.c epdisc_to_str: an endpoint discriminator as pppd writes it."""
    if klass == 0 and not value:
        return "null"
    if klass == 2 and len(value) == 4:
        return "IP:" + ipv4(int.from_bytes(value, "big"))
    sep2, mask = ".", 0
    if klass == 3 and len(value) == 6:
        sep2 = ":"
    elif klass == 4 and len(value) % 4 == 0:
        mask = 3
    text = _ENDP_CLASSES[klass] if klass <= 5 else str(klass)
    sep = ":"
    for i, b in enumerate(value):
        if i & mask == 0:
            text += sep
            sep = sep2
        text += f"{b:02x}"
    return text


def _lcp_option(p: Cursor, code: int, olen: int, optend: int, out: Out) -> None:
    """One option's keyword part; the caller prints any octets the keyword left."""
    if code == 1 and olen == 4:
        p.pos += 2
        out(f"mru {p.u16()}")
    elif code == 2 and olen == 6:
        p.pos += 2
        out(f"asyncmap 0x{p.u32():x}")
    elif code == 3 and olen >= 4:
        p.pos += 2
        out("auth ")
        proto = p.u16()
        if proto == Protocol.PAP:
            out("pap")
        elif proto == Protocol.CHAP:
            out("chap")
            if p.pos < optend and p.at() in _CHAP_DIGESTS:
                out(_CHAP_DIGESTS[p.u8()])
        elif proto == Protocol.EAP:
            out("eap")
        else:
            out(f"0x{proto:x}")
    elif code == 4 and olen >= 4:
        p.pos += 2
        proto = p.u16()
        out("quality lqr" if proto == Protocol.LQR else f"quality 0x{proto:x}")
    elif code == 13 and olen >= 3:
        p.pos += 2
        op = p.u8()
        out("callback CBCP" if op == 6 else f"callback 0x{op:x}")
    elif code == 5 and olen == 6:
        p.pos += 2
        out(f"magic 0x{p.u32():x}")
    elif code == 7 and olen == 2:
        p.pos += 2
        out("pcomp")
    elif code == 8 and olen == 2:
        p.pos += 2
        out("accomp")
    elif code == 17 and olen == 4:
        p.pos += 2
        out(f"mrru {p.u16()}")
    elif code == 18 and olen == 2:
        p.pos += 2
        out("ssnhf")
    elif code == 19 and olen >= 3:  # Debian's pppd is built with multilink
        p.pos += 2
        klass = p.u8()
        value = p.take(min(olen - 3, _MAX_ENDP_LEN))
        out(f"endpoint [{_epdisc(klass, value)}]")


OptionPrinter = Callable[[Cursor, int, int, int, Out], None]


def print_options(p: Cursor, length: int, out: Out, option: OptionPrinter) -> int:
    """The Configure-* option loop shared by LCP, IPCP and IPV6CP; returns the octets left."""
    while length >= 2:
        code, olen = p.at(0), p.at(1)
        if olen < 2 or olen > length:
            break
        out(" <")
        length -= olen
        optend = p.pos + olen
        option(p, code, olen, optend, out)
        if p.pos < optend:
            out(hexbytes(p.take(optend - p.pos)))
        out(">")
    return length


def lcp_printpkt(info: bytes, out: Out) -> int:
    if len(info) < 4:
        return 0
    p = Cursor(info)
    code, ident, length = p.u8(), p.u8(), p.u16()
    if length < 4 or length > len(info):
        return 0
    out(f" {LCP_CODE_NAMES[code - 1]}" if 1 <= code <= len(LCP_CODE_NAMES) else f" code=0x{code:x}")
    out(f" id=0x{ident:x}")
    length -= 4
    if 1 <= code <= 4:
        length = print_options(p, length, out, _lcp_option)
    elif code in (5, 6):
        if length > 0 and 0x20 <= p.at() < 0x7F:
            out(" " + quoted(p.take(length)))
            length = 0
    elif code in (9, 10, 11):
        if length >= 4:
            out(f" magic=0x{p.u32():x}")
            length -= 4
    elif code in (12, 13):
        if length >= 4:
            out(f" magic=0x{p.u32():x}")
            length -= 4
        if code == 13 and length >= 4:
            out(f" seconds={p.u32()}")
            length -= 4
        elif code == 13:
            length = _rest_lcp(p, length, out)
        if length > 0:
            out(" " + quoted(p.take(length)))
            length = 0
    _rest_lcp(p, length, out)
    return p.pos


def _rest_lcp(p: Cursor, length: int, out: Out) -> int:
    """LCP's tail: up to 32 octets in hex, then " ..." (the rest is consumed unprinted)."""
    if length > 0:
        out(hexbytes(p.take(min(length, 32))))
        if length > 32:
            out(" ...")
            p.pos += length - 32
    return 0


_CBCP_CODES = ("Request", "Response", "Ack")
_CBCP_OPTIONS = ("NoCallback", "UserDefined", "AdminDefined", "List")


def cbcp_printpkt(info: bytes, out: Out) -> int:
    """cbcp.c: its pointer does not skip the number, so later options misalign as in pppd."""
    if len(info) < 4:
        return 0
    p = Cursor(info)
    code, ident, length = p.u8(), p.u8(), p.u16()
    if length < 4 or length > len(info):
        return 0
    out(f" {_CBCP_CODES[code - 1]}" if 1 <= code <= 3 else f" code=0x{code:x}")
    out(f" id=0x{ident:x}")
    length -= 4
    if 1 <= code <= 3:
        while length >= 2:
            opt, olen = p.u8(), p.u8()
            if olen < 2 or olen > length:
                break
            out(" <")
            length -= olen
            out(f" {_CBCP_OPTIONS[opt - 1]}" if 1 <= opt <= 4 else f" option=0x{opt:x}")
            if olen > 2:
                out(f" delay = {p.u8()}")
            if olen > 3:
                p.u8()  # address type
                number = p.peek(olen - 4).split(b"\0", 1)[0]
                out(" number = " + number.decode("latin-1"))
            out(">")
    if length > 0:
        out(hexbytes(p.take(length)))
    return p.pos
