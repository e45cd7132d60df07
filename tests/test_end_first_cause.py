"""The end reason is the first cause, not the last word.

A peer's LCP Terminate-Request (pppd's "Connect time expired" with `maxconnect`) followed 50 ms
later by the modem's NO CARRIER is the peer's doing: PEER_TERMINATED (19) with the peer's words,
the NO CARRIER mentioned as what followed — not NO_CARRIER (18) with APN advice.  Proven on a pty
with the real engine on both ends (the peer is our own engine in a thread, writing the modem's
text itself), on the classifier for every engine cause, and on the engine's first-cause record.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time

import pytest
from ppp_support import Wire, both_up, client, feed, out_packets, server

from pppstack import events as ev
from pppstack.exitcodes import ExitCode
from pppstack.io.pppdriver import Evidence, Observation, PppDriver, classify_end
from pppstack.io.serialport import SerialPort

LCP = 0xC021
PEER_WORDS = "The peer ended the link (LCP Terminate-Request: 'Connect time expired')"


class Peer(threading.Thread):
    """Our server engine on the pty master: once IPCP is up it terminates the link, and 50 ms
    after the Terminate-Ack it prints NO CARRIER, as a modem does when the network hangs up."""

    def __init__(self, master: int, then_text: bytes = b"\r\nNO CARRIER\r\n") -> None:
        super().__init__(daemon=True)
        self.master = master
        self.engine = server()
        self.then_text = then_text
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _run(self) -> None:
        peer, fd = self.engine, self.master
        peer.open(time.monotonic())
        closed_at = text_at = None
        end = time.monotonic() + 20
        while time.monotonic() < end and not self.done.is_set():
            now = time.monotonic()
            timer = peer.get_timer()
            if timer is not None and timer <= now:
                peer.handle_timer(now)
            out = peer.data_to_send()
            if out:
                os.write(fd, out)
            while (e := peer.next_event()) is not None:
                if isinstance(e, ev.Ipv4Up) and closed_at is None:
                    closed_at = now
                    peer.close("Connect time expired", now)
                elif isinstance(e, ev.LinkDown):
                    text_at = now + 0.05
            if text_at is not None and now >= text_at:
                os.write(fd, self.then_text)
                text_at = None
                self.done.set()
            if select.select([fd], [], [], 0.01)[0]:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    return
                peer.receive_data(data, time.monotonic())


def test_peer_terminate_then_no_carrier_is_peer_terminated_on_a_pty() -> None:
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(slave, False)
    port = SerialPort(slave, None, os.ttyname(slave))
    driver = PppDriver(client(), port, None)
    driver.call_later(25.0, lambda now: driver.request_stop("test timeout"))
    peer = Peer(master)
    peer.start()
    try:
        end = driver.run()
    finally:
        peer.done.set()
        peer.join(5)
        driver.close()
        os.close(master)
        os.close(slave)
    assert peer.error is None, peer.error
    assert end.code is ExitCode.PEER_TERMINATED, end
    assert "Connect time expired" in end.message and "NO CARRIER" in end.message, end.message
    assert "APN" not in end.message and end.was_up


@pytest.mark.parametrize(("cause", "message", "code"), [
    (ev.DownCause.PEER_TERMINATED, PEER_WORDS, ExitCode.PEER_TERMINATED),
    (ev.DownCause.PEER_DEAD, "No response to 4 echo-requests", ExitCode.PEER_DEAD),
    (ev.DownCause.AUTH_FAILED, "CHAP authentication failed", ExitCode.AUTH_FAILED),
    (ev.DownCause.NETWORK_FAILED, "No network protocols running", ExitCode.NETWORK_FAILED),
    (ev.DownCause.LOOPBACK, "The serial line is looped back", ExitCode.LOOPBACK),
    (ev.DownCause.LOCAL_CLOSE, "The link was closed locally (SIGTERM received)", ExitCode.OK),
])
@pytest.mark.parametrize(("observation", "extra", "then"), [
    (Observation.EOF, {"modem_text": ("\r\nNO CARRIER\r\n",)}, "NO CARRIER"),
    (Observation.EOF, {"detail": "EIO"}, "EIO"),
    (Observation.CARRIER_DROP, {}, "dropped carrier"),
    (Observation.PORT_VANISHED, {}, "the port went away"),
    (Observation.PORT_VANISHED, {"usb": True}, "dropped off USB"),
])
def test_the_engines_first_cause_wins_over_what_the_line_did_next(cause, message, code, observation, extra,
                                                                   then) -> None:
    end = classify_end(Evidence(observation, first_cause=cause, first_message=message, **extra))
    assert end.code is code
    assert message.rstrip(".") in end.message and then in end.message and end.message.endswith(".")
    assert "APN" not in end.message and "power problem" not in end.message


def test_without_a_first_cause_the_line_still_speaks() -> None:
    end = classify_end(Evidence(Observation.EOF, modem_text=("NO CARRIER",)))
    assert end.code is ExitCode.NO_CARRIER


def test_engine_records_the_peers_terminate_as_first_cause_and_keeps_it(clock) -> None:
    c, s = client(), server()
    w = Wire(c, s)
    c.open(w.now)
    s.open(w.now)
    w.run(both_up(w, v6=False))
    assert c.pending_down is None
    feed(c, LCP, 5, 0x42, b"Connect time expired", w.now)
    out_packets(c)
    assert c.pending_down is not None and c.pending_down[0] is ev.DownCause.PEER_TERMINATED
    assert "Connect time expired" in c.pending_down[1]
    c.close("SIGTERM received", w.now)     # what follows does not replace it
    assert c.pending_down[0] is ev.DownCause.PEER_TERMINATED
    while (t := c.get_timer()) is not None and not c.link.finished:
        c.handle_timer(t)
    downs = [e for e in iter(c.next_event, None) if isinstance(e, ev.LinkDown)]
    assert downs and downs[-1].cause is ev.DownCause.PEER_TERMINATED and c.pending_down is None


def test_usepeerdns_with_a_peer_that_rejects_dns_says_so_once(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="pppstack")
    c, s = client(usepeerdns=True, noipv6=True), server(ms_dns=(), noipv6=True)
    w = Wire(c, s)
    c.open(w.now)
    s.open(w.now)
    w.run(both_up(w, v6=False))
    lines = [r.getMessage() for r in caplog.records if "usepeerdns" in r.getMessage()]
    assert lines == ["usepeerdns: the peer rejected the DNS server options (RFC 1877); no DNS servers from the peer"]
