"""The negotiation as a sequence ("ladder") diagram, in plain SVG.

Two lifelines, us on the left and the peer on the right; one arrow per control packet, top to
bottom in time order, labelled with pppd's text; the time since the first record on the left.
Phases (RFC 1661 §3.2: Establish, Authenticate, Network, Terminate) are shaded bands.  A request
sent again unchanged with no answer in between is a retransmission: its arrow is dashed red and a
"timeout" row shows the silence before it.  The modem's text (CONNECT, NO CARRIER) appears as a
note on the peer's side, data packets are folded into one row per run, and the verdict — why the
link ended — closes the diagram.  One fixed row height keeps 200 packets readable; the full text of a
long label is in its <title> (a browser shows it on hover).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from pppstack.capture.timeline import Record, RecordKind
from pppstack.wire import Protocol

__all__ = ["ladder_svg", "Row", "rows_of", "PHASE_COLOURS"]

_LCP, _PAP, _CHAP, _EAP = Protocol.LCP, Protocol.PAP, Protocol.CHAP, Protocol.EAP
_NCPS = (Protocol.IPCP, Protocol.IPV6CP, Protocol.CCP, Protocol.ECP)
_REQUESTS = {(_LCP, 1), (_LCP, 5), (Protocol.IPCP, 1), (Protocol.IPV6CP, 1), (Protocol.CCP, 1), (Protocol.IPCP, 5),
             (Protocol.IPV6CP, 5), (_PAP, 1), (_CHAP, 1)}  # fmt: skip
PHASE_COLOURS = {"Establish": "#e8f0fe", "Authenticate": "#fef7e0", "Network": "#e6f4ea", "Terminate": "#fce8e6"}

ROW, TOP, WIDTH = 24, 70, 980
US_X, PEER_X = 250, 820
LABEL_MAX = 88
VERDICT_CHARS = 110
GAP = 1.0  # seconds of silence worth a row of its own


@dataclass(frozen=True, slots=True)
class Row:
    kind: str            # "packet", "text", "data", "gap", "end"
    time: float
    label: str
    sent: bool | None = None
    phase: str = ""
    retransmission: bool = False
    timeout: bool = False  # for "gap": the silence ended in a retransmission


def _proto_code(rec: Record) -> tuple[int, int]:
    d = rec.data
    if len(d) < 5 or d[:2] != b"\xff\x03":
        return -1, -1
    return int.from_bytes(d[2:4], "big"), d[4]


def _is_control(proto: int) -> bool:
    return proto >= 0x8000 or proto in (_LCP, _PAP, _CHAP, _EAP)


def _phase(current: str, proto: int, code: int) -> str:
    if proto == _LCP and code in (5, 6):
        return "Terminate"
    if proto == _LCP and code == 1:  # a Configure-Request (re)starts link establishment
        return "Establish"
    if proto in (_PAP, _CHAP, _EAP) and current in ("", "Establish", "Authenticate"):
        return "Authenticate"
    if proto in _NCPS and current != "Terminate":
        return "Network"
    return current or "Establish"


def rows_of(records: Sequence[Record]) -> list[Row]:
    """The diagram's rows, in order: packets, modem text, folded data, silences, the end."""
    rows: list[Row] = []
    phase = ""
    last_request: dict[tuple[bool, int], bytes] = {}  # (sent, protocol) -> request minus its identifier
    data_run = 0
    prev_time: float | None = None

    def flush_data(t: float) -> None:
        nonlocal data_run
        if data_run:
            rows.append(Row("data", t, f"{data_run} data packet{'s' if data_run > 1 else ''} (IP)", None, phase))
            data_run = 0

    for rec in records:
        if rec.kind is RecordKind.FRAME:
            proto, code = _proto_code(rec)
            if not _is_control(proto):
                data_run += 1
                prev_time = rec.time
                continue
            flush_data(rec.time)
            sent = bool(rec.sent)
            retrans = False
            if (proto, code) in _REQUESTS:
                body = rec.data[2:5] + rec.data[6:]
                retrans = last_request.get((sent, proto)) == body
                last_request[(sent, proto)] = body
            else:
                last_request.pop((not sent, proto), None)  # an answer: the other side's next request is new
            if prev_time is not None and rec.time - prev_time >= GAP:
                rows.append(Row("gap", prev_time, f"{rec.time - prev_time:.1f} s", None, phase, timeout=retrans))
            phase = _phase(phase, proto, code)
            label = rec.describe() + (f"  ({rec.note})" if rec.note else "")
            rows.append(Row("packet", rec.time, label, sent, phase, retransmission=retrans))
        elif rec.kind is RecordKind.TEXT:
            flush_data(rec.time)
            rows.append(Row("text", rec.time, rec.describe(), rec.sent, phase))
        elif rec.kind is RecordKind.END:
            flush_data(rec.time)
            rows.append(Row("end", rec.time, rec.note, None, phase))
        prev_time = rec.time
    if data_run:
        flush_data(prev_time or 0.0)
    return rows


def _t(text: str, x: float, y: float, *, anchor: str = "middle", size: int = 11, colour: str = "#202124",
       weight: str = "normal", family: str = "monospace") -> str:
    return (f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}" font-family="{family}" font-size="{size}" '
            f'font-weight="{weight}" fill="{colour}">{escape(text)}</text>')


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"


def _wrap(text: str, width: int) -> list[str]:
    """At most two lines of `width` characters, broken between words; the rest ends in an ellipsis."""
    if len(text) <= width:
        return [text]
    cut = text.rfind(" ", 0, width)
    cut = cut if cut > width // 2 else width
    first, rest = text[:cut], text[cut:].strip()
    return [first, rest if len(rest) <= width else rest[: width - 1] + "…"]


