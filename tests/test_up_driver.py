"""The PPP driver's edge: why a link ended, told apart on real ptys, and the classifier's table.

The driver is exercised with a stand-in for the engine (same interface as PPPoS) so that these
tests pin the driver's own behaviour: EOF/EIO on a closed master, text where frames should be, a
vanished port node, carrier loss (not possible on a pty: the classifier is tested directly), peer
Terminate, and a clean stop with LCP close.
"""

from __future__ import annotations

import enum
import os
import threading
import time

import pytest

from pppstack.events import DownCause, LinkDown, ModemText
from pppstack.exitcodes import ExitCode
from pppstack.io.pppdriver import Evidence, Observation, PppDriver, classify_end, is_no_carrier_text
from pppstack.io.serialport import open_port


class Phase(enum.Enum):
    ESTABLISH = 1
    TERMINATE = 2


class FakeLink:
    """Engine stand-in: b"TERM" from the peer = Terminate-Request, b"PKT:..." = an IP packet,
    anything else = modem text; close() answers with LinkDown(LOCAL_CLOSE) at once."""

    def __init__(self) -> None:
        self.phase = Phase.ESTABLISH
        self.events: list[object] = []
        self.out = bytearray()
        self.packets: list[bytes] = []
        self.received = bytearray()
        self.closed_with: str | None = None
        self.opened = False
        self.sent_ip: list[bytes] = []

    def open(self, now: float) -> None:
        self.opened = True
        self.out += b"HELLO"

    def receive_data(self, data: bytes, now: float) -> None:
        self.received += data
        for chunk in bytes(data).split(b"|"):
            if not chunk:
                continue
            if chunk == b"TERM":
                self.phase = Phase.TERMINATE
                self.out += b"TERMACK"
            elif chunk.startswith(b"PKT:"):
                self.packets.append(chunk[4:])
            else:
                self.events.append(ModemText(chunk.decode("latin-1")))

    def data_to_send(self) -> bytes:
        out, self.out = bytes(self.out), bytearray()
        return out

    def send_ip(self, packet: bytes, now: float) -> None:
        self.sent_ip.append(packet)
        self.out += b"|PKT:" + packet

    def take_packets(self) -> list[bytes]:
        p, self.packets = self.packets, []
        return p

    def next_event(self) -> object | None:
        return self.events.pop(0) if self.events else None

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        pass

    def close(self, reason: str, now: float) -> None:
        self.closed_with = reason
        self.out += b"|TERMREQ"
        self.events.append(LinkDown(DownCause.LOCAL_CLOSE, f"closed: {reason}"))


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)  # the driver opens it by path, like a modem port
    state = {"master": master}
    yield master, path, state
    if state["master"] is not None:
        try:
            os.close(state["master"])
        except OSError:
            pass


def _run_driver(path: str, link: FakeLink, action, **kw) -> tuple:
    port = open_port(path)
    driver = PppDriver(link, port, **kw)
    result: dict = {}
    t = threading.Thread(target=lambda: result.setdefault("end", driver.run()), daemon=True)
    t.start()
    try:
        action(driver)
        t.join(5)
        assert not t.is_alive(), "the driver did not end"
    finally:
        port.close()
        driver.close()
    return result["end"], driver


def _read_all(fd: int, timeout: float = 1.0) -> bytes:
    import select

    out = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
        elif out:
            break
    return out


def test_closed_master_is_a_hangup(pty_pair) -> None:
    master, path, state = pty_pair
    link = FakeLink()

    def act(driver):
        assert _read_all(master).startswith(b"HELLO")
        os.close(master)
        state["master"] = None

    end, driver = _run_driver(path, link, act)
    assert end.code is ExitCode.HANGUP and end.cause == "hangup"
    assert "Modem hangup" in end.message and "end of file" in end.message
    assert link.opened


