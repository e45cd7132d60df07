"""Framing throughput, side by side in one run: C core (batched and one frame per call), the
portable C paths (SIMD masked), pure Python, and a naive byte-at-a-time C loop like Linux's
ppp_async compiled here with the same flags.

    python bench/bench_hdlc.py            # table on stdout
    python bench/bench_hdlc.py --json     # {"environment": {...}, "records": [{"backend","op","accm",
                                          #  "size","kind","MBps"}, ...]}

It measures the installed pppstack (run `pip install .` first), with --backends c python by
default; a backend asked for but not built is an error, never a silent fallback. The JSON's
"environment" records the backends, the C core's SIMD paths, the CPU model and Python version.

Backends: c (public API, batched: encode_many, Decoder.feed), c-packed (Decoder.feed_packed, the
batched decode that builds no object per frame), c-packed-views (the same plus a memoryview per
frame), c-frame (public API, one frame per call), portable / portable-packed (c with SIMD
masked), c-core / c-core-avx2 / c-core-ssse3 / portable-core (the C calls alone over all 256
frames, no Python objects per frame, at SIMD level avx512 / avx2 / ssse3 / none), naive-c
(ditto, a byte-at-a-time loop), memcpy (the same bytes copied once: the ceiling), python,
python-packed.

--simd names the SIMD levels to measure (default: every level this CPU has); a level the CPU
lacks (or PPPSTACK_HDLC_SIMD capped) is an error with a sentence, never a silent step down.
Every C record says its level ("simd") and mask ("simd_mask").

Batched means encode_many over ~64 KiB of frames per call and Decoder.feed over 64 KiB read
chunks; c-frame means one encode() / feed() per frame.  MB/s counts payload bytes (the frame
given to encode / returned by decode, no FCS or flags) per second, 10^6 bytes per MB.  Each
figure is the median of --reps timed repetitions, taken round-robin over every backend of a
case so a noisy moment hits them all alike, on this thread's CPU clock (--clock cpu, the
default: time the scheduler gave to other processes on a shared machine is not counted) or the
wall clock.  256 distinct random frames per size (L2-resident, so branch predictors cannot
learn one frame), or one all-0x7E frame (the wire is twice the payload) for kind=all7e.
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


def _calibrate(fn, min_time: float, clock) -> int:  # noqa: ANN001
    """Calls of fn per timed repetition, so one repetition lasts about min_time."""
    t0 = clock()
    fn()
    once = max(clock() - t0, 1e-7)
    return max(1, int(min_time / once))


def _workload(size: int, kind: str, rng: random.Random) -> list[bytes]:
    if kind == "all7e":
        return [b"\x7e" * size] * FRAMES
    return [rng.randbytes(size) for _ in range(FRAMES)]


def _chunks(stream: bytes) -> list[bytes]:
    return [stream[i:i + CHUNK] for i in range(0, len(stream), CHUNK)]


# SIMD levels: the mask each is measured at, the paths it needs, and the core row's label
LEVELS = {"avx512": ("c-core", 0xFFFFFFFF), "avx2": ("c-core-avx2", 1 | 2 | 4),
          "ssse3": ("c-core-ssse3", 1 | 4), "portable": ("portable-core", 0)}
NEEDS = {"avx512": 8 | 16, "avx2": 1 | 2 | 4, "ssse3": 1 | 4, "portable": 0}


def levels_present() -> list[str]:
    """The SIMD levels the C core can run here (CPU and PPPSTACK_HDLC_SIMD), best first."""
    full = clib.hdlc_set_features(0xFFFFFFFF)
    try:
        return [lv for lv in LEVELS if full & NEEDS[lv] == NEEDS[lv]]
    finally:
        clib.hdlc_set_features(full)


def check_levels(asked: list[str]) -> None:
    have = levels_present()
    missing = [lv for lv in asked if lv not in have]
    if missing:
        raise benchenv.BenchError(
            f"SIMD level {', '.join(missing)} is not available here: this CPU (or PPPSTACK_HDLC_SIMD="
            f"{os.environ.get('PPPSTACK_HDLC_SIMD', '')!r}) gives the C core only {', '.join(have)}. "
            "Ask --simd for those, or run on a machine that has it.", benchenv.BACKEND_MISSING)


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


def _case(args: argparse.Namespace, records: list[dict], naive, frames: list[bytes],  # noqa: ANN001, C901
          size: int, kind: str, accm: int) -> None:
    """Every backend on one (size, payload kind, ACCM) workload, repetitions taken round-robin."""
    total = size * FRAMES
    rows: list[tuple[dict, object, int, int | None]] = []   # record, fn, payload bytes, SIMD mask

    def rec(backend: str, op: str, fn, nbytes: int = total, simd: str | None = None) -> None:  # noqa: ANN001
        r = {"backend": backend, "op": op, "accm": f"0x{accm:08X}", "size": size, "kind": kind}
        mask = None
        if simd is not None:
            mask = LEVELS[simd][1]
            r["simd"], r["simd_mask"] = simd, clib.hdlc_set_features(mask)
        rows.append((r, fn, nbytes, mask))

    wire_frames = [py.encode(f, accm) for f in frames]
    stream = py.encode_many(frames, accm)
    chunks = _chunks(stream)
    top = args.simd[0] if cn is not None else None
    if cn is not None:
        for level in args.simd:
            clib.hdlc_set_features(LEVELS[level][1])
            assert cn.encode_many(frames, accm) == stream, level
            d0, d1 = cn.Decoder(accm), cn.Decoder(accm)
            fed = [f for c in chunks for f in d0.feed(c)]
            assert fed or not frames
            assert [f for c in chunks for f in d1.feed_packed(c).tobytes_list()] == fed, level
        # batched encode: one encode_many per ~64 KiB of frames, what a driver writes at once
        per = max(1, CHUNK // size)
        batches = [frames[i:i + per] for i in range(0, FRAMES, per)]
        publics = [("c", top)] + ([("portable", "portable")] if "portable" in args.simd and top != "portable" else [])
        for label, level in publics:
            rec(label, "encode", lambda: [cn.encode_many(b, accm) for b in batches], simd=level)
            d = cn.Decoder(accm)
            rec(label, "decode", lambda d=d: [d.feed(c) for c in chunks], simd=level)
            # the public batched decode with no object per frame, and the same with a view per frame
            rec(f"{label}-packed", "decode", lambda d=d: [d.feed_packed(c) for c in chunks], simd=level)
            rec(f"{label}-packed-views", "decode", lambda d=d: [d.feed_packed(c).views() for c in chunks],
                simd=level)
        # the C calls alone, no Python objects per frame: like for like with the naive loop
        cffi = cn.ffi
        joined = b"".join(frames)
        lens = cffi.new("size_t[]", [size] * FRAMES)
        cout = cffi.new("char[]", 2 * len(stream) + 64 * FRAMES)
        items = cffi.new("size_t[]", 3 * 4 * FRAMES)
        nitems = cffi.new("size_t *")
        for level in args.simd:
            label = LEVELS[level][0]
            rec(label, "encode", lambda: clib.hdlc_encode_many(cout, joined, lens, FRAMES, accm, 16, 1), simd=level)
            dc = cffi.gc(clib.hdlc_decoder_new(16, accm, 1500 + 6), clib.hdlc_decoder_free)
            rec(label, "decode", lambda dc=dc: clib.hdlc_decode(dc, stream, len(stream), cout, items,
                                                                4 * FRAMES, nitems), simd=level)
        for op in ("encode", "decode"):  # the ceiling, beside each op's bars
            rec("memcpy", op, lambda: cffi.memmove(cout, joined, len(joined)))
        rec("c-frame", "encode", lambda: [cn.encode(f, accm) for f in frames], simd=top)
        d1 = cn.Decoder(accm)
        rec("c-frame", "decode", lambda: [d1.feed(w) for w in wire_frames], simd=top)
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
        rec("python-packed", "decode", lambda: [dp.feed_packed(c) for c in sub_chunks], size * len(sub))
    _measure(args, rows, records)


def _measure(args: argparse.Namespace, rows: list, records: list[dict]) -> None:  # noqa: C901
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    full = clib.hdlc_set_features(0xFFFFFFFF) if clib is not None else None
    loops = []
    for _r, fn, _n, mask in rows:
        if mask is not None:
            clib.hdlc_set_features(mask)
        loops.append(_calibrate(fn, args.min_time, clock))
    samples: list[list[float]] = [[] for _ in rows]
    try:
        for _ in range(args.reps):
            for k, (_r, fn, _n, mask) in enumerate(rows):
                if mask is not None:
                    clib.hdlc_set_features(mask)
                t0 = clock()
                for _ in range(loops[k]):
                    fn()
                samples[k].append((clock() - t0) / loops[k])
    finally:
        if full is not None:
            clib.hdlc_set_features(full)
    for (r, _fn, nbytes, _m), s in zip(rows, samples, strict=True):
        r["MBps"] = round(nbytes / max(statistics.median(s), 1e-12) / 1e6, 1)
        records.append(r)
        if not args.json:
            print(f"{r['backend']:13} {r['op']:6} {r['accm']} {r['size']:5} {r['kind']:6} {r['MBps']:10.1f} MB/s"
                  + (f"  [{r['simd']}]" if "simd" in r else ""), flush=True)


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
    ap.add_argument("--simd", nargs="+", choices=list(LEVELS), default=None,
                    help="C core SIMD levels to measure, best first (default: every level this CPU has); "
                         "one the CPU lacks is an error")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="cpu: this thread's CPU time (default; steady on a shared machine), wall: elapsed")
    args = ap.parse_args()
    if args.no_python:
        args.backends = [b for b in args.backends if b != "python"] or ["c"]
    args.no_python = "python" not in args.backends
    _load(args.backends)
    if clib is not None:
        if args.simd is None:
            args.simd = levels_present()
        else:
            args.simd = sorted(dict.fromkeys(args.simd), key=list(LEVELS).index)
            check_levels(args.simd)
    elif args.simd:
        raise benchenv.BenchError("--simd measures the C core, and --backends does not include c.",
                                  benchenv.BACKEND_MISSING)
    if clib is not None and not args.json:
        print(f"C core SIMD features: 0x{clib.hdlc_features():x} (1=SSSE3 2=AVX2 4=PCLMUL 8=AVX-512 VBMI2 "
              f"16=VPCLMULQDQ); levels measured: {', '.join(args.simd)}; PPPSTACK_HDLC_SIMD="
              f"{os.environ.get('PPPSTACK_HDLC_SIMD', '')!r}; clock: {args.clock}", flush=True)
    env = benchenv.environment(args.backends)
    env["simd_levels"] = args.simd or []
    env["clock"] = "thread CPU time" if args.clock == "cpu" else "wall"
    records = run(args)
    if args.json:
        print(json.dumps({"environment": env, "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(benchenv.run_main(main))
