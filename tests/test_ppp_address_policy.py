"""Address policy as pppd's: a configured address (or IPv6CP interface identifier) is kept against
the peer's Naks unless `*-accept-local`, and a peer asking for another one than ours to give is
Naked with it unless `*-accept-remote`; what is not configured stays negotiable.

Two of our engines on the fake clock (ppp_support.Wire), one as the network side (`serve`), one
as the client (`up`); plus the option words and their way into the engine's LinkConfig.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from ppp_support import Wire, both_up, client, server

from pppstack.options import parse_argv

A = "10.64.0.9"     # what the client wishes for itself
B = "10.11.12.13"   # what the server hands out (ppp_support.SERVER)
L = "10.64.64.64"   # the server's own address
IFID_A = bytes.fromhex("000000000000000a")
IFID_B = bytes.fromhex("000000000000000b")


def _run(c, s, v4: bool = True, v6: bool = False) -> Wire:
    w = Wire(c, s)
    c.open(w.now)
    s.open(w.now)
    w.run(both_up(w, v4=v4, v6=v6), max_time=120)
    return w


def test_server_naks_a_client_wish_without_ipcp_accept_remote() -> None:
    c, s = client(noipv6=True, local_ip=A, ipcp_accept_local=True), server(noipv6=True)
    _run(c, s)
    assert c.link.ipcp_options.local == IPv4Address(B)
    assert s.link.ipcp_options.remote == IPv4Address(B)


def test_server_grants_the_wish_with_ipcp_accept_remote() -> None:
    c, s = client(noipv6=True, local_ip=A), server(noipv6=True, ipcp_accept_remote=True)
    _run(c, s)
    assert c.link.ipcp_options.local == IPv4Address(A)
    assert s.link.ipcp_options.remote == IPv4Address(A)


def test_client_keeps_its_address_without_ipcp_accept_local() -> None:
    # the server Naks A with B; the client does not move, the server gives in after Max-Failure
    # (its Nak becomes a Reject) and the client's configured address stands, as with pppd
    c, s = client(noipv6=True, local_ip=A, ipcp_max_failure=5), server(noipv6=True, ipcp_max_failure=5)
    w = Wire(c, s)
    c.open(w.now)
    s.open(w.now)
    w.run(lambda: c.link.ip4_open, max_time=120)
    assert c.link.ipcp_options.local == IPv4Address(A)
    assert s.link.ipcp.counters.naks_sent >= 5


def test_server_address_is_not_moved_by_the_clients_nak() -> None:
    # the client insists the peer be 10.1.1.1; without ipcp-accept-local the server stays L
    c = client(noipv6=True, remote_ip="10.1.1.1", ipcp_max_failure=5)
    s = server(noipv6=True, ipcp_max_failure=5)
    w = Wire(c, s)
    c.open(w.now)
    s.open(w.now)
    w.run(lambda: s.link.ip4_open, max_time=120)
    assert s.link.ipcp_options.local == IPv4Address(L)


def test_server_address_moves_with_ipcp_accept_local() -> None:
    c = client(noipv6=True, remote_ip="10.1.1.1")
    s = server(noipv6=True, ipcp_accept_local=True)
    _run(c, s)
    assert s.link.ipcp_options.local == IPv4Address("10.1.1.1")
    assert c.link.ipcp_options.remote == IPv4Address("10.1.1.1")


def test_ipv6cp_remote_identifier_is_naked_without_accept_remote_and_granted_with_it() -> None:
    strict = _run(client(noip=True, ipv6_local_ifid=IFID_A, ipv6cp_accept_local=True),
                  server(noip=True, ipv6_remote_ifid=IFID_B), v4=False, v6=True)
    assert strict.a.link.ipv6cp_options.local == IFID_B and strict.b.link.ipv6cp_options.remote == IFID_B
    lenient = _run(client(noip=True, ipv6_local_ifid=IFID_A),
                   server(noip=True, ipv6_remote_ifid=IFID_B, ipv6cp_accept_remote=True), v4=False, v6=True)
    assert lenient.a.link.ipv6cp_options.local == IFID_A and lenient.b.link.ipv6cp_options.remote == IFID_A


def test_ipv6cp_configured_identifier_is_not_moved_without_accept_local() -> None:
    c = client(noip=True, ipv6_local_ifid=IFID_A)
    s = server(noip=True, ipv6_remote_ifid=IFID_B)
    w = Wire(c, s)
    c.open(w.now)
    s.open(w.now)
    w.run(lambda: c.link.ip6_open or c.link.finished, max_time=120)
    assert c.link.ipv6cp_options.ifid.want == IFID_A  # every request after the Naks still asked A
    assert c.link.ipv6cp_options.local == IFID_A
    assert s.link.ipv6cp.counters.naks_sent >= 1


def test_ipv6cp_use_ipaddr_takes_identifiers_from_the_ipv4_addresses() -> None:
    s = server(ipv6cp_use_ipaddr=True)
    w = _run(client(), s, v4=True, v6=True)
    assert s.link.ipv6cp_options.local == bytes(4) + IPv4Address(L).packed
    assert s.link.ipv6cp_options.remote == bytes(4) + IPv4Address(B).packed
    assert w.a.link.ipv6cp_options.local == bytes(4) + IPv4Address(B).packed


def test_option_words_reach_the_engine() -> None:
    opts = parse_argv(["ipcp-accept-local", "ipcp-accept-remote", "ipv6cp-accept-local", "ipv6cp-accept-remote",
                       "ipv6cp-use-ipaddr"])
    kw = opts.link_config_kwargs()
    for name in ("ipcp_accept_local", "ipcp_accept_remote", "ipv6cp_accept_local", "ipv6cp_accept_remote",
                 "ipv6cp_use_ipaddr"):
        assert kw[name] is True, name
    plain = parse_argv([]).link_config_kwargs()
    assert plain["ipcp_accept_local"] is False and plain["ipcp_accept_remote"] is False
