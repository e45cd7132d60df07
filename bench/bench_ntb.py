"""NTB build/parse throughput: datagrams/s and Mbit/s, 1500- and 64-byte datagrams, NTB16 and NTB32.

    python3 bench/bench_ntb.py [--json] [--seconds 0.3] [--repeat 5]

Each case runs `repeat` timed rounds of about `seconds` each on one core and reports the median
(and min/max).  Mbit/s counts datagram bytes only (what the link carries for the user), not NTB
overhead.  Cases:
  encode   encode_ntb() of a full NTB's worth of frames (as many as dwNtbOutMaxSize 16 KiB and the
           40-datagram default allow)
  decode   NtbDecoder.decode() of such blocks (the counting decoder the data path uses)
  tx_path  IP packets through NcmLink.send_ip_many (L2 header + aggregator + encode)
  rx_path  NcmLink.receive_ntb (decode + L2 demux to IP packets)
  encode_naive / decode_naive  the obvious NTB16 code (field-by-field bytearray growth, one unpack
           per entry), for the side-by-side ratio_vs_naive
Target (issue 6): ≥ 1 Gbit/s of 1500-byte datagrams each way on one core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface

import benchenv  # bench/ is sys.path[0]: the installed package, never the clone's tree

try:
    from ncm import Aggregator, NtbDecoder, NtbParameters, decode_ntb, encode_ntb
    from ncm.l2 import L2Config
    from ncm.link import NcmLink
except ImportError as exc:  # the installed pppstack distribution ships ncm
    print(f"bench_ntb.py: ncm is not installed for {sys.executable} ({exc}): run `pip install .` in the clone "
          "first (see README); the benchmarks measure the installed package.", file=sys.stderr)
    raise SystemExit(benchenv.NOT_INSTALLED) from None

PARAMS = NtbParameters(bmNtbFormatsSupported=3, dwNtbInMaxSize=16384, dwNtbOutMaxSize=16384)
ME, GW = bytes.fromhex("0c5b8f279a64"), bytes.fromhex("001e101f0000")


def _ip_packet(size: int, i: int) -> bytes:
    body = bytes((i + k) & 0xFF for k in range(size - 20))
    return bytes([0x45, 0, size >> 8, size & 0xFF, 0, 0, 0, 0, 64, 17, 0, 0, 10, 10, 1, 1, 8, 8, 8, 8]) + body


def _frames(dgram: int, count: int, dst: bytes = GW, src: bytes = ME) -> list[bytes]:
    return [dst + src + b"\x08\x00" + _ip_packet(dgram - 14, i) for i in range(count)]


def _per_ntb(dgram: int, ntb32: bool) -> int:
    """How many datagrams the aggregator puts in one NTB."""
    agg = Aggregator(PARAMS, ntb32=ntb32)
    while True:
        out = agg.add(bytes(dgram), 0.0)
        if out:
            return len(decode_ntb(out[0]))


def _timed(fn: Callable[[], int], seconds: float, repeat: int) -> list[tuple[int, float]]:
    rounds = []
    fn()   # warm up caches (struct formats, header cache)
    for _ in range(repeat):
        n = 0
        t0 = time.perf_counter()
        while True:
            n += fn()
            dt = time.perf_counter() - t0
            if dt >= seconds:
                break
        rounds.append((n, dt))
    return rounds


def _session(ntb32: bool) -> NcmLink:
    s = NcmLink(PARAMS, L2Config(mac=ME, ipv4=IPv4Interface("10.10.1.1/30"), gateway=IPv4Address("10.10.1.2"),
                                    gateway_mac=GW), ntb32=ntb32, flush_interval=1.0)
    s.start(0.0)
    return s


def naive_encode16(frames: list[bytes]) -> bytes:
    """The obvious way, for the side-by-side ratio: grow a bytearray field by field."""
    out = bytearray(struct.pack("<IHHHH", 0x484D434E, 12, 0, 0, 12))
    ndp_len = 8 + 4 * (len(frames) + 1)
    out += struct.pack("<IHH", 0x304D434E, ndp_len, 0)
    off = 12 + ndp_len
    for f in frames:
        off += (-off) % 4
        out += struct.pack("<HH", off, len(f))
        off += len(f)
    out += b"\0\0\0\0"
    for f in frames:
        out += bytes((-len(out)) % 4)
        out += f
    struct.pack_into("<H", out, 8, len(out))
    return bytes(out)


def naive_decode16(block: bytes) -> list[bytes]:
    """The obvious way: one unpack per field and entry, bytes slicing."""
    ndp = struct.unpack("<H", block[10:12])[0]
    wlen = struct.unpack("<H", block[ndp + 4:ndp + 6])[0]
    out = []
    for k in range(ndp + 8, ndp + wlen, 4):
        idx, ln = struct.unpack("<HH", block[k:k + 4])
        if idx == 0:
            break
        out.append(block[idx:idx + ln])
    return out


def _cases(dgram: int, ntb32: bool) -> tuple[int, int, NtbDecoder, dict[str, Callable[[], int]]]:
    per = _per_ntb(dgram, ntb32)
    frames = _frames(dgram, per)
    block = encode_ntb(frames, PARAMS, ntb32=ntb32)
    rx_block = encode_ntb(_frames(dgram, per, dst=ME, src=GW), PARAMS, ntb32=ntb32)   # modem -> us
    dec = NtbDecoder()
    sess_tx = _session(ntb32)
    sess_rx = _session(ntb32)
    packets = [f[14:] for f in frames] * 8

    def enc_case() -> int:
        encode_ntb(frames, PARAMS, ntb32=ntb32)
        return per

    def dec_case() -> int:
        return len(dec.decode(block))

    def tx_case() -> int:
        sess_tx.send_ip_many(packets, 0.0)
        sess_tx.blocks_to_send()
        return len(packets)

    def rx_case() -> int:
        sess_rx.receive_ntb(rx_block, 0.0)
        return len(sess_rx.take_packets())

    cases = {"encode": enc_case, "decode": dec_case, "tx_path": tx_case, "rx_path": rx_case}
    if not ntb32:
        if naive_decode16(naive_encode16(frames)) != frames:
            raise SystemExit("naive baseline is broken")

        def naive_enc() -> int:
            naive_encode16(frames)
            return per

        def naive_dec() -> int:
            return len(naive_decode16(block))

        cases.update({"encode_naive": naive_enc, "decode_naive": naive_dec})
    return per, len(block), dec, cases


def run(seconds: float, repeat: int) -> list[dict[str, object]]:
    results = []
    for dgram in (1500, 64):
        for ntb32 in (False, True):
            per, ntb_bytes, dec, cases = _cases(dgram, ntb32)
            for name, fn in cases.items():
                rounds = _timed(fn, seconds, repeat)
                rates = [n / dt for n, dt in rounds]
                med = statistics.median(rates)
                results.append({
                    "case": name, "datagram_bytes": dgram, "format": "NTB32" if ntb32 else "NTB16",
                    "datagrams_per_ntb": per, "ntb_bytes": ntb_bytes,
                    "datagrams_per_s": round(med), "mbit_per_s": round(med * dgram * 8 / 1e6, 1),
                    "mbit_per_s_min": round(min(rates) * dgram * 8 / 1e6, 1),
                    "mbit_per_s_max": round(max(rates) * dgram * 8 / 1e6, 1),
                    "rounds": repeat,
                })
            if dec.counters["bad_blocks"]:
                raise SystemExit("the decoder rejected our own blocks")
    by_key = {(r["case"], r["datagram_bytes"], r["format"]): r for r in results}
    for r in results:
        base = by_key.get((f"{r['case']}_naive", r["datagram_bytes"], r["format"]))
        if base:
            r["ratio_vs_naive"] = round(r["datagrams_per_s"] / base["datagrams_per_s"], 2)  # type: ignore[operator]
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--seconds", type=float, default=0.3, help="length of one timed round")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds per case (median reported)")
    a = ap.parse_args()
    env = benchenv.environment(["python"])   # the NTB codec is pure Python: no C backend to choose
    res = run(a.seconds, a.repeat)
    doc = {"benchmark": "ntb", "environment": env, "python": sys.version.split()[0], "target_mbit_per_s_1500": 1000,
           "results": res}
    if a.json:
        print(json.dumps(doc, indent=1))
    else:
        print(f"{'case':13} {'dgram':>5} {'fmt':5} {'per NTB':>7} {'dgram/s':>11} {'Mbit/s':>9} {'vs naive':>8}")
        for r in res:
            print(f"{r['case']:13} {r['datagram_bytes']:>5} {r['format']:5} {r['datagrams_per_ntb']:>7} "
                  f"{r['datagrams_per_s']:>11,} {r['mbit_per_s']:>9,} {r.get('ratio_vs_naive', ''):>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(benchenv.run_main(main))
