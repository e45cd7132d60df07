#!/usr/bin/env python3
"""Many PPP links on one host: does pppstack scale, and is any link starved?

    sudo python bench/bench_scale.py --json          # 8 links, C framing, ~1.5 min

It brings up --links links exactly as bench_link.py brings up one (`pppstack up` in one network
namespace and `pppstack serve` in another, joined by a pty pair; every link has its own two
namespaces, named uniquely for this process, so TUN names never collide), then, interleaved in
each of --reps rounds:

* one link alone (a different one each round): a TCP stream a->b, Mbit/s delivered into the far
  TUN and CPU seconds per GB (user+system of every pppstack process, idle links included);
* every link at once: one TCP stream a->b per link; the aggregate, each link's share (min and max,
  so a starved link shows), and CPU seconds per GB over the same processes;
* the same two with the C relay (bench/c_relay.c, as in bench_link.py) beside every link in its
  namespaces: "c_relay" holds its figures, and "cpu_growth_over_relay_growth" divides pppstack's
  all/one CPU-per-GB ratio by the relay's. Sixteen busy processes on two CPUs cost more per byte
  than two, in the kernel and the scheduler as much as in Python; the relay, with no Python in
  the way, says how much of the growth the machine itself adds (--no-c-baselines skips it).

Before any traffic, with every link up and idle, it records the memory of each `up` and `serve`
process: "memory per idle link" is the `up` process (what a user runs per modem), as resident
set (Rss, which counts the interpreter's shared pages in every process) and as private memory
(what one more link adds); the pair's sum is given too.  "per_gb" says where the CPU
per GB goes, one link against all: user and system seconds, voluntary (wakeups) and involuntary
switches, data packets and ACKs per GB, user microseconds per wakeup, and how busy the whole
machine was.  Each measurement's counters are read in one snapshot from /proc (the namespaces'
TUN counters through /proc/PID/net/dev), so its bytes and CPU seconds cover the same window.

The two CPUs of a small machine are shared by both ends of every link and by the traffic
generators, so the aggregate cannot be N x one link's throughput once one link already uses the
CPUs: "aggregate_over_single" (near 1 when nothing is lost to contention) and the CPU per GB
ratio (near 1 when N links cost no more per byte than one) are the figures that say whether it
scales; "aggregate_over_n_single" is given for completeness.  Needs root.  JSON with --json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import benchenv  # bench/ is sys.path[0]: the installed pppstack, never the clone's tree
from bench_link import CLK, PY, TCP_SEND, CRelay, Link, build_c_relay


def memory_kib(pid: int) -> dict[str, int]:
    """Rss, Pss and Private (Private_Clean + Private_Dirty: what this process alone holds) in KiB."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                    out[key] = int(rest.split()[0])
    except OSError as exc:
        raise benchenv.BenchError(f"cannot read the memory of process {pid} (it exited?): {exc.strerror}") from exc
    return {"rss": out["Rss"], "pss": out["Pss"], "private": out["Private_Clean"] + out["Private_Dirty"]}


