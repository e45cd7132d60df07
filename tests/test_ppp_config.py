"""LinkConfig: pppd's code defaults (not its man page), value coercion, and clear errors."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from pppstack.config import LinkConfig
from pppstack.events import Ipv6Up, link_local


def test_defaults_are_pppds_code_values() -> None:
    c = LinkConfig()
    assert (c.lcp_restart, c.lcp_max_configure, c.lcp_max_terminate, c.lcp_max_failure) == (3.0, 10, 2, 5)
    assert c.ipcp_max_failure == 100 and c.mru == 1500 and c.asyncmap == 0
    assert c.pcomp and c.accomp and not c.noipv6 and c.lcp_echo_interval == 0
    assert (c.user, c.password) == ("", "")


def test_values_are_coerced() -> None:
    c = LinkConfig(local_ip="10.0.0.1", ms_dns=("8.8.8.8",), ipv6_local_ifid="::1:2:3:4", user=None)
    assert c.local_ip == IPv4Address("10.0.0.1") and c.ms_dns == (IPv4Address("8.8.8.8"),)
    assert c.ipv6_local_ifid == bytes.fromhex("0001000200030004") and c.user == ""
    assert "hunter2" not in repr(LinkConfig(password="hunter2", secrets={"a": "hunter2"}))


@pytest.mark.parametrize("kw, words", [
    (dict(mru=64), "mru 64"),
    (dict(asyncmap=1 << 33), "asyncmap"),
    (dict(lcp_restart=0), "lcp_restart"),
    (dict(lcp_max_configure=0), "lcp_max_configure"),
    (dict(noip=True, noipv6=True), "no network protocol"),
    (dict(require_chap=True, refuse_chap=True), "both required and refused"),
    (dict(ipv6_local_ifid=b"\x01\x02"), "8 octets"),
])
def test_bad_values_say_what_is_wrong(kw: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        LinkConfig(**kw)


def test_link_local_addresses_from_identifiers() -> None:
    up = Ipv6Up(bytes.fromhex("0001000200030004"), bytes.fromhex("510082abaf796c55"))
    assert str(up.local_ll) == "fe80::1:2:3:4" and str(up.peer_ll) == "fe80::5100:82ab:af79:6c55"
    assert link_local(bytes(8)) == up.local_ll.__class__("fe80::")
