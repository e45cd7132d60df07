"""The few pieces of pppd's printf dialect (pppd/utils.c vslprintf) the packet printers need.

pppd's printers walk a C pointer and a separate remaining-length counter, and a few of
them read past an option (IPCP ms-dns with a short Length, CBCP) or even past the
packet.  `Cursor` reproduces that arithmetic exactly; bytes outside the buffer read as
zero, standing in for whatever stale memory pppd would have read.
"""

from __future__ import annotations

__all__ = ["Cursor", "Out", "quoted", "hexbytes", "ipv4"]


class Cursor:
    """A byte pointer that may wander past either end of its buffer (reads there give 0)."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos

    def at(self, offset: int = 0) -> int:
        i = self.pos + offset
        return self.buf[i] if 0 <= i < len(self.buf) else 0

    def u8(self) -> int:
        v = self.at()
        self.pos += 1
        return v

    def u16(self) -> int:
        return (self.u8() << 8) | self.u8()

    def u32(self) -> int:
        return (self.u16() << 16) | self.u16()

    def take(self, n: int) -> bytes:
        """n bytes from the pointer (zero-filled outside the buffer); advances the pointer."""
        if n <= 0:
            return b""
        start = self.pos
        self.pos += n
        if 0 <= start and start + n <= len(self.buf):
            return self.buf[start : start + n]
        return bytes(self.buf[i] if 0 <= i < len(self.buf) else 0 for i in range(start, start + n))

    def peek(self, n: int) -> bytes:
        keep = self.pos
        data = self.take(n)
        self.pos = keep
        return data


class Out:
    """Collects printer output (pppd's `printer(arg, fmt, ...)` calls)."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[str] = []

    def __call__(self, text: str) -> None:
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


def hexbytes(data: bytes) -> str:
    """pppd's `%.*B`: each byte as a space and two lowercase hex digits."""
    return " " + bytes(data).hex(" ") if data else ""


def _quoted_char(c: int) -> str:
    if 0x20 <= c <= 0x7E:
        return "\\" + chr(c) if c in (0x22, 0x5C) else chr(c)
    if c == 0x0A:
        return "\\n"
    if c == 0x0D:
        return "\\r"
    if c == 0x09:
        return "\\t"
    return f"\\{c:03o}"


_QUOTED = tuple(_quoted_char(c) for c in range(256))


def quoted(data: bytes) -> str:
    """pppd's print_string(): double quotes, C escapes, octal for other bytes."""
    return '"' + "".join(_QUOTED[b] for b in data) + '"'


def ipv4(value: int) -> str:
    """pppd's `%I` for an address read with GETLONG (network order)."""
    return f"{(value >> 24) & 0xFF}.{(value >> 16) & 0xFF}.{(value >> 8) & 0xFF}.{value & 0xFF}"
