"""Interop with real pppd: Debian's ppp 2.4.9 on Debian's kernel in a QEMU guest is the peer.

The guest's modem pty is dialled with our PppDialer, then our PPP engine (driven by
tests/guest/pppclient.py inside a network namespace this file creates, with a real TUN device)
negotiates with pppd. Each test checks both sides: our events and pppd's own debug log, which
says what pppd sent, received and agreed to. Scenarios: no auth, PAP, CHAP (right and wrong
secrets), and pppd with Debian's shipped options plus IPv6CP (pppd offers CCP, VJ compression and
IPv6CP; we must refuse what we do not do and still come up).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.guest.pppd import (
    DEBIAN_OPTIONS,
    DNS1,
    DNS2,
    LOCAL_IP,
    REMOTE_IP,
    PppdGuest,
    shared_pppd_guest,
)

pytestmark = pytest.mark.guest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pppd_guest() -> PppdGuest:
    return shared_pppd_guest()


class Client:
    """Our stack as a child process in the namespace, read as JSON event lines."""

    def __init__(self, ns: str, device: str, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.guest.pppclient", "--device", device, *args],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.events: list[dict] = []
        self._buf = b""

    def _pump(self, timeout: float) -> bool:
        assert self.proc.stdout is not None
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return True
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            return False
        self._buf += chunk
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            try:
                self.events.append(json.loads(line))
            except ValueError:
                self.events.append({"event": "Output", "text": line.decode(errors="replace")})
        return True

    def wait_for(self, kind: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e["event"] == kind:
                    return e
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(min(left, 0.5)):
                if left > 0:   # the child ended: collect what is left
                    while self._pump(0):
                        pass
                    for e in self.events:
                        if e["event"] == kind:
                            return e
                raise AssertionError(f"no {kind} event within {timeout} s; events: {self.events}\n"
                                     f"stderr: {self.stderr_tail()}")

    def stderr_tail(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-3000:]

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events]

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._pump(0.2)
        if self.proc.poll() is None:
            self.proc.kill()
        while self._pump(0):
            pass
        return self.proc.wait()


def ns_run(ns: str, *argv: str, timeout: float = 60.0, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, timeout=timeout, input=input)


def _ping_from_ns(ns: str, addr: str) -> str:
    # the very first packet after IPCP opens can be dropped by the guest kernel: allow a loss
    p = ns_run(ns, "ping", "-c", "5", "-i", "0.3", "-W", "3", addr, timeout=30)
    out = p.stdout.decode()
    m = re.search(r"(\d+) received", out)
    assert m and int(m.group(1)) >= 3, out + p.stderr.decode()
    return out


def _move_data_both_ways(pppd_guest: PppdGuest, ns: str, guest_ip: str = LOCAL_IP, host_ip: str = REMOTE_IP
                         ) -> dict[str, float]:
    """TCP host->guest and guest->host with md5 checks; returns the rates in kbit/s."""
    payload = os.urandom(192 * 1024)
    digest = hashlib.md5(payload).hexdigest()
    rates = {}
    # host -> guest: busybox nc listens in the guest; md5sum runs only after nc has exited
    pppd_guest.shell("rm -f /tmp/rx /tmp/rx.sum; ((nc -l -p 5001 > /tmp/rx; md5sum /tmp/rx > /tmp/rx.sum.tmp; "
                     "wc -c < /tmp/rx >> /tmp/rx.sum.tmp; mv /tmp/rx.sum.tmp /tmp/rx.sum) &); sleep 0.3")
    t0 = time.monotonic()
    sender = ("import socket,sys,time\nd=sys.stdin.buffer.read()\nfor i in range(50):\n try:\n"
              f"  s=socket.create_connection(('{guest_ip}',5001),10); break\n"
              " except ConnectionRefusedError: time.sleep(0.2)\n"
              "s.sendall(d); s.shutdown(socket.SHUT_WR); s.recv(1); s.close()")
    p = ns_run(ns, sys.executable, "-c", sender, input=payload, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    rx = pppd_guest.shell("i=0; while [ ! -e /tmp/rx.sum ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; "
                          "cat /tmp/rx.sum", timeout=60)
    rates["host_to_guest_kbit_s"] = round(len(payload) * 8 / 1000 / (time.monotonic() - t0), 1)
    assert rx.split()[0] == digest and rx.split()[-1] == str(len(payload)), f"host->guest data: {rx}"
    # guest -> host: the namespace listens, the guest sends the same bytes back with nc
    pppd_guest.shell("cp /tmp/rx /tmp/tx")
    receiver = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c",
         "import socket,sys,hashlib; l=socket.create_server(('0.0.0.0',5002)); l.settimeout(60); c,_=l.accept(); "
         "h=hashlib.md5(); n=0\nwhile True:\n d=c.recv(65536)\n if not d: break\n h.update(d); n+=len(d)\n"
         "print(h.hexdigest(), n)"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    # retried until the namespace's listener is up (python starts slowly on a busy machine)
    pppd_guest.shell(f"i=0; until nc -w 5 {host_ip} 5002 < /tmp/tx; do i=$((i+1)); [ $i -lt 50 ] || exit 1; "
                     "sleep 0.2; done", timeout=120)
    out, err = receiver.communicate(timeout=120)
    rates["guest_to_host_kbit_s"] = round(len(payload) * 8 / 1000 / (time.monotonic() - t0), 1)
    got = out.decode().split()
    assert got == [digest, str(len(payload))], f"guest->host data: {out!r} {err!r}"
    return rates


def _up(pppd_guest: PppdGuest, ns: str, options: list[str], client_args: tuple[str, ...] = (), **secrets: str
        ) -> Client:
    pppd_guest.start_modem(options, **secrets)
    client = Client(ns, pppd_guest.pty_path, *client_args)
    return client


def _common_checks(pppd_guest: PppdGuest, client: Client, ns: str) -> str:
    up = client.wait_for("Ipv4Up", 60)
    assert up["local"] == REMOTE_IP and up["peer"] == LOCAL_IP
    assert up["dns"] == [DNS1, DNS2]
    client.wait_for("TunReady", 10)
    log = pppd_guest.wait_for_log(f"remote IP address {REMOTE_IP}", 20)
    assert f"local  IP address {LOCAL_IP}" in log
    _ping_from_ns(ns, LOCAL_IP)
    rc, out = pppd_guest.run(f"ping -c 3 -W 3 {REMOTE_IP}", timeout=30)
    assert rc == 0 and "3 packets received" in out, out
    return log


def test_our_dialer_talks_to_the_guest_modem(pppd_guest: PppdGuest) -> None:
    from pppstack.io import atport
    from pppstack.io.serialport import open_port
    from pppstack.modem.dial import PppDialer

    pppd_guest.start_modem(["noauth"])
    port = open_port(pppd_guest.pty_path)
    try:
        pppd_guest.wait_host_open()   # the dialer gives its first ATs a second each
        dialer = PppDialer(apn="internet", registration_timeout=10.0)
        result = atport.run(port, dialer, timeout=60.0)
        assert result.ok, result.message
        assert result.connect_text == "150000000"
        assert dialer.state.registered
    finally:
        port.close()
        pppd_guest.stop_modem()
    at = pppd_guest.at_log()
    assert 'AT+CGDCONT=1,"IP","internet"' in at
    assert at[-1].startswith("ATD")


def test_no_auth(pppd_guest: PppdGuest, netns: str) -> None:
    client = _up(pppd_guest, netns, ["noauth", "noccp", "novj"], ("--noipv6",))
    try:
        log = _common_checks(pppd_guest, client, netns)
        rates = _move_data_both_ways(pppd_guest, netns)
        print("pppd no-auth link:", rates)
        assert re.search(r"rcvd \[LCP ConfAck id=0x\w+ <asyncmap 0x0> <magic 0x\w+>", log), log
    finally:
        client.stop()
        pppd_guest.stop_modem()
    log = pppd_guest.pppd_log()
    assert "rcvd [LCP TermReq" in log, log
    assert client.kinds()[-2:] == ["LinkDown", "Stats"] or "LinkDown" in client.kinds()


def test_pap(pppd_guest: PppdGuest, netns: str) -> None:
    client = _up(pppd_guest, netns, ["require-pap", "name pppguest", "noccp"],
                 ("--user", "client", "--password", "s3cret-pap", "--noipv6"),
                 pap_secrets="client * s3cret-pap *\n")
    try:
        _common_checks(pppd_guest, client, netns)
        auth = client.wait_for("AuthSucceeded", 5)
        assert "PAP" in str(auth.get("protocol"))
    finally:
        client.stop()
        pppd_guest.stop_modem()
    log = pppd_guest.pppd_log()
    assert "PAP peer authentication succeeded for client" in log, log
    assert "s3cret-pap" not in log     # pppd hides it too; we never send it in clear logs


def test_chap(pppd_guest: PppdGuest, netns: str) -> None:
    client = _up(pppd_guest, netns, ["require-chap", "name pppguest", "noccp"],
                 ("--user", "client", "--password", "s3cret-chap", "--noipv6"),
                 chap_secrets="client pppguest s3cret-chap *\n")
    try:
        _common_checks(pppd_guest, client, netns)
        auth = client.wait_for("AuthSucceeded", 5)
        assert "CHAP" in str(auth.get("protocol"))
    finally:
        client.stop()
        pppd_guest.stop_modem()
    log = pppd_guest.pppd_log()
    # pppd 2.4.9 logs no "succeeded" line for CHAP: its Success after our named Response is the proof
    assert re.search(r'rcvd \[CHAP Response id=0x\w+ <[0-9a-f]{32}>, name = "client"\]', log), log
    assert re.search(r'sent \[CHAP Success id=0x\w+ "Access granted"\]', log), log
    assert re.search(r"sent \[LCP ConfReq id=0x\w+ .*<auth chap MD5>", log), log


def test_chap_wrong_secret_is_named(pppd_guest: PppdGuest, netns: str) -> None:
    client = _up(pppd_guest, netns, ["require-chap", "name pppguest", "noccp"],
                 ("--user", "client", "--password", "wrong", "--noipv6"),
                 chap_secrets="client pppguest s3cret-chap *\n")
    try:
        down = client.wait_for("LinkDown", 60)
        assert down["cause"] in ("AUTH_FAILED", "PEER_AUTH_FAILED"), down
        assert "Ipv4Up" not in client.kinds()
    finally:
        client.stop()
        pppd_guest.stop_modem()
    assert "Peer client failed CHAP authentication" in pppd_guest.pppd_log()


def test_pppd_as_debian_ships_it(pppd_guest: PppdGuest, netns: str) -> None:
    """Debian's options (minus auth/crtscts/lock/modem) and +ipv6: pppd offers CCP (deflate,
    bsdcomp: the guest kernel has both), VJ header compression in IPCP and IPv6CP. With IPv6
    off on our side we must Protocol-Reject CCP and IPv6CP and reject VJ — and still come up."""
    client = _up(pppd_guest, netns, [*DEBIAN_OPTIONS, "noauth", "+ipv6"], ("--noipv6",))
    try:
        log = _common_checks(pppd_guest, client, netns)
        _move_data_both_ways(pppd_guest, netns)
    finally:
        client.stop()
        pppd_guest.stop_modem()
    log = pppd_guest.pppd_log()
    assert re.search(r"sent \[CCP ConfReq id=0x\w+ <deflate", log), log
    assert re.search(r"sent \[IPCP ConfReq id=0x\w+ <compress VJ", log), log
    assert re.search(r"sent \[IPV6CP ConfReq", log), log
    assert re.search(r"rcvd \[LCP ProtRej id=0x\w+ 80 fd", log), "CCP must be Protocol-Rejected\n" + log
    assert re.search(r"rcvd \[LCP ProtRej id=0x\w+ 80 57", log), "IPv6CP must be Protocol-Rejected\n" + log
    assert re.search(r"rcvd \[IPCP ConfRej id=0x\w+ <compress VJ", log), "VJ must be Configure-Rejected\n" + log


def test_ipv6cp_opens_with_pppd(pppd_guest: PppdGuest, netns: str) -> None:
    client = _up(pppd_guest, netns, ["noauth", "+ipv6", "noccp"])
    try:
        client.wait_for("Ipv4Up", 60)
        up6 = client.wait_for("Ipv6Up", 30)
        ready = client.wait_for("Tun6Ready", 10)
        log = pppd_guest.wait_for_log("remote LL address", 20)
        peer_ll = re.search(r"local  LL address (\S+)", log)
        assert peer_ll, log
        # the guest kernel runs DAD on ppp0's new link-local address (~1-2 s) and drops packets
        # to it meanwhile: ping long enough to outlast it
        p = ns_run(netns, "ping", "-6", "-c", "16", "-i", "0.5", "-W", "2", f"{peer_ll.group(1)}%{ready['ifname']}",
                   timeout=60)
        m = re.search(rb"(\d+) received", p.stdout)
        if not (m and int(m.group(1)) >= 3):
            _, guest_state = pppd_guest.run("ip -6 addr show dev ppp0; ip -6 route; grep ppp /proc/net/dev; "
                                            "grep -E 'Ip6(In|Out)|Icmp6(In|Out)Echo' /proc/net/snmp6 | grep -v ' 0$'")
            ours = subprocess.run(["ip", "-n", netns, "-s", "-6", "addr"], capture_output=True, text=True).stdout
            ours += subprocess.run(["ip", "-n", netns, "-s", "link"], capture_output=True, text=True).stdout
            client.stop()
            raise AssertionError(f"IPv6 ping failed:\n{p.stdout.decode()}{p.stderr.decode()}\nguest:\n{guest_state}\n"
                                 f"ours:\n{ours}\nevents: {client.events}\npppd:\n{pppd_guest.pppd_log()}")
        assert up6["peer_ifid"]
    finally:
        client.stop()
        pppd_guest.stop_modem()


def _wait_address(ns: str, ifname: str, addr: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = subprocess.run(["ip", "-n", ns, "-4", "addr", "show", "dev", ifname], capture_output=True, text=True)
        # the address and the link up: only then does the kernel route to the peer (else a ping
        # right after says "Network is unreachable")
        if f"inet {addr}" in p.stdout and re.search(r"<[^>]*\bUP\b[^>]*>", p.stdout):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f"{ifname} never got {addr}; pppstack up said:\n{out.decode()}\n{err.decode()}")


def _stop_up(proc: subprocess.Popen, pppd_guest: PppdGuest) -> tuple[bytes, bytes]:
    """SIGTERM a `pppstack up`/`serve` (killed if it has not ended in 20 s) and stop the guest's
    modem; what the process printed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    pppd_guest.stop_modem()
    return out, err


