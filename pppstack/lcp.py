"""LCP's option codecs (RFC 1661 §6, RFC 1994 §3 for CHAP's option) and echo keepalive.

What we ask by default is pppd's first request: `<asyncmap 0x0> <magic …> <pcomp> <accomp>`,
with MRU only when it is not 1500 (pppd/lcp.c).  What we allow the peer: MRU 128..16384, any
ACCM, PAP or CHAP-MD5 authentication (Naking MS-CHAP/EAP towards CHAP-MD5, then PAP), magic
numbers (loopback detection: our own magic coming back is Naked with a fresh one and counted),
PFC and ACFC.  Unknown options are rejected with their raw bytes by the OptionSet.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from pppstack.config import DEFAULT_MRU, MAX_MRU, MIN_MRU, LinkConfig
from pppstack.fsm.options import ACK, REJECT, BaseCodec, OptionSet, OptionVerdict, nak
from pppstack.wire import Protocol

__all__ = ["Mru", "Accm", "AuthProtocol", "MagicNumber", "Pfc", "Acfc", "LcpOptions", "Keepalive", "EchoDue",
           "CHAP_MD5", "LOOPBACK_FAIL"]

CHAP_MD5 = 5
LOOPBACK_FAIL = 10  # pppd DEFLOOPBACKFAIL: Naks of our own magic before we call the line looped back
_PAP = Protocol.PAP.to_bytes(2, "big")
_CHAP_MD5 = Protocol.CHAP.to_bytes(2, "big") + bytes((CHAP_MD5,))


class Mru(BaseCodec):
    type, name, data_len = 1, "MRU", 2

    def __init__(self, mru: int) -> None:
        self.configured = mru
        self.want = self.got = mru
        self.his = DEFAULT_MRU
        self.enabled = True

    def reset(self) -> None:
        self.want, self.got, self.enabled = self.configured, DEFAULT_MRU, True

    def request(self) -> bytes | None:
        return self.want.to_bytes(2, "big") if self.enabled and self.want != DEFAULT_MRU else None

    def on_ack(self, data: bytes) -> None:
        self.got = self.want

    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None:
        value = int.from_bytes(data, "big")
        if give_up:
            self.enabled = False
        elif value <= self.want or value <= DEFAULT_MRU:  # pppd: take a smaller one, or up to 1500
            self.want = max(value, MIN_MRU)

    def on_reject(self) -> None:
        self.enabled, self.want = False, DEFAULT_MRU

    def peer_start(self) -> None:
        self.his = DEFAULT_MRU

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        value = int.from_bytes(data, "big")
        if value < MIN_MRU:
            return nak(MIN_MRU.to_bytes(2, "big"))
        self.his = min(value, MAX_MRU)
        return ACK


class Accm(BaseCodec):
    type, name, data_len = 2, "Async-Control-Character-Map", 4

    def __init__(self, asyncmap: int) -> None:
        self.configured = asyncmap
        self.want = asyncmap
        self.got = 0xFFFFFFFF
        self.his = 0xFFFFFFFF
        self.enabled = True

    def reset(self) -> None:
        self.want, self.got, self.enabled = self.configured, 0xFFFFFFFF, True

    def request(self) -> bytes | None:
        return self.want.to_bytes(4, "big") if self.enabled else None

    def on_ack(self, data: bytes) -> None:
        self.got = self.want

    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None:
        if give_up:
            self.enabled = False
        else:
            self.want |= int.from_bytes(data, "big")  # escape what the peer needs escaped, too

    def on_reject(self) -> None:
        self.enabled = False

    def peer_start(self) -> None:
        self.his = 0xFFFFFFFF

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        self.his = int.from_bytes(data, "big")
        return ACK


class AuthProtocol(BaseCodec):
    """Authentication-Protocol (§6.2): we ask it as authenticator; the peer's ask binds us."""

    type, name, data_len = 3, "Authentication-Protocol", None

    def __init__(self, config: LinkConfig) -> None:
        self.config = config
        self.want: bytes | None = None
        self.got: bytes | None = None
        self.his: bytes | None = None
        self.refused = False  # the peer rejected every way to authenticate it
        self.reset()

    def _preferred(self) -> list[bytes]:
        c = self.config
        return ([_CHAP_MD5] if c.require_chap else []) + ([_PAP] if c.require_pap else [])

    def reset(self) -> None:
        prefs = self._preferred()
        self.want = prefs[0] if prefs else None
        self.got = None
        self.refused = False

    def request(self) -> bytes | None:
        return self.want

    def on_ack(self, data: bytes) -> None:
        self.got = self.want

    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None:
        prefs = self._preferred()
        if data in prefs and not give_up:
            self.want = data  # the peer suggests another protocol we also accept
            return
        rest = [p for p in prefs if p != self.want]
        if rest and not give_up:
            self.want = rest[0]
        elif give_up:
            self.want, self.refused = None, True

    def on_reject(self) -> None:
        self.want, self.refused = None, bool(self._preferred())

    def peer_start(self) -> None:
        self.his = None

    def _we_can(self) -> list[bytes]:
        c = self.config
        return ([_CHAP_MD5] if not c.refuse_chap else []) + ([_PAP] if not c.refuse_pap else [])

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        can = self._we_can()
        if not can:
            return REJECT
        if data in can:
            self.his = data
            return ACK
        return nak(can[0])  # MS-CHAP, EAP, malformed: suggest what we do

    @staticmethod
    def label(value: bytes | None) -> str | None:
        if value is None:
            return None
        return "PAP" if value == _PAP else "CHAP"


