"""`pppstack decode` against tshark on the same capture, both writing their full text output.

    python bench/bench_decode.py [--mb 50] [--backend c|python]   # JSON: {"benchmark": "decode",
        "environment": {...}, "records": [{"capture","MB","tool","seconds","MBps","output_bytes"}, ...]}

Captures (raw HDLC byte streams, built here; tshark reads the same bytes as a pcap of 64 KiB
packets on a user DLT decoded by its ppp_raw_hdlc dissector, and prints every item with -V):
  flood-7e7d   `7e 7d` pairs: one aborted frame per two octets (issue 12 §7)
  lcp-mixed    distinct well-formed LCP Echo-Request and IPv4 frames of 40-1450 octets, ACCM
               all ones, 1 % with a bad FCS
Seconds are wall time of the whole command (output to a file) and its CPU time, the median of --reps runs.
`pppstack decode` runs on the framing backend --backend names (default: the C core when built);
one asked for but not built is an error with a sentence.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import benchenv  # bench/ is sys.path[0]: the installed pppstack, never the clone's tree

USER_DLT = 147
TSHARK_DLT = '"User 0 (DLT=147)","ppp_raw_hdlc","0","","0",""'


def _flood(size: int) -> bytes:
    return b"\x7e\x7d" * (size // 2)


def _mixed(size: int) -> bytes:
    from pppstack.hdlc import _python as hdlc  # the executable spec builds the capture, whatever is measured

    rng = random.Random(1662)
    out = bytearray()
    while len(out) < size:
        # well-formed, so tshark dissects every frame to the end (a malformed one ends its packet)
        body = rng.randbytes(rng.randrange(20, 1400))
        if rng.random() < 0.5:    # LCP Echo-Request: code 9, id, length, magic, data
            frame = b"\xff\x03\xc0\x21" + bytes([9, rng.randrange(256)]) + (8 + len(body)).to_bytes(2, "big") \
                + rng.randbytes(4) + body
        else:                     # IPv4, protocol 253 (experimental): header then data
            frame = b"\xff\x03\x00\x21" + bytes([0x45, 0]) + (20 + len(body)).to_bytes(2, "big") \
                + bytes([0, 1, 0x40, 0, 64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]) + body
        wire = bytearray(hdlc.encode(frame, 0xFFFFFFFF, 16))
        if rng.random() < 0.01:
            wire[len(wire) // 2] ^= 0x01
        out += wire
    return bytes(out[:size])


def _pcap(data: bytes, path: str) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, USER_DLT))
        for i in range(0, len(data), 65536):
            c = data[i:i + 65536]
            f.write(struct.pack("<IIII", i // 65536, 0, len(c), len(c)) + c)


def _run(argv: list[str], out_path: str) -> tuple[float, float, int]:
    start = time.monotonic()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - start
    if status:
        raise benchenv.BenchError(f"{argv[0]} failed (wait status {status})")
    return elapsed, usage.ru_utime + usage.ru_stime, os.path.getsize(out_path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=50)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--backend", choices=("c", "python"), help="framing backend of `pppstack decode` "
                   "(default: the C core when built, else Python)")
    args = p.parse_args()
    backend = args.backend or ("c" if benchenv.c_core() is not None else "python")
    env = benchenv.environment([backend])
    benchenv.require_backends([backend])
    if shutil.which("tshark") is None:
        raise benchenv.BenchError("tshark is not installed (apt-get install tshark).")
    size = int(args.mb * 1_000_000)
    records = []
    with tempfile.TemporaryDirectory(prefix="pppstack-bench-decode-") as tmp:
        for name, make in (("flood-7e7d", _flood), ("lcp-mixed", _mixed)):
            raw, pcap, out = (os.path.join(tmp, f"{name}.{ext}") for ext in ("bin", "pcap", "out"))
            data = make(size)
            with open(raw, "wb") as f:
                f.write(data)
            _pcap(data, pcap)
            for tool, argv in (("pppstack", ["env", f"PPPSTACK_HDLC={backend}", sys.executable, "-P", "-m",
                                             "pppstack", "decode", raw]),
                               ("tshark", ["tshark", "-o", f"uat:user_dlts:{TSHARK_DLT}", "-r", pcap, "-V"])):
                runs = [_run(argv, out) for _ in range(args.reps)]
                secs = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                records.append({"capture": name, "MB": len(data) / 1e6, "tool": tool, "seconds": round(secs, 3),
                                "cpu_seconds": round(cpu, 3), "MBps": round(len(data) / 1e6 / secs, 2),
                                "output_bytes": runs[-1][2]})
    print(json.dumps({"benchmark": "decode", "environment": {**env, "tshark": _tshark_version()},
                      "records": records}, indent=1))
    return 0


def _tshark_version() -> str:
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "?"


if __name__ == "__main__":
    raise SystemExit(benchenv.run_main(main))
