"""Every benchmark that measures a framing backend refuses, with a sentence and exit 4, a backend
that is not built (the C core hidden from the import system, as after an install without a
compiler), before it sets anything up; and records what it measured on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
HIDE_C = ("import sys\n"
          "class _NoCCore:\n"
          "    def find_spec(self, name, path=None, target=None):\n"
          "        if name == 'pppstack._hdlc_c':\n"
          "            raise ImportError('not built (hidden by the test)')\n"
          "sys.meta_path.insert(0, _NoCCore())\n")


@pytest.mark.parametrize("argv", [
    ["bench_datapath.py", "--backends", "c"],
    ["bench_decode.py", "--backend", "c", "--mb", "0.01"],
    ["bench_link.py", "--backends", "c", "--no-c-baselines"],
    ["bench_scale.py", "--backend", "c", "--links", "1"],
], ids=lambda a: a[0])
def test_a_bench_asked_for_a_missing_c_core_says_so(argv: list[str], tmp_path: Path) -> None:
    if os.geteuid() != 0 and argv[0] in ("bench_link.py", "bench_scale.py"):
        pytest.fail("this test needs root (CI runs as root)")
    (tmp_path / "sitecustomize.py").write_text(HIDE_C)
    p = subprocess.run([sys.executable, str(BENCH / argv[0]), *argv[1:]], capture_output=True, text=True,
                       timeout=60, cwd="/", env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert p.returncode == 4, (p.returncode, p.stdout, p.stderr)
    assert "no C framing core" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert "namespaces" not in p.stderr and p.stdout == ""


def test_bench_datapath_records_backend_simd_cpu_and_python() -> None:
    p = subprocess.run([sys.executable, str(BENCH / "bench_datapath.py"), "--json", "--backends", "python",
                        "--packets", "64", "--reps", "3"], capture_output=True, text=True, timeout=120, cwd="/")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    env = doc["environment"]
    assert env["backends"] == ["python"] and env["cpu_model"] and env["python"] and "simd" in env
    (rec,) = doc["records"]
    assert rec["backend"] == "python" and rec["send_ns_per_packet"] > 0 and rec["receive_ns_per_packet_best"] > 0
