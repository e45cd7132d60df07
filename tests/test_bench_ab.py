"""bench_ab.py runs the same link figures for a base source tree and the installed pppstack,
interleaved, and prints medians and new/base ratios; a tree that is not one is a sentence.
(Speed is never asserted.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


@pytest.mark.netns
def test_bench_ab_measures_both_trees_and_gives_ratios() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (CI runs as root)")
    p = subprocess.run([sys.executable, str(BENCH / "bench_ab.py"), "--base", str(ROOT), "--backend", "python",
                        "--reps", "2", "--duration", "0.5", "--json"], capture_output=True, text=True, timeout=180,
                       cwd="/")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert len(doc["runs"]["base"]) == len(doc["runs"]["new"]) == 2
    for name in ("base", "new"):
        s = doc[name]
        assert s["mbit_s"] > 0 and s["cpu_s_per_gb"] > 0, s
        assert s["cpu_s_per_gb"] == pytest.approx(s["user_s_per_gb"] + s["sys_s_per_gb"], rel=0.35)
    assert doc["new_over_base"]["mbit_s"] == round(doc["new"]["mbit_s"] / doc["base"]["mbit_s"], 3)
    assert doc["environment"]["backends"] == ["python"]


def test_bench_ab_refuses_a_directory_without_pppstack(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, str(BENCH / "bench_ab.py"), "--base", str(tmp_path)], capture_output=True,
                       text=True, timeout=60, cwd="/")
    assert p.returncode == 2 and "no pppstack/ source tree" in p.stderr and "Traceback" not in p.stderr, p.stderr
