"""pppstack.io.loop: the one event loop (deadlines, writability, fairness, wakes from threads and signals)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

from pppstack.io.loop import Loop


def test_a_zero_deadline_fires_at_once() -> None:
    """0.0 is a deadline like any other (the simulator's old loop dropped it through `if t`)."""
    fired: list[float] = []
    state = {"timer": 0.0}

    def due(now: float) -> None:
        fired.append(now)
        state["timer"] = None

    with Loop(clock=lambda: 5.0) as loop:
        loop.add_machine(lambda: state["timer"], due)
        loop.call_at(60.0, lambda now: loop.stop())    # a safety net far away: must not be reached
        t0 = time.monotonic()
        loop.run(until=lambda: bool(fired))
    assert fired == [5.0]
    assert time.monotonic() - t0 < 1.0


def test_deadline_is_the_minimum_over_machines() -> None:
    order: list[str] = []
    timers = {"a": time.monotonic() + 0.2, "b": time.monotonic() + 0.05}

    def due(name: str) -> None:
        order.append(name)
        timers[name] = None

    with Loop() as loop:
        loop.add_machine(lambda: timers["a"], lambda now: due("a"))
        loop.add_machine(lambda: timers["b"], lambda now: due("b"))
        loop.call_later(5.0, lambda now: loop.stop())
        loop.run(until=lambda: len(order) == 2)
    assert order == ["b", "a"]


def test_writer_is_watched_only_while_output_waits() -> None:
    """Backpressure by writability: a full socket wakes the writer once it drains, and an idle
    writable fd with nothing queued costs no wakeups."""
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        queued = bytearray(b"x" * (4 << 20))
        sent = 0

        def writable(now: float) -> None:
            nonlocal sent
            try:
                n = a.send(queued)
            except BlockingIOError:
                return
            del queued[:n]
            sent += n
            if not queued:
                loop.remove_writer(a.fileno())

        with Loop() as loop:
            loop.add_writer(a.fileno(), writable)
            got = 0

            def drain() -> None:
                nonlocal got
                while got < 4 << 20:
                    got += len(b.recv(1 << 20))

            t = threading.Thread(target=drain, daemon=True)
            t.start()
            loop.call_later(10.0, lambda now: loop.stop())
            loop.run(until=lambda: not queued)
            t.join(10)
            assert sent == got == 4 << 20
            turns = loop.turns
            loop.run_once(timeout=0.1)   # nothing queued: the writable socket must not wake us
            assert loop.turns == turns + 1 and not loop.watching(a.fileno())
    finally:
        a.close()
        b.close()


def test_a_busy_fd_does_not_starve_another() -> None:
    """Each ready fd gets one bounded callback per turn: a flood on one is served turn by turn
    beside the other, never drained first."""
    busy_a, busy_b = socket.socketpair()
    quiet_a, quiet_b = socket.socketpair()
    try:
        busy_b.setblocking(False)
        try:
            while True:
                busy_b.send(b"y" * 65536)
        except BlockingIOError:
            pass
        served: list[str] = []
        with Loop() as loop:
            loop.add_reader(busy_a.fileno(), lambda now: (busy_a.recv(4096), served.append("busy")))
            loop.add_reader(quiet_a.fileno(), lambda now: (quiet_a.recv(4096), served.append("quiet")))
            loop.run_once(timeout=1.0)
            quiet_b.send(b"hello")
            for _ in range(3):
                loop.run_once(timeout=1.0)
        assert served[0] == "busy" and served[1:3] in (["busy", "quiet"], ["quiet", "busy"])
        assert served[3:] == ["busy", "busy"]
    finally:
        for s in (busy_a, busy_b, quiet_a, quiet_b):
            s.close()


def test_call_from_another_thread_wakes_a_sleeping_loop() -> None:
    done: list[float] = []
    with Loop() as loop:
        t = threading.Timer(0.1, lambda: loop.call_later(0.0, done.append))
        t.start()
        t0 = time.monotonic()
        loop.run(until=lambda: bool(done))   # no fd, no deadline: only the wake pipe ends the wait
        t.join()
    assert time.monotonic() - t0 < 2.0


def test_a_signal_handler_is_seen_at_once() -> None:
    """A handler that only sets a flag (as `up --mode ncm`'s does) ends the wait: without the
    signal wakeup fd, select() would be resumed after the handler (PEP 475) and sleep on."""
    flag = threading.Event()
    old = signal.signal(signal.SIGUSR1, lambda *_: flag.set())
    try:
        with Loop() as loop:
            loop.call_later(5.0, lambda now: loop.stop())     # safety net: the test fails, not hangs
            killer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
            killer.start()
            t0 = time.monotonic()
            loop.run(until=flag.is_set)
            killer.join()
        assert flag.is_set() and time.monotonic() - t0 < 2.0
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert signal.set_wakeup_fd(-1) == -1      # the loop gave the wakeup fd back


def test_epoll_refusing_a_regular_file_falls_back_to_select(tmp_path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    got: list[bytes] = []
    with open(path, "rb") as f, Loop() as loop:
        loop.add_reader(f.fileno(), lambda now: got.append(os.read(f.fileno(), 100)))
        loop.run_once(timeout=1.0)
    assert got == [b"data"]


def test_select_fallback_serves_readers_writers_and_wakes(tmp_path) -> None:
    """After epoll refused a regular file, a socket's writer and a wake from a thread still work."""
    path = tmp_path / "f"
    path.write_bytes(b"data")
    a, b = socket.socketpair()
    events: list[str] = []
    try:
        with open(path, "rb") as f, Loop() as loop:
            loop.add_reader(f.fileno(), lambda now: (os.read(f.fileno(), 100), events.append("file"),
                                                      loop.remove_reader(f.fileno())))
            loop.add_writer(a.fileno(), lambda now: (events.append("writable"), loop.remove_writer(a.fileno())))
            loop.run_once(timeout=1.0)
            assert sorted(events) == ["file", "writable"]
            t = threading.Timer(0.05, lambda: loop.call_later(0.0, lambda now: events.append("call")))
            t.start()
            loop.run(until=lambda: "call" in events)
            t.join()
    finally:
        a.close()
        b.close()


def test_a_deadline_a_read_moved_later_does_not_fire() -> None:
    """Deadlines are asked once before the wait; one that a callback of the same turn moved
    later is asked again before it fires, so it does not fire early."""
    a, b = socket.socketpair()
    fired: list[float] = []
    timer = {"t": time.monotonic() + 0.05}
    try:
        with Loop() as loop:
            loop.add_machine(lambda: timer["t"], fired.append)

            def read(now: float) -> None:
                a.recv(100)
                timer["t"] = now + 60.0    # e.g. a Configure-Ack stopping a restart timer

            loop.add_reader(a.fileno(), read)
            time.sleep(0.1)         # the deadline has passed ...
            b.send(b"x")            # ... and a read that moves it is waiting in the same turn
            loop.run_once(timeout=1.0)
            assert fired == [] and loop.turns == 1
            timer["t"] = 0.0
            loop.run_once(timeout=1.0)
        assert len(fired) == 1      # a due deadline still fires
    finally:
        a.close()
        b.close()