@pytest.mark.parametrize("auth", ["none", "chap"])
def test_pppstack_up_command_against_pppd(pppd_guest: PppdGuest, netns: str, tmp_path: Path, auth: str) -> None:
    """The user's command, end to end: `pppstack up --device PTY --apn ...` in a namespace dials the
    guest modem, negotiates with pppd, configures the TUN; SIGTERM ends it cleanly (exit 0)."""
    options = ["noauth", "noccp"] if auth == "none" else ["require-chap", "name pppguest", "noccp"]
    pppd_guest.start_modem(options, chap_secrets="client pppguest s3cret *\n")
    creds = ["--user", "client", "--password", "s3cret"] if auth == "chap" else []
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--device", pppd_guest.pty_path,
         "--apn", "internet", "--ifname", "pst0", "--noipv6", "--usepeerdns", "--run-dir", str(tmp_path),
         "--json", *creds], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_address(netns, "pst0", REMOTE_IP, proc)
        _ping_from_ns(netns, LOCAL_IP)
        _move_data_both_ways(pppd_guest, netns)
        log = pppd_guest.pppd_log()
        assert f"remote IP address {REMOTE_IP}" in log
        if auth == "chap":
            assert re.search(r'sent \[CHAP Success id=0x\w+ "Access granted"\]', log), log
    finally:
        out, err = _stop_up(proc, pppd_guest)
    assert proc.returncode == 0, (proc.returncode, out.decode(), err.decode())
    assert "Traceback" not in err.decode()
    assert "rcvd [LCP TermReq" in pppd_guest.pppd_log()
    assert subprocess.run(["ip", "-n", netns, "link", "show", "pst0"], capture_output=True).returncode != 0, \
        "the TUN must be gone after the link ends"


