"""pppd's debug text back into frames: the inverse of describe, checked against describe itself.

Every frame the describe tests cover is printed the way pppd prints it, rebuilt from that text and
printed again: the text must come back byte for byte, and where the text keeps every octet the
frame must come back too.  Then whole logs in the wrappers users paste (syslog, logread,
journalctl, pppd's own logfile) become frames through `pppstack decode`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tests.test_describe as td
from pppstack.capture.pppdlog import looks_like_pppd_log, read_log, rebuild
from pppstack.capture.timeline import from_pcapng
from pppstack.cli import main
from pppstack.describe import describe_frame

H = bytes.fromhex


def _cases() -> list[bytes]:
    cases = [(p, h) for p, h, _ in td.REAL_LINES] + [(0xC021, h) for h, _ in td.LCP_CASES]
    cases += [(p, h) for p, h, _ in td.NCP_CASES + td.PAP_CHAP_CASES] + [(0x80FD, h) for h, _ in td.CCP_CASES]
    cases += [(0xC227, h) for h, _ in td.EAP_CASES]
    return [H("ff03") + p.to_bytes(2, "big") + H(h) for p, h in cases]


# The printed text loses octets here, so no frame can be rebuilt from it: pppd's EAP printer says
# "<truncated>" or "..." instead of the octets.
LOSSY = {"[EAP Request id=0x2 MD5-Challenge <truncated> 01]", "[EAP Request id=0x3 type=0x63...]"}
# Texts two frames share (pppd prints ms-dns from 4 octets whatever the Length; an empty CHAP body
# and one too short print alike): the text round-trips, the octets need not.
AMBIGUOUS = {"[IPCP ConfReq id=0x1 <ms-dns1 3.6.10.0> 00 01 aa bb cc dd]", "[CHAP Challenge id=0x1]"}


@pytest.mark.parametrize("frame", _cases(), ids=lambda f: f.hex())
def test_every_described_frame_rebuilds(frame: bytes) -> None:
    text = describe_frame(frame)
    built = rebuild(text)
    if text in LOSSY:
        assert built is None
        return
    assert built is not None, text
    assert describe_frame(built.frame) == text
    assert built.exact
    if text not in AMBIGUOUS and "password=<hidden>" not in text:
        assert built.frame == frame, text


def test_pap_password_is_not_invented() -> None:
    frame = H("ff03c023 01070011 04") + b"user\x07s3cret!"
    built = rebuild(describe_frame(frame))
    assert built is not None and b"s3cret" not in built.frame
    assert "password" in built.note
    assert describe_frame(built.frame) == '[PAP AuthReq id=0x7 user="user" password=<hidden>]'


def test_data_packets_are_skipped_with_a_reason() -> None:
    assert rebuild("[IP data] 45 00 00 54 00 00 40 00 ...") is None


_MESSAGES = [
    ("1", 'pppd 2.4.9 started by root, uid 0'),
    ("2", 'sent [LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0xa1e27395> <pcomp> <accomp>]'),
    ("2", 'rcvd [LCP ConfReq id=0x0 <asyncmap 0x0> <auth chap MD5> <magic 0x2b18e0e> <pcomp> <accomp>]'),
    ("2", 'sent [LCP ConfAck id=0x0 <asyncmap 0x0> <auth chap MD5> <magic 0x2b18e0e> <pcomp> <accomp>]'),
    ("2", 'rcvd [LCP ConfAck id=0x1 <asyncmap 0x0> <magic 0xa1e27395> <pcomp> <accomp>]'),
    ("3", 'rcvd [CHAP Challenge id=0x1 <26c7ca167a9bd85a2e95c7424221133d>, name = "UMTS_CHAP_SRVR"]'),
    ("3", 'sent [CHAP Response id=0x1 <eed8ef3a56256e7f149dc27eff078935>, name = "wap"]'),
    ("3", 'rcvd [CHAP Success id=0x1 ""]'),
    ("3", 'sent [IPCP ConfReq id=0x1 <compress VJ 0f 01> <addr 0.0.0.0> <ms-dns1 0.0.0.0> <ms-dns2 0.0.0.0>]'),
    ("3", 'rcvd [IPCP ConfRej id=0x1 <compress VJ 0f 01>]'),
    ("4", 'rcvd [IP data] 45 00 00 54 00 00 40 00 ...'),
    ("9", 'Modem hangup'),
]
SESSION = "".join(f"Dec  4 10:00:0{s} router pppd[812]: {m}\n" for s, m in _MESSAGES)
WRAPPERS = {
    "syslog": SESSION,
    "logread": SESSION.replace("Dec  4 ", "Fri Dec  4 ").replace(" router pppd[812]:", " 2026 daemon.debug pppd[812]:"),
    "journal-iso": SESSION.replace("Dec  4 10:", "2026-12-04T10:").replace(" router ", "+0000 router "),
    "pppd-logfile": "".join(line.split("]: ", 1)[1] + "\n" for line in SESSION.splitlines()),
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_logs_in_every_wrapper(wrapper: str) -> None:
    text = WRAPPERS[wrapper]
    assert looks_like_pppd_log(text.encode())
    frames = list(read_log(text.splitlines()))
    assert [f.sent for f in frames] == [True, False, True, False, False, True, False, True, False, False]
    assert all(f.rebuilt is not None and f.rebuilt.exact for f in frames[:-1])
    assert frames[-1].rebuilt is None and "8 octets" in frames[-1].why
    assert [describe_frame(f.rebuilt.frame) for f in frames[:-1] if f.rebuilt] == [f.text for f in frames[:-1]]
    if wrapper != "pppd-logfile":
        assert frames[4].time is not None and frames[0].time is not None and frames[4].time - frames[0].time == 1


def test_decode_turns_a_pppd_log_into_pcapng(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "ppp.log"
    log.write_text(WRAPPERS["syslog"])
    pcap = tmp_path / "old.pcapng"
    assert main(["decode", "--json", "--pcap", str(pcap), str(log)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[-1] == {"kind": "summary", "source": "pppd-log", "exact": 9, "approximate": 0, "skipped": 1}
    assert lines[1]["direction"] == "rcvd" and lines[1]["options"][1]["value"]["algorithm"] == "MD5"
    records = from_pcapng(pcap.read_bytes())
    assert [(r.sent, describe_frame(r.data)) for r in records] == [
        (f.sent, f.text) for f in read_log(WRAPPERS["syslog"].splitlines()) if f.rebuilt]
    assert records[4].time - records[0].time == pytest.approx(1.0, abs=1e-4)  # the log's seconds
    assert records[1].time > records[0].time  # same second: kept in order


def test_decode_log_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "pap.log"
    log.write_text('sent [PAP AuthReq id=0x1 user="me" password=<hidden>]\nrcvd [PAP AuthAck id=0x1 "ok"]\n')
    assert main(["decode", str(log)]) == 0
    out = capsys.readouterr().out
    assert '~ sent [PAP AuthReq id=0x1 user="me" password=<hidden>]: the password is not in the log' in out
    assert 'rcvd [PAP AuthAck id=0x1 "ok"]' in out
    assert "summary: pppd log, 1 frames rebuilt exactly, 1 approximately, 0 skipped" in out
