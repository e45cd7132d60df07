"""Option codecs and the one place that aggregates their verdicts (RFC 1661 §5.1–5.4, §6).

Each configuration option is one small codec object with pppd's vocabulary: what we *want* to
request, what we *got* (the peer acked), what we *allow* the peer to ask, and what the peer has
(*his*).  `OptionSet` holds a protocol's codecs and implements the rules every protocol shares:

- a reply carries only the worst verdict: Configure-Reject > Configure-Nak > Configure-Ack (§5.2–4);
- an unknown option type, or one with the wrong length, is rejected with its raw bytes;
- after Max-Failure Naks in a row we stop disagreeing: Naks become Rejects (§4.6, pppd
  `reject_if_disagree`), and after Max-Failure received Naks an option is treated as rejected
  (pppd `treat_as_reject`) so a stalling peer cannot loop us for ever;
- an Ack must repeat our last request exactly, a Reject may only name options we sent;
  anything else is a bad packet the caller discards.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import ClassVar, Protocol

from pppstack.wire import Option

__all__ = ["OptionVerdict", "OptionCodec", "BaseCodec", "OptionSet", "ACK", "REJECT", "nak"]


class OptionVerdict(IntEnum):
    """What we answer to one option of the peer's request; higher wins (§5)."""

    ACK = 0
    NAK = 1
    REJECT = 2


ACK: tuple[OptionVerdict, bytes] = (OptionVerdict.ACK, b"")
REJECT: tuple[OptionVerdict, bytes] = (OptionVerdict.REJECT, b"")


def nak(hint: bytes) -> tuple[OptionVerdict, bytes]:
    """A Nak carrying the value we would accept."""
    return (OptionVerdict.NAK, hint)


class OptionCodec(Protocol):
    """One option of one protocol (the attributes are read-only: codecs may set them per class)."""

    @property
    def type(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def data_len(self) -> int | None: ...                 # fixed data length, or None when variable

    def reset(self) -> None: ...                          # new negotiation: want := configured
    def request(self) -> bytes | None: ...                # value for our Configure-Request, or None
    def on_ack(self, data: bytes) -> None: ...            # got := want
    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None: ...
    def on_reject(self) -> None: ...                      # stop requesting it
    def peer_start(self) -> None: ...                     # his := defaults, before a peer's request
    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]: ...
    def unsolicited_nak(self) -> bytes | None: ...        # option the peer must add to its request


class BaseCodec:
    """Defaults for a codec: requests nothing, rejects the peer's option."""

    type: int = 0
    name: str = "?"
    data_len: int | None = None
    # pppd exempts the magic number from reject_if_disagree: its Naks are loopback evidence
    nak_forever: ClassVar[bool] = False

    def reset(self) -> None:
        pass

    def request(self) -> bytes | None:
        return None

    def on_ack(self, data: bytes) -> None:
        pass

    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None:
        pass

    def on_reject(self) -> None:
        pass

    def peer_start(self) -> None:
        pass

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        return REJECT

    def unsolicited_nak(self) -> bytes | None:
        return None


class OptionSet:
    """A protocol's codecs, and the shared rules of §5 for requests and replies."""

    def __init__(self, codecs: Iterable[OptionCodec]) -> None:
        self.codecs: dict[int, OptionCodec] = {c.type: c for c in codecs}
        self.last_request: bytes = b""  # data of our last Configure-Request (to check Acks)
        self._sent_types: dict[int, bytes] = {}

    def reset(self) -> None:
        for c in self.codecs.values():
            c.reset()

    def build_request(self) -> bytes:
        opts: list[Option] = []
        for c in self.codecs.values():
            value = c.request()
            if value is not None:
                opts.append(Option(c.type, value))
        self._sent_types = {o.type: o.data for o in opts}
        self.last_request = b"".join(o.build() for o in opts)
        return self.last_request

    # -- replies to our request (RCA / RCN); False means "bad packet: discard" --
    def receive_ack(self, data: bytes, options: Sequence[Option]) -> bool:
        if data != self.last_request:  # §5.2: must be identical to our request
            return False
        for o in options:
            self.codecs[o.type].on_ack(o.data)
        return True

    def receive_nak(self, options: Sequence[Option], give_up: bool) -> bool:
        if give_up and not any(o.type in self._sent_types for o in options):
            return False  # only pushes options we gave up on: a bad Nak (pppd), so the restart timer runs out
        for o in options:
            c = self.codecs.get(o.type)
            if c is None:
                continue  # the peer wants an option we do not know: we cannot add it
            if c.data_len is not None and len(o.data) != c.data_len:
                return False
        for o in options:
            c = self.codecs.get(o.type)
            if c is not None:
                c.on_nak(o.data, o.type in self._sent_types, give_up)
        return True

    def receive_reject(self, options: Sequence[Option]) -> bool:
        for o in options:  # §5.4: only options we sent, with the values we sent
            if self._sent_types.get(o.type) != o.data:
                return False
        for o in options:
            self.codecs[o.type].on_reject()
        return True

    # -- the peer's request (RCR+ / RCR-) --
    def check_request(self, options: Sequence[Option], give_in: bool) -> tuple[OptionVerdict, list[Option]]:
        """Return the worst verdict and the options to send with it (raw for Acks and Rejects).

        `give_in` is True after Max-Failure Naks: whatever we would Nak, we Reject.
        """
        for c in self.codecs.values():
            c.peer_start()
        worst = OptionVerdict.ACK
        out: list[Option] = []
        seen: set[int] = set()
        for o in options:
            codec = self.codecs.get(o.type)
            if codec is None or (codec.data_len is not None and len(o.data) != codec.data_len) or o.type in seen:
                verdict, hint = REJECT
            else:
                verdict, hint = codec.check_peer(o.data, give_in)
                if verdict is OptionVerdict.NAK and give_in and not getattr(codec, "nak_forever", False):
                    verdict = OptionVerdict.REJECT
            seen.add(o.type)
            if verdict > worst:
                worst, out = verdict, []
            if verdict == worst:
                out.append(Option(o.type, hint) if verdict is OptionVerdict.NAK else o)
        if worst is OptionVerdict.ACK and not give_in:
            # options the peer left out but must request (e.g. an address we hand out)
            extra = [Option(c.type, v) for c in self.codecs.values()
                     if c.type not in seen and (v := c.unsolicited_nak()) is not None]
            if extra:
                return OptionVerdict.NAK, extra
        return worst, out