def proc_counters(pid: int) -> tuple[float, float, int, int]:
    """(user s, system s, voluntary, involuntary context switches) of one process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    vol = invol = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                vol = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                invol = int(line.split()[1])
    return int(fields[11]) / CLK, int(fields[12]) / CLK, vol, invol


def tun_counters(pid: int, ifname: str) -> tuple[int, int]:
    """(rx bytes, rx packets) of ``ifname`` as seen from process ``pid``'s network namespace:
    /proc/PID/net/dev is that namespace's table, read without starting `ip netns exec`."""
    with open(f"/proc/{pid}/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == ifname:
                v = rest.split()
                return int(v[0]), int(v[1])
    raise benchenv.BenchError(f"{ifname} is gone from the namespace of process {pid}")


def check_alive(links: list[Link]) -> None:
    for i, link in enumerate(links):
        for who, p in zip(("a", "b"), link.workers, strict=True):
            if p.poll() is not None:
                what = "C relay" if isinstance(link, CRelay) else "`pppstack up`" if who == "a" else "`pppstack serve`"
                raise benchenv.BenchError(f"link {i}'s {what} (end {who}) exited (status {p.returncode}) "
                                          "during the run")


def snapshot(links: list[Link], busy: list[Link]) -> dict:
    """Every counter a measurement needs, read at one instant (a few ms: /proc files, no child
    processes), so bytes and CPU cover the same window.  Data is what each busy link's server wrote
    into b's TUN; ACKs are the packets the client wrote into a's TUN."""
    procs = [proc_counters(p.pid) for link in links for p in link.workers]
    with open("/proc/stat") as f:   # the whole machine: user nice system idle iowait irq softirq steal
        ticks = [int(v) for v in f.readline().split()[1:9]]
    return {"t": time.monotonic(), "idle_ticks": ticks[3] + ticks[4], "all_ticks": sum(ticks),
            "data": [tun_counters(link.workers[1].pid, link.ifname) for link in busy],
            "acks": [tun_counters(link.workers[0].pid, link.ifname)[1] for link in busy],
            "user": sum(p[0] for p in procs), "sys": sum(p[1] for p in procs),
            "vol": sum(p[2] for p in procs), "invol": sum(p[3] for p in procs)}


def streams(links: list[Link], busy: list[Link], duration: float) -> dict:
    """A TCP stream a->b on every link in busy at once; Mbit/s per busy link, CPU-s/GB over all
    links (idle ones included), and what the CPU went to: user and system time, context switches
    and packets (data a->b, ACKs b->a) per GB delivered."""
    procs = [(link, link.spawn(link.a.cmd(*PY, "-c", TCP_SEND, link.b_ip, str(duration + 1.5)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)) for link in busy]
    try:
        time.sleep(0.5)   # past TCP slow start
        s0 = snapshot(links, busy)
        time.sleep(duration)
        s1 = snapshot(links, busy)
    finally:
        for link, p in procs:
            p.kill()
            p.wait()
            link.procs.remove(p)
    check_alive(links)
    elapsed = s1["t"] - s0["t"]
    got = [(b1 - b0, p1 - p0) for (b0, p0), (b1, p1) in zip(s0["data"], s1["data"], strict=True)]
    mbit = [n * 8 / elapsed / 1e6 for n, _ in got]
    gb = sum(n for n, _ in got) / 1e9

    def per_gb(key: str, digits: int = 2) -> float | None:
        return round((s1[key] - s0[key]) / gb, digits) if gb else None

    return {"mbit_s": [round(m, 1) for m in mbit], "aggregate_mbit_s": round(sum(mbit), 1),
            "cpu_s_per_gb": round((s1["user"] + s1["sys"] - s0["user"] - s0["sys"]) / gb, 2) if gb else None,
            "user_s_per_gb": per_gb("user"), "sys_s_per_gb": per_gb("sys"),
            "voluntary_switches_per_gb": per_gb("vol", 0), "involuntary_switches_per_gb": per_gb("invol", 0),
            "data_packets_per_gb": round(sum(p for _, p in got) / gb) if gb else None,
            "ack_packets_per_gb": round(sum(a1 - a0 for a0, a1 in zip(s0["acks"], s1["acks"], strict=True)) / gb)
            if gb else None,
            "bytes_per_wakeup": round(gb * 1e9 / (s1["vol"] - s0["vol"])) if s1["vol"] > s0["vol"] else None,
            # user CPU per wakeup of a pppstack process: the same Python per turn costs more on a busier machine
            "user_us_per_wakeup": round((s1["user"] - s0["user"]) / (s1["vol"] - s0["vol"]) * 1e6, 1)
            if s1["vol"] > s0["vol"] else None,
            # how busy both CPUs were (everything on the machine): 1.0 is saturated
            "machine_busy": round(1 - (s1["idle_ticks"] - s0["idle_ticks"])
                                  / max(1, s1["all_ticks"] - s0["all_ticks"]), 3)}


BREAKDOWN = ("user_s_per_gb", "sys_s_per_gb", "voluntary_switches_per_gb", "involuntary_switches_per_gb",
             "data_packets_per_gb", "ack_packets_per_gb", "user_us_per_wakeup", "machine_busy")


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def mb(kib: float) -> float:
    return round(kib / 1024, 1)


def ratio(x: float | None, y: float | None) -> float | None:
    return round(x / y, 3) if x and y else None


def summary(n: int, single: list[dict], every: list[dict]) -> dict:
    """One link alone against n at once: throughput, CPU per GB and fairness (medians of the rounds)."""
    one = median([r["aggregate_mbit_s"] for r in single])
    agg = median([r["aggregate_mbit_s"] for r in every])
    cpu_one = median([r["cpu_s_per_gb"] for r in single])
    cpu_all = median([r["cpu_s_per_gb"] for r in every])
    return {
        "single_link": {"one_way_mbit_s": one, "cpu_s_per_gb": cpu_one},
        "all_links": {"aggregate_mbit_s": agg, "cpu_s_per_gb": cpu_all,
                      "per_link_min_mbit_s": median([min(r["mbit_s"]) for r in every]),
                      "per_link_max_mbit_s": median([max(r["mbit_s"]) for r in every]),
                      "min_over_max": median([ratio(min(r["mbit_s"]), max(r["mbit_s"])) or 0.0 for r in every]),
                      "starved_links": max(sum(1 for m in r["mbit_s"] if m < 0.1 * r["aggregate_mbit_s"] / n)
                                           for r in every)},
        "aggregate_over_single": ratio(agg, one),
        "aggregate_over_n_single": ratio(agg, one * n if one else None),
        "cpu_s_per_gb_all_over_single": ratio(cpu_all, cpu_one),
        # where the CPU per GB goes, one link against all: user/system time, switches and packets per GB
        "per_gb": {name: {k: median([r[k] for r in runs]) for k in BREAKDOWN}
                   for name, runs in (("single_link", single), ("all_links", every))},
        "bytes_per_wakeup": {"single_link": median([r["bytes_per_wakeup"] for r in single]),
                             "all_links": median([r["bytes_per_wakeup"] for r in every])},
    }


def run(args: argparse.Namespace, relay_bin: str | None) -> dict:
    with contextlib.ExitStack() as stack:
        links: list[Link] = []
        t0 = time.monotonic()
        for _ in range(args.links):
            links.append(stack.enter_context(Link(args.backend)))
        setup_s = time.monotonic() - t0
        time.sleep(args.settle)   # idle: negotiation done, nothing flowing
        check_alive(links)
        up_mem = [memory_kib(link.up.pid) for link in links]
        serve_mem = [memory_kib(link.serve.pid) for link in links]
        # the C relay beside every link, in its namespaces: what n links cost when no Python is in
        # the way (the pty, the TUN and the scheduler of n busy pairs on the same CPUs)
        relays = [stack.enter_context(CRelay(link, relay_bin)) for link in links] if relay_bin else []
        single: list[dict] = []
        every: list[dict] = []
        relay_single: list[dict] = []
        relay_every: list[dict] = []
        for rep in range(args.reps):   # interleaved: every kind of run sees the same noise windows
            single.append(streams(links, [links[rep % len(links)]], args.duration))
            every.append(streams(links, links, args.duration))
            if relays:
                relay_single.append(streams(relays, [relays[rep % len(relays)]], args.duration))
                relay_every.append(streams(relays, relays, args.duration))
    mine = summary(args.links, single, every)
    out = {"links": args.links, "backend": args.backend, "duration_s": args.duration, "reps": args.reps,
           "setup_s": round(setup_s, 1), **mine}
    if relays:
        relay = summary(args.links, relay_single, relay_every)
        out["c_relay"] = relay
        # pppstack's own growth: its all/single CPU per GB over the relay's in the same run
        out["cpu_growth_over_relay_growth"] = ratio(mine["cpu_s_per_gb_all_over_single"],
                                                    relay["cpu_s_per_gb_all_over_single"])
    out.update({
        "idle_rss_mb": {"up_median": mb(statistics.median(m["rss"] for m in up_mem)),
                        "up_max": mb(max(m["rss"] for m in up_mem)),
                        "serve_median": mb(statistics.median(m["rss"] for m in serve_mem)),
                        "per_link_pair_max": mb(max(u["rss"] + s["rss"] for u, s in zip(up_mem, serve_mem,
                                                                                           strict=True)))},
        # Rss counts the interpreter's shared pages in every process; Private is what one more link adds
        "idle_private_mb": {"up_median": mb(statistics.median(m["private"] for m in up_mem)),
                            "up_pss_median": mb(statistics.median(m["pss"] for m in up_mem))},
        "runs": {"single": single, "all": every, "relay_single": relay_single, "relay_all": relay_every}
        if args.verbose else None,
    })
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--links", type=int, default=8, help="links at once (default 8)")
    p.add_argument("--duration", type=float, default=3.0, help="seconds per measurement (default 3)")
    p.add_argument("--reps", type=int, default=3, help="rounds of (one link, all links); medians (default 3)")
    p.add_argument("--settle", type=float, default=1.0, help="idle seconds before RSS is read (default 1)")
    p.add_argument("--backend", default="c", choices=("c", "python"), help="framing backend (default c)")
    p.add_argument("--verbose", action="store_true", help="include every run in the JSON")
    p.add_argument("--no-c-baselines", action="store_true",
                   help="skip the C relay (bench/c_relay.c) beside every link, and its one/all figures")
    args = p.parse_args()
    if args.links < 1 or args.reps < 1 or args.duration <= 0:
        raise benchenv.BenchError("--links and --reps must be at least 1 and --duration positive.", 2)
    if os.geteuid() != 0:
        raise benchenv.BenchError("needs root (network namespaces and TUN devices): run it with sudo.",
                                  benchenv.NOT_ROOT)
    env = benchenv.environment([args.backend])
    benchenv.require_backends([args.backend])
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pppbench-c-") as tmp:
        relay_bin = None if args.no_c_baselines else build_c_relay(tmp)[0]
        result = {"benchmark": "scale", "environment": env, **run(args, relay_bin)}
    result["wall_s"] = round(time.monotonic() - t0, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for k, v in result.items():
        if k not in ("environment", "runs"):
            print(f"{k:28s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(benchenv.run_main(main))