def test_the_fast_path_carries_pppd_traffic_with_escapes_and_echoes(pppd_guest: PppdGuest, netns: str,
                                                                    tmp_path: Path) -> None:
    """`pppstack up` against pppd asking for an ACCM that makes us escape XON/XOFF, both sides
    echoing every second.  Once the trace tap's grace is over the C fast path (native/pump.c)
    carries the data (the status file counts its runs), hands every echo to the engine (answered
    both ways), and the data survives both ways."""
    pppd_guest.start_modem(["noauth", "noccp", "asyncmap 0x000A0000", "debug", "lcp-echo-interval 1",
                            "lcp-echo-failure 3"])
    env = dict(os.environ, PYTHONPATH=str(REPO), PPPSTACK_FASTPATH="1")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--device", pppd_guest.pty_path,
         "--apn", "internet", "--ifname", "pst1", "--noipv6", "--run-dir", str(tmp_path), "--lcp-echo-interval",
         "1", "--lcp-echo-failure", "3", "--json"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_address(netns, "pst1", REMOTE_IP, proc)
        _move_data_both_ways(pppd_guest, netns)      # 384 KiB: past the tap's grace (256 KiB)
        before = pppd_guest.pppd_log()
        _move_data_both_ways(pppd_guest, netns)      # on the fast path
        deadline = time.monotonic() + 30
        fast: dict = {}
        while time.monotonic() < deadline:
            log = pppd_guest.pppd_log()[len(before):]
            files = list(tmp_path.glob("pst1@net*.json"))
            if files:
                with contextlib.suppress(ValueError, OSError):
                    fast = json.loads(files[0].read_text()).get("counters", {}).get("fast_path", {})
            if (fast.get("frames", 0) >= 2 and min(len(re.findall(r"rcvd \[LCP EchoRep", log)),
                                                   len(re.findall(r"sent \[LCP EchoRep", log))) >= 2):
                break
            time.sleep(0.5)
        log = pppd_guest.pppd_log()[len(before):]
    finally:
        out, err = _stop_up(proc, pppd_guest)
    assert proc.returncode == 0, (proc.returncode, out.decode(), err.decode())
    assert "Traceback" not in err.decode()
    assert re.search(r"rcvd \[LCP ConfAck id=0x\w+ <asyncmap 0xa0000>", pppd_guest.pppd_log()), pppd_guest.pppd_log()
    # it ran, carried most of the second move's ~280 packets, and handed LCP back
    assert fast.get("runs", 0) > 0 and fast.get("packets", 0) >= 150 and fast.get("frames", 0) >= 2, fast
    assert len(re.findall(r"rcvd \[LCP EchoRep", log)) >= 2, "we must answer pppd's echoes\n" + log
    assert len(re.findall(r"sent \[LCP EchoRep", log)) >= 2, "we must send echoes of our own\n" + log


