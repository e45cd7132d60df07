"""pppd's PAP, CHAP and EAP printers (pppd/upap.c, chap-new.c / chap.c, eap.c of 2.4.9).

Secrets are never printed: a PAP password shows as `<hidden>` (pppd's default
hide-password).  One deliberate difference from pppd: wherever pppd would dump octets
of an Authenticate-Request in hex (lengths that do not add up, a short Length field,
octets past Length) they may be the password, so we print how many octets we hid
instead (`<12 octets hidden>`); packet.py applies the same rule to the leftover.
"""

from __future__ import annotations

from pppstack.describe._printf import Cursor, Out, hexbytes, quoted

__all__ = ["pap_printpkt", "chap_printpkt", "eap_printpkt", "PAP_CODE_NAMES", "CHAP_CODE_NAMES", "EAP_CODE_NAMES"]

PAP_CODE_NAMES = ("AuthReq", "AuthAck", "AuthNak")
CHAP_CODE_NAMES = ("Challenge", "Response", "Success", "Failure")
EAP_CODE_NAMES = ("Request", "Response", "Success", "Failure")
EAP_TYPE_NAMES = (
    "Identity", "Notification", "Nak", "MD5-Challenge", "OTP", "Generic-Token", None, None,
    "RSA", "DSS", "KEA", "KEA-Validate", "TLS", "Defender", "Windows 2000", "Arcot",
    "Cisco", "Nokia", "SRP", None, "TTLS", "RAS", "AKA", "3COM", "PEAP", "MSCHAPv2",
)  # fmt: skip


def _header(info: bytes, names: tuple[str, ...], out: Out) -> tuple[Cursor, int, int] | None:
    if len(info) < 4:
        return None
    p = Cursor(info)
    code, ident, length = p.u8(), p.u8(), p.u16()
    if length < 4 or length > len(info):
        return None
    out(f" {names[code - 1]}" if 1 <= code <= len(names) else f" code=0x{code:x}")
    out(f" id=0x{ident:x}")
    return p, code, length - 4


def pap_printpkt(info: bytes, out: Out) -> int:
    head = _header(info, PAP_CODE_NAMES, out)
    if head is None:
        return 0
    p, code, length = head
    if code == 1 and length >= 1:
        ulen = p.at(0)
        wlen = p.at(ulen + 1) if length >= ulen + 2 else 0
        if length >= ulen + wlen + 2:
            p.pos += 1
            user = p.take(ulen)
            p.pos += 1 + wlen
            length -= ulen + wlen + 2
            out(" user=" + quoted(user) + " password=<hidden>")
        else:  # pppd would dump these octets in hex; they may hold the password
            out(f" <{length} octets hidden>")
            p.pos += length
            length = 0
    elif code in (2, 3) and length >= 1:
        mlen = p.at(0)
        if length >= mlen + 1:
            p.pos += 1
            out(" " + quoted(p.take(mlen)))
            length -= mlen + 1
    if length > 0:
        out(hexbytes(p.take(length)))
    return p.pos


def chap_printpkt(info: bytes, out: Out) -> int:
    head = _header(info, CHAP_CODE_NAMES, out)
    if head is None:
        return 0
    p, code, length = head
    if code in (1, 2):
        if length >= 1 and length >= p.at(0) + 1:  # else pppd prints nothing of the body
            clen = p.u8()
            value = p.take(clen)
            out(f" <{value.hex()}>, name = " + quoted(p.take(length - clen - 1)))
    elif code in (3, 4):
        out(" " + quoted(p.take(length)))
    else:
        out(hexbytes(p.take(length)))
    return length + 4


def _eap_type(rtype: int) -> str | None:
    return EAP_TYPE_NAMES[rtype - 1] if 1 <= rtype <= len(EAP_TYPE_NAMES) else None


class _Truncated(Exception):
    pass


class _Eap(Cursor):
    """eap.c's pointer plus its remaining length `n`; both survive a `goto truncated`."""

    __slots__ = ("n",)

    def __init__(self, buf: bytes, pos: int, n: int) -> None:
        super().__init__(buf, pos)
        self.n = n

    def byte(self) -> int:
        self.n -= 1
        return self.u8()

    def rest(self) -> bytes:
        """All remaining octets (pointer advanced, n cleared)."""
        data = self.take(self.n)
        self.n = 0
        return data


def _eap_tls(p: _Eap, out: Out) -> None:
    if p.n < 1:
        return
    flags = p.byte()
    if flags == 0 and p.n == 0:
        out(" Ack")
        return
    out(" L" if flags & 0x80 else " -")
    out("M" if flags & 0x40 else "-")
    out("S" if flags & 0x20 else "- ")


def _eap_md5(p: _Eap, out: Out, missing: str) -> None:
    if p.n <= 0:
        out(missing)
        return
    vallen = p.byte()
    if vallen > p.n:
        raise _Truncated
    out(" <Value" + hexbytes(p.take(vallen)) + ">")
    p.n -= vallen
    out(" <Name " + quoted(p.rest()) + ">" if p.n > 0 else " <No name>")


def _eap_mschapv2_value(p: _Eap, out: Out, word: str) -> None:
    p.pos += 3
    p.n -= 3
    vallen = p.byte()
    if vallen > p.n:
        raise _Truncated
    p.n -= vallen
    out(f" {word} <" + p.take(vallen).hex() + ">")
    out(", <Name " + quoted(p.rest()) + ">" if p.n > 0 else ", <No name>")