class MagicNumber(BaseCodec):
    type, name, data_len = 5, "Magic-Number", 4
    nak_forever = True

    def __init__(self, enabled: bool, rng: Callable[[int], bytes]) -> None:
        self.configured = enabled
        self.rng = rng
        self.enabled = enabled
        self.want = self._fresh()
        self.got = 0
        self.his = 0
        self.loops = 0       # Naks of our number (pppd counts these as loopback evidence, §6.4)
        self.collisions = 0  # peer requests carrying our own number
        self.zero_naks = 0   # peer requests carrying the illegal magic number 0

    def _fresh(self) -> int:
        for _ in range(8):
            value = int.from_bytes(self.rng(4), "big")
            if value:
                return value
        return 0x5050_5050

    def _other(self) -> int:
        # the value we suggest to the peer: fresh, and not our own (that would collide next)
        value = self._fresh()
        return value if value != self.want else value ^ 0x0101_0101

    def reset(self) -> None:
        self.enabled, self.got = self.configured, 0
        self.loops = self.collisions = self.zero_naks = 0

    def request(self) -> bytes | None:
        return self.want.to_bytes(4, "big") if self.enabled else None

    def on_ack(self, data: bytes) -> None:
        self.got = self.want

    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None:
        # no give-up here (as pppd): Naks of the magic number are how a looped line shows itself,
        # and LOOPBACK_FAIL of them end the link with a clear reason instead
        self.loops += 1  # looped back, our Nak of our own number comes back as a Nak (pppd lcp_nakci)
        self.want = self._fresh()

    def on_reject(self) -> None:
        self.enabled = False

    def peer_start(self) -> None:
        self.his = 0

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        value = int.from_bytes(data, "big")
        if value == 0:
            # RFC 1661 §6.4: zero is illegal and MUST be Naked with a new value (not Acked)
            self.zero_naks += 1
            return nak(self._other().to_bytes(4, "big"))
        if self.enabled and value == self.want:
            self.collisions += 1  # our own number came back: looped back, or the same random draw
            return nak(self._other().to_bytes(4, "big"))
        self.his = value
        return ACK


class _Flag(BaseCodec):
    data_len = 0

    def __init__(self, enabled: bool) -> None:
        self.configured = self.enabled = enabled
        self.got = False
        self.his = False

    def reset(self) -> None:
        self.enabled, self.got = self.configured, False

    def request(self) -> bytes | None:
        return b"" if self.enabled else None

    def on_ack(self, data: bytes) -> None:
        self.got = True

    def on_reject(self) -> None:
        self.enabled = False

    def on_nak(self, data: bytes, requested: bool, give_up: bool) -> None:
        self.enabled = False  # a Nak of a boolean option means "no" (pppd does the same)

    def peer_start(self) -> None:
        self.his = False

    def check_peer(self, data: bytes, give_in: bool) -> tuple[OptionVerdict, bytes]:
        if not self.configured:
            return REJECT
        self.his = True
        return ACK


class Pfc(_Flag):
    type, name = 7, "Protocol-Field-Compression"


class Acfc(_Flag):
    type, name = 8, "Address-and-Control-Field-Compression"


class LcpOptions(OptionSet):
    """LCP's codecs, reachable by name for the Link."""

    def __init__(self, config: LinkConfig, rng: Callable[[int], bytes]) -> None:
        self.mru = Mru(config.mru)
        self.accm = Accm(config.asyncmap)
        self.auth = AuthProtocol(config)
        self.magic = MagicNumber(config.magic, rng)
        self.pfc = Pfc(config.pcomp)
        self.acfc = Acfc(config.accomp)
        super().__init__([self.mru, self.accm, self.auth, self.magic, self.pfc, self.acfc])


class EchoDue(Enum):
    """What the keepalive deadline asks of the Link."""

    SEND = "send"  # send an Echo-Request
    DEAD = "dead"  # `failure` Echo-Requests went unanswered: the peer is dead


class Keepalive:
    """LCP echo keepalive (pppd lcp-echo-interval / -failure / -adaptive), as a deadline.

    Every `interval` seconds while LCP is Opened we send an Echo-Request; after `failure`
    unanswered ones the peer is dead.  Adaptive mode sends nothing while frames keep arriving,
    and forgets outstanding echoes when traffic is seen (the fix of ppp-project/ppp#323).
    """

    def __init__(self, interval: float, failure: int, adaptive: bool) -> None:
        self.interval = interval
        self.failure = failure
        self.adaptive = adaptive
        self.deadline: float | None = None
        self.pending = 0
        self._rx_mark = 0

    def start(self, now: float, rx_frames: int) -> None:
        self.pending = 0
        self._rx_mark = rx_frames
        self.deadline = now + self.interval if self.interval > 0 else None

    def stop(self) -> None:
        self.deadline = None
        self.pending = 0

    def reply_received(self) -> None:
        self.pending = 0

    def due(self, now: float, rx_frames: int) -> EchoDue | None:
        """What to do now (None: nothing); re-arms itself."""
        if self.deadline is None or now < self.deadline:
            return None
        self.deadline = now + self.interval
        traffic = rx_frames != self._rx_mark
        self._rx_mark = rx_frames
        if self.adaptive and traffic:
            self.pending = 0
            return None
        if self.failure and self.pending >= self.failure:
            self.deadline = None
            return EchoDue.DEAD
        self.pending += 1
        return EchoDue.SEND
