"""NTB codec: real bytes from Linux's f_ncm layout, strict and counting decoders, property round trips."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncm import NtbDecoder, NtbError, NtbFault, NtbParameters, decode_ntb, encode_ntb, parse_ntb
from ncm.ntb import ntb_layout_size

# f_ncm's ntb_parameters (drivers/usb/gadget/function/f_ncm.c): NTB16+NTB32, 16 KiB both ways,
# divisor 4, remainder 0, alignment 4, wNtbOutMaxDatagrams 0 — as the 28 bytes on the wire.
GADGET_PARAMS = bytes.fromhex("1c000300 00400000 0400 0000 0400 0000 00400000 0400 0000 0400 0000".replace(" ", ""))

HOST_MAC = bytes.fromhex("0c5b8f279a64")
GADGET_MAC = bytes.fromhex("ae3d5e7c1f02")
# An ARP reply from 192.168.77.1 to 192.168.77.2 (42 bytes, no Ethernet padding, as usbnet sends).
ARP_REPLY = (HOST_MAC + GADGET_MAC + b"\x08\x06" + bytes.fromhex("0001 0800 06 04 0002".replace(" ", ""))
             + GADGET_MAC + bytes([192, 168, 77, 1]) + HOST_MAC + bytes([192, 168, 77, 2]))
# The NTB16 f_ncm's ncm_wrap_ntb/package_for_tx builds for that one frame: NTH16, the datagram at
# 12, two bytes of pad, the NDP16 at 56 with wLength = 8 + 2 entries * 4 = 16; wSequence 0.
GADGET_NTB16_ARP = (bytes.fromhex("4e434d48 0c00 0000 4800 3800".replace(" ", "")) + ARP_REPLY + b"\x00\x00"
                    + bytes.fromhex("4e434d30 1000 0000 0c00 2a00 0000 0000".replace(" ", "")))


def test_gadget_ntb16_with_one_arp_frame_decodes() -> None:
    assert len(GADGET_NTB16_ARP) == 72
    assert decode_ntb(GADGET_NTB16_ARP) == [ARP_REPLY]


def test_our_ndp_at_end_layout_is_byte_identical_to_f_ncm() -> None:
    params = NtbParameters.from_bytes(GADGET_PARAMS)
    assert encode_ntb([ARP_REPLY], params, ndp_at_end=True) == GADGET_NTB16_ARP


def test_default_layout_puts_ndp_after_the_header() -> None:
    params = NtbParameters.from_bytes(GADGET_PARAMS)
    b = encode_ntb([ARP_REPLY], params, sequence=7)
    sig, hlen, seq, blen, ndp = struct.unpack_from("<4sHHHH", b)
    assert (sig, hlen, seq, blen, ndp) == (b"NCMH", 12, 7, len(b), 12)
    assert b[12:16] == b"NCM0" and struct.unpack_from("<HHHHHH", b, 16) == (16, 0, 28, 42, 0, 0)
    assert b[28:70] == ARP_REPLY and len(b) == 70


def test_ntb32_layout() -> None:
    params = NtbParameters.from_bytes(GADGET_PARAMS)
    b = encode_ntb([ARP_REPLY, ARP_REPLY], params, ntb32=True)
    sig, hlen, _seq, blen, ndp = struct.unpack_from("<4sHHII", b)
    assert (sig, hlen, blen, ndp) == (b"ncmh", 16, len(b), 16)
    nsig, nlen, _r, nxt, _r2, i0, l0, i1, l1, z0, z1 = struct.unpack_from("<4sHHII6I", b, 16)
    assert (nsig, nlen, nxt, l0, l1, z0, z1) == (b"ncm0", 16 + 3 * 8, 0, 42, 42, 0, 0)
    assert i0 % 4 == 0 and i1 % 4 == 0
    assert decode_ntb(b) == [ARP_REPLY, ARP_REPLY]


def test_short_packet_pad_byte_avoids_a_zlp() -> None:
    params = NtbParameters.from_bytes(GADGET_PARAMS)
    # pick a datagram length that makes the NDP-first block exactly 512 bytes long
    n = 512 - 12 - 16
    b = encode_ntb([bytes(14) + b"x" * (n - 14)], params, max_packet_size=512)
    assert len(b) == 513 and b[-1] == 0 and struct.unpack_from("<H", b, 8)[0] == 513
    assert ntb_layout_size([n], params) == 512
    assert len(encode_ntb([bytes(14) + b"x" * (n - 14)], params, max_packet_size=0)) == 512


def test_divisor_and_remainder_are_honoured() -> None:
    params = NtbParameters(dwNtbOutMaxSize=16384, wNdpOutDivisor=16, wNdpOutPayloadRemainder=2,
                           wNdpOutAlignment=8)
    frames = [bytes(14 + i) for i in range(7)]
    for end in (False, True):
        b = encode_ntb(frames, params, ndp_at_end=end)
        ndp = struct.unpack_from("<H", b, 10)[0]
        assert ndp % 8 == 0
        entries = struct.unpack_from("<14H", b, ndp + 8)
        assert all(entries[i] % 16 == 2 for i in range(0, 14, 2))
        assert decode_ntb(b) == frames


def test_encode_refuses_what_does_not_fit() -> None:
    params = NtbParameters(dwNtbOutMaxSize=2048, wNtbOutMaxDatagrams=2)
    with pytest.raises(ValueError, match="wNtbOutMaxDatagrams"):
        encode_ntb([bytes(60)] * 3, params)
    with pytest.raises(ValueError, match="dwNtbOutMaxSize"):
        encode_ntb([bytes(1514), bytes(1514)], params)
    with pytest.raises(ValueError):
        encode_ntb([], params)


def _corrupt(block: bytes, at: int, value: bytes) -> bytes:
    return block[:at] + value + block[at + len(value):]


@pytest.mark.parametrize(("mutate", "fault"), [
    (lambda b: b[:10], NtbFault.SHORT),
    (lambda b: _corrupt(b, 0, b"XCMH"), NtbFault.BAD_NTH_SIGNATURE),
    (lambda b: _corrupt(b, 4, b"\x10\x00"), NtbFault.BAD_HEADER_LENGTH),
    (lambda b: _corrupt(b, 8, b"\x10\x00"), NtbFault.BAD_BLOCK_LENGTH),
    (lambda b: b[:60], NtbFault.TRUNCATED),
    (lambda b: _corrupt(b, 10, b"\x3a\x00"), NtbFault.BAD_NDP_INDEX),
    (lambda b: _corrupt(b, 10, b"\x04\x00"), NtbFault.BAD_NDP_INDEX),
    (lambda b: _corrupt(b, 10, b"\x00\x00"), NtbFault.BAD_NDP_INDEX),
    (lambda b: _corrupt(b, 56, b"NCMX"), NtbFault.BAD_NDP_SIGNATURE),
    (lambda b: _corrupt(b, 56, b"ncm0"), NtbFault.BAD_NDP_SIGNATURE),
    (lambda b: _corrupt(b, 60, b"\x0e\x00"), NtbFault.BAD_NDP_LENGTH),
    (lambda b: _corrupt(b, 60, b"\x40\x00"), NtbFault.BAD_NDP_LENGTH),
    (lambda b: _corrupt(b, 62, b"\x38\x00"), NtbFault.NDP_LOOP),
    (lambda b: _corrupt(b, 64, b"\x30\x00"), NtbFault.BAD_DATAGRAM),
    (lambda b: _corrupt(b, 64, b"\x04\x00"), NtbFault.BAD_DATAGRAM),
    (lambda b: _corrupt(b, 66, b"\x0d\x00"), NtbFault.RUNT_DATAGRAM),
    (lambda b: _corrupt(b, 68, b"\x0c\x00\x2a\x00"), NtbFault.NO_TERMINATOR),
])
def test_each_fault_is_named_strictly_and_counted_leniently(mutate, fault) -> None:  # noqa: ANN001
    bad = mutate(GADGET_NTB16_ARP)
    with pytest.raises(NtbError) as exc:
        decode_ntb(bad)
    assert exc.value.fault is fault
    d = NtbDecoder()
    d.decode(bad)
    assert d.counters[fault.name.lower()] >= 1 and d.counters["bad_blocks"] == 1
    assert d.counters["blocks"] == 1


def test_lenient_decoder_keeps_good_datagrams_next_to_a_bad_one() -> None:
    params = NtbParameters.from_bytes(GADGET_PARAMS)
    b = bytearray(encode_ntb([ARP_REPLY, ARP_REPLY, ARP_REPLY], params))
    struct.pack_into("<H", b, 12 + 8 + 4 + 2, 9000)   # second datagram's length points past the end
    frames, faults, info = parse_ntb(bytes(b))
    assert frames == [ARP_REPLY, ARP_REPLY] and faults == [NtbFault.BAD_DATAGRAM]
    assert info is not None and not info.ntb32


def test_zero_block_length_means_short_packet_terminated() -> None:
    assert decode_ntb(_corrupt(GADGET_NTB16_ARP, 8, b"\x00\x00")) == [ARP_REPLY]


def test_block_longer_than_our_input_size_is_refused() -> None:
    with pytest.raises(NtbError) as exc:
        decode_ntb(GADGET_NTB16_ARP, max_block=64)
    assert exc.value.fault is NtbFault.BLOCK_TOO_LONG


def test_two_ntbs_in_one_transfer_and_trailing_pad() -> None:
    assert decode_ntb(GADGET_NTB16_ARP + GADGET_NTB16_ARP + b"\x00") == [ARP_REPLY, ARP_REPLY]


def test_crc_ndp_is_checked_and_stripped() -> None:
    import zlib
    frame = ARP_REPLY + struct.pack("<I", zlib.crc32(ARP_REPLY))
    b = bytearray(encode_ntb([frame], NtbParameters.from_bytes(GADGET_PARAMS)))
    b[12:16] = b"NCM1"
    assert decode_ntb(bytes(b)) == [ARP_REPLY]
    b[30] ^= 1
    with pytest.raises(NtbError) as exc:
        decode_ntb(bytes(b))
    assert exc.value.fault is NtbFault.BAD_CRC


def test_sequence_glitches_are_counted_not_fatal() -> None:
    params = NtbParameters.from_bytes(GADGET_PARAMS)
    d = NtbDecoder()
    for seq in (1, 2, 3, 9, 10, 0, 0):
        assert d.decode(encode_ntb([ARP_REPLY], params, sequence=seq)) == [ARP_REPLY]
    assert d.counters["sequence_glitches"] == 1 and d.counters["frames"] == 7


# ------------------------------------------------------------------------------ properties

frames_st = st.lists(st.binary(min_size=14, max_size=1514), min_size=1, max_size=24)
params_st = st.builds(
    NtbParameters,
    dwNtbOutMaxSize=st.sampled_from([40000, 65535]),
    wNdpOutDivisor=st.sampled_from([0, 1, 3, 4, 8, 16, 64, 6]),
    wNdpOutPayloadRemainder=st.integers(0, 70),
    wNdpOutAlignment=st.sampled_from([0, 2, 4, 8, 16, 12]),
    bmNtbFormatsSupported=st.just(3),
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(frames=frames_st, params=params_st, ntb32=st.booleans(), end=st.booleans(), seq=st.integers(0, 0xFFFF),
       mps=st.sampled_from([0, 64, 512, 1024]))
def test_round_trip(frames, params, ntb32, end, seq, mps) -> None:  # noqa: ANN001
    b = encode_ntb(frames, params, ntb32=ntb32, ndp_at_end=end, sequence=seq, max_packet_size=mps)
    assert decode_ntb(b) == frames
    frames2, faults, info = parse_ntb(b)
    assert frames2 == frames and faults == [] and info is not None
    assert info.ntb32 is ntb32 and info.sequence == seq and info.block_length == len(b)
    assert len(b) <= params.dwNtbOutMaxSize
    if mps and len(b) != params.dwNtbOutMaxSize:
        assert len(b) % mps != 0
    assert ntb_layout_size([len(f) for f in frames], params, ntb32=ntb32, ndp_at_end=end) in (len(b), len(b) - 1)


@SETTINGS
@given(frames=frames_st, ntb32=st.booleans(), end=st.booleans(), cut=st.integers(0, 40000))
def test_truncated_blocks_never_escape_the_counting_decoder(frames, ntb32, end, cut) -> None:  # noqa: ANN001
    b = encode_ntb(frames, NtbParameters(dwNtbOutMaxSize=40000), ntb32=ntb32, ndp_at_end=end)
    cut %= len(b)
    d = NtbDecoder()
    assert d.decode(b[:cut]) == []   # a block cut anywhere is TRUNCATED or SHORT: nothing comes out
    assert d.counters["bad_blocks"] == 1
    with pytest.raises(NtbError):
        decode_ntb(b[:cut])


@SETTINGS
@given(frames=frames_st, ntb32=st.booleans(), end=st.booleans(),
       flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_blocks_never_escape_the_counting_decoder(frames, ntb32, end, flips) -> None:  # noqa: ANN001
    b = bytearray(encode_ntb(frames, NtbParameters(dwNtbOutMaxSize=40000), ntb32=ntb32, ndp_at_end=end))
    for at, v in flips:
        b[at % len(b)] = v
    d = NtbDecoder()
    out = d.decode(bytes(b))
    assert all(len(f) >= 14 and f in b for f in out)
    assert d.counters["internal_errors"] == 0, d.counters   # the catch-all must never be what held
    try:
        decode_ntb(bytes(b))
    except NtbError:
        pass


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_never_escape(data: bytes) -> None:
    d = NtbDecoder()
    d.decode(data)
    d.decode(b"NCMH" + data)
    d.decode(b"ncmh\x10\x00" + data)
    assert d.counters["internal_errors"] == 0, d.counters
