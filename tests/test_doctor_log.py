"""`pppstack doctor --log`: verdicts from logs users paste, in every wrapper they come in.

The fixtures in tests/doctor_logs/ are the forum thread's own sessions (copied verbatim from
shared/context/), real pppd debug logs recorded in the QEMU guest (guest_*), and logs written by
hand from each program's documented wording.  The
wrapper tests re-dress every fixture as another log format (syslog with a host, journalctl
ISO, bare, CRLF, interleaved with unknown lines) and demand the same verdicts, so a rule that
leans on one file's framing fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pppstack.doctor import Verdict, diagnose_log
from pppstack.doctor.lines import normalise

LOGS = Path(__file__).resolve().parent / "doctor_logs"

# file -> [(verdict, a line the evidence must quote)], one per session, oldest first
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "thread_ttyusb0.logread": [("WRONG_PORT", "Modem hangup")],
    "thread_ttyusb2.logread": [("PORT_VANISHED", "USB disconnect")],
    "thread_ncm.logread": [("CONNECT_FAILED", "is now down")],
    "sim_pin.syslog": [("SIM_PIN", "SIM PIN required")],
    "registration_denied.journal": [("NO_REGISTRATION", "gsm-registration-denied")],
    "chap_rejected.journal": [("AUTH_FAILED", "CHAP authentication failed")],
    "lcp_timeout.pppd": [("LCP_TIMEOUT", "LCP: timeout sending Config-Requests")],
    "port_busy.wvdial": [("PORT_BUSY", "Device or resource busy")],
    "no_carrier.wvdial": [("CONNECT_FAILED", "No Carrier")],
    "auth_exit19.wvdial": [("AUTH_FAILED", "exit code = 19")],
    "hilink.dmesg": [("MODE_SWITCH_NEEDED", "cdc_ether")],
    "apn_rejected_ncm.logread": [("PDP_REJECTED", "^NDISSTAT: 0,33")],
    "apn_unknown.mm": [("PDP_REJECTED", "Missing or unknown APN")],
    "ok_3g.pppd": [("OK", "local  IP address")],
    "echo_dead.syslog": [("PEER_DEAD", "No response to 4 echo-requests")],
    "ipcp_timeout.syslog": [("NETWORK_FAILED", "IPCP: timeout")],
    "loopback.syslog": [("LOOPBACK", "looped back")],
    "no_kernel_ppp.journal": [("NO_KERNEL_PPP", "/dev/ppp")],
    "modem_reset.mm": [("MODEM_RESET", "^BOOT")],
    "persist_retry.syslog": [("CONNECT_FAILED", "NO CARRIER"), ("OK", "local  IP address")],
    "nm_ppp_ok.journal": [("OK", "local  IP address")],
    "mm_locked.journal": [("SIM_PIN", "SIM PIN required")],
    "cdrom_only.dmesg": [("MODE_SWITCH_NEEDED", "Mass Storage")],
    "pin_3g.logread": [("SIM_PIN", "Unable to verify PIN")],
    # real pppd 2.4.9 (the QEMU guest, tests/guest) as the network side: its own debug logfile
    "guest_chap_wrong_secret.pppd": [("AUTH_FAILED", "failed CHAP authentication")],
    "guest_peer_silent.pppd": [("PEER_DEAD", "No response to 3 echo-requests")],
}


def _lines(name: str) -> list[str]:
    return (LOGS / name).read_text(encoding="utf-8", errors="replace").splitlines()


def _verdicts(lines: list[str]) -> list[str]:
    return [d.verdict.value for d in diagnose_log(lines)]


def test_every_fixture_is_listed() -> None:
    assert sorted(p.name for p in LOGS.iterdir()) == sorted(EXPECTED)


def test_every_verdict_but_unknown_is_exercised() -> None:
    seen = {v for sessions in EXPECTED.values() for v, _ in sessions}
    missing = {v.value for v in Verdict} - seen - {"UNKNOWN"}
    assert not missing, missing


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_verdicts_and_evidence(name: str) -> None:
    got = diagnose_log(_lines(name))
    assert [d.verdict.value for d in got] == [v for v, _ in EXPECTED[name]]
    for d, (_, quote) in zip(got, EXPECTED[name], strict=True):
        assert any(quote in e for e in d.evidence), (d.evidence, quote)
        assert d.fix and d.summary


def test_thread_ttyusb0_is_the_wrong_port() -> None:
    (d,) = diagnose_log(_lines("thread_ttyusb0.logread"))
    assert d.verdict is Verdict.WRONG_PORT and "/dev/ttyUSB0" in d.summary
    assert "ttyUSB2" in d.fix  # the fix names the data port


def test_thread_ttyusb2_vanished_24_seconds_after_connect() -> None:
    (d,) = diagnose_log(_lines("thread_ttyusb2.logread"))
    assert d.verdict is Verdict.PORT_VANISHED
    assert "24 s after Connect" in d.summary
    assert "power" in d.fix.lower() or "hub" in d.fix.lower()


def test_thread_ncm_says_the_data_call_never_came_up() -> None:
    (d,) = diagnose_log(_lines("thread_ncm.logread"))
    assert d.verdict in (Verdict.CONNECT_FAILED, Verdict.PDP_REJECTED)
    assert "data call never came up" in d.summary
    assert any("link is not ready" in e for e in d.evidence)


def test_the_three_thread_sessions_in_one_paste_come_out_in_order() -> None:
    lines = sum((_lines(n) for n in ("thread_ttyusb0.logread", "thread_ttyusb2.logread", "thread_ncm.logread")), [])
    # the mode-switch re-enumeration after session 1 (a USB disconnect) is a preamble, not a failure
    assert _verdicts(lines) == ["WRONG_PORT", "PORT_VANISHED", "CONNECT_FAILED"]


# -- the same logs in other wrappers -----------------------------------------------------------
def _prog(name: str, line: str) -> str:
    """The program a bare line came from, as syslog would name it."""
    n = normalise(line)
    return n.program or {"wvdial": "wvdial", "dmesg": "kernel"}.get(name.rsplit(".", 1)[-1], "pppd")


def _as_syslog(name: str, line: str) -> str:
    n = normalise(line)
    prog = _prog(name, line)
    return f"May 11 15:04:0{len(n.message) % 10} myhost {prog}[42]: {n.message}" if n.time is None else \
        f"May 11 {n.stamp if ':' in n.stamp else '15:04:00'} myhost {prog}[42]: {n.message}"


def _as_iso(name: str, line: str) -> str:
    n = normalise(line)
    stamp = n.stamp if ":" in n.stamp and not n.stamp.startswith("[") else "15:04:00"
    return f"2022-05-11T{stamp}+0200 router {_prog(name, line)}[7]: {n.message}"


def _as_busybox(name: str, line: str) -> str:
    """busybox syslogd on a router: host and facility.level between the time and the program."""
    n = normalise(line)
    stamp = n.stamp if ":" in n.stamp and not n.stamp.startswith("[") else "15:04:00"
    return f"May 11 {stamp} OpenWrt daemon.notice {_prog(name, line)}[3]: {n.message}"


def _as_bare(line: str) -> str:
    n = normalise(line)
    return n.message if n.program in ("", "pppd", "chat", "kernel") else f"{n.program}[1]: {n.message}"


def _with_noise(lines: list[str]) -> list[str]:
    junk = ["", "I don't know where to start.", "\x00\xff garbage ~~~", "{\"messages\": [", "^RSSI: 16",
            "Jan  1 00:00:00 host dnsmasq[99]: query[A] example.com from 192.168.1.2",
            "Fri May  6 18:30:00 2022 daemon.info dnsmasq[1]: read /etc/hosts - 4 addresses"]
    out: list[str] = []
    for i, line in enumerate(lines):
        out.append(line)
        out.append(junk[i % len(junk)])
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("dress", ["syslog", "iso", "busybox", "crlf", "noise", "bare"])
def test_verdicts_do_not_depend_on_the_wrapper(name: str, dress: str) -> None:
    lines = _lines(name)
    want = _verdicts(lines)
    if dress == "bare":
        if any(normalise(x).program == "netifd" for x in lines) and len(want) > 1:
            pytest.skip("bare lines lose netifd's session starts")
        lines = [_as_bare(x) for x in lines]
    elif dress == "syslog":
        lines = [_as_syslog(name, x) for x in lines]
    elif dress == "iso":
        lines = [_as_iso(name, x) for x in lines]
    elif dress == "busybox":
        lines = [_as_busybox(name, x) for x in lines]
    elif dress == "crlf":
        lines = "\r\n".join(lines).split("\n")
    else:
        lines = _with_noise(lines)
    assert _verdicts(lines) == want


def test_noise_alone_is_not_a_failure() -> None:
    lines = ["pppd[1]: pppd 2.4.9 started by root, uid 0", "pppd[1]: Connect: ppp0 <--> /dev/ttyUSB2",
             "chat[2]: ^HCSQ:\"WCDMA\",45,41,57^M", "chat[2]: ^BOOT:37206354,0,0,0,75^M",
             "pppd[1]: Could not determine remote IP address: defaulting to 10.64.64.64",
             "pppd[1]: local  IP address 100.64.1.2", "pppd[1]: remote IP address 10.64.64.64"]
    # the ^BOOT came before CONNECT: a modem that booted before the dial has not reset mid-session
    lines.insert(0, lines.pop(3))
    (d,) = diagnose_log(lines)
    assert d.verdict is Verdict.OK
    assert any("10.64.64.64" in n for n in d.notes)


def test_unknown_lines_only_give_no_session() -> None:
    assert diagnose_log(["hello", "", "Jan  1 00:00:00 host sshd[1]: Accepted publickey"]) == []


def test_a_dial_that_stops_after_connect_is_unknown_with_the_last_lines() -> None:
    (d,) = diagnose_log(["pppd[1]: pppd 2.4.9 started by root, uid 0", "chat[2]: CONNECT",
                         "pppd[1]: Connect: ppp0 <--> /dev/ttyUSB2"])
    assert d.verdict is Verdict.UNKNOWN and d.evidence[-1].endswith("/dev/ttyUSB2")


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pppstack", "doctor", *args], input=stdin,
                          capture_output=True, timeout=60)


def test_cli_json_from_stdin_is_one_list_oldest_first() -> None:
    data = b"\n".join((LOGS / n).read_bytes() for n in ("thread_ttyusb0.logread", "thread_ttyusb2.logread"))
    r = _cli("--log", "-", "--json", stdin=data)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [o["verdict"] for o in doc] == ["WRONG_PORT", "PORT_VANISHED"]
    for o in doc:
        assert {"verdict", "step", "evidence", "fix"} <= set(o) and isinstance(o["evidence"], list)


def test_cli_text_and_a_missing_file() -> None:
    r = _cli("--log", str(LOGS / "thread_ttyusb2.logread"))
    assert r.returncode == 0 and b"PORT_VANISHED" in r.stdout and b"fix:" in r.stdout
    r = _cli("--log", str(LOGS / "no-such-file"))
    assert r.returncode == 2 and b"cannot read" in r.stderr and b"Traceback" not in r.stderr


def test_verdict_names_agree_with_exit_codes_where_meanings_match() -> None:
    from pppstack.exitcodes import ExitCode

    shared = {"SIM_PIN", "CONNECT_FAILED", "LCP_TIMEOUT", "AUTH_FAILED", "LOOPBACK", "PEER_DEAD", "PORT_VANISHED",
              "NETWORK_FAILED", "OK"}
    assert shared <= {c.name for c in ExitCode}
    assert shared <= {v.value for v in Verdict}
    assert all(v.name == v.value for v in Verdict)


def test_chat_timing_out_before_connect_says_so() -> None:
    (d,) = diagnose_log(["pppd[5]: pppd 2.4.9 started by root, uid 0", "chat[6]: send (ATD*99#^M)",
                         "chat[6]: expect (CONNECT)", "chat[6]: alarm", "chat[6]: Failed",
                         "pppd[5]: Connect script failed", "pppd[5]: Exit."])
    assert d.verdict is Verdict.CONNECT_FAILED and "timed out" in d.summary


def test_ipcp_naks_while_the_network_gets_ready_are_a_note_not_a_failure() -> None:
    lines = ["pppd[1]: pppd 2.4.9 started by root, uid 0", "pppd[1]: Connect: ppp0 <--> /dev/ttyUSB2"]
    lines += [f"pppd[1]: rcvd [IPCP ConfNak id=0x{i:x} <addr 0.0.0.0>]" for i in range(1, 6)]
    lines += ["pppd[1]: local  IP address 100.64.1.2", "pppd[1]: remote IP address 10.64.64.64"]
    (d,) = diagnose_log(lines)
    assert d.verdict is Verdict.OK and any("Naked IPCP 5 times" in n for n in d.notes)