def test_pap_wrong_password_is_named(pppd_guest: PppdGuest, netns: str) -> None:
    client = _up(pppd_guest, netns, ["require-pap", "name pppguest", "noccp"],
                 ("--user", "client", "--password", "wrong", "--noipv6"), pap_secrets="client * right *\n")
    try:
        down = client.wait_for("LinkDown", 60)
        assert down["cause"] == "AUTH_FAILED", down
        assert "Ipv4Up" not in client.kinds()
    finally:
        client.stop()
        pppd_guest.stop_modem()
    log = pppd_guest.pppd_log()
    assert "PAP peer authentication failed for client" in log, log
    assert "wrong" not in log


def test_mru_asyncmap_and_keepalive_both_ways(pppd_guest: PppdGuest, netns: str) -> None:
    """pppd asks for MRU 1400 and an ACCM that makes us escape 0x11/0x13 (XON/XOFF) and sends LCP
    echoes every second; we send our own echoes and ask for MRU 1300. Random data must survive."""
    # a second `debug` raises pppd's level to 2: at level 1 it does not log echoes once the link is up
    client = _up(pppd_guest, netns, ["noauth", "noccp", "mru 1400", "asyncmap 0x000A0000", "debug",
                                     "lcp-echo-interval 1", "lcp-echo-failure 3"],
                 ("--noipv6", "--mru", "1300", "--lcp-echo-interval", "1", "--lcp-echo-failure", "3"))
    try:
        link = client.wait_for("LinkUp", 60)
        assert link["peer_mru"] == 1400 and link["mru"] == 1300, link
        assert link["accm"] == 0x000A0000, link
        up = client.wait_for("Ipv4Up", 30)
        assert up["mtu"] <= 1400
        client.wait_for("TunReady", 10)
        _ping_from_ns(netns, LOCAL_IP)
        p = ns_run(netns, "ping", "-c", "3", "-M", "do", "-s", "1272", LOCAL_IP, timeout=30)
        assert b"3 received" in p.stdout, p.stdout + p.stderr
        _move_data_both_ways(pppd_guest, netns)
        # a few keepalive rounds each way (each 1 s apart, later on a busy machine)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            log = pppd_guest.pppd_log()
            if min(len(re.findall(r"rcvd \[LCP EchoRep", log)), len(re.findall(r"sent \[LCP EchoRep", log))) >= 2:
                break
            time.sleep(0.5)
    finally:
        client.stop()
        pppd_guest.stop_modem()
    log = pppd_guest.pppd_log()
    assert re.search(r"rcvd \[LCP ConfAck id=0x\w+ <mru 1400> <asyncmap 0xa0000>", log), log
    assert re.search(r"rcvd \[LCP ConfReq id=0x\w+ <mru 1300>", log), log
    assert len(re.findall(r"rcvd \[LCP EchoRep", log)) >= 2, "we must answer pppd's echoes\n" + log
    assert len(re.findall(r"sent \[LCP EchoRep", log)) >= 2, "we must send echoes of our own\n" + log


