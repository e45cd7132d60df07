"""The ping demo and the simulator share one RFC 1071 checksum (no duplicate code)."""
from pppstack.io import pingdemo
from pppstack.sim import responder


def test_pingdemo_uses_the_responder_checksum() -> None:
    assert pingdemo.inet_checksum is responder.inet_checksum


def test_echo_request_checksums_verify() -> None:
    import ipaddress
    pkt = pingdemo.icmp_echo_request(ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Address("10.0.0.2"), 1, 1, b"x")
    assert responder.inet_checksum(pkt[:20]) == 0 and responder.inet_checksum(pkt[20:]) == 0
