"""pppstack doctor's reasoning, sans-I/O: log lines in, one verdict per session out.

lines (strip the log's wrappers) -> parse (one parser per program) -> facts -> sessions (split
into dial attempts) -> rules (one verdict each).  The live doctor reuses verdicts and rendering.
"""

from __future__ import annotations

from collections.abc import Iterable

from pppstack.doctor.facts import Kind
from pppstack.doctor.parse import facts_of_lines
from pppstack.doctor.rules import judge
from pppstack.doctor.sessions import Session, split_sessions
from pppstack.doctor.verdicts import Diagnosis, Step, Verdict

__all__ = ["diagnose_log", "Diagnosis", "Step", "Verdict"]


def _title(s: Session) -> str:
    facts = s.body or s.preamble
    first = facts[0] if facts else None
    tool = ("pppd" if s.has(Kind.PPPD_START, Kind.PPP_CONNECT) else
            "NCM" if s.anywhere(Kind.NCM_NETDEV, Kind.NDIS_DOWN, Kind.NDIS_UP, Kind.LINK_NOT_READY) else "")
    connect = s.first(Kind.PPP_CONNECT)
    where = f" on {connect.detail}" if connect else ""
    when = f", {first.line.stamp}" if first is not None and first.line.stamp else ""
    return f"{tool}{where}{when}".strip(", ")


def diagnose_log(lines: Iterable[str]) -> list[Diagnosis]:
    """One Diagnosis per session, oldest first (an empty list if nothing in the lines was known)."""
    out = []
    for s in split_sessions(facts_of_lines(lines)):
        d = judge(s)
        out.append(Diagnosis(d.verdict, d.step, d.evidence, d.fix, d.summary, d.notes, _title(s)))
    return out
