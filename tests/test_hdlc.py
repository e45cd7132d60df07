"""RFC 1662 framing: known answers, decoder behaviour and scapy as an outside oracle.

Every test runs on both backends (the `hx` fixture), whatever PPPSTACK_HDLC selects.
"""

from __future__ import annotations

import os

import pytest

from tests.hdlc_spec import BACKENDS, as_tuples, counters_dict, encode_naive, fcs16_bitwise, fcs32_bitwise, load_backend


@pytest.fixture(params=BACKENDS)
def hx(request):  # noqa: ANN001, ANN201
    return load_backend(request.param)


# pppd's first LCP request from anchors.md §1.9:
#   sent [LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0xa1e27395> <pcomp> <accomp>]
# built by hand from RFC 1661 §5/§6: FF 03 | C0 21 | code 1, id 1, length 20 | options
LCP_CONFREQ = bytes.fromhex("ff03 c021 01 01 0014 02 06 00000000 05 06 a1e27395 07 02 08 02")
# Escaped by hand (RFC 1662 §7.1: default ACCM escapes every byte < 0x20, 0x7D -> 7D 5D ...);
# the two FCS bytes are those of the bitwise register (checked below, not assumed).
LCP_CONFREQ_WIRE = bytes.fromhex(
    "7e ff 7d23 c0 21 7d21 7d21 7d20 7d34 7d22 7d26 7d20 7d20 7d20 7d20 7d25 7d26 a1 e2 73 95"
    " 7d27 7d22 7d28 7d22 9c 29 7e")
# sent [IPCP ConfReq id=0x1 <addr 0.0.0.0> <ms-dns1 0.0.0.0> <ms-dns2 0.0.0.0>] (RFC 1332, RFC 1877)
IPCP_CONFREQ = bytes.fromhex("ff03 8021 01 01 0016 03 06 00000000 81 06 00000000 83 06 00000000")


# --- FCS ---------------------------------------------------------------------------------------
def test_check_values(hx) -> None:  # noqa: ANN001
    assert hx.fcs16(b"123456789") == 0x906E
    assert hx.fcs32(b"123456789") == 0xCBF43926
    assert hx.fcs16(b"") == 0x0000 and hx.fcs32(b"") == 0


@pytest.mark.parametrize("n", [0, 1, 7, 8, 15, 16, 63, 64, 65, 127, 128, 200, 1500, 4099])
def test_fcs_matches_bitwise(hx, n: int, rng) -> None:  # noqa: ANN001
    data = rng(n)
    assert hx.fcs16(data) == fcs16_bitwise(data) ^ 0xFFFF
    assert hx.fcs32(data) == fcs32_bitwise(data) ^ 0xFFFFFFFF
    assert hx.fcs16(bytearray(data)) == hx.fcs16(memoryview(data)) == hx.fcs16(data)


def test_good_frame_residue(hx) -> None:  # noqa: ANN001
    body = LCP_CONFREQ + hx.fcs16(LCP_CONFREQ).to_bytes(2, "little")
    assert fcs16_bitwise(body) == 0xF0B8  # RFC 1662 §C.2 "good final FCS value"


# --- encoder -----------------------------------------------------------------------------------
def test_lcp_confreq_on_the_wire(hx) -> None:  # noqa: ANN001
    assert fcs16_bitwise(LCP_CONFREQ) ^ 0xFFFF == 0x299C
    assert hx.encode(LCP_CONFREQ) == LCP_CONFREQ_WIRE
    assert hx.encode(LCP_CONFREQ, leading_flag=False) == LCP_CONFREQ_WIRE[1:]


def test_accm_zero_escapes_only_flag_and_escape(hx) -> None:  # noqa: ANN001
    frame = bytes([0xFF, 0x03, 0x00, 0x21, 0x7E, 0x7D, 0x11, 0x13, 0x1F, 0x20])
    wire = hx.encode(frame, accm=0)
    body = wire[1:-1]
    assert body.startswith(bytes([0xFF, 0x03, 0x00, 0x21, 0x7D, 0x5E, 0x7D, 0x5D, 0x11, 0x13, 0x1F, 0x20]))
    assert wire == encode_naive(frame, accm=0)


def test_xon_xoff_accm(hx) -> None:  # noqa: ANN001
    # asyncmap 0x000A0000: only XON (0x11) and XOFF (0x13) escaped, as pppd does for sw flow control
    frame = bytes(range(0x20)) + b"\x7e\x7d"
    body = hx.encode(frame, accm=0x000A0000)[1:-1]
    assert body[:0x20] == bytes(range(0x11)) + b"\x7d\x31\x12\x7d\x33" + bytes(range(0x14, 0x1E))
    assert hx.encode(frame, accm=0x000A0000) == encode_naive(frame, accm=0x000A0000)


