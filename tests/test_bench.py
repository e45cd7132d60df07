"""The benchmarks measure the installed package, say what they measured, refuse a backend that is
not built, and leave nothing behind however they end. (Speed itself is never asserted.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pppstack

BENCH = Path(__file__).resolve().parent.parent / "bench"
HDLC_SMALL = ["--sizes", "64", "--kinds", "random", "--reps", "1", "--min-time", "0.001", "--python-frames", "4"]


def _bench(script: str, *args: str, env: dict[str, str] | None = None, python: tuple[str, ...] = (sys.executable,),
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # from a directory that holds no pppstack: only the installed package can be found
    return subprocess.run([*python, str(BENCH / script), *args], capture_output=True, text=True, timeout=timeout,
                          cwd="/", env=env or dict(os.environ))


def _c_core_built() -> bool:
    try:
        import pppstack._hdlc_c  # noqa: F401
    except ImportError:
        return False
    return True


def test_bench_hdlc_json_records_backend_simd_cpu_and_python() -> None:
    if not _c_core_built():
        p = _bench("bench_hdlc.py", "--json", *HDLC_SMALL)
        assert p.returncode == 4 and "no C framing core" in p.stderr and "Traceback" not in p.stderr, p.stderr
        return
    p = _bench("bench_hdlc.py", "--json", *HDLC_SMALL)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    env = doc["environment"]
    assert env["backends"] == ["c", "python"]
    assert env["pppstack"].startswith(os.path.dirname(pppstack.__file__) + " ")   # what this Python imports
    assert isinstance(env["simd"]["mask"], int) and env["simd"]["paths"] is not None
    assert env["cpu_model"] and env["python"] == ".".join(map(str, sys.version_info[:3]))
    measured = {r["backend"] for r in doc["records"]}
    assert {"c", "c-frame", "python"} <= measured


def test_bench_hdlc_refuses_a_backend_that_is_not_built(tmp_path: Path) -> None:
    """The C core hidden from the import system, as after an install without a compiler: asking for
    it is an error with a sentence (exit 4), not a table of Python rows and exit 0."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoCCore:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pppstack._hdlc_c':\n"
        "            raise ImportError('not built (hidden by the test)')\n"
        "sys.meta_path.insert(0, _NoCCore())\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    p = _bench("bench_hdlc.py", *HDLC_SMALL, env=env)
    assert p.returncode == 4, (p.returncode, p.stdout, p.stderr)
    assert "no C framing core" in p.stderr and "--backends python" in p.stderr and "Traceback" not in p.stderr
    assert "MB/s" not in p.stdout
    p = _bench("bench_hdlc.py", "--backends", "python", *HDLC_SMALL, env=env)
    assert p.returncode == 0 and "python" in p.stdout and "c-frame" not in p.stdout, p.stderr


def test_benches_never_import_the_clones_tree() -> None:
    """Without site-packages (python -S) pppstack is not installed for that interpreter: the
    benchmarks must say so rather than import the source tree next to them."""
    for script in ("bench_hdlc.py", "bench_ntb.py"):
        p = _bench(script, "--json", python=(sys.executable, "-S"))
        assert p.returncode == 2, (script, p.returncode, p.stdout[-500:], p.stderr)
        assert "is not installed" in p.stderr and "pip install ." in p.stderr and "Traceback" not in p.stderr


def test_bench_ntb_json_records_the_environment() -> None:
    p = _bench("bench_ntb.py", "--json", "--seconds", "0.01", "--repeat", "1")
    assert p.returncode == 0, p.stderr
    env = json.loads(p.stdout)["environment"]
    assert env["backends"] == ["python"] and env["cpu_model"] and env["python"]


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@pytest.mark.netns
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_bench_link_cleans_up_when_stopped(sig: signal.Signals) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (CI runs as root)")
    argv = [sys.executable, str(BENCH / "bench_link.py"), "--json", "--backends", "python", "--reps", "5"]
    proc = subprocess.Popen(argv, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()       # printed once both namespaces exist
        assert line.startswith("bench_link: namespaces "), line + proc.stderr.read()
        names = line.split()[2:4]
        assert all(n in _namespaces() for n in names)
        deadline = time.monotonic() + 60    # stop it mid-measurement: once the link carries traffic
        while "pppb0" not in subprocess.run(["ip", "-n", names[0], "link"], capture_output=True,
                                            text=True).stdout and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert out == ""
    assert not any(n in _namespaces() for n in names), _namespaces()


def test_decode_bench_compares_with_tshark_on_the_same_bytes() -> None:
    proc = _bench("bench_decode.py", "--mb", "0.2")
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)["records"]
    assert {(r["capture"], r["tool"]) for r in records} == {
        (c, t) for c in ("flood-7e7d", "lcp-mixed") for t in ("pppstack", "tshark")}
    ours = {r["capture"]: r for r in records if r["tool"] == "pppstack"}
    assert ours["flood-7e7d"]["output_bytes"] < 1000      # one line for the run, plus the summary
    assert all(r["seconds"] > 0 and r["MB"] == 0.2 for r in records)
