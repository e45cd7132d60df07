"""pppd's IPCP, IPV6CP, CCP and ECP printers (pppd/ipcp.c, ipv6cp.c, ccp.c, ecp.c).

Quirks kept on purpose, because users diff our logs against pppd's: IPCP reads four
octets for ms-dns/ms-wins whatever the option Length says; IPV6CP prints the link-local
address with every group zero-padded (eui64_ntoa); CCP prints a Terminate reason with
no space before the quote; ECP prints nothing but the hex.
"""

from __future__ import annotations

from pppstack.describe._printf import Cursor, Out, hexbytes, ipv4, quoted
from pppstack.describe.lcp import print_options

__all__ = [
    "ipcp_printpkt", "ipv6cp_printpkt", "ccp_printpkt", "ecp_printpkt",
    "NCP_CODE_NAMES", "CCP_CODE_NAMES", "IPCP_OPTION_NAMES", "IPV6CP_OPTION_NAMES", "CCP_OPTION_NAMES",
    "link_local",
]  # fmt: skip

NCP_CODE_NAMES = ("ConfReq", "ConfAck", "ConfNak", "ConfRej", "TermReq", "TermAck", "CodeRej")
CCP_CODE_NAMES = NCP_CODE_NAMES + (None,) * 6 + ("ResetReq", "ResetAck")

IPCP_OPTION_NAMES = {1: "addrs", 2: "compress", 3: "addr", 129: "ms-dns1", 130: "ms-wins1", 131: "ms-dns2",
                     132: "ms-wins2"}  # fmt: skip
IPV6CP_OPTION_NAMES = {1: "addr", 2: "compress"}
CCP_OPTION_NAMES = {1: "predictor 1", 2: "predictor 2", 18: "mppe", 21: "bsd", 24: "deflate(old#)", 26: "deflate"}


def _header(info: bytes, names: tuple[str | None, ...], out: Out) -> tuple[Cursor, int, int] | None:
    """Code and id as every FSM printer writes them; None when pppd's printer returns 0."""
    if len(info) < 4:
        return None
    p = Cursor(info)
    code, ident, length = p.u8(), p.u8(), p.u16()
    if length < 4 or length > len(info):
        return None
    name = names[code - 1] if 1 <= code <= len(names) else None
    out(f" {name}" if name else f" code=0x{code:x}")
    out(f" id=0x{ident:x}")
    return p, code, length - 4


def _term_reason(p: Cursor, length: int, out: Out, space: str = " ") -> int:
    if length > 0 and 0x20 <= p.at() < 0x7F:
        out(space + quoted(p.take(length)))
        return 0
    return length


def _ipcp_option(p: Cursor, code: int, olen: int, optend: int, out: Out) -> None:
    if code == 1 and olen == 10:
        p.pos += 2
        out(f"addrs {ipv4(p.u32())} {ipv4(p.u32())}")
    elif code == 2 and olen >= 4:
        p.pos += 2
        vj = p.u16()
        out("compress " + {0x002D: "VJ", 0x0037: "old-VJ"}.get(vj, f"0x{vj:x}"))
    elif code == 3 and olen == 6:
        p.pos += 2
        out(f"addr {ipv4(p.u32())}")
    elif code in (129, 131):
        p.pos += 2
        out(f"ms-dns{1 if code == 129 else 2} {ipv4(p.u32())}")
    elif code in (130, 132):
        p.pos += 2
        out(f"ms-wins {ipv4(p.u32())}")


def ipcp_printpkt(info: bytes, out: Out) -> int:
    head = _header(info, NCP_CODE_NAMES, out)
    if head is None:
        return 0
    p, code, length = head
    if 1 <= code <= 4:
        length = print_options(p, length, out, _ipcp_option)
    elif code in (5, 6):
        length = _term_reason(p, length, out)
    if length > 0:
        out(hexbytes(p.take(length)))
    return p.pos


def link_local(ifid: bytes) -> str:
    """ipv6cp.c llv6_ntoa: fe80:: and the identifier as four zero-padded groups."""
    return "fe80::" + ":".join(ifid[i : i + 2].hex() for i in range(0, 8, 2))


def _ipv6cp_option(p: Cursor, code: int, olen: int, optend: int, out: Out) -> None:
    if code == 2 and olen >= 4:
        p.pos += 2
        out(f"compress 0x{p.u16():x}")
    elif code == 1 and olen == 10:
        p.pos += 2
        out("addr " + link_local(p.take(8)))


def ipv6cp_printpkt(info: bytes, out: Out) -> int:
    head = _header(info, NCP_CODE_NAMES, out)
    if head is None:
        return 0
    p, code, length = head
    if 1 <= code <= 4:
        length = print_options(p, length, out, _ipv6cp_option)
    elif code in (5, 6):
        length = _term_reason(p, length, out)
    if length > 0:
        out(hexbytes(p.take(length)))
    return p.pos


def _mppe(ci: bytes) -> str:
    """ccp.c's MPPE line; bits per RFC 3078 §2.2 and pppd's mppe.h (H in the first octet)."""
    last = ci[3]
    unknown = bool(ci[0] & 0xFE or ci[1] or ci[2] or last & 0x0E)
    flags = [
        "+H" if ci[0] & 0x01 else "-H",
        "+M" if last & 0x80 else "-M",
        "+S" if last & 0x40 else "-S",
        "+L" if last & 0x20 else "-L",
        "+D" if last & 0x10 else "-D",
        "+C" if last & 0x01 else "-C",
    ]
    text = "mppe " + " ".join(flags) + (" +U" if unknown else "")
    if unknown:
        text += " (" + " ".join(f"{b:02x}" for b in ci) + ")"
    return text


def _ccp_option(p: Cursor, code: int, olen: int, optend: int, out: Out) -> None:
    if code == 18 and olen >= 6:
        out(_mppe(p.peek(6)[2:]))
        p.pos += 6
    elif code in (24, 26) and olen >= 4:
        opt, check = p.at(2), p.at(3)
        text = f"deflate{'(old#)' if code == 24 else ''} {(opt >> 4) + 8}"
        if opt & 0x0F != 8:
            text += f" method {opt & 0x0F}"
        if check != 0:
            text += f" check {check}"
        out(text)
        p.pos += 4
    elif code == 21 and olen >= 3:
        opt = p.at(2)
        out(f"bsd v{opt >> 5} {opt & 0x1F}")
        p.pos += 3
    elif code in (1, 2):  # Predictor options are two octets: always long enough
        out(f"predictor {code}")
        p.pos += 2


def ccp_printpkt(info: bytes, out: Out) -> int:
    head = _header(info, CCP_CODE_NAMES, out)
    if head is None:
        return 0
    p, code, length = head
    if 1 <= code <= 4:
        length = print_options(p, length, out, _ccp_option)
    elif code in (5, 6):
        length = _term_reason(p, length, out, space="")
    if length > 0:
        out(hexbytes(p.take(length)))
    return p.pos


def ecp_printpkt(info: bytes, out: Out) -> int:
    return 0