def test_peer_terminate_and_peer_death_are_told_apart(pppd_guest: PppdGuest, netns: str) -> None:
    # pppd ends the link itself (SIGTERM -> LCP Terminate-Request)
    client = _up(pppd_guest, netns, ["noauth", "noccp"], ("--noipv6",))
    try:
        client.wait_for("Ipv4Up", 60)
        pppd_guest.stop_modem()
        down = client.wait_for("LinkDown", 20)
        assert down["cause"] == "PEER_TERMINATED", down
    finally:
        client.stop()
    # pppd vanishes without a word (SIGKILL): only our LCP echoes can notice
    client = _up(pppd_guest, netns, ["noauth", "noccp"], ("--noipv6", "--lcp-echo-interval", "1",
                                                          "--lcp-echo-failure", "3"))
    try:
        client.wait_for("Ipv4Up", 60)
        pppd_guest.shell("kill -9 $(cat /tmp/ppp/modem.pid)")
        t0 = time.monotonic()
        down = client.wait_for("LinkDown", 30)
        assert down["cause"] == "PEER_DEAD", down
        assert time.monotonic() - t0 < 15
    finally:
        client.stop()
        pppd_guest.stop_modem()


def test_pppstack_up_persist_redials_after_pppd_hangs_up(pppd_guest: PppdGuest, netns: str, tmp_path: Path) -> None:
    """`pppstack up --persist`: pppd ends the call (Terminate-Request, like a network drop); the
    modem is ready again at once; our side must redial and bring the same interface back."""
    pppd_guest.start_modem(["noauth", "noccp"])
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "up", "--device", pppd_guest.pty_path,
         "--apn", "internet", "--ifname", "pst1", "--noipv6", "--run-dir", str(tmp_path), "--persist",
         "--holdoff", "1", "--maxfail", "5"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_address(netns, "pst1", REMOTE_IP, proc)
        _ping_from_ns(netns, LOCAL_IP)
        first_log = pppd_guest.pppd_log()
        pppd_guest.stop_modem()                      # pppd: LCP Terminate-Request, exits
        pppd_guest.start_modem(["noauth", "noccp"])  # the "modem" answers AT again
        deadline = time.monotonic() + 60
        while "remote IP address" not in pppd_guest.pppd_log():
            assert proc.poll() is None and time.monotonic() < deadline, "no redial"
            time.sleep(0.5)
        _wait_address(netns, "pst1", REMOTE_IP, proc)
        _ping_from_ns(netns, LOCAL_IP)
        assert "rcvd [LCP ConfReq" in first_log
    finally:
        out, err = _stop_up(proc, pppd_guest)
    assert proc.returncode == 0, (proc.returncode, err.decode()[-3000:])
    assert "Traceback" not in err.decode()