def test_no_carrier_text_ends_the_link_without_terminate(pty_pair) -> None:
    master, path, state = pty_pair
    link = FakeLink()

    def act(driver):
        _read_all(master)
        os.write(master, b"\r\nNO CARRIER\r\n")

    end, driver = _run_driver(path, link, act)
    assert end.code is ExitCode.NO_CARRIER and "NO CARRIER" in end.message
    assert link.closed_with is None  # no Terminate-Request thrown at a modem in command mode
    assert driver.counters.modem_text == ["\r\nNO CARRIER\r\n"]


def test_other_text_is_logged_then_hangup_mentions_it(pty_pair, caplog) -> None:
    master, path, state = pty_pair
    link = FakeLink()

    def act(driver):
        _read_all(master)
        os.write(master, b"\r\n^RSSI:12\r\n")
        deadline = time.monotonic() + 10   # hang up only once the driver has read the text
        while not any("^RSSI:12" in t for t in driver.counters.modem_text) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.close(master)
        state["master"] = None

    import logging

    logger = logging.getLogger("pppstack.driver")
    logger.addHandler(caplog.handler)  # directly: the CLI may have stopped propagation in this process
    try:
        with caplog.at_level("WARNING", logger="pppstack.driver"):
            end, _ = _run_driver(path, link, act)
    finally:
        logger.removeHandler(caplog.handler)
    assert end.code is ExitCode.HANGUP and "^RSSI:12" in end.message
    assert any("where PPP frames should be" in r.getMessage() for r in caplog.records)


def test_vanished_node_is_port_vanished(pty_pair, tmp_path) -> None:
    master, path, state = pty_pair
    link_path = tmp_path / "ttyUSB2"
    os.symlink(path, link_path)
    link = FakeLink()

    def act(driver):
        _read_all(master)
        os.unlink(link_path)       # what udev does when the stick drops off USB
        os.close(master)
        state["master"] = None

    end, _ = _run_driver(str(link_path), link, act)
    # a pty behind the name: it went away, but nothing was on USB to drop off it
    assert end.code is ExitCode.PORT_VANISHED and "port went away" in end.message and "USB" not in end.message


def test_peer_terminate_then_close_is_peer_terminated(pty_pair) -> None:
    master, path, state = pty_pair
    link = FakeLink()

    def act(driver):
        _read_all(master)
        os.write(master, b"|TERM|")
        assert b"TERMACK" in _read_all(master)
        os.close(master)
        state["master"] = None

    end, _ = _run_driver(path, link, act)
    assert end.code is ExitCode.PEER_TERMINATED


def test_request_stop_closes_lcp_and_exits_ok(pty_pair) -> None:
    master, path, state = pty_pair
    link = FakeLink()

    def act(driver):
        _read_all(master)
        driver.request_stop("SIGTERM received")

    end, _ = _run_driver(path, link, act)
    assert end.code is ExitCode.OK and "SIGTERM" in end.message
    assert link.closed_with == "SIGTERM received"
    assert b"TERMREQ" in _read_all(master)


def test_packets_reach_the_sink_and_injected_packets_are_coalesced(pty_pair) -> None:
    master, path, state = pty_pair
    link = FakeLink()
    got: list[bytes] = []

    def act(driver):
        _read_all(master)
        os.write(master, b"|PKT:one|PKT:two|")
        deadline = time.monotonic() + 2
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        driver.call_later(0.0, lambda now: [driver.send_ip(b"x%d" % i) for i in range(50)])
        wire = _read_all(master)
        assert wire.count(b"|PKT:") == 50
        driver.request_stop()

    end, driver = _run_driver(path, link, act, packet_sink=got.extend)
    assert got == [b"one", b"two"]
    assert driver.counters.packets_in == 2 and driver.counters.packets_out == 50
    assert end.code is ExitCode.OK


# -- the classifier, case by case -------------------------------------------------------------

