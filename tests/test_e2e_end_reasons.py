"""End to end (`pppstack up` ⇄ `pppstack serve` over a pty, each in its own network namespace):
SIGHUP without `persist` ends the link as pppd does, and `usepeerdns` against a peer with no
DNS to give says so in one line.  Helpers from test_e2e_link and test_e2e_ipv6_policy.
"""

from __future__ import annotations

import signal
import time

import pytest
from test_e2e_ipv6_policy import _pair
from test_e2e_link import _release_ptys, namespaces, tmp_path  # noqa: F401

pytestmark = pytest.mark.netns


def _wait_exit(proc, timeout: float) -> int | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.p.poll() is not None:
            return proc.p.returncode
        time.sleep(0.05)
    return None


def test_sighup_without_persist_ends_the_link(namespaces, tmp_path) -> None:  # noqa: F811
    a, b = namespaces
    up, serve = _pair(a, b, tmp_path, ("noipv6",), ("noipv6",))
    try:
        up.wait_for("IPCP is up", 40)
        up.p.send_signal(signal.SIGHUP)
        code = _wait_exit(up, 15)
        assert code == 0, up.log
        assert "SIGHUP" in up.log and "redialling" not in up.log, up.log
    finally:
        up.stop(signal.SIGKILL)
        serve.stop(signal.SIGKILL)


def test_sighup_with_persist_redials(namespaces, tmp_path) -> None:  # noqa: F811
    a, b = namespaces
    up, serve = _pair(a, b, tmp_path, ("noipv6", "persist", "holdoff", "0"), ("noipv6", "persist", "holdoff", "0"))
    try:
        up.wait_for("IPCP is up", 40)
        up.p.send_signal(signal.SIGHUP)
        up.wait_for("redialling (SIGHUP)", 15)
        assert up.p.poll() is None, up.log
    finally:
        up.stop(signal.SIGKILL)
        serve.stop(signal.SIGKILL)


def test_usepeerdns_against_a_peer_without_dns_says_so(namespaces, tmp_path) -> None:  # noqa: F811
    a, b = namespaces
    up, serve = _pair(a, b, tmp_path, ("noipv6", "usepeerdns"), ("noipv6",))
    try:
        up.wait_for("IPCP is up", 40)
        lines = [line for line in up.lines if "usepeerdns" in line]
        assert len(lines) == 1 and "rejected the DNS server options" in lines[0], up.log
    finally:
        up.stop(signal.SIGKILL)
        serve.stop(signal.SIGKILL)
