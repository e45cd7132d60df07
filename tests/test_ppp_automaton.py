"""RFC 1661 §4.1 cell by cell.

The table below is typed in from the RFC's text (layout kept), parsed here, and compared with
`automaton.TRANSITIONS`; then every cell is *executed* by a real ControlProtocol fed real packets,
timeouts and administrative events, and the actions it performs are observed from outside.
"""

from __future__ import annotations

import pytest

from pppstack.fsm.automaton import TRANSITIONS, Action, Event, Flag, State
from pppstack.fsm.cp import RXR, ControlProtocol
from pppstack.fsm.options import ACK, BaseCodec, OptionSet, OptionVerdict, nak
from pppstack.wire import ControlPacket

RFC_TABLE_1 = """
      | State
      |    0         1         2         3         4         5
Events| Initial   Starting  Closed    Stopped   Closing   Stopping
------+-----------------------------------------------------------
 Up   |    2     irc,scr/6     -         -         -         -
 Down |    -         -         0       tls/1       0         1
 Open |  tls/1       1     irc,scr/6     3r        5r        5r
 Close|    0       tlf/0       2         2         4         4
  TO+ |    -         -         -         -       str/4     str/5
  TO- |    -         -         -         -       tlf/2     tlf/3
 RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5
 RCR- |    -         -       sta/2 irc,scr,scn/6   4         5
 RCA  |    -         -       sta/2     sta/3       4         5
 RCN  |    -         -       sta/2     sta/3       4         5
 RTR  |    -         -       sta/2     sta/3     sta/4     sta/5
 RTA  |    -         -         2         3       tlf/2     tlf/3
 RUC  |    -         -       scj/2     scj/3     scj/4     scj/5
 RXJ+ |    -         -         2         3         4         5
 RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3
 RXR  |    -         -         2         3         4         5
"""

RFC_TABLE_2 = """
      | State
      |    6         7         8           9
Events| Req-Sent  Ack-Rcvd  Ack-Sent    Opened
------+-----------------------------------------
 Up   |    -         -         -           -
 Down |    1         1         1         tld/1
 Open |    6         7         8           9r
 Close|irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
  TO+ |  scr/6     scr/6     scr/8         -
  TO- |  tlf/3p    tlf/3p    tlf/3p        -
 RCR+ |  sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
 RCR- |  scn/6     scn/7     scn/6   tld,scr,scn/6
 RCA  |  irc/7     scr/6x  irc,tlu/9   tld,scr/6x
 RCN  |irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
 RTR  |  sta/6     sta/6     sta/6   tld,zrc,sta/5
 RTA  |    6         6         8       tld,scr/6
 RUC  |  scj/6     scj/7     scj/8       scj/9
 RXJ+ |    6         6         8           9
 RXJ- |  tlf/3     tlf/3     tlf/3   tld,irc,str/5
 RXR  |    6         7         8         ser/9
"""

EVENT_NAMES = {e.value: e for e in Event}
ACTION_NAMES = {a.value: a for a in Action}
FLAGS = {f.value: f for f in Flag}


Cell = tuple[tuple[Action, ...], State, Flag | None]


def parse(table: str, first_state: int) -> dict[tuple[State, Event], Cell | None]:
    cells = {}
    for line in table.strip().splitlines()[4:]:
        name, _, rest = line.partition("|")
        tokens = rest.split()
        for k, tok in enumerate(tokens):
            key = (State(first_state + k), EVENT_NAMES[name.strip()])
            if tok == "-":
                cells[key] = None
                continue
            acts, _, target = tok.rpartition("/")
            flag = FLAGS.get(target[-1]) if not target[-1].isdigit() else None
            nxt = State(int(target.rstrip("prx")))
            actions = tuple(ACTION_NAMES[a] for a in acts.split(",")) if acts else ()
            cells[key] = (actions, nxt, flag)
    return cells


RFC = {**parse(RFC_TABLE_1, 0), **parse(RFC_TABLE_2, 6)}
CELLS = sorted(RFC, key=lambda k: (k[1].value, k[0]))
CELL_IDS = [f"{s.name}-{e.value}" for s, e in CELLS]


def test_transcription_covers_every_cell() -> None:
    assert len(RFC) == 10 * 16


@pytest.mark.parametrize("key", CELLS, ids=CELL_IDS)
def test_table_matches_rfc(key: tuple[State, Event]) -> None:
    assert TRANSITIONS.get(key) == RFC[key]


# -- executing every cell ---------------------------------------------------------------------------

class One(BaseCodec):
    """A test option: we request 0x01; the peer's 1 is acceptable, anything else is Naked."""

    type, name, data_len = 1, "one", 1

    def request(self) -> bytes | None:
        return b"\x01"

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        return ACK if data == b"\x01" else nak(b"\x01")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[object] = []

    def cp_send(self, cp: ControlProtocol, info: bytes) -> None:
        self.seen.append(ControlPacket.parse(info).code)

    def cp_up(self, cp: ControlProtocol) -> None:
        self.seen.append(Action.TLU)

    def cp_down(self, cp: ControlProtocol) -> None:
        self.seen.append(Action.TLD)

    def cp_started(self, cp: ControlProtocol) -> None:
        self.seen.append(Action.TLS)

    def cp_finished(self, cp: ControlProtocol) -> None:
        self.seen.append(Action.TLF)

    def cp_extra(self, cp: ControlProtocol, code: int, ident: int, data: bytes) -> None:
        self.seen.append(Action.SER)

    def cp_protocol_rejected(self, cp: ControlProtocol, protocol: int) -> None:
        pass

    def cp_ack_sent(self, cp: ControlProtocol) -> None:
        pass

    def cp_ack_received(self, cp: ControlProtocol) -> None:
        pass


