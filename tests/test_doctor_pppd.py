"""`pppstack doctor` against real pppd (Debian's, in the QEMU guest) — a peer we did not write.

Live: a wrong CHAP secret must come out as AUTH_FAILED, and pppd killed under a running link as
PEER_DEAD (the port stays, the peer is silent) or PORT_VANISHED.  From a log: pppd's own debug
log of the same calls, read back by `doctor --log`, must give the same verdicts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from pppstack.doctor import Verdict, diagnose_log
from tests.guest.pppd import PppdGuest, shared_pppd_guest

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def pppd_guest() -> PppdGuest:
    return shared_pppd_guest()


def _doctor_cmd(pty: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "pppstack", "doctor", "--device", pty, "--json", *args]


def _parse(out: bytes) -> dict[str, Any]:
    doc = json.loads(out)
    assert isinstance(doc, list) and len(doc) == 1
    return doc[0]  # type: ignore[no-any-return]


def test_wrong_chap_secret_is_auth_failed_live_and_from_pppds_log(pppd_guest: PppdGuest) -> None:
    pppd_guest.start_modem(["require-chap", "name pppguest", "noccp"], chap_secrets="client pppguest s3cret-chap *\n")
    try:
        r = subprocess.run(_doctor_cmd(pppd_guest.pty_path, "--user", "client", "--password", "wrong"),
                           capture_output=True, timeout=180)
    finally:
        pppd_guest.stop_modem()
    assert r.returncode == 0, r.stderr.decode()
    d = _parse(r.stdout)
    assert (d["verdict"], d["step"]) == ("AUTH_FAILED", "auth"), d
    assert any(e.startswith("rcvd [CHAP Failure") for e in d["evidence"]), d
    assert "wrong" not in json.dumps(d)                      # the password never appears
    assert [p["step"] for p in d["passed"]][-2:] == ["dial", "lcp"]
    log = pppd_guest.pppd_log()
    assert "failed CHAP authentication" in log
    assert [x.verdict for x in diagnose_log(log.splitlines())] == [Verdict.AUTH_FAILED]


def test_a_good_call_is_ok_live_and_from_pppds_log(pppd_guest: PppdGuest) -> None:
    pppd_guest.start_modem(["noauth", "noccp"])
    try:
        r = subprocess.run(_doctor_cmd(pppd_guest.pty_path, "--watch", "3"), capture_output=True, timeout=180)
    finally:
        pppd_guest.stop_modem()
    d = _parse(r.stdout)
    assert d["verdict"] == "OK", d
    saw = {p["step"]: p["saw"] for p in d["passed"]}
    assert "LTE RSRP" in saw["signal"] and "10.64.64.1" in saw["network"] and "replies" in saw["traffic"]
    verdicts = [x.verdict for x in diagnose_log(pppd_guest.pppd_log().splitlines())]
    assert verdicts == [Verdict.OK], pppd_guest.pppd_log()


def test_pppd_killed_under_a_running_link(pppd_guest: PppdGuest) -> None:
    pppd_guest.start_modem(["noauth", "noccp"])
    proc = subprocess.Popen(_doctor_cmd(pppd_guest.pty_path, "--watch", "40"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        pppd_guest.wait_for_log("remote IP address", 120)
        pppd_guest.shell("kill -9 $(cat /tmp/ppp/modem.pid)")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pppd_guest.stop_modem()
    d = _parse(out)
    assert d["verdict"] in ("PEER_DEAD", "PORT_VANISHED"), (d, err)
    assert d["step"] == "traffic", d
