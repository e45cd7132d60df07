"""The connect program is waited for on the one loop: its pidfd brings the exit status, a stop
signal ends the wait at once, and without pidfd_open (kernels before 5.3) it still works."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from pppstack.io import dialing
from pppstack.io.session import Signals


def test_the_exit_status_comes_back_when_the_program_ends() -> None:
    p = subprocess.Popen(["sh", "-c", "sleep 0.3; exit 7"])
    t0 = time.monotonic()
    assert dialing._wait_child(p, None) == 7
    assert 0.25 < time.monotonic() - t0 < 5


def test_without_pidfd_the_child_is_still_reaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "pidfd_open")
    p = subprocess.Popen(["sh", "-c", "sleep 0.2; exit 3"])
    assert dialing._wait_child(p, None) == 3


def test_a_stop_signal_ends_the_wait_at_once() -> None:
    with Signals() as signals:
        p = subprocess.Popen(["sleep", "30"])
        try:
            threading.Timer(0.3, os.kill, [os.getpid(), signal.SIGTERM]).start()
            t0 = time.monotonic()
            assert dialing._wait_child(p, signals) is None
            assert time.monotonic() - t0 < 5
            assert signals.stop_requested and signals.signal_name == "SIGTERM"
        finally:
            p.kill()
            p.wait()
