"""End to end through the CLI's own interface setup (io/netconf.py): `pppstack up` in one network
namespace, `pppstack serve` in another, a pty between (helpers from test_e2e_link).

- IPv6 link-local: with IPv6CP alone (`noip`), `ping -6 fe80::PEER%ppp7` must work, which needs the
  kernel's /128 route to the peer — installed only if the interface is up when the address with
  `peer` is added (pppd: sif6up, then sif6addr).
- `serve --local A --remote B` enforces its policy: a client asking for its own address is given B,
  unless serve was told `ipcp-accept-remote`.
"""

from __future__ import annotations

import re
import signal

import pytest
from test_e2e_link import CLIENT_IP, SERVER_IP, Proc, _raw_pty, _release_ptys, namespaces, pppstack, tmp_path  # noqa: F401

pytestmark = pytest.mark.netns


def _pair(a, b, tmp, up_words: tuple[str, ...], serve_words: tuple[str, ...]) -> tuple[Proc, Proc]:
    import os

    master, slave = _raw_pty()
    try:
        serve = Proc(b.cmd(*pppstack("serve", "--fd", str(master), "--local", SERVER_IP, "--remote", CLIENT_IP,
                                     "--run-dir", str(tmp / "b"), *serve_words)), pass_fds=(master,))
    finally:
        os.close(master)
    up = Proc(a.cmd(*pppstack("up", "--device", slave, "--no-dial", "--run-dir", str(tmp / "a"),
                              "--ifname", "ppp7", *up_words)))
    return up, serve


def test_ipv6_link_local_ping_through_up(namespaces, tmp_path) -> None:  # noqa: F811
    a, b = namespaces
    up, serve = _pair(a, b, tmp_path, ("noip",), ("noip",))
    try:
        up.wait_for("IPv6CP is up", 40)
        m = re.search(r"IPv6CP is up: link-local (\S+), peer (\S+)", up.log)
        assert m, up.log
        peer = m.group(2)
        routes = a.run("ip", "-6", "route", "show", "dev", "ppp7").stdout
        assert peer in routes, routes + up.log
        ping = a.run("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", f"{peer}%ppp7")
        assert ping.returncode == 0, ping.stdout + ping.stderr + up.log
    finally:
        up.stop(signal.SIGKILL)
        serve.stop(signal.SIGKILL)


@pytest.mark.parametrize("serve_words, expected", [((), CLIENT_IP), (("ipcp-accept-remote",), "10.64.0.9")])
def test_serve_hands_out_its_remote_address_unless_told_to_accept(namespaces, tmp_path, serve_words,  # noqa: F811
                                                                   expected) -> None:
    a, b = namespaces
    up, serve = _pair(a, b, tmp_path, ("noipv6", "10.64.0.9:", "ipcp-accept-local"), ("noipv6", *serve_words))
    try:
        up.wait_for("IPCP is up", 40)
        assert f"IPCP is up: local address {expected}, peer {SERVER_IP}" in up.log, up.log
        addr = a.run("ip", "-4", "addr", "show", "ppp7").stdout
        assert f"inet {expected} peer {SERVER_IP}/32" in addr, addr
        ping = a.run("ping", "-c", "2", "-i", "0.2", "-W", "2", SERVER_IP)
        assert ping.returncode == 0, ping.stdout + up.log
    finally:
        up.stop(signal.SIGKILL)
        serve.stop(signal.SIGKILL)
