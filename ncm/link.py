"""One NCM data link, sans-I/O: NTBs and notifications in, IP packets out, and the reverse.

Theory of operation.  The pieces are stacked as in the kernel (cdc_ncm + the IP stack), with
the clock and the USB transfers left to the caller:

    send_ip(packet) -> L2Shim (ARP/NDP, Ethernet header) -> Aggregator (NTB, flush deadline)
                    -> blocks_to_send()                   -> bulk OUT
    bulk IN -> receive_ntb(block) -> NtbDecoder (NTB16/32, counted faults) -> L2Shim -> take_packets()
    interrupt IN -> receive_notification(data) -> carrier / speed events

The carrier follows NETWORK_CONNECTION (CDC ECM 1.2 §6.3.1).  Once it has been up, a
disconnect notification ends the link with NcmDownCause.CARRIER_LOST; the edge reports USB
failures through `connection_lost` so every way down is an event with a sentence.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass
from enum import Enum

from ncm.aggregate import DEFAULT_FLUSH_INTERVAL, Aggregator
from ncm.l2 import L2Config, L2Event, L2Shim
from ncm.mtu import too_big_reply
from ncm.notify import Garbled, NetworkConnection, SpeedChange, parse_notifications
from ncm.ntb import NtbDecoder
from ncm.params import NtbParameters

log = logging.getLogger("pppstack.ncm")

__all__ = ["NcmDownCause", "CarrierChanged", "SpeedChanged", "NcmLinkDown", "NcmEvent", "NcmLink"]


class NcmDownCause(Enum):
    USB_DISCONNECTED = "the modem dropped off USB (often a power problem)"
    USB_ERROR = "a USB transfer to the modem failed"
    CARRIER_LOST = "the modem reported the network connection down"
    LOCAL_CLOSE = "we closed the link"


@dataclass(frozen=True, slots=True)
class CarrierChanged:
    connected: bool


@dataclass(frozen=True, slots=True)
class SpeedChanged:
    downlink_bps: int
    uplink_bps: int


@dataclass(frozen=True, slots=True)
class NcmLinkDown:
    cause: NcmDownCause
    message: str


NcmEvent = CarrierChanged | SpeedChanged | NcmLinkDown | L2Event


class NcmLink:
    def __init__(self, params: NtbParameters, l2: L2Config, *, ntb32: bool = False, ndp_at_end: bool = False,
                 max_packet_size: int = 512, flush_interval: float = DEFAULT_FLUSH_INTERVAL,
                 rx_max: int | None = None, mtu: int | None = None) -> None:
        self.params = params
        self.mtu = mtu                   # packets from the TUN above it get ICMP "too big"
        self.l2 = L2Shim(l2)
        self.decoder = NtbDecoder(max_block=rx_max)
        self.aggregator = Aggregator(params, ntb32=ntb32, ndp_at_end=ndp_at_end,
                                     max_packet_size=max_packet_size, flush_interval=flush_interval)
        self.carrier: bool | None = None
        self.speed: tuple[int, int] | None = None
        self.down: NcmLinkDown | None = None
        self.counters: Counter[str] = Counter()
        self._blocks: list[bytes] = []
        self._replies: list[bytes] = []
        self._events: deque[NcmEvent] = deque()
        self._was_up = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, now: float) -> None:
        self.l2.start(now)
        self._pump_l2(now)

    def connection_lost(self, cause: NcmDownCause, detail: str = "") -> None:
        if self.down is None:
            self.down = NcmLinkDown(cause, cause.value + (f" ({detail})" if detail else ""))
            self._events.append(self.down)

    def close(self) -> list[bytes]:
        """Flush what is pending and mark the link down locally."""
        blocks = self._blocks + self.aggregator.flush()
        self._blocks = []
        self.connection_lost(NcmDownCause.LOCAL_CLOSE)
        return blocks

    # -- inputs ----------------------------------------------------------------------------
    def receive_ntb(self, block: bytes | bytearray | memoryview, now: float) -> None:
        spans = self.decoder.spans(block) if isinstance(block, bytes) else None
        if spans is not None:
            self.l2.receive_spans(block, spans, now)     # type: ignore[arg-type]
        else:
            self.l2.receive_frames(self.decoder.decode(block), now)
        if self.decoder.last_faults:
            bad = self.decoder.counters["bad_blocks"]
            if bad <= 10 or bad % 1000 == 0:    # the first few, then a reminder now and then
                log.info("discarded part of a bad NTB from the modem (%d so far): %s", bad,
                         "; ".join(f.value for f in self.decoder.last_faults[:3]))
        if self.l2.has_output:          # ARP/NA answers, neighbour events
            self._pump_l2(now)

    def receive_notification(self, data: bytes | bytearray | memoryview, now: float) -> None:
        for n in parse_notifications(data):
            if isinstance(n, NetworkConnection):
                self.counters["notify_connection"] += 1
                if n.connected != self.carrier:
                    self.carrier = n.connected
                    self._events.append(CarrierChanged(n.connected))
                    if n.connected:
                        self._was_up = True
                    elif self._was_up:
                        self.connection_lost(NcmDownCause.CARRIER_LOST)
            elif isinstance(n, SpeedChange):
                self.counters["notify_speed"] += 1
                self.speed = (n.downlink_bps, n.uplink_bps)
                self._events.append(SpeedChanged(n.downlink_bps, n.uplink_bps))
            elif isinstance(n, Garbled):
                self.counters["notify_garbled"] += 1
            else:
                self.counters["notify_other"] += 1

    def send_ip(self, packet: bytes, now: float) -> None:
        self.send_ip_many([packet], now)

    def send_ip_many(self, packets: list[bytes], now: float) -> None:
        send = self.l2.send_ip
        mtu = self.mtu
        for p in packets:
            if mtu is not None and len(p) > mtu:
                self._too_big(p)
                continue
            send(p, now)
        self._pump_l2(now)

    def _too_big(self, packet: bytes) -> None:
        """As a kernel interface would: not sent, counted, and ICMP "too big" to the sender."""
        c = self.counters
        c["tx_too_big"] += 1
        cfg = self.l2.config
        reply = too_big_reply(packet, self.mtu or 0, src4=cfg.gateway or (cfg.ipv4.ip if cfg.ipv4 else None),
                              src6=self.l2.ll6)
        if reply is not None:
            c["tx_too_big_icmp"] += 1
            self._replies.append(reply)
        if c["tx_too_big"] == 1 or c["tx_too_big"] % 1000 == 0:
            log.warning("a %d-byte packet from the system is larger than the link's MTU of %d and was not sent"
                        " (%d so far; %s)", len(packet), self.mtu, c["tx_too_big"],
                        "ICMP 'too big' sent back" if reply is not None else "no ICMP due: DF clear")

    def _pump_l2(self, now: float) -> None:
        add = self.aggregator.add
        for f in self.l2.take_frames():
            blocks = add(f, now)
            if blocks:
                self._blocks.extend(blocks)
        while (ev := self.l2.next_event()) is not None:
            self._events.append(ev)

    # -- outputs ---------------------------------------------------------------------------
    def take_packets(self) -> list[bytes]:
        if self._replies:
            r, self._replies = self._replies, []
            return r + self.l2.take_packets()
        return self.l2.take_packets()

    def blocks_to_send(self) -> list[bytes]:
        b, self._blocks = self._blocks, []
        return b

    def flush(self) -> None:
        self._blocks.extend(self.aggregator.flush())

    def next_event(self) -> NcmEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        t = [x for x in (self.aggregator.get_timer(), self.l2.get_timer()) if x is not None]
        return min(t) if t else None

    def handle_timer(self, now: float) -> None:
        self.l2.handle_timer(now)
        self._pump_l2(now)
        self._blocks.extend(self.aggregator.handle_timer(now))

    def stats(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for prefix, c in (("link", self.counters), ("rx", self.decoder.counters), ("tx", self.aggregator.counters),
                          ("l2", self.l2.counters)):
            out.update({f"{prefix}_{k}": v for k, v in c.items()})
        return out