@pytest.mark.parametrize(("evidence", "code", "words"), [
    (Evidence(Observation.PORT_VANISHED, seconds_since_connect=3, usb=True), ExitCode.PORT_VANISHED,
     "power problem"),
    (Evidence(Observation.PORT_VANISHED, seconds_since_connect=300, usb=True), ExitCode.PORT_VANISHED,
     "dropped off USB"),
    (Evidence(Observation.PORT_VANISHED, seconds_since_connect=3), ExitCode.PORT_VANISHED, "port went away"),
    (Evidence(Observation.CARRIER_DROP), ExitCode.CARRIER_LOST, "DCD"),
    (Evidence(Observation.EOF, detail="EIO"), ExitCode.HANGUP, "Modem hangup"),
    (Evidence(Observation.EOF, modem_text=("\r\nNO CARRIER\r\n",)), ExitCode.NO_CARRIER, "command mode"),
    (Evidence(Observation.EOF, terminating=True), ExitCode.PEER_TERMINATED, "Terminate"),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.PEER_DEAD), ExitCode.PEER_DEAD, "echo"),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.PEER_DEAD, modem_text=("OK",)), ExitCode.NO_CARRIER, "'OK'"),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.LCP_TIMEOUT), ExitCode.LCP_TIMEOUT, "never answered"),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.LCP_TIMEOUT, modem_text=("ERROR",)), ExitCode.LCP_TIMEOUT,
     "not in data mode"),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.PEER_TERMINATED, down_message="Peer said bye"),
     ExitCode.PEER_TERMINATED, "Peer said bye."),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.AUTH_FAILED), ExitCode.AUTH_FAILED, "authentication"),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.PEER_AUTH_FAILED), ExitCode.PEER_AUTH_FAILED, "authenticate"),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.LOOPBACK), ExitCode.LOOPBACK, "looped back"),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.NETWORK_FAILED), ExitCode.NETWORK_FAILED, "IPCP"),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.NEGOTIATION_FAILED), ExitCode.NEGOTIATION_FAILED, "LCP"),
    (Evidence(Observation.LINK_DOWN, down_cause=DownCause.LOCAL_CLOSE), ExitCode.OK, "request"),
    (Evidence(Observation.LINK_DOWN), ExitCode.NEGOTIATION_FAILED, "LCP"),  # no cause reported
    (Evidence(Observation.STOPPED), ExitCode.OK, "request"),
])
def test_classify(evidence: Evidence, code: ExitCode, words: str) -> None:
    end = classify_end(evidence)
    assert end.code is code
    assert words in end.message
    assert end.message.endswith(".")


def test_each_hangup_cause_has_its_own_code() -> None:
    obs = [Evidence(Observation.PORT_VANISHED), Evidence(Observation.CARRIER_DROP), Evidence(Observation.EOF),
           Evidence(Observation.EOF, modem_text=("NO CARRIER",)),
           Evidence(Observation.LINK_DOWN, down_cause=DownCause.PEER_DEAD),
           Evidence(Observation.LINK_DOWN, down_cause=DownCause.PEER_TERMINATED)]
    codes = [classify_end(e).code for e in obs]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize(("text", "yes"), [("\r\nNO CARRIER\r\n", True), ("no carrier", True), ("BUSY", True),
                                           ("NO DIALTONE", True), ("OK", False), ("^RSSI:5", False)])
def test_no_carrier_words(text: str, yes: bool) -> None:
    assert is_no_carrier_text(text) is yes


def test_events_are_matched_by_class_not_by_name(pty_pair) -> None:
    """A look-alike class named ModemText (what renaming the event in an editor leaves behind,
    or a foreign module's class) is not the engine's event: the driver ignores it, and only the
    real ModemText ends the link.  The old name-string dispatch ended the link on the look-alike."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class ModemText:  # noqa: N801 - deliberately the engine event's name
        text: str

    master, path, state = pty_pair
    link = FakeLink()
    link.events.append(ModemText("NO CARRIER"))

    def act(driver):
        _read_all(master)
        deadline = time.monotonic() + 5
        while link.events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not link.events and driver.counters.modem_text == []   # taken, and not matched
        os.write(master, b"\r\nNO CARRIER\r\n")                        # the real event

    end, driver = _run_driver(path, link, act)
    assert end.code is ExitCode.NO_CARRIER
    assert driver.counters.modem_text == ["\r\nNO CARRIER\r\n"]