def test_fcs32_frame(hx) -> None:  # noqa: ANN001
    wire = hx.encode(LCP_CONFREQ, fcs_bits=32)
    assert wire == encode_naive(LCP_CONFREQ, fcs_bits=32)
    d = hx.Decoder(fcs_bits=32)
    assert d.feed(wire) == [LCP_CONFREQ]


def test_encode_many_shares_flags(hx) -> None:  # noqa: ANN001
    frames = [LCP_CONFREQ, IPCP_CONFREQ, b"\xff\x03\x00\x21" + bytes(range(256))]
    many = hx.encode_many(frames, accm=0)
    assert many == b"\x7e" + b"".join(hx.encode(f, accm=0, leading_flag=False) for f in frames)
    assert many.count(b"\x7e") == len(frames) + 1
    assert hx.encode_many([], accm=0) == b""
    assert hx.Decoder(accm=0).feed(many) == frames


def test_encode_rejects_misuse(hx) -> None:  # noqa: ANN001
    with pytest.raises(ValueError):
        hx.encode(b"\xff\x03", fcs_bits=24)
    with pytest.raises(ValueError):
        hx.encode(b"\xff\x03", accm=1 << 32)
    with pytest.raises(ValueError):
        hx.Decoder(fcs_bits=8)


# --- decoder -----------------------------------------------------------------------------------
def test_decode_pppd_confreq(hx) -> None:  # noqa: ANN001
    d = hx.Decoder()
    assert d.feed(LCP_CONFREQ_WIRE) == [LCP_CONFREQ]
    assert counters_dict(d.counters) == dict(frames=1, bad_fcs=0, aborts=0, runts=0, oversize=0,
                                             unescaped_ctrl=0, garbage_bytes=0)


def test_fed_whole_byte_by_byte_and_with_trailing_garbage(hx) -> None:  # noqa: ANN001
    stream = hx.encode(LCP_CONFREQ) + hx.encode(IPCP_CONFREQ, leading_flag=False)
    whole = hx.Decoder()
    assert whole.feed(stream) == [LCP_CONFREQ, IPCP_CONFREQ]
    bytewise = hx.Decoder()
    got = [f for i in range(len(stream)) for f in bytewise.feed(stream[i:i + 1])]
    assert got == [LCP_CONFREQ, IPCP_CONFREQ]
    assert counters_dict(bytewise.counters) == counters_dict(whole.counters)
    trailing = hx.Decoder()
    assert trailing.feed(stream + b"\x01\x02\xfe\xfd\xfc\xfb") == [LCP_CONFREQ, IPCP_CONFREQ]
    assert trailing.feed(b"~") == []  # the junk closes as a bad run, not a frame
    assert trailing.counters.bad_fcs == 1


def test_split_between_escape_and_escaped_byte(hx) -> None:  # noqa: ANN001
    wire = LCP_CONFREQ_WIRE
    cut = wire.index(b"\x7d") + 1
    d = hx.Decoder()
    assert d.feed(wire[:cut]) == []
    assert d.feed(wire[cut:]) == [LCP_CONFREQ]


def test_no_carrier_after_a_frame_is_garbage(hx) -> None:  # noqa: ANN001
    d = hx.Decoder()
    assert d.feed(LCP_CONFREQ_WIRE + b"\r\nNO CARRIER\r\n") == [LCP_CONFREQ]
    assert d.take_garbage() == b"\r\nNO CARRIER\r\n"
    assert d.take_garbage() == b""
    assert d.counters.garbage_bytes == 14 and d.counters.bad_fcs == 0 and d.counters.unescaped_ctrl == 0
    # and byte by byte, still without a closing flag
    d = hx.Decoder()
    for b in LCP_CONFREQ_WIRE + b"\r\nNO CARRIER\r\n":
        d.feed(bytes([b]))
    assert d.take_garbage() == b"\r\nNO CARRIER\r\n"


