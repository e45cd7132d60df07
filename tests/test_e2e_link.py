"""End to end: `pppstack up` in one network namespace, `pppstack serve` in another, a pty between.

Both sides run the real CLI as separate processes with real TUN devices.  Proven here: LCP/IPCP
over the pty, addresses and routes on both TUNs, `ping` across, a 100 MB TCP transfer whose
SHA-256 matches, the status file, a clean SIGTERM (interface gone), and `persist`: kill the far
side mid-transfer, see the cause named in the log, and see the same interface come back.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from pppstack.io.hooks import status_files

pytestmark = pytest.mark.netns


@pytest.fixture
def tmp_path():
    """A private directory: pytest's shared numbered temp dirs are pruned by other pytest runs on a
    shared machine while our child processes still use them."""
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pppstack-e2e-") as d:
        yield pathlib.Path(d)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), ROOT])),
           PYTHONUNBUFFERED="1")
SERVER_IP, CLIENT_IP = "10.64.0.1", "10.64.0.2"


class Netns:
    def __init__(self, tag: str) -> None:
        self.name = f"pppstack-{tag}-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)

    def cmd(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.cmd(*argv), capture_output=True, text=True, timeout=timeout, env=ENV)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


class Proc:
    """A child whose stderr is collected in the background (the CLI logs there)."""

    def __init__(self, argv: list[str], pass_fds: tuple[int, ...] = ()) -> None:
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV,
                                  pass_fds=pass_fds, text=True)
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 20.0, start: int = 0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in "".join(self.lines[start:]):
                return
            if self.p.poll() is not None:
                self._t.join(5)   # it exited: the pump ends at end of file, with every line read
                if text in "".join(self.lines[start:]):
                    return
                break
            time.sleep(0.05)
        raise AssertionError(f"never saw {text!r}; log so far:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._t.join(2)
        return self.p.returncode


def pppstack(*args: str) -> list[str]:
    return [sys.executable, "-m", "pppstack", *args]


@pytest.fixture
def namespaces():
    a, b = Netns("up"), Netns("serve")
    try:
        yield a, b
    finally:
        a.delete()
        b.delete()


_HELD: list[int] = []


def _raw_pty() -> tuple[int, str]:
    """A raw pty pair.  The slave stays open here (never read) until the test ends: a master whose
    slave is closed reads EIO, which the far side would rightly call a hang-up."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    _HELD.append(slave)
    return master, os.ttyname(slave)


@pytest.fixture(autouse=True)
def _release_ptys():
    yield
    while _HELD:
        try:
            os.close(_HELD.pop())
        except OSError:
            pass


def _start_pair(a: Netns, b: Netns, tmp, extra_up: tuple[str, ...] = (),
                device: str | None = None, serve_master: int | None = None,
                serve_device: str | None = None) -> tuple[Proc, Proc]:
    if serve_master is not None:
        serve = Proc(b.cmd(*pppstack("serve", "--fd", str(serve_master), "--local", SERVER_IP, "--remote",
                                     CLIENT_IP, "--ms-dns", "10.64.0.53", "--run-dir", str(tmp / "b"),
                                     "--lcp-echo-interval", "1", "--lcp-echo-failure", "3")),
                     pass_fds=(serve_master,))
    else:
        serve = Proc(b.cmd(*pppstack("serve", "--device", serve_device or "", "--local", SERVER_IP, "--remote",
                                     CLIENT_IP, "--ms-dns", "10.64.0.53", "--run-dir", str(tmp / "b"),
                                     "--lcp-echo-interval", "1", "--lcp-echo-failure", "3")))
    up = Proc(a.cmd(*pppstack("up", "--device", device or "", "--no-dial", "--usepeerdns", "--run-dir",
                              str(tmp / "a"), "--ifname", "ppp7", "--lcp-echo-interval", "1",
                              "--lcp-echo-failure", "3", *extra_up)))
    return up, serve


RECEIVER = textwrap.dedent("""
    import hashlib, socket, sys
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
    print("listening", flush=True)
    c, _ = s.accept(); h = hashlib.sha256(); n = 0
    while True:
        b = c.recv(1 << 20)
        if not b: break
        h.update(b); n += len(b)
    print(n, h.hexdigest(), flush=True)
""")

SENDER = textwrap.dedent("""
    import hashlib, socket, sys
    total = int(sys.argv[3]); block = hashlib.sha256(b"pppstack").digest() * 2048   # 64 KiB, not all zeros
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
    h = hashlib.sha256(); sent = 0; i = 0
    while sent < total:
        chunk = bytes([i & 0xFF]) + block[: min(len(block), total - sent) - 1]
        s.sendall(chunk); h.update(chunk); sent += len(chunk); i += 1
    s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
    print(sent, h.hexdigest(), flush=True)
""")


