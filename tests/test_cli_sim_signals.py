"""`pppstack sim` waits on the one loop: SIGTERM, SIGINT and SIGHUP each end it at once with 0,
and the simulated port is gone afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_stops_the_simulator_at_once(sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pppstack", "sim"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()          # printed once the ports exist
        assert os.path.exists(path), (path, proc.stderr.read() if proc.stderr else "")
        t0 = time.monotonic()
        proc.send_signal(sig)
        rc = proc.wait(timeout=20)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read() if proc.stderr else ""
    assert rc == 0 and "Traceback" not in err, err
    assert took < 5, took            # woken by the signal, not found by a timer
    assert not os.path.exists(path)
