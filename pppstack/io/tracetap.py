"""The trace's edge: raw serial bytes from the dialer and the driver -> records -> printed lines,
a pcapng file, and any number of `pppstack trace` watchers on a unix socket.

The driver calls the tap with every chunk it reads or writes (`tap(sent, data, now)`); the dialer's
port is wrapped so the AT dialogue passes the same way.  Scanning costs a little CPU per byte, so
with no --trace, no --pcap and nobody watching the tap scans only until the network has been up
for IDLE_GRACE seconds or carried IDLE_GRACE_BYTES, whichever comes first (the negotiation is kept
for a watcher who attaches later), then skips.

A watcher must never disturb the link: each gets the history, then live records, through a
non-blocking socket; one that falls behind by more than a buffer's worth is dropped.
Socket protocol: one JSON object per line, {"zero": T} first (CONNECT's wall-clock time or null),
then records {"t", "kind", "sent", "hex", "note"}; the server closes the socket when the link ends.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from pppstack.capture.explain import trace_line
from pppstack.capture.timeline import Record, RecordKind, Tracer, ethernet_records, to_pcapng

__all__ = ["TraceTap", "TappedPort", "socket_path", "find_sockets", "follow", "record_to_json", "record_from_json"]

log = logging.getLogger("pppstack.trace")

HISTORY = 4096       # records kept for watchers who attach late
IDLE_GRACE = 10.0    # seconds after the network is up that an unwatched tap still scans
# ... or bytes: the grace starts at the first chunk after the network is up, i.e. with traffic, and
# scanning a busy link in Python took 40 % of `up`'s CPU at 500 Mbit/s (bench_link, py-spy)
IDLE_GRACE_BYTES = 256 * 1024
SOCKET_SUFFIX = ".trace.sock"


def socket_path(run_dir: str, name: str) -> str:
    return os.path.join(run_dir, f"{name}{SOCKET_SUFFIX}")


def find_sockets(run_dir: str) -> list[str]:
    try:
        names = sorted(os.listdir(run_dir))
    except OSError:
        return []
    return [os.path.join(run_dir, n) for n in names if n.endswith(SOCKET_SUFFIX)]


def record_to_json(rec: Record) -> dict[str, Any]:
    return {"t": rec.time, "kind": rec.kind.value, "sent": rec.sent, "hex": rec.data.hex(), "note": rec.note}


def record_from_json(obj: dict[str, Any]) -> Record:
    return Record(float(obj["t"]), RecordKind(obj["kind"]), obj.get("sent"), bytes.fromhex(obj.get("hex", "")),
                  obj.get("note", ""))


class TraceTap:
    """One per `pppstack up`; lives across redials (each session's CONNECT resets the zero)."""

    def __init__(self, *, out: IO[str] | None = None, verbose: bool = False, pcap: IO[bytes] | None = None,
                 sock_path: str | None = None, keep_secrets: bool = False) -> None:
        self.out = out
        self.verbose = verbose
        self.pcap = pcap
        self.tracer = Tracer(keep_secrets)
        self.zero: float | None = time.time()  # until CONNECT: ms since up started
        self.network_up: Callable[[], bool] = lambda: False
        self.history: collections.deque[Record] = collections.deque(maxlen=HISTORY)
        self._watchers: list[socket.socket] = []
        self._lock = threading.Lock()
        self._skipping = False
        self._up_since: float | None = None
        self._up_bytes = 0
        self._wall = time.time() - time.monotonic()
        self._pcap_started = False
        self._server: socket.socket | None = None
        self.sock_path = sock_path
        if sock_path:
            self._serve(sock_path)

    # -- what the driver and the dialer call ------------------------------------------------------
    def __call__(self, sent: bool, data: bytes, now: float) -> None:
        if not self._wanted(now, len(data)):
            self._skipping = True
            return
        if self._skipping:  # bytes were skipped: a frame may be cut, start from the next flag
            self._skipping = False
            self.tracer.reset()
        for rec in self.tracer.feed(sent, data, now + self._wall):
            self.emit(rec)

    def ntb(self, sent: bool, block: bytes, now: float) -> None:
        """NCM: one NTB (transfer block) as it crossed USB; its Ethernet frames are recorded."""
        for rec in ethernet_records(sent, block, now + self._wall):
            self.emit(rec)

    def connected(self, now: float) -> None:
        """CONNECT (or the start of PPP without dialling): the zero of the timeline."""
        self.zero = now + self._wall
        self._broadcast({"zero": self.zero})
        if self.out is not None:
            self._print(f"{0:>+10.1f} ms  ---    PPP starts: times from here are ms since CONNECT")

    def ended(self, now: float, verdict: str) -> None:
        """The link ended: say why, close watchers (they end with the link)."""
        self.emit(Record(now + self._wall, RecordKind.END, None, b"", verdict))
        with self._lock:
            watchers, self._watchers = self._watchers, []
        for w in watchers:
            _close(w)

    def quiet(self, now: float) -> bool:
        """Nothing would be recorded now (no one watches, and the grace after the network came
        up is over): the driver may carry bytes past the tap (the C fast path).  The bytes it
        skips cut frames, so the tracer starts again at the next flag, as after any skip."""
        if self.out or self.pcap or self._watchers or not self.network_up() or self._up_since is None:
            return False
        if now - self._up_since < IDLE_GRACE and self._up_bytes <= IDLE_GRACE_BYTES:
            return False
        self._skipping = True
        return True

    def _wanted(self, now: float, n: int) -> bool:
        if self.out or self.pcap or self._watchers:
            return True
        if not self.network_up():
            self._up_since = None
            return True
        if self._up_since is None:  # the other network protocol may still be negotiating: keep it
            self._up_since = now
            self._up_bytes = 0
        self._up_bytes += n
        return now - self._up_since < IDLE_GRACE and self._up_bytes <= IDLE_GRACE_BYTES

    def emit(self, rec: Record) -> None:
        with self._lock:
            self.history.append(rec)
        if self.out is not None:
            self._print(trace_line(rec, self.zero, self.verbose))
        if self.pcap is not None:
            try:
                data = to_pcapng([rec])
                # each call makes a whole file; after the first, only its packet block is appended
                self.pcap.write(data if not self._pcap_started else data[_HEADER_LEN:])
                self._pcap_started = True
                self.pcap.flush()
            except (OSError, ValueError) as exc:
                log.warning("stopped writing the pcapng: %s", exc)
                self.pcap = None
        self._broadcast(record_to_json(rec))

    def _print(self, line: str) -> None:
        if self.out is None:
            return
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except (OSError, ValueError):
            self.out = None  # stdout closed (a pipe to head): the link goes on

    # -- watchers ---------------------------------------------------------------------------------
    def _serve(self, path: str) -> None:
        try:
            os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
            if os.path.exists(path):
                os.unlink(path)  # a stale socket of an `up` that died
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            server.bind(path)
            os.chmod(path, 0o600)  # the trace shows user names and addresses: owner only
            server.listen(8)
        except OSError as exc:
            log.info("no live trace socket (%s: %s)", path, exc.strerror or exc)
            self.sock_path = None
            return
        self._server = server
        threading.Thread(target=self._accept, name="trace-accept", daemon=True).start()

    def _accept(self) -> None:
        server = self._server
        while server is not None:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            with self._lock:  # history and the switch to live under one lock: nothing lost between
                lines = [json.dumps({"zero": self.zero})] + [json.dumps(record_to_json(r)) for r in self.history]
                try:
                    conn.settimeout(5.0)
                    conn.sendall(("\n".join(lines) + "\n").encode())
                except OSError:
                    _close(conn)
                    continue
                conn.setblocking(False)
                self._watchers.append(conn)

    def _broadcast(self, obj: dict[str, Any]) -> None:
        if not self._watchers:
            return
        data = (json.dumps(obj) + "\n").encode()
        with self._lock:
            keep = []
            for w in self._watchers:
                try:
                    if w.send(data) == len(data):
                        keep.append(w)
                        continue
                except OSError:
                    pass
                _close(w)  # gone, or too slow: never hold the link for a watcher
            self._watchers = keep

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            _close(server)
            if self.sock_path:
                try:
                    os.unlink(self.sock_path)
                except OSError:
                    pass
        with self._lock:
            watchers, self._watchers = self._watchers, []
        for w in watchers:
            _close(w)
        if self.pcap is not None:
            try:
                if not self._pcap_started:
                    self.pcap.write(to_pcapng([]))
                self.pcap.close()
            except OSError:
                pass
            self.pcap = None


_HEADER_LEN = len(to_pcapng([]))


def _close(s: socket.socket) -> None:
    try:
        s.close()
    except OSError:
        pass


class TappedPort:
    """A SerialPort whose reads and writes (the AT dialogue) also go to the tap."""

    def __init__(self, port: Any, tap: TraceTap, clock: Callable[[], float] = time.monotonic) -> None:
        self._port = port
        self._tap = tap
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)

    def read(self, *args: Any) -> bytes:
        data: bytes = self._port.read(*args)
        if data:
            self._tap(False, data, self._clock())
        return data

    def write(self, data: bytes) -> int:
        n: int = self._port.write(data)
        if n:
            self._tap(True, bytes(data[:n]), self._clock())
        return n


def follow(path: str, timeout: float = 5.0) -> Iterator[dict[str, Any]]:
    """Attach to an `up`'s trace socket; yields its JSON objects until the link ends."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    sock.connect(path)
    sock.settimeout(None)
    buf = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line.strip():
                    yield json.loads(line)
    finally:
        sock.close()
