"""bench/bench_ncm_real.py without booting its guest: the summary it prints and its refusals.

The bench itself runs in a QEMU guest for minutes, so here only what turns runs into figures is
checked (ratio of medians, per-run ratios, drops summed), and that a bad --src ends with a
sentence and the bench's exit code before any guest starts.  Speed is never asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import bench_ncm_real  # noqa: E402
import benchenv  # noqa: E402

sys.path.remove(str(BENCH))


def _real(rate: float, **drops: int) -> dict[str, object]:
    return {"bytes_per_s": rate, "cpu_busy": 0.9, "summary": {"dropped_by_pppstack": drops.get("ours", 0),
                                                             "usb_tx_dropped": drops.get("ntb", 0)}}


def test_summary_is_ratio_of_medians_with_each_runs_own_ratio_and_drops_summed() -> None:
    runs = {
        "bare-out": [{"bytes_per_s": 10e6, "cpu_busy": 0.6}, {"bytes_per_s": 8e6, "cpu_busy": 0.6},
                     {"bytes_per_s": 12e6, "cpu_busy": 0.6}],
        "real-out": [_real(8e6), _real(7e6, ours=2, ntb=1), _real(6e6)],
        "bare-in": [], "real-in": [_real(1e6)],
    }
    s = bench_ncm_real.summarize(runs)
    assert set(s) == {"out"}                       # no bare loop for "in": no ratio to give
    out = s["out"]
    assert out["bare_mbit_s"] == 80.0 and out["real_mbit_s"] == 56.0 and out["ratio"] == 0.7
    assert out["ratio_per_run"] == [0.8, 0.875, 0.5]
    assert out["dropped_by_pppstack"] == 2 and out["usb_tx_dropped"] == 1


def test_a_src_without_the_packages_is_refused_with_a_sentence(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(BENCH / "bench_ncm_real.py"), "--src", str(tmp_path), "--runs", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == benchenv.FAILED, r
    assert "no ncm/ and pppstack/ there" in r.stderr and "Traceback" not in r.stderr
