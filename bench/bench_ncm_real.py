"""NCM's real data path against a bare pyusb loop, both through Linux's f_ncm gadget in a guest.

    python3 bench/bench_ncm_real.py [--json] [--seconds 5] [--runs 3] [--cpus 2] [--transfers N]
                                    [--src CHECKOUT] [--profile [cprofile]]

Boots the NCM gadget guest of the interop tests (tests/guest/ncm.py: usb_f_ncm on dummy_hcd,
QEMU with TCG) with the installed ncm and pppstack packages shared read-only (--src: another
checkout's, to time an older version), a fresh guest per run, and times in each run:
  out  bare: pyusb writes pre-built NTBs (our Aggregator's, full-size UDP) one after another
       real: `up --mode ncm`'s own code (run_ncm_up: TUN, bridge loop, NcmLink, UsbPump) in
             a network namespace, fed by a UDP flood into its TUN that offers --offer (1.5) times
             what the bare loop moved just before (a TUN never blocks its sender, so an unpaced
             flood would spend the CPU on packets the full TUN queue drops)
  in   bare: pyusb reads of dwNtbInMaxSize one after another
       real: run_ncm_up again, the flood now from the gadget's side towards our address (usb0's
             queue paces it)
The figure is what crossed USB, read from the gadget's usb0 counters over the same window
(Ethernet bytes it received for out, NTB bytes it sent for in), so both sides of a ratio are
counted by code we did not write.  The real path's --json summary gives its drop counters
(usb_tx_dropped: NTBs pppstack gave up on; dropped_by_pppstack adds packets the L2 shim dropped).
Medians of the runs, ratio = real / bare per direction, and each run's own ratio.  Two vCPUs by
default: the flood and the gadget's kernel work run beside the one CPU a Python process (one
GIL) can use, as on a router with a modem; --cpus 1 puts everything on one CPU.  Figures are
from an emulated machine on a shared host: only ratios mean something.  --transfers sets
PPPSTACK_NCM_TRANSFERS for the real path (1: one synchronous transfer per direction at a time).
--profile samples every thread of the real path and prints, per thread, its CPU seconds (user,
system) and context switches; `--profile cprofile` adds cProfile of the loop's thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import benchenv

CLONE = Path(__file__).resolve().parents[1]
GUEST_SCRIPT = Path(__file__).resolve().with_name("ncm_real_guest.py")
HOST_IP, GADGET_IP, HOST_MAC, GADGET_MAC = "192.168.77.2", "192.168.77.1", "02:00:00:77:00:02", "02:00:00:77:00:01"
PY = "env PYTHONPATH=/mnt/src PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 python3"
STATS = "/sys/class/net/usb0/statistics"


def _installed_root() -> str:
    """The directory holding the installed ncm and pppstack packages (shared into the guest)."""
    benchenv.installed_pppstack()
    import ncm
    import pppstack
    roots = {os.path.dirname(os.path.dirname(os.path.abspath(m.__file__))) for m in (ncm, pppstack)}
    if len(roots) != 1:
        raise benchenv.BenchError(f"ncm and pppstack are installed in different places ({sorted(roots)})")
    return roots.pop()


class Bench:
    def __init__(self, seconds: float, warmup: float = 1.0, src: str | None = None,
                 transfers: int | None = None, cpus: int = 2) -> None:
        sys.path.insert(0, str(CLONE))     # the guest fixture lives with the tests
        try:
            from tests.guest.ncm import GADGET_PID, GADGET_VID, NcmGadgetGuest
        except ImportError as exc:
            raise benchenv.BenchError(f"the NCM guest fixture (tests/guest) is not next to this bench: {exc}") from exc
        finally:
            sys.path.pop(0)
        self.vid, self.pid = GADGET_VID, GADGET_PID
        self.seconds, self.warmup = seconds, warmup
        self.py = PY.replace("env ", f"env PPPSTACK_NCM_TRANSFERS={transfers} ", 1) if transfers else PY
        self.g = NcmGadgetGuest(repo=Path(src or _installed_root()), cpus=cpus)
        try:
            self.g.start()
            self.g.guest.write_file("/tmp/ncmb.py", GUEST_SCRIPT.read_text())
            self.g.shell(f"arp -i usb0 -s {HOST_IP} {HOST_MAC}")
        except BaseException:
            self.g.stop()
            raise

    def stop(self) -> None:
        self.g.stop()

    def _window(self, counters: list[str], procs: tuple[str, ...] = ()) -> tuple[float, float, dict[str, float]]:
        """Bytes per second of the counter files' sum over `seconds` (after `warmup`), how busy the
        guest's CPUs were meanwhile (1 - idle share, /proc/stat) and the CPU-seconds per second each
        process named by /tmp/NAME.pid used (all its threads, /proc/PID/stat utime + stime)."""
        files = " ".join(counters)
        cpu = "; ".join(f"awk '{{print $14+$15}}' /proc/$(cat /tmp/{p}.pid)/stat 2>/dev/null || echo 0" for p in procs)
        cpu = f"; {cpu}" if cpu else ""
        cmd = (f"sleep {self.warmup}; cat /proc/uptime {files}; head -1 /proc/stat{cpu}; sleep {self.seconds}; "
               f"cat /proc/uptime {files}; head -1 /proc/stat{cpu}")
        lines = self.g.shell(cmd, timeout=self.seconds + self.warmup + 30).split()
        n = 2 + len(counters) + 11 + len(procs)       # uptime (2), counters, "cpu" + 10 fields, procs
        a, b = lines[:n], lines[n:2 * n]
        k = 2 + len(counters)
        ticks = [int(y) - int(x) for x, y in zip(a[k + 1:k + 11], b[k + 1:k + 11], strict=True)]
        total = max(1, sum(ticks))
        busy = 1 - (ticks[3] + ticks[4]) / total     # idle + iowait
        dt = float(b[0]) - float(a[0])
        # CPU-seconds per second of each process (USER_HZ is 100 on Linux): up to the vCPU count
        shares = {p: round((float(b[k + 11 + i]) - float(a[k + 11 + i])) / 100 / dt, 3) for i, p in enumerate(procs)}
        rate = (sum(map(float, b[2:k])) - sum(map(float, a[2:k]))) / dt
        return rate, busy, shares

    def bare_out(self) -> dict[str, object]:
        total = self.seconds + self.warmup + 1
        self.g.shell(f"cd /tmp && ({PY} /tmp/ncmb.py bare-out {self.vid:#x} {self.pid:#x} {total} {GADGET_MAC} "
                     "> /tmp/bare-out.json 2>&1 & echo $! > /tmp/bare-out.pid)")
        self._wait_grep("/tmp/bare-out.json", "ready", 60)
        rate, busy, share = self._window([f"{STATS}/rx_bytes"], ("bare-out",))
        self._wait_file("/tmp/bare-out.json", total + 20, lines=2)
        return {"bytes_per_s": rate, "cpu_busy": busy, "cpu_share": share,
                "loop": self._last_json("/tmp/bare-out.json")}

    def _flood(self, ns: str, dst: str, seconds: float, rate: float = 0.0) -> None:
        self.g.shell(f"rm -f /tmp/flood.json; ({ns} {PY} /tmp/ncmb.py flood {dst} 9 {seconds} {rate:.0f} "
                     "> /tmp/flood.json 2>&1 & echo $! > /tmp/flood.pid)")
        self._wait_grep("/tmp/flood.json", "ready", 60)     # Python takes seconds to start here

    def _end(self, name: str) -> None:
        """SIGTERM the guest process whose pid is in /tmp/NAME.pid and wait for it to leave: a flood
        still running while the host side closes and binds again left the gadget sending nothing."""
        self.g.run(f"p=$(cat /tmp/{name}.pid); kill $p 2>/dev/null; i=0; "
                   "while kill -0 $p 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; "
                   "kill -9 $p 2>/dev/null; true", timeout=30)

    def bare_in(self) -> dict[str, object]:
        total = self.seconds + self.warmup + 30      # ended by SIGTERM once the flood has stopped
        self.g.shell(f"cd /tmp && ({PY} /tmp/ncmb.py bare-in {self.vid:#x} {self.pid:#x} {total} "
                     "> /tmp/bare-in.json 2>&1 & echo $! > /tmp/bare-in.pid)")
        self._wait_grep("/tmp/bare-in.json", "ready", 60)
        self._flood("", HOST_IP, total)     # nothing comes back: the bare loop reads and drops
        rate, busy, share = self._window([f"{STATS}/tx_bytes"], ("bare-in", "flood"))
        self._flood_result()
        self._end("bare-in")
        self._wait_file("/tmp/bare-in.json", 20, lines=2)
        return {"bytes_per_s": rate, "cpu_busy": busy, "cpu_share": share,
                "loop": self._last_json("/tmp/bare-in.json")}

    def real(self, direction: str, profile: str | None = None, offer: float = 0.0) -> dict[str, object]:
        """`offer`: datagrams/s the flood offers into the TUN (out only; 0: unpaced)."""
        total = self.seconds + self.warmup + 1
        py = self.py.replace("env ", f"env NCMB_SAMPLE={profile} ", 1) if profile else self.py
        self.g.shell("rm -rf /tmp/ncmbench-run; cd /tmp && (unshare -n sh -c 'ip link set lo up; exec "
                     f"{py} /tmp/ncmb.py real {self.vid:#x} {self.pid:#x} {HOST_IP} {GADGET_IP}' "
                     "> /tmp/real.log 2>&1 & echo $! > /tmp/real.pid)")
        ns = "nsenter -t $(cat /tmp/real.pid) -n"
        rc, _ = self.g.run(f"i=0; until {ns} ip addr show dev ncmb0 2>/dev/null | grep -q 'inet {HOST_IP}'; do "
                           "i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done", timeout=40)
        if rc != 0:
            raise benchenv.BenchError("the real path did not come up in the guest:\n"
                                      + self.g.shell("cat /tmp/real.log"))
        # the gateway's MAC first (ARP), so no packet of the flood waits for it or is dropped;
        # a socket on the receiving side takes the flood, so no ICMP comes back
        self.g.run(f"{ns} ping -c 1 -W 10 {GADGET_IP}", timeout=30)
        self.g.shell(f"rm -f /tmp/sink.out; ({ns if direction == 'in' else ''} {PY} /tmp/ncmb.py sink 9 "
                     "> /tmp/sink.out 2>&1 & echo $! > /tmp/sink.pid)")
        self._wait_grep("/tmp/sink.out", "ready", 60)
        if direction == "out":
            self._flood(ns, GADGET_IP, total + 30, offer)
            rate, busy, share = self._window([f"{STATS}/rx_bytes"], ("real", "flood"))
        else:
            self._flood("", HOST_IP, total + 30)
            rate, busy, share = self._window([f"{STATS}/tx_bytes"], ("real", "flood"))
        flood = self._flood_result()
        self._end("sink")
        self._end("real")
        log = self.g.shell("cat /tmp/real.log")
        summary = next((json.loads(ln) for ln in log.splitlines() if ln.startswith("{")), None)
        if summary is None:
            raise benchenv.BenchError("the real path printed no summary:\n" + log[-3000:])
        if profile:
            print(f"--- real-{direction}: where the threads were\n" + "\n".join(
                ln for ln in log.splitlines() if not ln.startswith("{")), file=sys.stderr)
        return {"bytes_per_s": rate, "cpu_busy": busy, "cpu_share": share, "offered_datagrams_per_s": offer,
                "flood": flood,
                "summary": summary}

    def _flood_result(self) -> dict[str, object]:
        self._end("flood")
        self._wait_file("/tmp/flood.json", 10, lines=2)
        try:
            return self._last_json("/tmp/flood.json")
        except benchenv.BenchError as exc:      # the figure is usb0's counter; this is a detail
            return {"error": str(exc)[:300]}

    def _wait_file(self, path: str, timeout: float, lines: int = 1) -> None:
        self.g.run(f"i=0; until [ \"$(grep -c '^{{' {path} 2>/dev/null)\" -ge {lines} ] || "
                   f"[ $i -ge {int(timeout * 10)} ]; do sleep 0.1; i=$((i+1)); done", timeout=timeout + 5)

    def _wait_grep(self, path: str, word: str, timeout: float) -> None:
        self.g.run(f"i=0; while ! grep -q {word} {path} 2>/dev/null && [ $i -lt {int(timeout * 10)} ]; do "
                   "sleep 0.1; i=$((i+1)); done", timeout=timeout + 5)

    def _last_json(self, path: str) -> dict[str, object]:
        out = self.g.shell(f"cat {path}")
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise benchenv.BenchError(f"{path} in the guest holds no figures:\n{out[-2000:]}") from None


def _mbit(rate: object) -> float:
    return round(float(rate) * 8 / 1e6, 2)  # type: ignore[arg-type]


def summarize(runs: dict[str, list[dict[str, object]]]) -> dict[str, dict[str, object]]:
    """Per direction: medians of the runs, their ratio, each run's own ratio (its bare loop ran
    right before it), and the drop counters of the real path summed over the runs."""
    out: dict[str, dict[str, object]] = {}
    for d in ("out", "in"):
        bare, real = runs[f"bare-{d}"], runs[f"real-{d}"]
        if not bare or not real:
            continue
        b = [float(r["bytes_per_s"]) for r in bare]  # type: ignore[arg-type]
        r = [float(x["bytes_per_s"]) for x in real]  # type: ignore[arg-type]
        sums = [x["summary"] for x in real]
        out[d] = {
            "bare_mbit_s": _mbit(statistics.median(b)), "real_mbit_s": _mbit(statistics.median(r)),
            "ratio": round(statistics.median(r) / statistics.median(b), 3) if statistics.median(b) else None,
            "ratio_per_run": [round(y / x, 3) if x else None for x, y in zip(b, r, strict=False)],
            "bare_mbit_s_runs": [_mbit(x) for x in b], "real_mbit_s_runs": [_mbit(x) for x in r],
            "cpu_busy_bare": [round(float(x["cpu_busy"]), 2) for x in bare],  # type: ignore[arg-type]
            "cpu_busy_real": [round(float(x["cpu_busy"]), 2) for x in real],  # type: ignore[arg-type]
            "dropped_by_pppstack": sum(int(s.get("dropped_by_pppstack", 0)) for s in sums),  # type: ignore[union-attr]
            "usb_tx_dropped": sum(int(s.get("usb_tx_dropped", 0)) for s in sums),  # type: ignore[union-attr]
            "dropped_in_tun_queue": sum(int(s.get("dropped_in_tun_queue", 0)) for s in sums),  # type: ignore[union-attr]
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of one timed window")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["bare-out", "real-out", "bare-in", "real-in"], action="append")
    ap.add_argument("--src", help="share this checkout's ncm/ and pppstack/ into the guest instead of the "
                    "installed ones (to time another version of the code)")
    ap.add_argument("--transfers", type=int, help="PPPSTACK_NCM_TRANSFERS for the real path (1: one "
                    "synchronous transfer at a time per direction, the pump before libusb's asynchronous API)")
    ap.add_argument("--cpus", type=int, default=2, help="the guest's vCPUs (default 2: the flood and the gadget's "
                    "kernel work beside the one CPU a Python process with one GIL can use)")
    ap.add_argument("--offer", type=float, default=1.5,
                    help="the out flood offers this many times the same run's bare figure (0: unpaced)")
    ap.add_argument("--profile", nargs="?", const="1", choices=["1", "cprofile"],
                    help="sample every thread of the real path (in the guest) and print where they spend their "
                    "time and each thread's CPU to stderr; `--profile cprofile` adds the main thread's cProfile")
    a = ap.parse_args()
    env = benchenv.environment(["python"])
    t0 = time.monotonic()
    if a.src and not all(os.path.isdir(os.path.join(a.src, p)) for p in ("ncm", "pppstack")):
        raise benchenv.BenchError(f"--src {a.src}: no ncm/ and pppstack/ there (give a checkout's top directory)")
    runs: dict[str, list[dict[str, object]]] = {k: [] for k in ("bare-out", "real-out", "bare-in", "real-in")}
    for _ in range(a.runs):
        # A fresh guest per run: after a session that ended under IN load the gadget (f_ncm on
        # Debian's 6.1) sent nothing more to the next session, even after leaving the bus.
        try:
            b = Bench(a.seconds, src=a.src, transfers=a.transfers, cpus=a.cpus)
        except Exception as exc:  # noqa: BLE001 - a sentence, not a traceback
            raise benchenv.BenchError(f"the NCM gadget guest did not start: {exc}") from exc
        try:
            for case in runs:
                if a.only and case not in a.only:
                    continue
                kind, direction = case.split("-")
                if kind == "real":
                    # into a TUN the flood offers OFFER x what the bare loop moved just before (a
                    # frame is 1514 bytes on usb0's counter): enough to show a path that keeps up
                    bare = runs[f"bare-{direction}"]
                    offer = a.offer * float(bare[-1]["bytes_per_s"]) / 1514 \
                        if bare and direction == "out" else 0.0  # type: ignore[arg-type]
                    r = b.real(direction, a.profile, offer)
                else:
                    r = getattr(b, f"bare_{direction}")()
                print(case, json.dumps(r), file=sys.stderr, flush=True)
                runs[case].append(r)
        finally:
            b.stop()
    doc = {"benchmark": "ncm_real", "environment": env, "code_in_guest": a.src or _installed_root(),
           "transfers": a.transfers, "guest": f"QEMU TCG, {a.cpus} vCPU, usb_f_ncm on dummy_hcd",
           "seconds_per_window": a.seconds, "boot_and_run_seconds": round(time.monotonic() - t0, 1),
           "directions": summarize(runs), "runs": runs}
    if a.json:
        print(json.dumps(doc, indent=1))
    else:
        for d, r in doc["directions"].items():   # type: ignore[attr-defined]
            print(f"{d:3}: real {r['real_mbit_s']} Mbit/s, bare loop {r['bare_mbit_s']} Mbit/s, ratio "
                  f"{r['ratio']} (per run {r['ratio_per_run']}), dropped by pppstack {r['dropped_by_pppstack']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(benchenv.run_main(main))