PACKET_ACTION = {1: Action.SCR, 2: Action.SCA, 3: Action.SCN, 4: Action.SCN, 5: Action.STR, 6: Action.STA,
                 7: Action.SCJ}
SENTINEL = 77


def make(state: State, **kw: object) -> tuple[ControlProtocol, Recorder]:
    rec = Recorder()
    cp = ControlProtocol("T", 0x8021, OptionSet([One()]), rec, max_configure=10, max_terminate=2,
                         extra_codes={9: RXR}, **kw)
    cp.state = state
    cp.restart_count = SENTINEL
    cp.options.build_request()
    cp._reqid, cp._seen_ack = 5, False  # noqa: SLF001 - a request is outstanding with id 5
    cp.deadline = 100.0 if state in (State.CLOSING, State.STOPPING, State.REQ_SENT, State.ACK_RCVD,
                                     State.ACK_SENT) else None
    return cp, rec


def fire(cp: ControlProtocol, event: Event) -> None:
    pkt = {
        Event.RCR_PLUS: ControlPacket(1, 9, b"\x01\x03\x01"),
        Event.RCR_MINUS: ControlPacket(1, 9, b"\x01\x03\x02"),
        Event.RCA: ControlPacket(2, 5, b"\x01\x03\x01"),
        Event.RCN: ControlPacket(3, 5, b"\x01\x03\x02"),
        Event.RTR: ControlPacket(5, 9, b""),
        Event.RTA: ControlPacket(6, 9, b""),
        Event.RUC: ControlPacket(99, 9, b"??"),
        Event.RXJ_PLUS: ControlPacket(7, 9, bytes([99, 1, 0, 4])),
        Event.RXJ_MINUS: ControlPacket(7, 9, bytes([1, 1, 0, 4])),
        Event.RXR: ControlPacket(9, 9, b"\0\0\0\0"),
    }.get(event)
    if pkt is not None:
        cp.receive(pkt.build(), 50.0)
    elif event in (Event.TO_PLUS, Event.TO_MINUS):
        cp.restart_count = 1 if event is Event.TO_PLUS else 0
        cp.deadline = 50.0
        cp.handle_timer(50.0)
    else:
        {Event.UP: cp.up, Event.DOWN: cp.down, Event.OPEN: cp.open}.get(event, lambda now: cp.close("x", now))(50.0)


@pytest.mark.parametrize("key", CELLS, ids=CELL_IDS)
def test_every_cell_executes_as_the_rfc_says(key: tuple[State, Event]) -> None:
    state, event = key
    cp, rec = make(state)
    fire(cp, event)
    cell = RFC[key]
    if cell is None:
        assert cp.state is state and rec.seen == [] and cp.counters.illegal == 1
        return
    actions, nxt, _flag = cell
    assert cp.state is nxt
    observed = [PACKET_ACTION.get(x, x) if isinstance(x, int) else x for x in rec.seen]
    expected = [a for a in actions if a not in (Action.IRC, Action.ZRC)]
    assert observed == expected
    sends = sum(a in (Action.SCR, Action.STR) for a in actions)
    if Action.IRC in actions:
        full = 2 if Action.STR in actions else 10
        assert cp.restart_count == full - sends
    elif Action.ZRC in actions:
        assert cp.restart_count == 0 and cp.deadline == 53.0
    elif event not in (Event.TO_PLUS, Event.TO_MINUS):
        assert cp.restart_count == SENTINEL - sends
    timed = nxt in (State.CLOSING, State.STOPPING, State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT)
    assert (cp.deadline is not None) == timed


@pytest.mark.parametrize("state", [State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT])
def test_passive_option_skips_tlf_on_timeout(state: State) -> None:
    cp, rec = make(state, passive=True)
    fire(cp, Event.TO_MINUS)
    assert cp.state is State.STOPPED and rec.seen == []


@pytest.mark.parametrize("state", [State.STOPPED, State.OPENED])
def test_restart_option_renegotiates_on_open(state: State) -> None:
    cp, rec = make(state, restart_option=True)
    fire(cp, Event.OPEN)
    first = [Action.TLS] if state is State.STOPPED else [Action.TLD]
    assert rec.seen == [*first, 1]  # Down (tls or tld), then Up: irc, scr
    assert cp.state is State.REQ_SENT


def test_silent_option_waits_for_the_peer() -> None:
    cp, rec = make(State.STARTING, silent=True)
    fire(cp, Event.UP)
    assert cp.state is State.STOPPED and rec.seen == []
    fire(cp, Event.RCR_PLUS)  # the peer speaks first: irc, scr, sca
    assert cp.state is State.ACK_SENT and rec.seen == [1, 2]