def _eap_request(p: _Eap, out: Out) -> None:
    if p.n < 1:
        out(" <missing type>")
        return
    rtype = p.byte()
    name = _eap_type(rtype)
    out(f" {name}" if name else f" type=0x{rtype:x}")
    if rtype in (1, 2):
        out(" <Message " + quoted(p.rest()) + ">" if p.n > 0 else " <No message>")
    elif rtype == 4:
        _eap_md5(p, out, "")
    elif rtype == 26 and p.n > 0:
        opcode = p.byte()
        if opcode == 1:
            _eap_mschapv2_value(p, out, "Challenge")
            return
        p.pos += 3
        p.n -= 3
        if opcode in (3, 4):
            out((" Success" if opcode == 3 else " Failure") + " <Message " + quoted(p.peek(p.n)) + ">")
        else:
            out(f" opcode=0x{opcode:x} <" + hexbytes(p.peek(p.n)) + ">")
    elif rtype == 13:
        _eap_tls(p, out)
    elif rtype == 19:
        _eap_srp_request(p, out)


def _eap_srp_request(p: _Eap, out: Out) -> None:
    if p.n < 3:
        raise _Truncated
    sub = p.byte()
    out(f"-{sub}")
    if sub == 1:
        vallen = p.byte()
        if vallen >= p.n:
            raise _Truncated
        out(" <Name " + quoted(p.peek(vallen)) + ">" if vallen > 0 else " <No name>")
        p.pos += vallen
        p.n -= vallen
        vallen = p.byte()
        if vallen >= p.n:
            raise _Truncated
        out(" <s" + hexbytes(p.take(vallen)) + ">")
        p.n -= vallen
        vallen = p.byte()
        if vallen > p.n:
            raise _Truncated
        out(" <Default g=2>" if vallen == 0 else " <g" + hexbytes(p.peek(vallen)) + ">")
        p.pos += vallen
        p.n -= vallen
        out(" <Default N>" if p.n == 0 else " <N" + hexbytes(p.rest()) + ">")
    elif sub == 2:
        out(" <B" + hexbytes(p.rest()) + ">")
    elif sub == 3 and p.n >= 4:
        _srp_flags(p, out)
        out(f" <M2{hexbytes(p.peek(p.n))}{'?' if p.n < 20 else ''}>")
        vallen = min(p.n, 20)
        p.pos += vallen
        p.n -= vallen
        if p.n > 0:
            out(" <PN" + hexbytes(p.rest()) + ">")
    elif sub == 4:
        out(" <Challenge" + hexbytes(p.rest()) + ">")


def _srp_flags(p: _Eap, out: Out) -> None:
    uval = p.u32()
    p.n -= 4
    if uval & 1:
        out(" E")
        uval &= ~1
    if uval:
        out(f" f<{uval:X}>")


def _eap_response(p: _Eap, out: Out) -> None:
    if p.n < 1:
        return
    rtype = p.byte()
    name = _eap_type(rtype)
    out(f" {name}" if name else f" type=0x{rtype:x}")
    if rtype == 1:
        if p.n > 0:
            out(" <Name " + quoted(p.rest()) + ">")
    elif rtype == 13:
        _eap_tls(p, out)
    elif rtype == 3:
        if p.n <= 0:
            out(" <missing hint>")
            return
        hint = p.byte()
        known = 1 <= hint <= len(EAP_TYPE_NAMES)
        out(f" <Suggested-type {hint:02X}" + (f" ({_eap_type(hint) or '(null)'})" if known else "") + ">")
    elif rtype == 4:
        _eap_md5(p, out, " <missing length>")
    elif rtype == 26 and p.n > 0:
        opcode = p.byte()
        if opcode == 2:
            _eap_mschapv2_value(p, out, "Response")
        elif opcode in (3, 4):
            out(" Success" if opcode == 3 else " Failure")
        else:
            out(f" opcode=0x{opcode:x} <" + hexbytes(p.peek(p.n)) + ">")
    elif rtype == 19:
        if p.n < 1:
            raise _Truncated
        sub = p.byte()
        out(f"-{sub}")
        if sub == 1:
            out(" <A" + hexbytes(p.rest()) + ">")
        elif sub == 2 and p.n >= 4:
            _srp_flags(p, out)
            out(f" <M1{hexbytes(p.peek(p.n))}{'' if p.n == 20 else '?'}>")
            p.rest()
        elif sub == 4:
            out(f" <Response{hexbytes(p.peek(p.n))}{'' if p.n == 20 else '?'}>")
            vallen = min(p.n, 20)
            p.pos += vallen
            p.n -= vallen


def eap_printpkt(info: bytes, out: Out) -> int:
    """eap.c as built in pppd 2.4.9 (Debian 12), with EAP-TLS, MS-CHAPv2 and SRP."""
    head = _header(info, EAP_CODE_NAMES, out)
    if head is None:
        return 0
    cur, code, length = head
    p = _Eap(info, cur.pos, length)
    try:
        if code == 1:
            _eap_request(p, out)
        elif code == 2:
            _eap_response(p, out)
    except _Truncated:
        out(" <truncated>")
    if p.n > 8:
        out("...")  # pppd's "%8B..." has no precision, so only the dots come out
    elif p.n > 0:
        out(hexbytes(p.peek(p.n)))
    p.pos += p.n
    return p.pos
