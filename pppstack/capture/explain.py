"""The trace's words: one line per record, and with `verbose` each option and what we made of it.

    +  812.4 ms  sent   [IPCP ConfRej id=0x1 <compress VJ 0f 01>]
                        Rej <compress VJ 0f 01>: we do not implement Van Jacobson compression

Times are milliseconds since CONNECT (negative for the AT dialogue before it).  The reasons are
the rules of our option codecs (lcp.py, ipcp.py, ipv6cp.py: what we want, allow and refuse),
said in a sentence; the text of each option is pppd's, from describe.
"""

from __future__ import annotations

from pppstack.capture.timeline import Record, RecordKind
from pppstack.describe import describe_packet
from pppstack.describe._printf import quoted
from pppstack.errors import MalformedPacket
from pppstack.wire import ControlPacket, Protocol, parse_options

__all__ = ["trace_line", "explain", "REJECT_REASONS"]

_LCP, _IPCP, _IPV6CP, _CCP = Protocol.LCP, Protocol.IPCP, Protocol.IPV6CP, Protocol.CCP
_NEGOTIATED = (_LCP, _IPCP, _IPV6CP, _CCP, Protocol.ECP)
_MULTILINK = "we do not implement multilink (RFC 1990)"

# Why we Configure-Reject an option (protocol, type) -> sentence.  Anything else we reject is an
# option we do not know.
REJECT_REASONS: dict[tuple[int, int], str] = {
    (_LCP, 3): "we are configured to refuse every authentication protocol the peer could use",
    (_LCP, 4): "we do not implement Link Quality Monitoring (RFC 1989)",
    (_LCP, 9): "we do not implement FCS alternatives (RFC 1570)",
    (_LCP, 10): "we do not implement self-describing padding (RFC 1570)",
    (_LCP, 11): "we do not implement numbered mode (RFC 1663)",
    (_LCP, 13): "we do not implement callback (CBCP)",
    (_LCP, 17): _MULTILINK, (_LCP, 18): _MULTILINK, (_LCP, 19): _MULTILINK,
    (_IPCP, 2): "we do not implement Van Jacobson compression",
    (_IPCP, 130): "we have no WINS (NBNS) server to offer",
    (_IPCP, 132): "we have no WINS (NBNS) server to offer",
    (_IPV6CP, 2): "we do not implement IPv6 header compression",
}  # fmt: skip

_NAK_REASONS: dict[tuple[int, int], str] = {
    (_LCP, 1): "that MRU is outside what we allow (128..16384)",
    (_LCP, 3): "we authenticate with CHAP-MD5 or PAP only",
    (_LCP, 5): "that is our own magic number: the line may be looped back",
    (_IPCP, 3): "we suggest the address the peer should use",
    (_IPCP, 129): "we offer our DNS server", (_IPCP, 131): "we offer our DNS server",
    (_IPV6CP, 1): "the identifier is zero or collides with ours: we suggest another",
}  # fmt: skip


def _options(protocol: int, data: bytes) -> list[tuple[int, str]]:
    """Each option with pppd's text for it (printed as a one-option Configure-Request)."""
    try:
        opts = parse_options(data)
    except MalformedPacket:
        return []
    out = []
    for opt in opts:
        raw = bytes((opt.type, 2 + len(opt.data))) + opt.data
        text = describe_packet(protocol, bytes((1, 0, 0, 4 + len(raw))) + raw)
        start = text.find(" <")
        out.append((opt.type, text[start + 1 : -1] if start >= 0 else raw.hex(" ")))
    return out


def explain(rec: Record) -> list[str]:
    """For a Configure-* packet: one line per option saying what it means for the negotiation."""
    if rec.kind is not RecordKind.FRAME or len(rec.data) < 8 or rec.data[:2] != b"\xff\x03":
        return []
    protocol = int.from_bytes(rec.data[2:4], "big")
    if protocol not in _NEGOTIATED:
        return []
    try:
        pkt = ControlPacket.parse(rec.data[4:])
    except MalformedPacket:
        return ["malformed: the Length field does not fit the packet (the receiver discards it)"]
    ours = rec.sent is not False
    lines = []
    if pkt.code == 1:
        who = "we ask for" if ours else "the peer asks for"
        lines = [f"Req {text}: {who} it" for _, text in _options(protocol, pkt.data)]
    elif pkt.code == 2:
        who = "we agree to the peer's" if ours else "the peer agrees to our"
        lines = [f"Ack {text}: {who} request" for _, text in _options(protocol, pkt.data)]
    elif pkt.code == 3:
        for kind, text in _options(protocol, pkt.data):
            if ours:
                why = _NAK_REASONS.get((protocol, kind), "we want this value instead")
                lines.append(f"Nak {text}: {why}")
            else:
                lines.append(f"Nak {text}: the peer wants this value; our next request follows it if we allow it")
    elif pkt.code == 4:
        for kind, text in _options(protocol, pkt.data):
            if ours:
                why = REJECT_REASONS.get((protocol, kind), "we do not know this option")
                if protocol == _CCP:
                    why = "we do not implement compression (CCP)"
                lines.append(f"Rej {text}: {why}")
            else:
                lines.append(f"Rej {text}: the peer refuses it; we stop asking for it")
    elif pkt.code == 8 and protocol == _LCP and len(pkt.data) >= 2:
        proto = int.from_bytes(pkt.data[:2], "big")
        who = "we do not" if ours else "the peer does not"
        lines.append(f"ProtRej 0x{proto:04x}: {who} speak that protocol; its sender stops using it")
    return lines


def _when(rec: Record, zero: float | None) -> str:
    if zero is None:
        return f"{rec.time:>12.3f} s "
    return f"{(rec.time - zero) * 1000:>+10.1f} ms"


def trace_line(rec: Record, zero: float | None, verbose: bool = False) -> str:
    """One timeline line (plus explanation lines when `verbose`); `zero` is CONNECT's time."""
    when = _when(rec, zero)
    if rec.kind is RecordKind.FRAME:
        head = f"{when}  {'sent' if rec.sent else 'rcvd'}   {rec.describe()}"
    elif rec.kind is RecordKind.TEXT:
        head = f"{when}  {'AT' if rec.sent else 'modem'}{' ' * (5 if rec.sent else 2)}{quoted(rec.data.strip())}"
    elif rec.kind is RecordKind.ETHERNET:
        head = f"{when}  {'sent' if rec.sent else 'rcvd'}   {rec.describe()}"
    else:
        head = f"{when}  end    {rec.note}"
    if not verbose:
        return head
    pad = " " * (len(when) + 9)
    return "\n".join([head] + [pad + line for line in explain(rec)])
