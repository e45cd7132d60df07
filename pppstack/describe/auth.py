"""pppd's PAP, CHAP and EAP printers (pppd/upap.c, chap-new.c / chap.c, eap.c of 2.4.9).

Secrets are never printed: a PAP password shows as `<hidden>` (pppd's default
hide-password).  One deliberate difference from pppd: when an Authenticate-Request is
too short for the lengths it claims, pppd dumps the leftover octets in hex — which may
be the password — so we print how many octets we hid instead.
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


def _eap_tls(p: Cursor, length: int, out: Out) -> int:
    if length < 1:
        return length
    flags = p.u8()
    length -= 1
    if flags == 0 and length == 0:
        out(" Ack")
        return length
    out(" L" if flags & 0x80 else " -")
    out("M" if flags & 0x40 else "-")
    out("S" if flags & 0x20 else "- ")
    return length


def _eap_md5(p: Cursor, length: int, out: Out, missing: str) -> int:
    if length <= 0:
        out(missing)
        return length
    vallen = p.u8()
    length -= 1
    if vallen > length:
        raise _Truncated
    out(" <Value" + hexbytes(p.take(vallen)) + ">")
    length -= vallen
    if length > 0:
        out(" <Name " + quoted(p.take(length)) + ">")
        return 0
    out(" <No name>")
    return length


def _eap_request(p: Cursor, length: int, out: Out) -> int:
    if length < 1:
        out(" <missing type>")
        return length
    rtype = p.u8()
    length -= 1
    name = _eap_type(rtype)
    out(f" {name}" if name else f" type=0x{rtype:x}")
    if rtype in (1, 2):
        if length > 0:
            out(" <Message " + quoted(p.take(length)) + ">")
            return 0
        out(" <No message>")
    elif rtype == 4:
        length = _eap_md5(p, length, out, "")
    elif rtype == 26 and length > 0:
        opcode = p.u8()
        length -= 1
        p.pos += 3
        length -= 3
        if opcode == 1:
            vallen = p.u8()
            length -= 1
            if vallen > length:
                raise _Truncated
            length -= vallen
            out(" Challenge <" + p.take(vallen).hex() + ">")
            if length > 0:
                out(", <Name " + quoted(p.take(length)) + ">")
                return 0
            out(", <No name>")
        elif opcode in (3, 4):
            out((" Success" if opcode == 3 else " Failure") + " <Message " + quoted(p.peek(length)) + ">")
        else:
            out(f" opcode=0x{opcode:x} <" + hexbytes(p.peek(length)) + ">")
    elif rtype == 13:
        length = _eap_tls(p, length, out)
    elif rtype == 19:
        length = _eap_srp_request(p, length, out)
    return length


def _eap_srp_request(p: Cursor, length: int, out: Out) -> int:
    if length < 3:
        raise _Truncated
    sub = p.u8()
    length -= 1
    out(f"-{sub}")
    if sub == 1:
        vallen = p.u8()
        length -= 1
        if vallen >= length:
            raise _Truncated
        out(" <Name " + quoted(p.peek(vallen)) + ">" if vallen > 0 else " <No name>")
        p.pos += vallen
        length -= vallen
        vallen = p.u8()
        length -= 1
        if vallen >= length:
            raise _Truncated
        out(" <s" + hexbytes(p.take(vallen)) + ">")
        length -= vallen
        vallen = p.u8()
        length -= 1
        if vallen > length:
            raise _Truncated
        out(" <Default g=2>" if vallen == 0 else " <g" + hexbytes(p.peek(vallen)) + ">")
        p.pos += vallen
        length -= vallen
        if length == 0:
            out(" <Default N>")
        else:
            out(" <N" + hexbytes(p.take(length)) + ">")
            length = 0
    elif sub == 2:
        out(" <B" + hexbytes(p.take(length)) + ">")
        length = 0
    elif sub == 3 and length >= 4:
        length = _srp_validator(p, length, out, "M2")
    elif sub == 4:
        out(" <Challenge" + hexbytes(p.take(length)) + ">")
        length = 0
    return length


def _srp_validator(p: Cursor, length: int, out: Out, tag: str) -> int:
    uval = p.u32()
    length -= 4
    if uval & 1:
        out(" E")
        uval &= ~1
    if uval:
        out(f" f<{uval:X}>")
    if tag == "M2":
        out(f" <M2{hexbytes(p.peek(length))}{'?' if length < 20 else ''}>")
        vallen = min(length, 20)
        p.pos += vallen
        length -= vallen
        if length > 0:
            out(" <PN" + hexbytes(p.take(length)) + ">")
            length = 0
        return length
    out(f" <M1{hexbytes(p.take(length))}{'' if length == 20 else '?'}>")
    return 0


def _eap_response(p: Cursor, length: int, out: Out) -> int:
    if length < 1:
        return length
    rtype = p.u8()
    length -= 1
    name = _eap_type(rtype)
    out(f" {name}" if name else f" type=0x{rtype:x}")
    if rtype == 1:
        if length > 0:
            out(" <Name " + quoted(p.take(length)) + ">")
            length = 0
    elif rtype == 13:
        length = _eap_tls(p, length, out)
    elif rtype == 3:
        if length <= 0:
            out(" <missing hint>")
            return length
        hint = p.u8()
        length -= 1
        known = 1 <= hint <= len(EAP_TYPE_NAMES)
        out(f" <Suggested-type {hint:02X}" + (f" ({_eap_type(hint) or '(null)'})" if known else "") + ">")
    elif rtype == 4:
        length = _eap_md5(p, length, out, " <missing length>")
    elif rtype == 26 and length > 0:
        opcode = p.u8()
        length -= 1
        if opcode == 2:
            p.pos += 3
            length -= 3
            vallen = p.u8()
            length -= 1
            if vallen > length:
                raise _Truncated
            length -= vallen
            out(" Response <" + p.take(vallen).hex() + ">")
            if length > 0:
                out(", <Name " + quoted(p.take(length)) + ">")
                return 0
            out(", <No name>")
        elif opcode in (3, 4):
            out(" Success" if opcode == 3 else " Failure")
        else:
            out(f" opcode=0x{opcode:x} <" + hexbytes(p.peek(length)) + ">")
    elif rtype == 19:
        if length < 1:
            raise _Truncated
        sub = p.u8()
        length -= 1
        out(f"-{sub}")
        if sub == 1:
            out(" <A" + hexbytes(p.take(length)) + ">")
            length = 0
        elif sub == 2 and length >= 4:
            length = _srp_validator(p, length, out, "M1")
        elif sub == 4:
            out(f" <Response{hexbytes(p.peek(length))}{'' if length == 20 else '?'}>")
            vallen = min(length, 20)
            p.pos += vallen
            length -= vallen
    return length


def eap_printpkt(info: bytes, out: Out) -> int:
    """eap.c as built in pppd 2.4.9 (Debian 12), with EAP-TLS, MS-CHAPv2 and SRP."""
    head = _header(info, EAP_CODE_NAMES, out)
    if head is None:
        return 0
    p, code, length = head
    try:
        if code == 1:
            length = _eap_request(p, length, out)
        elif code == 2:
            length = _eap_response(p, length, out)
    except _Truncated:
        out(" <truncated>")
    if length > 8:
        out("...")  # pppd's "%8B..." has no precision, so only the dots come out
    elif length > 0:
        out(hexbytes(p.peek(length)))
    p.pos += length
    return p.pos
