"""TUN offloads (pppstack.offload, native/offload.c) checked against scapy, which we did not write.

Read side: scapy builds TCP super-packets behind the virtio-net header the kernel would write
(GSO_TCPV4/TCPV6, gso_size, NEEDS_CSUM with the pseudo-header sum in the field); every segment we
cut must be what the kernel's tcp_gso_segment makes: scapy's own recomputed IP and TCP checksums,
seq stepping by gso_size, IPv4 IDs counting up, FIN/PSH only on the last, CWR only on the first,
and the payload back in order.  Partial checksums without GSO (UDP, TCP) must come out complete.
Write side: coalesced super-packets, cut again by a scapy-built reference, equal the originals
byte for byte; anything that must not merge (SYN, FIN, gaps, other flows, bad checksums, other
options) goes out alone behind a zero header.  Hostile headers and packets are fuzzed.
"""

from __future__ import annotations

import struct

import pytest
import scapy.all as scapy
from hypothesis import given, settings
from hypothesis import strategies as st

from pppstack import offload


@pytest.fixture(autouse=True)
def _c_core() -> None:
    # CI builds the C core (gcc is in .ci/run's apt list): without it these tests fail, not skip
    if not offload.available:
        pytest.fail("the offload tests need pppstack's C core: install a C compiler, then pip install -e .")


IP, IPv6, TCP, UDP, Raw, raw = scapy.IP, scapy.IPv6, scapy.TCP, scapy.UDP, scapy.Raw, scapy.raw

NEEDS_CSUM, GSO_NONE, GSO_TCPV4, GSO_TCPV6 = 1, 0, 1, 4


