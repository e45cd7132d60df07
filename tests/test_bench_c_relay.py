"""bench_link.py's same-run baselines: the C relay (bench/c_relay.c over the C framing core) carries
TCP and UDP between the bench's namespaces, the C pty ceiling measures both directions, every link
figure is reported as a ratio to the relay, and nothing is left behind. (Speed is never asserted.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:   # a short-lived helper of the bench's, already gone
        return b""


def _c_core_built() -> bool:
    try:
        import pppstack._hdlc_c  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.netns
def test_bench_link_reports_the_c_relay_and_ratios_to_it() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (CI runs as root)")
    backend = "c" if _c_core_built() else "python"
    p = subprocess.run([sys.executable, str(BENCH / "bench_link.py"), "--json", "--backends", backend, "--reps", "1",
                        "--duration", "0.5", "--pty-duration", "0.3"], capture_output=True, text=True, timeout=240,
                       cwd="/")
    assert p.returncode == 0, p.stderr
    names = p.stderr.split()[2:4]
    assert names and not any(n in _namespaces() for n in names), _namespaces()
    doc = json.loads(p.stdout)
    relay = doc["c_relay"]
    # the relay carried TCP one way and 64-byte UDP, and the CPU it used was counted
    assert relay["one_way_a_to_b_mbit_s"] > 0 and relay["udp64_packets_per_s"] > 0, relay
    assert relay["cpu_s_per_gb_one_way"] > 0, relay
    # what the sender got into the link, beside what came out (slack: packets in flight at the edges)
    assert relay["udp64_offered_packets_per_s"] >= relay["udp64_packets_per_s"] * 0.95, relay
    assert all(doc["pty_ceiling_c_mbit_s"][d] > 0 for d in ("master->slave", "slave->master")), doc
    s = doc["backends"][backend]
    same = s["c_relay_same_run"]
    ratios = s["vs_c_relay"]
    assert ratios["one_way_a_to_b"] == round(s["one_way_a_to_b_mbit_s"] / same["one_way_a_to_b_mbit_s"], 3)
    assert ratios["cpu_s_per_gb_one_way"] == round(s["cpu_s_per_gb_one_way"] / same["cpu_s_per_gb_one_way"], 3)
    assert ratios["udp64_packets_per_s"] == round(s["udp64_packets_per_s"] / same["udp64_packets_per_s"], 3)
    assert set(ratios) >= {"one_way_b_to_a", "both_ways_a_to_b", "both_ways_b_to_a"}
    assert s["tcp_a_to_b_share_of_pty_ceiling_c"] > 0
    # both ways judged in the round it was measured, against that round's relay (ours and its own split)
    (rnd,) = s["both_ways"]["rounds"]
    ab, ba = rnd["a_to_b_mbit_s"], rnd["b_to_a_mbit_s"]
    assert ab > 0 and ba > 0 and rnd["relay_one_way_mbit_s"] > 0 and all(rnd["relay_both_ways_mbit_s"]), rnd
    assert rnd["slower_over_faster"] == round(min(ab, ba) / max(ab, ba), 3), rnd
    assert rnd["a_to_b_over_relay"] == pytest.approx(ab / rnd["relay_one_way_mbit_s"], abs=2e-3), rnd
    assert len(rnd["cpu_share_a_b"]) == 2 and all(c > 0 for c in rnd["cpu_share_a_b"]), rnd
    assert s["both_ways"]["rounds_meeting_targets"] == int(rnd["meets_targets"])


@pytest.mark.netns
def test_bench_link_without_a_compiler_says_so_before_setting_anything_up() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (CI runs as root)")
    env = dict(os.environ, CC="/nonexistent/cc")
    p = subprocess.run([sys.executable, str(BENCH / "bench_link.py"), "--json", "--backends", "python"],
                       capture_output=True, text=True, timeout=60, cwd="/", env=env)
    assert p.returncode == 1 and "needs a C compiler" in p.stderr and "--no-c-baselines" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""
    assert "bench_link: namespaces" not in p.stderr   # failed before creating any


@pytest.mark.netns
def test_bench_link_stopped_while_the_c_relay_runs_leaves_nothing() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (CI runs as root)")
    argv = [sys.executable, str(BENCH / "bench_link.py"), "--json", "--backends", "python", "--reps", "5"]
    proc = subprocess.Popen(argv, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("bench_link: namespaces "), line + proc.stderr.read()
        names = line.split()[2:4]
        relays = _wait_for_relays(names)
        build_dir = os.path.dirname(os.readlink(f"/proc/{relays[0]}/exe"))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:   # a failed assertion: still let it clean up, then make sure
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130 and "Traceback" not in err and out == "", err
    assert not any(n in _namespaces() for n in names), _namespaces()
    assert not any(os.path.exists(f"/proc/{p}") for p in relays)
    assert not os.path.exists(build_dir), build_dir


@pytest.mark.netns
def test_the_c_relay_does_not_outlive_a_killed_bench() -> None:
    """SIGKILL leaves the bench no chance to clean up; the relays still go with it (PDEATHSIG).
    What else it leaves (namespaces, pppstack, sinks) this test removes itself."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root (CI runs as root)")
    argv = [sys.executable, str(BENCH / "bench_link.py"), "--json", "--backends", "python", "--reps", "5"]
    proc = subprocess.Popen(argv, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    names: list[str] = []
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("bench_link: namespaces "), line
        names = line.split()[2:4]
        relays = _wait_for_relays(names)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in relays) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in relays)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for n in names:
            for pid in subprocess.run(["ip", "netns", "pids", n], capture_output=True, text=True).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


def _alive(pid: int) -> bool:
    """Running (a zombie the dead bench can no longer reap counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for_relays(names: list[str]) -> list[int]:
    deadline = time.monotonic() + 60
    while "10.99.1.1" not in subprocess.run(["ip", "-n", names[1], "addr"], capture_output=True,
                                            text=True).stdout and time.monotonic() < deadline:
        time.sleep(0.1)   # both relays run once the far end's TUN has its address
    pids = [int(x) for n in names for x in
            subprocess.run(["ip", "netns", "pids", n], capture_output=True, text=True).stdout.split()]
    relays = [p for p in pids if b"c_relay" in _cmdline(p)]
    assert len(relays) == 2, pids
    return relays
