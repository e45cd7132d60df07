"""Ctrl-C tells the truth: before the link is up it is INTERRUPTED (24) with a sentence, never a
traceback, never "ended normally"; during the demo's pings it says the demo was interrupted.

Each case puts the signal at a point the test can see (a module loaded, a log line printed, a
packet answered) rather than after a guessed delay.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]


class Stderr:
    """Collects a child's stderr in a thread so the test can wait for a line with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.text = proc, ""
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.text += line

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            assert time.monotonic() < deadline and self.proc.poll() is None, (needle, self.text)
            time.sleep(0.005)

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        rc = self.proc.wait(timeout)
        self._t.join(5)
        return rc, self.text


def _assert_truthful(text: str) -> None:
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert "None" not in text, text


def test_ctrl_c_while_the_commands_load_is_a_sentence_not_a_traceback() -> None:
    # The signal is raised in the main thread the moment the `up` subcommand's module starts
    # loading (inside main()): an import hook sends it, so no thread has to win a race for the
    # CPU (with a watcher thread, a loaded machine once ran the whole demo before it fired).
    code = ("import importlib.abc, os, signal, sys\n"
            "class Fire(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'pppstack.cli.up':\n"
            "            sys.meta_path.remove(self)\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "        return None\n"
            "sys.meta_path.insert(0, Fire())\n"
            # a user at a terminal: Ctrl-C is live (a suite started in the background hands its
            # children SIGINT ignored, and main() rightly leaves an ignored SIGINT alone)
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from pppstack.cli import main\n"
            "raise SystemExit(main(['up', '--simulate', '--run-dir', sys.argv[1]]))\n")
    with tempfile.TemporaryDirectory(prefix="pppstack-int-") as d:
        os.chmod(d, 0o777)
        proc = subprocess.run(UNPRIVILEGED + [sys.executable, "-c", code, os.path.join(d, "run")],
                              capture_output=True, text=True, env=dict(ENV, HOME="/tmp"), timeout=60)
    _assert_truthful(proc.stderr)
    assert proc.returncode == 24, proc.stderr
    assert "interrupted" in proc.stderr.lower() or "Stopped" in proc.stderr


def test_ctrl_c_during_the_dial_is_interrupted() -> None:
    with tempfile.TemporaryDirectory(prefix="pppstack-int-") as d:
        os.chmod(d, 0o777)
        proc = subprocess.Popen(UNPRIVILEGED + [sys.executable, "-m", "pppstack", "up", "--simulate",
                                                "--run-dir", os.path.join(d, "run")],
                                stderr=subprocess.PIPE, text=True, env=dict(ENV, HOME="/tmp"))
        err = Stderr(proc)
        err.wait_for("dialling on")
        proc.send_signal(signal.SIGINT)
        rc, text = err.finish()
    _assert_truthful(text)
    assert rc == 24, text
    assert "ended normally" not in text and "ping through" not in text, text


@pytest.mark.netns
def test_ctrl_c_after_lcp_before_ipcp_is_interrupted_not_ok() -> None:
    """A peer that completes LCP but never answers IPCP/IPv6CP: Ctrl-C then is 24, not 0."""
    from ppp_support import server

    from pppstack import hdlc
    from pppstack.wire import split_frame

    ns = f"pppstack-int-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    master, slave = os.openpty()
    import tty

    tty.setraw(slave)
    peer = server()
    from_client, from_peer = hdlc.Decoder(accm=0), hdlc.Decoder(accm=0)
    try:
        with tempfile.TemporaryDirectory(prefix="pppstack-int-") as d:
            proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "pppstack", "up",
                                     "--device", os.ttyname(slave), "--no-dial", "--run-dir", d],
                                    stderr=subprocess.PIPE, text=True, env=ENV)
            err = Stderr(proc)
            peer.open(time.monotonic())
            deadline = time.monotonic() + 30
            while "LCP is up" not in err.text:
                assert time.monotonic() < deadline and proc.poll() is None, err.text
                if select.select([master], [], [], 0.05)[0]:
                    for frame in from_client.feed(os.read(master, 4096)):
                        if split_frame(frame)[0] == 0xC021:  # only LCP reaches the peer
                            peer.receive_data(hdlc.encode(frame), time.monotonic())
                now = time.monotonic()
                if (t := peer.get_timer()) is not None and now >= t:
                    peer.handle_timer(now)
                for frame in from_peer.feed(peer.data_to_send()):
                    if split_frame(frame)[0] == 0xC021:
                        os.write(master, hdlc.encode(frame))
            proc.send_signal(signal.SIGINT)
            rc, text = err.finish()
    finally:
        os.close(master)
        os.close(slave)  # held until here: the master never reads EIO while the child opens the port
        subprocess.run(["ip", "netns", "del", ns], check=False)
    _assert_truthful(text)
    assert "IPCP is up" not in text
    assert rc == 24, text
    assert "ended normally" not in text and "before the link came up" in text, text


def test_ctrl_c_during_the_pings_says_interrupted_not_lost() -> None:
    with tempfile.TemporaryDirectory(prefix="pppstack-int-") as d:
        os.chmod(d, 0o777)
        proc = subprocess.Popen(UNPRIVILEGED + [sys.executable, "-m", "pppstack", "up", "--simulate",
                                                "--run-dir", os.path.join(d, "run")],
                                stderr=subprocess.PIPE, text=True, env=dict(ENV, HOME="/tmp"))
        err = Stderr(proc)
        err.wait_for("icmp_seq=1 ")
        proc.send_signal(signal.SIGINT)
        rc, text = err.finish()
    _assert_truthful(text)
    summary = text[text.index("pppstack: "):]
    assert "interrupted by SIGINT" in summary, text
    assert "replies" not in summary and "next: add --stay" not in summary, text
