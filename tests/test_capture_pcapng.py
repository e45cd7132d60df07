"""pcapng we write, read by tshark (an oracle we did not write) and by our own reader.

tshark must open the file with no warnings, put each PPP frame's direction where Wireshark
shows it (PPP_WITH_DIR's pseudo-header and the EPB flags), decode every control protocol, show
the modem's text as text in the same timeline, and Ethernet (NCM) on its own interface.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pppstack.capture.pcapng import Direction, Interface, LinkType, PcapngWriter
from pppstack.capture.timeline import Record, RecordKind, Tracer, from_pcapng, to_pcapng

H = bytes.fromhex
LCP_REQ = H("ff03c021 01010014 020600000000 0506a1e27395 0702 0802")
LCP_ACK = H("ff03c021 02010014 020600000000 0506a1e27395 0702 0802")
PAP_REQ = H("ff03c023 01070011 04") + b"user\x07s3cret!"
IPCP_REJ = H("ff038021 0401000a 0206002d0f01")
ETH = H("ffffffffffff 020000000001 0806") + bytes(28)


def _tshark(pcap: Path, *args: str) -> str:
    exe = shutil.which("tshark")
    assert exe, "tshark is needed for this oracle (.ci/run installs it)"
    proc = subprocess.run([exe, "-n", "-r", str(pcap), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(pcap.parent)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _records() -> list[Record]:
    t0 = 1_765_000_000.0
    return [
        Record(t0, RecordKind.TEXT, True, b'AT+CPIN="1234"\r'),
        Record(t0 + 0.1, RecordKind.TEXT, False, b"CONNECT 150000000\r\n"),
        Record(t0 + 0.2, RecordKind.FRAME, True, LCP_REQ),
        Record(t0 + 0.3, RecordKind.FRAME, False, LCP_ACK),
        Record(t0 + 0.4, RecordKind.FRAME, True, PAP_REQ),
        Record(t0 + 0.5, RecordKind.FRAME, False, IPCP_REJ),
        Record(t0 + 0.6, RecordKind.ETHERNET, False, ETH),
        Record(t0 + 0.7, RecordKind.TEXT, False, b"NO CARRIER\r\n"),
        Record(t0 + 0.8, RecordKind.END, None, note="no-carrier"),
    ]


@pytest.fixture()
def pcap(tmp_path: Path) -> Path:
    path = tmp_path / "t.pcapng"
    path.write_bytes(to_pcapng(_records()))
    return path


def test_tshark_reads_it_without_warnings(pcap: Path) -> None:
    expert = _tshark(pcap, "-q", "-z", "expert")
    assert "Warn" not in expert and "Error" not in expert and "Malformed" not in expert, expert
    rows = _tshark(pcap, "-T", "fields", "-E", "separator=|", "-e", "frame.interface_name", "-e",
                   "frame.p2p_dir", "-e", "frame.packet_flags_direction", "-e", "_ws.col.Protocol",
                   "-e", "text", "-e", "frame.time_epoch").splitlines()
    assert len(rows) == 9
    cols = [r.split("|") for r in rows]
    assert [c[0] for c in cols] == ["modem-text"] * 2 + ["ppp"] * 4 + ["ncm", "modem-text", "modem-text"]
    # Wireshark: p2p_dir 0 = sent, 1 = received; EPB flags 2 = outbound, 1 = inbound
    assert [c[1] for c in cols[2:6]] == ["0", "1", "0", "1"]
    assert [int(c[2], 0) for c in cols[2:6]] == [2, 1, 2, 1]
    assert 'AT+CPIN=****' in cols[0][4] and "1234" not in rows[0]
    assert "NO CARRIER" in cols[7][4]
    assert float(cols[3][5]) == pytest.approx(1_765_000_000.3, abs=1e-6)


def test_tshark_decodes_the_control_protocols(pcap: Path) -> None:
    out = _tshark(pcap, "-Y", "ppp", "-T", "fields", "-E", "separator=|", "-e", "lcp.opt.magic_number",
                  "-e", "pap.peer_id", "-e", "pap.password", "-e", "ipcp.opt.type").splitlines()
    assert out[0].split("|")[0] == "0xa1e27395" and out[1].split("|")[0] == "0xa1e27395"
    assert out[2].split("|")[1:3] == ["user", "*******"]  # the password never reaches the file
    assert out[3].split("|")[3] == "2"
    assert _tshark(pcap, "-Y", "arp", "-T", "fields", "-e", "eth.src").split() == ["02:00:00:00:00:01"]


def test_our_reader_gets_the_records_back(pcap: Path) -> None:
    back = from_pcapng(pcap.read_bytes())
    assert [(r.kind, r.sent) for r in back] == [(r.kind, r.sent) for r in _records()]
    assert back[4].data == PAP_REQ[:14] + b"*" * 7
    assert back[-1].note == "no-carrier"


def test_blocks_are_aligned_and_framed() -> None:
    w = PcapngWriter([Interface(LinkType.PPP_WITH_DIR, "ppp")])
    data = w.header() + w.packet(0, 1.0, b"\x01\xff\x03\xc0\x21\x09", direction=Direction.OUTBOUND, comment="odd")
    pos = 0
    kinds = []
    while pos < len(data):
        kind, total = struct.unpack_from("<II", data, pos)
        assert total % 4 == 0 and struct.unpack_from("<I", data, pos + total - 4)[0] == total
        kinds.append(kind)
        pos += total
    assert kinds == [0x0A0D0D0A, 1, 6] and pos == len(data)
    with pytest.raises(ValueError):
        w.packet(1, 0.0, b"")


def test_tracer_splits_the_serial_stream_both_ways() -> None:
    from tests.test_decode import hdlc

    tr = Tracer()
    recs = tr.feed(False, b"AT\r\r\nOK\r\nCONN", 1.0)
    recs += tr.feed(False, b"ECT\r\n" + hdlc(LCP_ACK)[:5], 1.1)
    recs += tr.feed(True, hdlc(PAP_REQ), 1.2)
    recs += tr.feed(False, hdlc(LCP_ACK)[5:], 1.3)
    kinds = [(r.kind, r.sent, r.data) for r in recs]
    assert kinds[:3] == [(RecordKind.TEXT, False, b"AT\r\r\n"), (RecordKind.TEXT, False, b"OK\r\n"),
                         (RecordKind.TEXT, False, b"CONNECT\r\n")]
    assert kinds[3][:2] == (RecordKind.FRAME, True) and b"s3cret" not in kinds[3][2]
    assert kinds[4] == (RecordKind.FRAME, False, LCP_ACK) and recs[4].time == 1.3
