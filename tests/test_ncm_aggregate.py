"""TX aggregation: flush on full NTB, full NDP and deadline; time is passed in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ncm import Aggregator, NtbParameters, decode_ntb

P = NtbParameters(dwNtbOutMaxSize=16384, wNtbOutMaxDatagrams=0)


def test_deadline_flushes_a_partial_block(clock) -> None:  # noqa: ANN001
    a = Aggregator(P)
    assert a.add(bytes(60), clock.now) == [] and a.get_timer() == clock.now + 400e-6
    assert a.add(bytes(61), clock.advance(100e-6)) == []
    assert a.handle_timer(clock.advance(200e-6)) == []          # deadline is from the first frame
    (block,) = a.handle_timer(clock.advance(101e-6))
    assert decode_ntb(block) == [bytes(60), bytes(61)]
    assert a.get_timer() is None and a.counters["reason_timeout"] == 1


def test_full_ntb_goes_out_when_the_next_frame_would_not_fit(clock) -> None:  # noqa: ANN001
    a = Aggregator(P)
    out = []
    for _ in range(11):
        out += a.add(bytes(1514), clock.now)
    assert len(out) == 1 and len(decode_ntb(out[0])) == 10 and len(out[0]) <= 16384
    assert a.pending == 1 and a.counters["reason_ntb_full"] == 1


def test_ndp_full_uses_40_when_device_says_0_and_the_device_value_otherwise(clock) -> None:  # noqa: ANN001
    a = Aggregator(P)
    out = [b for _ in range(40) for b in a.add(bytes(64), clock.now)]
    assert len(out) == 1 and len(decode_ntb(out[0])) == 40 and a.counters["reason_ndp_full"] == 1
    a = Aggregator(NtbParameters(wNtbOutMaxDatagrams=3))
    out = [b for _ in range(7) for b in a.add(bytes(64), clock.now)]
    assert [len(decode_ntb(b)) for b in out] == [3, 3] and a.pending == 1


def test_zero_interval_sends_each_frame_and_oversize_is_dropped(clock) -> None:  # noqa: ANN001
    a = Aggregator(NtbParameters(dwNtbOutMaxSize=2048), flush_interval=0)
    assert len(a.add(bytes(1514), clock.now)) == 1
    assert a.add(bytes(2040), clock.now) == [] and a.counters["oversize_dropped"] == 1
    assert a.flush() == []


def test_sequence_numbers_increase() -> None:
    a = Aggregator(P, flush_interval=0)
    seqs = [int.from_bytes(a.add(bytes(60), 0.0)[0][6:8], "little") for _ in range(3)]
    assert seqs == [0, 1, 2]


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(14, 1514), min_size=1, max_size=120), ntb32=st.booleans(), end=st.booleans(),
       out_max=st.sampled_from([2048, 4097, 16384, 32768]), div=st.sampled_from([4, 32]), rem=st.sampled_from([0, 2]))
def test_every_frame_arrives_in_order_within_limits(sizes, ntb32, end, out_max, div, rem) -> None:  # noqa: ANN001
    p = NtbParameters(dwNtbOutMaxSize=out_max, wNdpOutDivisor=div, wNdpOutPayloadRemainder=rem)
    a = Aggregator(p, ntb32=ntb32, ndp_at_end=end, max_packet_size=512)
    frames = [i.to_bytes(2, "big") * (n // 2) + b"x" * (n % 2) for i, n in enumerate(sizes)]
    blocks = [b for i, f in enumerate(frames) for b in a.add(f, i * 1e-4)] + a.flush()
    assert [f for b in blocks for f in decode_ntb(b)] == frames
    assert all(len(b) <= out_max and (len(b) % 512 or len(b) == out_max) for b in blocks)