def test_mschap_only_pppd_is_refused_cleanly(pppd_guest: PppdGuest, netns: str) -> None:
    """We do not do MS-CHAP: pppd requiring MS-CHAPv2 gets a Nak proposing CHAP-MD5, drops auth,
    then hangs up "peer refused to authenticate" — which our side reports in those words."""
    client = _up(pppd_guest, netns, ["require-mschap-v2", "name pppguest", "noccp"],
                 ("--user", "client", "--password", "s3cret", "--noipv6"),
                 chap_secrets="client pppguest s3cret *\n")
    try:
        down = client.wait_for("LinkDown", 60)
        assert down["cause"] == "PEER_TERMINATED", down
        assert "peer refused to authenticate" in down["message"], down
        assert "Ipv4Up" not in client.kinds()
    finally:
        client.stop()
        pppd_guest.stop_modem()
    log = pppd_guest.pppd_log()
    assert re.search(r"sent \[LCP ConfReq id=0x1 .*<auth chap MS-v2>", log), log
    assert re.search(r"rcvd \[LCP ConfNak id=0x1 <auth chap MD5>\]", log), log


def test_pppstack_serve_with_pppd_as_the_client(pppd_guest: PppdGuest, netns: str) -> None:
    """The other direction: our engine is the network side (`pppstack serve`) and Debian's pppd
    dials in, authenticates with CHAP, and takes the address and DNS servers we hand out."""
    pppd_guest.start_pppd_client(["user client", "remotename ourserver", "+ipv6"],
                                 chap_secrets="client ourserver s3cret *\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "pppstack", "serve", "--device", pppd_guest.pty_path,
         "--local", "10.65.0.1", "--remote", "10.65.0.2", "--ms-dns", "10.65.0.53", "--ms-dns", "10.65.0.54",
         "--require-chap", "--secret", "client:s3cret", "--name", "ourserver", "--ifname", "ps0", "--noipv6"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_address(netns, "ps0", "10.65.0.1", proc)
        log = pppd_guest.wait_for_log("local  IP address 10.65.0.2", 30)
        assert "remote IP address 10.65.0.1" in log, log
        assert "primary   DNS address 10.65.0.53" in log and "secondary DNS address 10.65.0.54" in log, log
        assert re.search(r'rcvd \[CHAP Challenge id=0x\w+ <[0-9a-f]+>, name = "ourserver"\]', log), log
        assert re.search(r"rcvd \[CHAP Success id=0x\w+", log), log
        assert re.search(r"rcvd \[LCP ProtRej id=0x\w+ 80 57", log), "IPv6CP must be Protocol-Rejected\n" + log
        _ping_from_ns(netns, "10.65.0.2")
        _move_data_both_ways(pppd_guest, netns, guest_ip="10.65.0.2", host_ip="10.65.0.1")
    finally:
        out, err = _stop_up(proc, pppd_guest)
    assert "Traceback" not in err.decode(), err.decode()
    assert "rcvd [LCP TermReq" in pppd_guest.pppd_log()


def test_ip_packets_whose_first_bytes_look_like_text_survive(pppd_guest: PppdGuest, netns: str) -> None:
    """With protocol-field compression an IPv4 frame starts 21 45 <TOS>: TOS 0x0a makes that
    "!E\\n", which looks like modem text. The guest echoes our TOS in its replies (icmp_reply), so
    every reply starts that way; a deframer that takes text-then-newline for modem talk at the
    start of a frame throws all of them away (IPv6 frames, 57 60 <flow label>, hit the same
    when the flow label holds 0x0a/0x0d)."""
    client = _up(pppd_guest, netns, ["noauth", "noccp", "novj"], ("--noipv6",))
    try:
        client.wait_for("TunReady", 60)
        _ping_from_ns(netns, LOCAL_IP)
        for tos in ("0x0a", "0x0d"):
            p = ns_run(netns, "ping", "-c", "4", "-i", "0.3", "-W", "3", "-Q", tos, LOCAL_IP, timeout=30)
            m = re.search(rb"(\d+) received", p.stdout)
            assert m and int(m.group(1)) >= 3, f"TOS {tos}: " + (p.stdout + p.stderr).decode()
    finally:
        client.stop()
        pppd_guest.stop_modem()
    stats = client.events[-1]
    assert "'bad_fcs': 0" in str(stats.get("hdlc")), stats