def vnet(flags: int = 0, gso_type: int = 0, hdr_len: int = 0, gso_size: int = 0, csum_start: int = 0,
         csum_offset: int = 0) -> bytes:
    return struct.pack("=BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _sum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    return sum(struct.unpack(f"!{len(b) // 2}H", b))


def pseudo(pkt: bytes, l4len: int, proto: int) -> int:
    """Folded pseudo-header sum, not complemented: what a NEEDS_CSUM packet holds in its field."""
    if pkt[0] >> 4 == 4:
        return _fold(_sum(pkt[12:20]) + proto + l4len)
    return _fold(_sum(pkt[8:40]) + proto + (l4len >> 16) + (l4len & 0xFFFF))


def partial(pkt: bytes, l4: int, field: int) -> bytes:
    """pkt with its L4 checksum replaced by the pseudo-header sum, as the kernel hands it over."""
    proto = pkt[9] if pkt[0] >> 4 == 4 else pkt[6]
    b = bytearray(pkt)
    struct.pack_into("!H", b, l4 + field, pseudo(pkt, len(pkt) - l4, proto))
    return bytes(b)


def checksums_right(seg: bytes) -> None:
    """scapy recomputes both checksums; ours must be the same (IPv4 header and TCP/UDP)."""
    p = IP(seg) if seg[0] >> 4 == 4 else IPv6(seg)
    l4 = p[TCP] if TCP in p else p[UDP]
    ours_l4 = l4.chksum
    ours_ip = p.chksum if seg[0] >> 4 == 4 else None
    del l4.chksum
    if seg[0] >> 4 == 4:
        del p.chksum
    q = (IP if seg[0] >> 4 == 4 else IPv6)(raw(p))
    assert (q[TCP] if TCP in q else q[UDP]).chksum == ours_l4
    if ours_ip is not None:
        assert q.chksum == ours_ip


def big_tcp(v6: bool, payload: bytes, flags: str = "PA", seq: int = 1000, options: list | None = None):
    tcp = TCP(sport=40000, dport=5001, seq=seq, ack=777, flags=flags, window=501, options=options or [])
    ip = IPv6(src="fd00::1", dst="fd00::2", hlim=63) if v6 else IP(src="10.1.2.3", dst="10.9.8.7", id=65530,
                                                                  flags="DF", ttl=63)
    return raw(ip / tcp / Raw(payload))


PAYLOAD = bytes((i * 7 + 3) & 0xFF for i in range(60000))


@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize("gso_size,n,flags", [(1448, 60000, "FPA"), (1448, 1448 * 10, "PA"), (536, 5001, "CA"),
                                              (1001, 3003, "A"), (1448, 100, "FPA"), (1436, 0, "A")])
def test_tso_segments_are_what_the_kernel_would_send(v6, gso_size, n, flags) -> None:
    opts = [("NOP", None), ("NOP", None), ("Timestamp", (123456, 654321))]
    pkt = big_tcp(v6, PAYLOAD[:n], flags, seq=0xFFFFF000, options=opts)   # seq wraps
    l4 = 40 if v6 else 20
    hl = l4 + 32
    read = vnet(NEEDS_CSUM, GSO_TCPV6 if v6 else GSO_TCPV4, hl, gso_size, l4, 16) + partial(pkt, l4, 16)
    t = offload.TunOffload()
    segs = t.split([read])
    want = max(1, -(-n // gso_size))
    assert len(segs) == want
    got = b""
    for i, seg in enumerate(segs):
        checksums_right(seg)
        p = IPv6(seg) if v6 else IP(seg)
        tcp = p[TCP]
        body = bytes(tcp.payload)
        assert len(body) == (gso_size if i < want - 1 else n - gso_size * (want - 1))
        assert len(seg) == hl + len(body)
        if v6:
            assert p.plen == len(seg) - 40 and p.hlim == 63
        else:
            assert p.len == len(seg) and p.id == (65530 + i) & 0xFFFF and p.flags == "DF" and p.ttl == 63
        assert tcp.seq == (0xFFFFF000 + i * gso_size) & 0xFFFFFFFF
        assert tcp.ack == 777 and tcp.window == 501 and dict(tcp.options)["Timestamp"] == (123456, 654321)
        last, first = i == want - 1, i == 0
        want_flags = set(flags) - (set() if last else {"F", "P"}) - (set() if first else {"C"})
        assert set(str(tcp.flags)) == want_flags, (i, tcp.flags)
        got += body
    assert got == PAYLOAD[:n]
    c = t.counters
    assert (c.gso_packets, c.segments, c.bad_header) == (1, want, 0)


def test_ipv6_options_headers_are_kept_in_every_segment() -> None:
    opts = scapy.IPv6ExtHdrHopByHop() / scapy.IPv6ExtHdrDestOpt(options=[scapy.PadN(optdata=b"\0" * 12)])
    ip = IPv6(src="fd00::1", dst="fd00::2") / opts
    pkt = raw(ip / TCP(sport=1, dport=2, seq=7, flags="PA") / Raw(PAYLOAD[:4000]))
    l4 = len(raw(ip))
    read = vnet(NEEDS_CSUM, GSO_TCPV6, l4 + 20, 1000, l4, 16) + partial(pkt, l4, 16)
    t = offload.TunOffload()
    segs = t.split([read])
    assert len(segs) == 4 and t.counters.bad_header == 0
    for i, seg in enumerate(segs):
        checksums_right(seg)
        p = IPv6(seg)
        assert scapy.IPv6ExtHdrDestOpt in p and p.plen == len(seg) - 40 and p[TCP].seq == 7 + 1000 * i
    # a routing header changes the pseudo-header's destination: refused, not guessed
    rt = IPv6(src="fd00::1", dst="fd00::2") / scapy.IPv6ExtHdrRouting(addresses=["fd00::3"])
    pkt = raw(rt / TCP(sport=1, dport=2, flags="A") / Raw(PAYLOAD[:3000]))
    l4 = len(raw(rt))
    assert t.split([vnet(NEEDS_CSUM, GSO_TCPV6, l4 + 20, 1000, l4, 16) + pkt]) == []
    assert t.counters.bad_header == 1


@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize("kind", ["udp", "tcp"])
def test_partial_checksum_is_completed(v6, kind) -> None:
    ip = IPv6(src="fd00::5", dst="fd00::6") if v6 else IP(src="192.0.2.1", dst="198.51.100.2")
    l4hdr = UDP(sport=53, dport=9999) if kind == "udp" else TCP(sport=1, dport=2, flags="A")
    pkt = raw(ip / l4hdr / Raw(b"odd length payload!"))
    l4 = 40 if v6 else 20
    field = 6 if kind == "udp" else 16
    read = vnet(NEEDS_CSUM, GSO_NONE, 0, 0, l4, field) + partial(pkt, l4, field)
    t = offload.TunOffload()
    (seg,) = t.split([read])
    assert seg == pkt   # scapy's checksum, byte for byte
    checksums_right(seg)
    assert t.counters.csum_completed == 1


def test_plain_reads_pass_through_untouched_in_one_batch() -> None:
    pkts = [raw(IP(src="10.0.0.1", dst="10.0.0.2") / UDP() / Raw(bytes([i]) * i)) for i in range(1, 60)]
    pkts.append(raw(IPv6(src="fd00::1", dst="fd00::2") / UDP() / Raw(b"x")))
    t = offload.TunOffload()
    assert t.split([vnet() + p for p in pkts]) == pkts


def test_many_super_packets_span_several_c_calls() -> None:
    """More output than one call's buffer holds: every segment still comes out, in order."""
    pkt = big_tcp(False, PAYLOAD[:60000])
    reads = [vnet(0, GSO_TCPV4, 40, 100, 20, 16) + pkt] * 40   # 600 segments each, 24,000 in all
    t = offload.TunOffload()
    segs = t.split(reads)
    assert len(segs) == 24000 and t.counters.bad_header == 0
    assert b"".join(bytes(IP(s)[TCP].payload) for s in segs[:600]) == PAYLOAD[:60000]
    assert segs[600] == segs[0] and segs[-1] == segs[599]


@pytest.mark.parametrize("hdr", [
    vnet(0, GSO_TCPV4, 40, 0, 20, 16),          # gso_size 0
    vnet(0, 3, 40, 1448, 20, 16),               # UFO: not asked for
    vnet(0, GSO_TCPV6, 40, 1448, 20, 16),       # v6 GSO on a v4 packet
    vnet(NEEDS_CSUM, GSO_TCPV4, 40, 1448, 24, 16),   # csum_start is not the TCP header
    vnet(NEEDS_CSUM, GSO_NONE, 0, 0, 60000, 16),     # partial checksum beyond the packet
    vnet(NEEDS_CSUM, GSO_NONE, 0, 0, 20, 65535),
    vnet(0, GSO_TCPV4, 40, 1, 20, 16),          # 1-byte segments: more than OFFLOAD_MAX_SEGS
])
def test_hostile_headers_are_counted_and_dropped(hdr) -> None:
    pkt = big_tcp(False, PAYLOAD[:3000])
    t = offload.TunOffload()
    good = raw(IP(src="10.0.0.1", dst="10.0.0.2") / UDP() / Raw(b"ok"))
    assert t.split([hdr + pkt, vnet() + good, hdr[:5], b""]) == [good]
    assert t.counters.bad_header == 3


def test_truncated_super_packets_never_read_past_their_end() -> None:
    pkt = big_tcp(False, PAYLOAD[:3000], options=[("MSS", 1460)])
    t = offload.TunOffload()
    for cut in range(0, len(pkt) + 1):
        for seg in t.split([vnet(NEEDS_CSUM, GSO_TCPV4, 44, 1448, 20, 16) + pkt[:cut]]):
            assert len(seg) <= cut + 24 * 3   # each segment is headers + bytes that were there


@settings(max_examples=400, deadline=None)
@given(hdr=st.binary(min_size=10, max_size=10), body=st.binary(max_size=300), gso=st.booleans(),
       cut=st.integers(0, 4000), v6=st.booleans())
def test_fuzzed_reads_never_crash(hdr, body, gso, cut, v6) -> None:
    t = offload.TunOffload()
    pkt = big_tcp(v6, PAYLOAD[:3000])[:cut] if gso else body
    h = bytearray(hdr)
    if gso:
        h[1] = GSO_TCPV6 if v6 else GSO_TCPV4
    out = t.split([bytes(h) + pkt, vnet() + body])
    total = sum(map(len, out))
    assert total <= (len(pkt) + 60) * 2 * 1024 + len(body)
    c = t.counters
    assert c.bad_header + c.gso_packets + c.csum_completed + (len(out) > 0) >= 1


# -- write side ----------------------------------------------------------------------------------

def flow(v6: bool, n: int, size: int = 1448, seq: int = 5000, last_psh: bool = True, sport: int = 40000,
         ident: int = 100) -> list[bytes]:
    out = []
    for i in range(n):
        flags = "PA" if (last_psh and i == n - 1) else "A"
        tcp = TCP(sport=sport, dport=5001, seq=seq + i * size, ack=99, flags=flags, window=1000,
                  options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))])
        ip = IPv6(src="fd00::1", dst="fd00::2") if v6 else IP(src="10.1.1.1", dst="10.2.2.2", id=(ident + i) & 0xFFFF,
                                                               flags="DF")
        out.append(raw(ip / tcp / Raw(PAYLOAD[i * size:(i + 1) * size])))
    return out


def resegment(unit: bytes) -> list[bytes]:
    """A GSO unit cut by a scapy-built reference: headers from the super-packet, seq and IPv4 ID
    stepping, PSH only on the last, checksums computed by scapy."""
    flags, gso_type, hdr_len, gso_size, csum_start, csum_offset = struct.unpack("=BBHHHH", unit[:10])
    pkt = unit[10:]
    v6 = gso_type == GSO_TCPV6
    p = IPv6(pkt) if v6 else IP(pkt)
    tcp = p[TCP]
    body = bytes(tcp.payload)
    out = []
    for i in range(0, len(body), gso_size):
        last = i + gso_size >= len(body)
        t = tcp.copy()
        t.remove_payload()
        t.seq = (tcp.seq + i) & 0xFFFFFFFF
        t.flags = str(tcp.flags) if last else str(tcp.flags).replace("P", "")
        del t.chksum
        ip = p.copy()
        ip.remove_payload()
        if v6:
            del ip.plen
        else:
            ip.id = (p.id + i // gso_size) & 0xFFFF
            del ip.len, ip.chksum
        out.append(raw(ip / t / Raw(body[i:i + gso_size])))
    return out


@pytest.mark.parametrize("v6", [False, True])
def test_coalesced_flow_resegments_to_the_originals(v6) -> None:
    a = flow(v6, 30, ident=65520)            # IPv4 IDs wrap
    short = flow(v6, 3, size=700, seq=5000 + 30 * 1448, ident=(65520 + 30) & 0xFFFF)[:1]  # a short tail
    b = flow(v6, 5, sport=40001)
    ack = raw((IPv6(src="fd00::1", dst="fd00::2") if v6 else IP(src="10.1.1.1", dst="10.2.2.2"))
              / TCP(sport=40002, dport=5001, flags="A"))
    # a's last has PSH: it ends the run, so the short tail starts a unit of its own
    pkts = [*a, *short, ack, *b]
    t = offload.TunOffload()
    units, segs = t.coalesce(pkts)
    units = [bytes(u) for u in units]
    assert segs == [30, 1, 1, 5]
    assert sum(segs) == len(pkts)
    l4 = 40 if v6 else 20
    for u, members in zip(units, segs, strict=True):
        hdr = struct.unpack("=BBHHHH", u[:10])
        if members == 1:
            assert hdr == (0, 0, 0, 0, 0, 0)
            continue
        assert hdr == (NEEDS_CSUM, GSO_TCPV6 if v6 else GSO_TCPV4, l4 + 32, 1448, l4, 16)
        pkt = u[10:]
        # the field holds the pseudo-header sum of the whole super-packet, as the kernel expects
        assert struct.unpack_from("!H", pkt, l4 + 16)[0] == pseudo(pkt, len(pkt) - l4, 6)
        if not v6:
            ip = IP(pkt)
            ours = ip.chksum
            del ip.chksum   # scapy recomputes the header checksum over the new total length
            assert IP(raw(ip)).chksum == ours and ip.len == len(pkt)
        else:
            assert IPv6(pkt).plen == len(pkt) - 40
    assert resegment(units[0]) == a
    assert resegment(units[3]) == b
    assert units[1][10:] == short[0] and units[2][10:] == ack
    # and our own split takes the units back apart the same way
    back = t.split(units)
    assert back == pkts
    assert t.counters.coalesced_packets == 35 and t.counters.coalesced_units == 2


@pytest.mark.parametrize("breaker", ["syn", "fin", "rst", "urg", "gap", "port", "ttl", "options", "bigger",
                                     "badsum", "badipsum", "id", "ack", "window"])
def test_what_must_not_merge_is_left_alone(breaker) -> None:
    pkts = flow(False, 4, last_psh=False)
    p = IP(pkts[2])
    if breaker in ("syn", "fin", "rst", "urg"):
        p[TCP].flags = {"syn": "SA", "fin": "FA", "rst": "RA", "urg": "UA"}[breaker]
    elif breaker == "gap":
        p[TCP].seq += 1
    elif breaker == "port":
        p[TCP].sport += 1
    elif breaker == "ttl":
        p.ttl = 1
    elif breaker == "options":
        p[TCP].options = [("NOP", None), ("NOP", None), ("Timestamp", (1, 3))]
    elif breaker == "bigger":
        p[TCP].remove_payload()
        p = p / Raw(PAYLOAD[:1449])
    elif breaker == "id":
        p.id += 5
    elif breaker == "ack":
        p[TCP].ack += 1
    elif breaker == "window":
        p[TCP].window += 1
    del p.chksum, p[TCP].chksum, p.len
    b = bytearray(raw(p))
    if breaker == "badsum":
        b[-1] ^= 1
    elif breaker == "badipsum":
        b[10] ^= 1
    pkts[2] = bytes(b)
    t = offload.TunOffload()
    units, segs = t.coalesce(pkts)
    assert segs[0] == 2                  # the first two still merge
    assert bytes(units[1])[10:] == pkts[2] and bytes(units[1])[:10] == bytes(10)
    assert sum(segs) == 4
    assert b"".join(t.split([bytes(u) for u in units])) == b"".join(pkts)
    if breaker == "badsum":
        assert t.counters.bad_csum == 1


def test_coalesce_limits_a_unit_to_64_kib() -> None:
    pkts = flow(False, 100, last_psh=False)
    units, segs = offload.TunOffload().coalesce(pkts)
    assert all(len(u) - 10 <= 65535 for u in units)
    assert sum(segs) == 100 and len(units) >= 3


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 80), st.binary(max_size=4)), max_size=12))
def test_fuzzed_write_batches_keep_every_byte(edits) -> None:
    """Mangled flows: whatever merges or not, split(coalesce(x)) gives x back, byte for byte."""
    pkts = flow(False, 6, size=300, last_psh=False) + flow(True, 6, size=300, last_psh=False)
    pkts = [bytearray(p) for p in pkts]
    for which, at, data in edits:
        p = pkts[which * 2]
        p[at:at + len(data)] = data
    pkts = [bytes(p) for p in pkts]
    t = offload.TunOffload()
    units, segs = t.coalesce(pkts)
    assert sum(segs) == len(pkts)
    merged = [bytes(u) for u, k in zip(units, segs, strict=True) if k > 1]
    plain = [bytes(u)[10:] for u, k in zip(units, segs, strict=True) if k == 1]
    for u in merged:
        for seg in t.split([u]):
            checksums_right(seg)
            assert seg in pkts
    assert all(p in pkts for p in plain)


def test_inet_checksum_matches_rfc1071_example() -> None:
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement, not inverted)
    assert offload.inet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF ^ 0xDDF2
