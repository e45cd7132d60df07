"""Cut a log's facts into sessions: one dial attempt each, oldest first.

A session starts at an outer start (netifd "setting up", wvdial, NetworkManager activation,
ModemManager simple connect) or at pppd starting, unless the open session has not dialled yet
(netifd then pppd is one session).  A dial with no session open (pppd's `persist` redial, a bare
chat log) opens one too.  It ends at "Connection terminated."/"Exit."/"is now down"; what follows
an end belongs to the next session as its preamble (the kernel re-enumerating a stick, say), or,
at the end of the log, to the last session as its aftermath.  The rules see which part each fact
is in: a USB disconnect in a preamble is a mode switch, not a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pppstack.doctor.facts import Fact, Kind

__all__ = ["Session", "split_sessions"]

_DIALLED = {Kind.PPPD_START, Kind.DIAL, Kind.CONNECT, Kind.SERIAL_UP, Kind.PPP_CONNECT}
_OPENS = {Kind.DIAL, Kind.SERIAL_UP, Kind.SEND_AT}
# facts that may trail an end by a little and still belong to it (pppd's "Exit.", late kernel lines)
_TRAILING = {Kind.ATTEMPT_END, Kind.PPPD_EXIT, Kind.USB_DISCONNECT}
_TRAIL_SECONDS = 3.0


@dataclass
class Session:
    preamble: list[Fact] = field(default_factory=list)
    body: list[Fact] = field(default_factory=list)
    aftermath: list[Fact] = field(default_factory=list)
    ended: bool = False
    end_time: float | None = None

    def has(self, *kinds: Kind) -> bool:
        return any(f.kind in kinds for f in self.body)

    def first(self, *kinds: Kind) -> Fact | None:
        return next((f for f in self.body if f.kind in kinds), None)

    def last(self, *kinds: Kind) -> Fact | None:
        return next((f for f in reversed(self.body) if f.kind in kinds), None)

    def all(self, *kinds: Kind) -> list[Fact]:
        return [f for f in self.body if f.kind in kinds]

    def anywhere(self, *kinds: Kind) -> list[Fact]:
        return [f for f in self.preamble + self.body + self.aftermath if f.kind in kinds]


def split_sessions(facts: list[Fact]) -> list[Session]:
    sessions: list[Session] = []
    cur: Session | None = None
    pending: list[Fact] = []

    def open_new() -> Session:
        nonlocal pending
        s = Session(preamble=pending)
        pending = []
        sessions.append(s)
        return s

    for f in facts:
        live = cur is not None and not cur.ended
        if f.kind is Kind.OUTER_START:
            if not (live and cur is not None and not cur.has(*_DIALLED)):
                cur = open_new()
        elif f.kind is Kind.PPPD_START:
            if not (live and cur is not None and not cur.has(Kind.PPPD_START)):
                cur = open_new()
        elif f.kind in _OPENS and not live:
            cur = open_new()
        if cur is not None and cur.ended:
            t, end = f.line.time, cur.end_time
            close = t is None or end is None or t - end <= _TRAIL_SECONDS
            if f.kind in _TRAILING and close and not pending:
                cur.body.append(f)
                if f.kind is Kind.ATTEMPT_END and t is not None:
                    cur.end_time = t
                continue
            pending.append(f)
            continue
        if cur is None:
            pending.append(f)
            continue
        cur.body.append(f)
        if f.kind is Kind.ATTEMPT_END or (f.kind is Kind.CONNECT_SCRIPT_FAILED
                                          and f.line.message.startswith("Connect script failed")):
            # pppd's "Connect script failed" ends one attempt; with `persist` the next dial is a new one
            cur.ended = True
            cur.end_time = f.line.time
    if pending:
        if sessions:
            sessions[-1].aftermath = pending
        else:
            sessions.append(Session(body=pending))
    return sessions
