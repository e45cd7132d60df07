"""Framing throughput, side by side in one run: C core (batched and one frame per call), the
portable C paths (SIMD masked), pure Python, and a naive byte-at-a-time C loop like Linux's
ppp_async compiled here with the same flags.

    python bench/bench_hdlc.py            # table on stdout
    python bench/bench_hdlc.py --json     # {"environment": {...}, "records": [{"backend","op","accm",
                                          #  "size","kind","MBps"}, ...]}

It measures the installed pppstack (run `pip install .` first), with --backends c python by
default; a backend asked for but not built is an error, never a silent fallback. The JSON's
"environment" records the backends, the C core's SIMD paths, the CPU model and Python version.

Backends: c (public API, batched), c-frame (public API, one frame per call), portable (c with
SIMD masked), c-core / c-core-avx2 / portable-core (the C calls alone over all 256 frames, no
Python objects per frame; all SIMD paths / without AVX-512 / none), naive-c (ditto, a
byte-at-a-time loop), python.

Batched means encode_many over ~64 KiB of frames per call and Decoder.feed over 64 KiB read
chunks; c-frame means one encode() / feed() per frame.  MB/s counts payload bytes (the frame
given to encode / returned by decode, no FCS or flags) per second, 10^6 bytes per MB.  Each
figure is the median of --reps timed repetitions; 256 distinct random frames per size
(L2-resident, so branch predictors cannot learn one frame), or one all-0x7E frame (the wire
is twice the payload) for kind=all7e.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchenv  # bench/ is sys.path[0]: the installed pppstack, never the clone's tree

HERE = Path(__file__).resolve().parent
py = cn = clib = None  # the installed backends, loaded by _load() once --backends is known


def _load(backends: list[str]) -> None:
    global py, cn, clib
    if "c" not in backends:   # Python asked for: no warning that the C core is missing
        os.environ["PPPSTACK_HDLC"] = "python"
    benchenv.installed_pppstack()
    benchenv.require_backends(backends)
    from pppstack.hdlc import _python

    py = _python
    if "c" in backends:
        from pppstack._hdlc_c import lib

        from pppstack.hdlc import _native

        cn, clib = _native, lib

FRAMES = 256
CHUNK = 65536  # a pty read


def _naive():  # noqa: ANN202
    """Build bench/naive_hdlc.c with cffi (same -O2 as the real core); None without a compiler."""
    try:
        from cffi import FFI

        ffi = FFI()
        ffi.cdef("size_t naive_encode(char *out, const char *in, size_t len, size_t count, uint32_t accm);"
                 "size_t naive_decode(char *out, const char *in, size_t n, uint32_t accm);")
        ffi.set_source("_bench_naive_hdlc", (HERE / "naive_hdlc.c").read_text(),
                       extra_compile_args=["-O2", "-std=c99"])
        with tempfile.TemporaryDirectory(prefix="bench_hdlc_") as tmp:  # the loaded .so outlives its file
            path = ffi.compile(tmpdir=tmp)
            spec = importlib.util.spec_from_file_location("_bench_naive_hdlc", path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        return mod
    except Exception as exc:  # noqa: BLE001 - the row is simply left out
        print(f"naive C baseline not built: {exc}", file=sys.stderr)
        return None


def _timeit(fn, reps: int, min_time: float) -> float:  # noqa: ANN001
    """Median seconds per call of fn, calls batched so one timed repetition lasts min_time."""
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    loops = max(1, int(min_time / once))
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - t0) / loops)
    return statistics.median(samples)


def _workload(size: int, kind: str, rng: random.Random) -> list[bytes]:
    if kind == "all7e":
        return [b"\x7e" * size] * FRAMES
    return [rng.randbytes(size) for _ in range(FRAMES)]


def _chunks(stream: bytes) -> list[bytes]:
    return [stream[i:i + CHUNK] for i in range(0, len(stream), CHUNK)]


def run(args: argparse.Namespace) -> list[dict]:
    rng = random.Random(1662)
    naive = _naive() if clib is not None else None
    records: list[dict] = []
    for size in args.sizes:
        for kind in args.kinds:
            frames = _workload(size, kind, rng)
            for accm in (0, 0xFFFFFFFF):
                _case(args, records, naive, frames, size, kind, accm)
    return records


def _case(args: argparse.Namespace, records: list[dict], naive, frames: list[bytes],  # noqa: ANN001
          size: int, kind: str, accm: int) -> None:
    """Every backend on one (size, payload kind, ACCM) workload."""
    total = size * FRAMES

    def rec(backend: str, op: str, fn, nbytes: int = total) -> None:  # noqa: ANN001
        seconds = _timeit(fn, args.reps, args.min_time)
        r = {"backend": backend, "op": op, "accm": f"0x{accm:08X}", "size": size, "kind": kind,
             "MBps": round(nbytes / seconds / 1e6, 1)}
        records.append(r)
        if not args.json:
            print(f"{backend:10} {op:6} {r['accm']} {size:5} {kind:6} {r['MBps']:10.1f} MB/s", flush=True)

    wire_frames = [py.encode(f, accm) for f in frames]
    stream = py.encode_many(frames, accm)
    chunks = _chunks(stream)
    if cn is not None:
        assert cn.encode_many(frames, accm) == stream
        # batched encode: one encode_many per ~64 KiB of frames, what a driver writes at once
        per = max(1, CHUNK // size)
        batches = [frames[i:i + per] for i in range(0, FRAMES, per)]
        for label, mask in (("c", 0xFFFFFFFF), ("portable", 0)):
            clib.hdlc_set_features(mask)
            rec(label, "encode", lambda: [cn.encode_many(b, accm) for b in batches])
            d = cn.Decoder(accm)
            rec(label, "decode", lambda d=d: [d.feed(c) for c in chunks])
        clib.hdlc_set_features(0xFFFFFFFF)
        # the C calls alone, no Python objects per frame: like for like with the naive loop
        cffi = cn.ffi
        joined = b"".join(frames)
        lens = cffi.new("size_t[]", [size] * FRAMES)
        cout = cffi.new("char[]", 2 * len(stream) + 64 * FRAMES)
        items = cffi.new("size_t[]", 3 * 4 * FRAMES)
        nitems = cffi.new("size_t *")
        for label, mask in (("c-core", 0xFFFFFFFF), ("c-core-avx2", 7), ("portable-core", 0)):
            clib.hdlc_set_features(mask)
            rec(label, "encode", lambda: clib.hdlc_encode_many(cout, joined, lens, FRAMES, accm, 16, 1))
            dc = clib.hdlc_decoder_new(16, accm, 1500 + 6)
            rec(label, "decode", lambda dc=dc: clib.hdlc_decode(dc, stream, len(stream), cout, items,
                                                                4 * FRAMES, nitems))
            clib.hdlc_decoder_free(dc)
        clib.hdlc_set_features(0xFFFFFFFF)
        rec("c-frame", "encode", lambda: [cn.encode(f, accm) for f in frames])
        d1 = cn.Decoder(accm)
        rec("c-frame", "decode", lambda: [d1.feed(w) for w in wire_frames])
    if naive is not None:
        nffi, nlib = naive.ffi, naive.lib
        joined = b"".join(frames)
        out = nffi.new("char[]", 2 * len(joined) + 8 * FRAMES)
        rec("naive-c", "encode", lambda: nlib.naive_encode(out, joined, size, FRAMES, accm))
        assert nlib.naive_decode(out, stream, len(stream), accm) == FRAMES
        rec("naive-c", "decode", lambda: nlib.naive_decode(out, stream, len(stream), accm))
    if not args.no_python:
        sub = frames[: args.python_frames]
        sub_chunks = _chunks(py.encode_many(sub, accm))
        rec("python", "encode", lambda: py.encode_many(sub, accm), size * len(sub))
        dp = py.Decoder(accm)
        rec("python", "decode", lambda: [dp.feed(c) for c in sub_chunks], size * len(sub))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 512, 1500])
    ap.add_argument("--kinds", nargs="+", default=["random", "all7e"], choices=["random", "all7e"])
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions per figure (median)")
    ap.add_argument("--min-time", type=float, default=0.03, help="seconds per repetition")
    ap.add_argument("--python-frames", type=int, default=32, help="frames per repetition for Python")
    ap.add_argument("--backends", nargs="+", default=["c", "python"], choices=["c", "python"],
                    help="framing backends to measure (default both; naive-c comes with c)")
    ap.add_argument("--no-python", action="store_true", help="the same as --backends c")
    args = ap.parse_args()
    if args.no_python:
        args.backends = [b for b in args.backends if b != "python"] or ["c"]
    args.no_python = "python" not in args.backends
    _load(args.backends)
    if clib is not None and not args.json:
        print(f"C core SIMD features: 0x{clib.hdlc_features():x} (1=SSSE3 2=AVX2 4=PCLMUL 8=AVX-512 VBMI2); "
              f"PPPSTACK_HDLC_SIMD={os.environ.get('PPPSTACK_HDLC_SIMD', '')!r}", flush=True)
    env = benchenv.environment(args.backends)
    records = run(args)
    if args.json:
        print(json.dumps({"environment": env, "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(benchenv.run_main(main))
