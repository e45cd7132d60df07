"""`pppstack status` for a normal user shows root's links, and two links that are both `ppp0` in
two network namespaces are two links, not one file overwritten every two seconds.

Root runs two `up --simulate --stay` in two fresh namespaces with the system run directory pointed
at a private place (PPPSTACK_RUN_DIR, so the test touches no global path); a normal user then
runs plain `pppstack status` — no --run-dir — and must see both.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from pppstack.io.hooks import status_files

pytestmark = pytest.mark.netns

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]


def _phases(run_dir: str) -> list[str]:
    out = []
    for path in status_files(run_dir):
        try:
            with open(path) as f:
                out.append(json.load(f).get("phase"))
        except (OSError, ValueError):
            out.append("")
    return out


def test_user_sees_roots_links_in_two_namespaces_with_one_name() -> None:
    names = [f"pppstack-st-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="pppstack-status-") as d:
        os.chmod(d, 0o755)
        run_dir = os.path.join(d, "run")  # created by `up` itself: its mode must let users read
        env = dict(os.environ, PYTHONPATH=ROOT, PPPSTACK_RUN_DIR=run_dir)
        try:
            for ns in names:
                subprocess.run(["ip", "netns", "add", ns], check=True)
                procs.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "pppstack", "up",
                                               "--simulate", "--stay", "--quiet"],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env))
            deadline = time.monotonic() + 60
            while _phases(run_dir).count("up") < 2:
                assert time.monotonic() < deadline and all(p.poll() is None for p in procs), _phases(run_dir)
                time.sleep(0.05)
            user = subprocess.run(UNPRIVILEGED + [sys.executable, "-m", "pppstack", "status", "--json"],
                                  capture_output=True, text=True, env=dict(env, HOME="/tmp"), timeout=30)
            assert user.returncode == 0, user.stderr + user.stdout
            links = json.loads(user.stdout)
            assert [st["ifname"] for st in links] == ["ppp0", "ppp0"], links
            assert len({st["netns"] for st in links}) == 2 and all(st["phase"] == "up" for st in links), links
            text = subprocess.run(UNPRIVILEGED + [sys.executable, "-m", "pppstack", "status", "ppp0"],
                                  capture_output=True, text=True, env=dict(env, HOME="/tmp"), timeout=30).stdout
            assert text.count("ppp0 (network namespace ") == 2 and "100.68.27.142" in text, text
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(30)
            for ns in names:
                subprocess.run(["ip", "netns", "del", ns], check=False)
        assert not status_files(run_dir), "the status files go with the links"