def test_up_and_serve_ping_tcp_100mb_status_and_clean_stop(namespaces, tmp_path) -> None:
    a, b = namespaces
    master, slave_path = _raw_pty()
    hook = tmp_path / "hook"
    hook.write_text('#!/bin/sh\necho "$0 $1 $4 $5 IPLOCAL=$IPLOCAL IPREMOTE=$IPREMOTE DNS1=$DNS1 '
                    'USEPEERDNS=$USEPEERDNS BYTES_SENT=$BYTES_SENT CONNECT_TIME=$CONNECT_TIME" >> "$0.log"\n')
    hook.chmod(0o755)
    os.symlink(hook, tmp_path / "ip-up")
    os.symlink(hook, tmp_path / "ip-down")
    try:
        up, serve = _start_pair(a, b, tmp_path, device=slave_path, serve_master=master,
                                extra_up=("--ip-up", str(tmp_path / "ip-up"), "--ip-down", str(tmp_path / "ip-down")))
    finally:
        os.close(master)  # the serve child holds its own copy
    procs: list[subprocess.Popen] = []
    try:
        try:
            up.wait_for("IPCP is up", 30)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nserve's log:\n{serve.log}") from None
        serve.wait_for("IPCP is up", 10)
        # addresses and routes on both TUNs
        addr_a = a.run("ip", "-4", "addr", "show", "ppp7").stdout
        assert f"inet {CLIENT_IP} peer {SERVER_IP}/32" in addr_a, addr_a
        addr_b = b.run("ip", "-4", "addr", "show").stdout
        assert f"inet {SERVER_IP} peer {CLIENT_IP}/32" in addr_b, addr_b
        # DNS went to our own file, not /etc/resolv.conf
        assert (tmp_path / "a" / "ppp7" / "resolv.conf").read_text().count("nameserver 10.64.0.53") == 1
        # ping across, both ways
        ping = a.run("ping", "-c", "3", "-i", "0.2", "-W", "2", SERVER_IP)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        ping = b.run("ping", "-c", "2", "-i", "0.2", "-W", "2", CLIENT_IP)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        # 100 MB over TCP, checksum compared
        recv = subprocess.Popen(b.cmd(sys.executable, "-c", RECEIVER, SERVER_IP, "5001"), stdout=subprocess.PIPE,
                                text=True, env=ENV)
        procs.append(recv)
        assert recv.stdout is not None and recv.stdout.readline().strip() == "listening"
        total = 100 * 1024 * 1024
        t0 = time.monotonic()
        sent = a.run(sys.executable, "-c", SENDER, SERVER_IP, "5001", str(total), timeout=300)
        elapsed = time.monotonic() - t0
        assert sent.returncode == 0, sent.stderr
        got = recv.communicate(timeout=60)[0].split()
        n_sent, digest_sent = sent.stdout.split()
        assert int(n_sent) == total and int(got[0]) == total
        assert got[1] == digest_sent
        print(f"100 MiB over PPP in {elapsed:.1f} s = {total * 8 / elapsed / 1e6:.0f} Mbit/s")
        # status file and `pppstack status`
        deadline = time.monotonic() + 6  # the file is rewritten every 2 s
        while True:
            st = subprocess.run(pppstack("status", "--run-dir", str(tmp_path / "a"), "--json", "ppp7"),
                                capture_output=True, text=True, env=ENV, timeout=30)
            status = json.loads(st.stdout)
            if status["counters"]["bytes_sent"] > total or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status["phase"] == "up" and status["local"] == CLIENT_IP and status["peer"] == SERVER_IP
        assert status["dns"] == ["10.64.0.53"] and status["alive"]
        assert status["counters"]["bytes_sent"] > total
        human = subprocess.run(pppstack("status", "--run-dir", str(tmp_path / "a")), capture_output=True,
                               text=True, env=ENV, timeout=30).stdout
        assert f"{CLIENT_IP} -> peer {SERVER_IP}" in human
        # clean stop: LCP Terminate, the peer sees it, the interface and status file are gone
        assert up.stop(signal.SIGTERM) == 0, up.log
        assert "SIGTERM" in up.log
        assert "ppp7" not in a.run("ip", "link").stdout
        assert not status_files(str(tmp_path / "a"), "ppp7")
        assert not (tmp_path / "a" / "ppp7" / "resolv.conf").exists()
        # ip-up and ip-down ran with pppd's arguments and environment
        up_log = (tmp_path / "ip-up.log").read_text()
        assert f"ip-up ppp7 {CLIENT_IP} {SERVER_IP} IPLOCAL={CLIENT_IP} IPREMOTE={SERVER_IP} DNS1=10.64.0.53 " \
               "USEPEERDNS=1 BYTES_SENT= CONNECT_TIME=" in up_log, up_log
        down = (tmp_path / "ip-down.log").read_text()
        assert f"ip-down ppp7 {CLIENT_IP} {SERVER_IP}" in down
        assert int(down.split("BYTES_SENT=")[1].split()[0]) > total, down
        serve.p.wait(15)
        assert "ended the link" in serve.log or "Terminate" in serve.log, serve.log
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        up.stop(signal.SIGKILL)
        serve.stop(signal.SIGKILL)