@pytest.mark.parametrize("head", [
    bytes.fromhex("21450a"),      # IPv4 with PFC, TOS 0x0a: "!E\n"
    bytes.fromhex("57600d"),      # IPv6 with PFC, a flow label byte 0x0d: "W`\r"
    b"OK\r",                      # even a frame that starts like a whole modem reply
])
def test_frames_whose_first_bytes_look_like_text_survive(hx, head: bytes) -> None:  # noqa: ANN001
    """With asyncmap 0 and PFC/ACFC a data frame can begin with printable bytes and a raw CR/LF;
    only a run that starts a line is modem talk, the rest is judged by the FCS at the flag."""
    frame = head + bytes(range(40))
    wire = hx.encode(frame, accm=0) * 2 + b"\r\nNO CARRIER\r\n"
    for chunk in (len(wire), 1, 3):
        d = hx.Decoder(accm=0)
        items = [it for i in range(0, len(wire), chunk) for it in d.feed_items(wire[i:i + chunk])]
        kinds = [(type(it).__name__, getattr(it, "data", b"")) for it in items]
        assert kinds[:2] == [("Frame", frame), ("Frame", frame)], kinds
        assert b"".join(d for k, d in kinds[2:] if k == "Garbage") == b"\r\nNO CARRIER\r\n"
        assert d.counters.bad_fcs == 0 and d.counters.frames == 2


def test_text_before_first_flag_and_between_flags(hx) -> None:  # noqa: ANN001
    d = hx.Decoder()
    items = d.feed_items(b"\r\nCONNECT 150000000\r\n" + LCP_CONFREQ_WIRE + b"OK~")
    assert as_tuples(items) == [("garbage", b"\r\nCONNECT 150000000\r\n"), ("frame", LCP_CONFREQ),
                                ("garbage", b"OK")]
    assert d.counters.garbage_bytes == len(b"\r\nCONNECT 150000000\r\nOK")
    assert d.take_garbage() == b""  # feed_items hands garbage back inline


def test_discard_reasons(hx) -> None:  # noqa: ANN001
    good = hx.encode(IPCP_CONFREQ)
    bad = bytearray(good)
    bad[5] ^= 0x01
    stream = (b"~" + good[1:-3] + b"\x7d~"      # abort: 7D 7E
              + b"\xff\x7d\x23~"                  # runt: 2 bytes < FCS + 2
              + bytes(bad[1:])                    # bad FCS
              + hx.encode(b"\xff\x03\x00\x21" + bytes(2000), leading_flag=False))  # oversize
    d = hx.Decoder()
    kinds = [t[0] for t in as_tuples(d.feed_items(stream))]
    assert kinds == ["abort", "runt", "bad_fcs", "oversize"]
    assert counters_dict(d.counters) == dict(frames=0, bad_fcs=1, aborts=1, runts=1, oversize=1,
                                             unescaped_ctrl=0, garbage_bytes=0)


def test_mru_bound_is_mru_plus_overhead(hx) -> None:  # noqa: ANN001
    at_limit = b"\xff\x03\x00\x21" + bytes(1500)      # MRU 1500 of information
    over = at_limit + b"\x00"
    d = hx.Decoder(accm=0, mru=1500)
    assert d.feed(hx.encode(at_limit, accm=0)) == [at_limit]
    assert d.feed(hx.encode(over, accm=0)) == []
    assert d.counters.oversize == 1
    d.mru = 1501                                        # takes effect from the next byte
    assert d.feed(hx.encode(over, accm=0)) == [over]


def test_unescaped_control_chars_dropped(hx) -> None:  # noqa: ANN001
    wire = bytearray(hx.encode(IPCP_CONFREQ))
    wire[3:3] = b"\x11"      # XON inserted by a modem on the way
    wire[9:9] = b"\x13\x00"  # XOFF and a NUL
    d = hx.Decoder()
    assert d.feed(bytes(wire)) == [IPCP_CONFREQ]
    assert d.counters.unescaped_ctrl == 3
    # with receive ACCM 0 they are data, and the FCS fails
    d0 = hx.Decoder(accm=0)
    assert d0.feed(bytes(wire)) == []
    assert d0.counters.bad_fcs == 1 and d0.counters.unescaped_ctrl == 0


def test_accm_change_applies_from_next_byte(hx) -> None:  # noqa: ANN001
    d = hx.Decoder(accm=0xFFFFFFFF)
    raw_ctrl = hx.encode(b"\xff\x03\x00\x21\x01\x02\x03", accm=0)
    assert d.feed(raw_ctrl) == []          # the raw 0x00..0x03 were dropped: bad FCS
    d.accm = 0
    assert d.feed(raw_ctrl) == [b"\xff\x03\x00\x21\x01\x02\x03"]
    assert d.accm == 0 and d.mru == 1500


def test_all_flags_and_escapes_payload(hx) -> None:  # noqa: ANN001
    frame = b"\xff\x03\x00\x21" + b"\x7e" * 700 + b"\x7d" * 700
    for accm in (0, 0xFFFFFFFF):
        wire = hx.encode(frame, accm=accm)
        assert wire == encode_naive(frame, accm=accm)
        assert wire.count(b"\x7e") == 2 and len(wire) >= 2 * 1400
        assert hx.Decoder(accm=accm).feed(wire) == [frame]


