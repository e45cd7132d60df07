#!/usr/bin/env python3
"""Before/after for a data-path change: the same link figures for two pppstack source trees,
interleaved in one run, so a machine whose figures swing 2x between runs still gives a ratio.

    git worktree add /tmp/base main && cp pppstack/_hdlc_c*.so /tmp/base/pppstack/
    sudo python bench/bench_ab.py --base /tmp/base --json      # ~1 min: base vs the installed pppstack

Two links like bench_link.py's (`pppstack up` and `pppstack serve` in two namespaces over a pty),
one running the source tree --base (put first on PYTHONPATH; it needs its C core built or copied
in) and one the installed pppstack. Each round measures both, in alternating order: one-way TCP
a->b (Mbit/s delivered into the far TUN, CPU seconds per GB of both processes, split into user
and system time) and, with --udp64, 64-byte UDP packets/s. Medians of --reps rounds, and
new/base ratios. --warm seconds of traffic first (the first seconds of a link can differ).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

import bench_link as bl
import benchenv  # bench/ is sys.path[0]: the installed pppstack, never the clone's tree


def times(pid: int) -> tuple[float, float]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / bl.CLK, int(fields[12]) / bl.CLK


def tcp(link: bl.Link, duration: float) -> dict[str, float | None]:
    sender = link.spawn(link.a.cmd(*bl.PY, "-c", bl.TCP_SEND, link.b_ip, str(duration + 1.5)),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        b0 = link.b.tun_stat(link.ifname, "rx_bytes")
        t0 = [times(p.pid) for p in link.workers]
        time.sleep(duration)
        t1 = [times(p.pid) for p in link.workers]
        b1 = link.b.tun_stat(link.ifname, "rx_bytes")
    finally:
        sender.kill()
        sender.wait()
        link.procs.remove(sender)
    gb = (b1 - b0) / 1e9
    user = sum(u1 - u0 for (u0, _), (u1, _) in zip(t0, t1, strict=True))
    system = sum(s1 - s0 for (_, s0), (_, s1) in zip(t0, t1, strict=True))
    return {"mbit_s": (b1 - b0) * 8 / duration / 1e6, "cpu_s_per_gb": (user + system) / gb if gb else None,
            "user_s_per_gb": user / gb if gb else None, "sys_s_per_gb": system / gb if gb else None}


def median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return round(statistics.median(got), 2) if got else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="a pppstack source tree (the directory holding pppstack/)")
    p.add_argument("--backend", default="c", choices=("c", "python"))
    p.add_argument("--reps", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--duration", type=float, default=2.5, help="seconds per measurement (default 2.5)")
    p.add_argument("--warm", type=float, default=0.0, help="seconds of traffic on each link first")
    p.add_argument("--udp64", action="store_true", help="also 64-byte UDP packets/s")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args()
    base = os.path.abspath(args.base)
    if not os.path.isfile(os.path.join(base, "pppstack", "__init__.py")):
        raise benchenv.BenchError(f"{base} holds no pppstack/ source tree.", 2)
    if args.backend == "c" and not any(f.startswith("_hdlc_c") for f in os.listdir(os.path.join(base, "pppstack"))):
        raise benchenv.BenchError(f"{base}/pppstack has no built C core (_hdlc_c*.so): build it there or copy the "
                                  "installed one in, or pass --backend python.", benchenv.BACKEND_MISSING)
    if os.geteuid() != 0:
        raise benchenv.BenchError("needs root (network namespaces and TUN devices): run it with sudo.",
                                  benchenv.NOT_ROOT)
    env = benchenv.environment([args.backend])
    benchenv.require_backends([args.backend])
    runs: dict[str, list[dict[str, float | None]]] = {"base": [], "new": []}
    plain = bl.PY
    with contextlib.ExitStack() as stack:
        try:
            bl.PY = ["env", f"PYTHONPATH={base}", *plain]
            links = {"base": stack.enter_context(bl.Link(args.backend))}
        finally:
            bl.PY = plain
        links["new"] = stack.enter_context(bl.Link(args.backend))
        for link in links.values():
            if args.warm:
                tcp(link, args.warm)
        for i in range(args.reps):
            for name in ("base", "new") if i % 2 == 0 else ("new", "base"):
                r = tcp(links[name], args.duration)
                if args.udp64:
                    r["udp64_packets_per_s"] = links[name].udp(64, args.duration)["pkt_s"][0]
                runs[name].append(r)
    keys = list(runs["new"][0])
    summary = {name: {k: median([r[k] for r in rs]) for k in keys} for name, rs in runs.items()}
    ratios = {k: round(n / b, 3) if n and b else None
              for k in keys for n, b in [(summary["new"][k], summary["base"][k])]}
    doc = {"benchmark": "ab", "environment": env, "base": base, "backend": args.backend, "reps": args.reps,
           "duration_s": args.duration, **summary, "new_over_base": ratios, "runs": runs}
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        for name in ("base", "new", "new_over_base"):
            print(f"{name:14} {doc[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(benchenv.run_main(main))