class Bridge:
    """Copy bytes between two pty masters; when one side hangs up, hang up the other (close its
    master), as a modem does when the network side goes away.

    Each slave is held open here until its program has written something (before that a master
    reads EIO); after that an EIO means the program closed the line.
    """

    def __init__(self, m1: int, m2: int) -> None:
        self.m1, self.m2 = m1, m2
        self.held = {m: _HELD.pop() for m in (m2, m1)}  # the two slaves _raw_pty just opened
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self) -> None:
        other = {self.m1: self.m2, self.m2: self.m1}
        pending = {self.m1: bytearray(), self.m2: bytearray()}  # bytes waiting to be written to fd
        for fd in other:
            os.set_blocking(fd, False)
        try:
            while True:
                readers = [fd for fd in other if len(pending[other[fd]]) < 1 << 20]
                writers = [fd for fd in other if pending[fd]]
                r, w, _ = select.select(readers, writers, [], 0.5)
                for fd in w:
                    n = os.write(fd, pending[fd])
                    del pending[fd][:n]
                for fd in r:
                    data = os.read(fd, 65536)
                    if not data:
                        return
                    if fd in self.held:
                        os.close(self.held.pop(fd))
                    pending[other[fd]] += data
        except OSError:  # EIO: a program closed its end of the line
            return
        finally:
            for fd in (self.m1, self.m2, *self.held.values()):
                try:
                    os.close(fd)
                except OSError:
                    pass


def test_far_side_killed_mid_transfer_cause_named_and_persist_brings_it_back(namespaces, tmp_path) -> None:
    a, b = namespaces
    modem = tmp_path / "ttyModem"   # a stable name for a port that comes back, like a re-enumerated stick

    def new_line() -> tuple[str, Bridge]:
        m_up, s_up = _raw_pty()
        m_srv, s_srv = _raw_pty()
        if modem.is_symlink():
            modem.unlink()
        os.symlink(s_up, modem)
        return s_srv, Bridge(m_up, m_srv)

    s_srv, _bridge = new_line()
    up, serve = _start_pair(a, b, tmp_path, extra_up=("persist", "holdoff", "1", "maxfail", "3"),
                            device=str(modem), serve_device=s_srv)
    serve2 = recv = sender = None
    try:
        up.wait_for("IPCP is up", 30)
        recv = subprocess.Popen(b.cmd(sys.executable, "-c", RECEIVER, SERVER_IP, "5002"), stdout=subprocess.PIPE,
                                text=True, env=ENV)
        assert recv.stdout is not None and recv.stdout.readline().strip() == "listening"
        sender = subprocess.Popen(a.cmd(sys.executable, "-c", SENDER, SERVER_IP, "5002", str(10**9)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        time.sleep(1.5)  # mid-transfer
        mark = len(up.lines)
        serve.stop(signal.SIGKILL)
        up.wait_for("Modem hangup", 10, start=mark)
        sender.kill()
        recv.kill()
        # the far side comes back on a new line; persist redials and the same interface returns
        s_srv, _bridge2 = new_line()
        serve2 = Proc(b.cmd(*pppstack("serve", "--device", s_srv, "--local", SERVER_IP, "--remote", CLIENT_IP,
                                      "--run-dir", str(tmp_path / "b2"))))
        up.wait_for("IPCP is up", 30, start=mark)
        assert up.p.poll() is None, up.log
        ping = a.run("ping", "-c", "2", "-i", "0.2", "-W", "2", SERVER_IP)
        assert ping.returncode == 0, ping.stdout + up.log
        assert f"inet {CLIENT_IP} peer {SERVER_IP}/32" in a.run("ip", "-4", "addr", "show", "ppp7").stdout
        status = json.loads(open(status_files(str(tmp_path / "a"), "ppp7")[0]).read())
        assert status["last_end"]["code"] == 15 and status["sessions"] == 2
    finally:
        for p in (recv, sender):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        up.stop(signal.SIGKILL)
        serve.stop(signal.SIGKILL)
        if serve2 is not None:
            serve2.stop(signal.SIGKILL)


def test_far_side_never_answers_is_lcp_timeout(namespaces, tmp_path) -> None:
    """A line with nobody on it: the exit code says the peer never answered LCP."""
    a, _ = namespaces
    master, slave_path = _raw_pty()
    try:
        up = Proc(a.cmd(*pppstack("up", "--device", slave_path, "--no-dial", "--run-dir", str(tmp_path),
                                  "lcp-restart", "1", "lcp-max-configure", "3")))
        code = up.p.wait(30)
        up._t.join(2)
        assert code == 9, up.log  # ExitCode.LCP_TIMEOUT
        assert "never answered" in up.log or "LCP" in up.log
        assert "ppp" not in a.run("ip", "link").stdout.replace("pppstack", "")
    finally:
        os.close(master)
