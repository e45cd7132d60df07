"""The ladder diagram: parsed back as XML (arrows, their order, directions, labels, phases,
retransmissions, the verdict) and rendered to PNG by cairosvg, so a broken SVG fails here."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import cairosvg
import pytest

from pppstack.capture.ladder import ROW, ladder_svg
from pppstack.capture.pppdlog import read_log
from pppstack.capture.timeline import Record, RecordKind, from_log, to_pcapng
from pppstack.cli import main
from pppstack.describe import describe_frame
from tests.test_capture_pppdlog import WRAPPERS

NS = {"s": "http://www.w3.org/2000/svg"}
H = bytes.fromhex
LCP_REQ = H("ff03c021 01010014 020600000000 0506a1e27395 0702 0802")
LCP_REQ2 = H("ff03c021 01020014 020600000000 0506a1e27395 0702 0802")  # the same request, next identifier
LCP_ACK = H("ff03c021 02020014 020600000000 0506a1e27395 0702 0802")
TERM = H("ff03c021 05030004")
IP = H("ff030021 45000014 00004000 40010000 0a404002 08080808")


def _packets(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(".//s:g[@class='packet']", NS)


def _label(g: ET.Element) -> str:
    title = g.find("s:title", NS)
    assert title is not None and title.text
    return title.text


def _png(svg: str) -> bytes:
    png = cairosvg.svg2png(bytestring=svg.encode())
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    return png


def test_a_recorded_negotiation(tmp_path: Path) -> None:
    frames = list(read_log(WRAPPERS["syslog"].splitlines()))
    records = from_log(frames) + [Record(20.0, RecordKind.END, None, note="HANGUP: Modem hangup")]
    svg = ladder_svg(records, title="ppp.log")
    packets = _packets(svg)
    expected = [f for f in frames if f.rebuilt]
    assert [_label(g) for g in packets] == [f.text for f in expected]
    assert [g.get("data-direction") for g in packets] == ["sent" if f.sent else "rcvd" for f in expected]
    for g, f in zip(packets, expected, strict=True):  # arrows point from the sender's lifeline
        line = g.find("s:line", NS)
        assert line is not None
        x1, x2 = float(line.get("x1", 0)), float(line.get("x2", 0))
        assert (x1 < x2) == f.sent
    root = ET.fromstring(svg)
    phases = [r.get("data-phase") for r in root.findall(".//s:rect[@class='phase']", NS)]
    assert phases == ["Establish", "Authenticate", "Network"]
    verdict = "".join(root.find(".//s:g[@class='verdict']", NS).itertext())  # type: ignore[union-attr]
    assert "HANGUP: Modem hangup" in verdict
    _png(svg)


def test_retransmissions_and_timeouts_are_marked() -> None:
    records = [Record(0.0, RecordKind.FRAME, True, LCP_REQ), Record(3.0, RecordKind.FRAME, True, LCP_REQ2),
               Record(3.1, RecordKind.FRAME, False, LCP_ACK), Record(3.2, RecordKind.FRAME, True, TERM)]
    svg = ladder_svg(records)
    packets = _packets(svg)
    assert [g.get("data-retransmission") for g in packets] == [None, "1", None, None]
    gaps = ET.fromstring(svg).findall(".//s:g[@class='gap']", NS)
    assert len(gaps) == 1 and gaps[0].get("data-timeout") == "1"
    assert "timeout: 3.0 s of silence" in "".join(gaps[0].itertext())
    phases = [r.get("data-phase") for r in ET.fromstring(svg).findall(".//s:rect[@class='phase']", NS)]
    assert phases == ["Establish", "Terminate"]
    _png(svg)


def test_two_hundred_packets_stay_readable() -> None:
    records = []
    for i in range(100):  # an echo storm: 200 control packets, each on its own row
        req = H("ff03c021 09") + bytes((i,)) + H("0008 a1e27395")
        rep = H("ff03c021 0a") + bytes((i,)) + H("0008 2b18e0e0")
        records += [Record(i * 0.5, RecordKind.FRAME, True, req), Record(i * 0.5 + 0.01, RecordKind.FRAME, False, rep)]
    svg = ladder_svg(records)
    packets = _packets(svg)
    assert len(packets) == 200
    ys = [float(g.find("s:line", NS).get("y1", 0)) for g in packets]  # type: ignore[union-attr]
    assert all(b - a >= ROW for a, b in zip(ys, ys[1:], strict=False))  # never overlapping
    assert [_label(g) for g in packets][:2] == [describe_frame(records[0].data), describe_frame(records[1].data)]
    _png(svg)


def test_trace_command_draws_from_pcapng_pppd_log_and_serial(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_decode import hdlc

    log = tmp_path / "ppp.log"
    log.write_text(WRAPPERS["logread"])
    pcap = tmp_path / "s.pcapng"
    pcap.write_bytes(to_pcapng([Record(1.0, RecordKind.FRAME, True, LCP_REQ),
                                Record(1.2, RecordKind.FRAME, False, IP)]))
    serial = tmp_path / "serial.bin"
    serial.write_bytes(b"CONNECT\r\n" + hdlc(LCP_REQ) + hdlc(LCP_ACK))
    for source, count in ((log, 9), (pcap, 1), (serial, 2)):
        out = tmp_path / f"{source.name}.svg"
        assert main(["trace", "--ladder", str(out), str(source)]) == 0
        svg = out.read_text()
        assert len(_packets(svg)) == count
        if source == pcap:  # the IP packet is folded into a data row, not an arrow
            assert ET.fromstring(svg).findall(".//s:g[@class='data']", NS)
        _png(svg)
    assert main(["trace", "--ladder", str(tmp_path / "x.svg"), str(tmp_path / "missing")]) != 0
    assert "cannot read" in capsys.readouterr().err


def test_a_pppd_log_without_an_end_gets_the_doctors_verdict(tmp_path: Path) -> None:
    """The doctor's log (pppd in the guest refusing our CHAP secret): the ladder's verdict is the
    doctor's, since a pppd log does not record an exit code of ours."""
    source = Path(__file__).parent / "doctor_logs" / "guest_chap_wrong_secret.pppd"
    out = tmp_path / "auth.svg"
    assert main(["trace", "--quiet", "--ladder", str(out), str(source)]) == 0
    svg = out.read_text()
    rebuilt = [f for f in read_log(source.read_text().splitlines()) if f.rebuilt]
    assert [_label(g) for g in _packets(svg)] == [f.text for f in rebuilt]
    verdict = ET.fromstring(svg).find(".//s:g[@class='verdict']/s:title", NS)
    assert verdict is not None and verdict.text and verdict.text.startswith("verdict: AUTH_FAILED (pppstack doctor)")
    assert "[CHAP Failure" in svg
    _png(svg)