def default_verdict(rows: Sequence[Row]) -> str:
    ends = [r for r in rows if r.kind == "end"]
    if ends:
        return ends[-1].label
    packets = [r for r in rows if r.kind == "packet"]
    if not packets:
        return "no PPP packets"
    return f"no end recorded; the last packet was {packets[-1].label}"


def ladder_svg(records: Sequence[Record], *, title: str = "", verdict: Callable[[Sequence[Row]], str] | None = None,
               ) -> str:
    """The SVG document for `records`; `verdict` says why the link ended (default: the END record)."""
    rows = rows_of(records)
    zero = next((r.time for r in rows), 0.0)
    # a log without time stamps (or a raw capture) only orders its records, 1 µs apart: number them
    untimed = len(rows) > 1 and rows[-1].time - zero <= 1.5e-6 * len(rows)
    height = TOP + ROW * (len(rows) + 1) + 100
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}">',
           "<defs>"
           '<marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#202124"/></marker>'
           '<marker id="headr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c5221f"/></marker>'
           "</defs>",
           f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
           _t(title or "PPP negotiation", WIDTH / 2, 22, size=14, weight="bold", family="sans-serif")]
    # phase bands
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i].phase != rows[start].phase:
            name = rows[start].phase
            if name:
                y0 = TOP + ROW * start
                out.append(f'<rect class="phase" data-phase="{name}" x="130" y="{y0}" width="{WIDTH - 140}" '
                           f'height="{ROW * (i - start)}" fill="{PHASE_COLOURS.get(name, "#f1f3f4")}"/>')
                out.append(_t(name, WIDTH - 14, y0 + 14, anchor="end", size=10, colour="#5f6368",
                              family="sans-serif"))
            start = i
    bottom = TOP + ROW * len(rows)
    for x, name in ((US_X, "us"), (PEER_X, "peer")):
        out.append(_t(name, x, TOP - 14, size=13, weight="bold", family="sans-serif"))
        out.append(f'<line x1="{x}" y1="{TOP - 6}" x2="{x}" y2="{bottom + 6}" stroke="#9aa0a6" stroke-width="2"/>')
    for i, row in enumerate(rows):
        y = TOP + ROW * i + ROW * 0.7
        stamp = f"#{i + 1}" if untimed else f"{(row.time - zero) * 1000:+.1f} ms"
        out.append(_t(stamp, 120, y, anchor="end", size=10, colour="#5f6368"))
        if row.kind == "packet":
            x1, x2 = (US_X, PEER_X) if row.sent else (PEER_X, US_X)
            colour = "#c5221f" if row.retransmission else "#202124"
            dash = ' stroke-dasharray="6,4"' if row.retransmission else ""
            label = _short(row.label) + (" (retransmission)" if row.retransmission else "")
            mark = ' data-retransmission="1"' if row.retransmission else ""
            out.append(f'<g class="packet" data-direction="{"sent" if row.sent else "rcvd"}"{mark}>'
                       f"<title>{escape(row.label)}</title>"
                       f'<line x1="{x1}" y1="{y + 4:.0f}" x2="{x2}" y2="{y + 4:.0f}" stroke="{colour}" '
                       f'stroke-width="1.5"{dash} marker-end="url(#{"headr" if row.retransmission else "head"})"/>'
                       + _t(label, (US_X + PEER_X) / 2, y - 2, size=10, colour=colour) + "</g>")
        elif row.kind == "text":
            x = US_X if row.sent else PEER_X
            shown = row.label if len(row.label) <= 34 else row.label[:33] + "…"
            out.append(f'<g class="text"><title>{escape(row.label)}</title><rect x="{x - 110}" y="{y - 12}" '
                       f'width="220" height="16" rx="3" fill="#f1f3f4" stroke="#9aa0a6"/>'
                       + _t(shown, x, y, size=10) + "</g>")
        elif row.kind == "data":
            out.append('<g class="data">' + _t(f"⋯ {row.label} ⋯", (US_X + PEER_X) / 2, y, size=10,
                                                 colour="#5f6368") + "</g>")
        elif row.kind == "gap":
            word = "timeout: " if row.timeout else ""
            mark = ' data-timeout="1"' if row.timeout else ""
            out.append(f'<g class="gap"{mark}>'
                       f'<line x1="{US_X}" y1="{y - 4:.0f}" x2="{PEER_X}" y2="{y - 4:.0f}" stroke="#c5221f" '
                       f'stroke-width="1" stroke-dasharray="2,4"/>'
                       + _t(f"{word}{row.label} of silence", (US_X + PEER_X) / 2, y + 6, size=10,
                            colour="#c5221f" if row.timeout else "#5f6368") + "</g>")
        else:
            out.append('<g class="end">' + _t("link ended", (US_X + PEER_X) / 2, y, size=10, colour="#5f6368")
                       + "</g>")
    text = "verdict: " + (verdict or default_verdict)(rows)
    lines = _wrap(text, VERDICT_CHARS)
    vy = bottom + 30
    box = 12 + 16 * len(lines)
    out.append(f'<g class="verdict"><title>{escape(text)}</title><rect x="130" y="{vy - 18}" width="{WIDTH - 140}" '
               f'height="{box}" rx="4" fill="#202124"/>'
               + "".join(_t(line, WIDTH / 2 + 60, vy + 1 + 16 * i, size=12, colour="#ffffff", weight="bold")
                         for i, line in enumerate(lines)) + "</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