# --- scapy: an oracle we did not write ----------------------------------------------------------
def test_scapy_parses_decoded_frames(hx) -> None:  # noqa: ANN001
    from scapy.layers.inet import IP, UDP
    from scapy.layers.ppp import HDLC, PPP, PPP_IPCP, PPP_LCP_Configure

    ip = bytes(IP(src="10.64.64.64", dst="10.0.0.1") / UDP(sport=5000, dport=53) / (b"\x7e\x7d\x11" * 40))
    stream = hx.encode_many([LCP_CONFREQ, IPCP_CONFREQ, b"\xff\x03\x00\x21" + ip], accm=0)
    d = hx.Decoder(accm=0)
    lcp, ipcp, data = d.feed(b"\r\nCONNECT\r\n" + stream)
    p = HDLC(lcp)
    assert p[PPP].proto == 0xC021
    conf = p[PPP_LCP_Configure]
    assert conf.code == 1 and conf.id == 1
    opts = {o.type: o for o in conf.options}
    assert opts[2].accm == 0 and opts[5].magic_number == 0xA1E27395 and 7 in opts and 8 in opts
    assert HDLC(ipcp)[PPP_IPCP].code == 1
    q = HDLC(data)
    assert q[IP].src == "10.64.64.64" and bytes(q[UDP].payload) == b"\x7e\x7d\x11" * 40
    # and a frame scapy builds, through our decoder, comes back byte for byte
    built = bytes(HDLC() / PPP(proto=0x0021) / IP(dst="192.0.2.1"))
    assert hx.Decoder().feed(hx.encode(built)) == [built]


def test_backend_selection_reports_itself() -> None:
    from pppstack import hdlc

    assert hdlc.BACKEND in ("c", "python")
    want = os.environ.get("PPPSTACK_HDLC", "auto")
    if want in ("c", "python"):
        assert hdlc.BACKEND == want
    assert hdlc.Decoder.__module__.endswith("_native" if hdlc.BACKEND == "c" else "_python")


def test_more_discards_than_one_c_call_records(hx) -> None:  # noqa: ANN001
    # 20 000 runts and a good frame in one chunk: the C wrapper must loop over its record array
    data = b"~\x80\x81" * 20000 + LCP_CONFREQ_WIRE
    d = hx.Decoder()
    assert d.feed(data) == [LCP_CONFREQ]
    assert d.counters.runts == 20000 and d.counters.frames == 1
    d2 = hx.Decoder()
    items = as_tuples(d2.feed_items(data))
    assert len(items) == 20001 and items[-1] == ("frame", LCP_CONFREQ)


def test_c_core_uses_the_simd_this_cpu_has() -> None:
    load_backend("c")
    import platform

    from pppstack._hdlc_c import lib

    cpu = 0
    if platform.machine() == "x86_64":
        flags = set()
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
        cpu = ("ssse3" in flags) * lib.HDLC_SIMD_SSSE3 + ({"avx2", "popcnt"} <= flags) * lib.HDLC_SIMD_AVX2 + (
            {"pclmulqdq", "sse4_1"} <= flags) * lib.HDLC_SIMD_PCLMUL + (
            {"avx512f", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vbmi2", "bmi2", "popcnt"} <= flags
        ) * lib.HDLC_SIMD_AVX512 + (
            {"pclmulqdq", "sse4_1", "avx512f", "avx512bw", "vpclmulqdq"} <= flags) * lib.HDLC_SIMD_VPCLMUL
    cap = {"0": 0, "none": 0, "portable": 0, "ssse3": lib.HDLC_SIMD_SSSE3 | lib.HDLC_SIMD_PCLMUL,
           "avx2": lib.HDLC_SIMD_SSSE3 | lib.HDLC_SIMD_AVX2 | lib.HDLC_SIMD_PCLMUL}
    cpu &= cap.get(os.environ.get("PPPSTACK_HDLC_SIMD", ""), 0xFFFFFFFF)
    assert lib.hdlc_features() == cpu
    assert lib.hdlc_set_features(0) == 0
    assert lib.hdlc_set_features(0xFFFFFFFF) == cpu


def test_encoders_in_two_threads_at_once(hx) -> None:  # noqa: ANN001
    # the C calls run without the GIL: concurrent encoders must not share an output buffer
    import threading

    frames = [bytes([k]) * 4 + bytes(range(256)) * 6 for k in range(8)]
    want = [encode_naive(f) for f in frames]
    bad: list[int] = []

    def work(k: int) -> None:
        for _ in range(300):
            if hx.encode(frames[k]) != want[k] or hx.encode_many([frames[k]] * 3) != want[k] + 2 * want[k][1:]:
                bad.append(k)
                return

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []
