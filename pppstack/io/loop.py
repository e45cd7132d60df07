"""The one event loop every I/O edge runs on: PPP driver, NCM bridge, AT dialogue, simulator.

Theory of operation.  A `Loop` owns one selector and one wake pipe.  An edge plugs in:

* fds with a callback for "readable" and one for "writable" (`add_reader`, `add_writer`).  An
  edge registers its writer only while it has output queued, so a full port costs nothing until
  the kernel says there is room (backpressure by writability, never a retry timer);
* sans-I/O machines (`add_machine(get_timer, handle_timer)`): the loop sleeps until the earliest
  of their deadlines -- 0.0 is a deadline like any other -- and fires every one that is due;
* one-shot calls (`call_at`, `call_later`; thread-safe);
* `prepare` hooks, run before every wait: an edge flushes what its machine produced and decides
  what to watch, so the wait always reflects the machines' current state.

A turn: prepare hooks -> epoll until the earliest deadline or a ready fd -> each ready fd's
callback once -> due machines -> due calls.  Callbacks do a bounded amount of work (one read
batch), so two busy fds alternate turn by turn instead of one starving the other.  A turn is what
a busy link pays per wakeup, so it asks each machine for its deadline once (the value taken before
the wait decides which machines are due after it), and talks to epoll without `selectors`' keys.

`wake()` is async-signal-safe and thread-safe.  While a loop runs on the main thread, Python's
signal wakeup fd points at its pipe: a signal arriving during select() makes the interpreter run
the handler and then retry the select (PEP 475), which the byte in the pipe ends at once, so
whatever the handler changed (a stop flag, a threading.Event) is looked at without polling.
"""

from __future__ import annotations

import heapq
import itertools
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Loop", "SelfPipe", "Call", "Machine"]

Callback = Callable[[float], None]

_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
_NOT_OUT, _NOT_IN = ~select.EPOLLOUT, ~select.EPOLLIN   # ERR and HUP wake both halves, as selectors does



class SelfPipe:
    """A non-blocking pipe that wakes a select(); `wake()` is safe from signal handlers and threads."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def wake(self) -> None:
        try:
            os.write(self.write_fd, b"!")
        except OSError:
            pass  # full (the reader is awake already) or closed (nobody waits any more)

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.read_fd = self.write_fd = -1


@dataclass(order=True)
class Call:
    """A pending `call_at`; `cancel()` it to drop it."""

    when: float
    seq: int
    fn: Callback | None = field(compare=False)

    def cancel(self) -> None:
        self.fn = None


@dataclass
class Machine:
    """A registered sans-I/O machine: its deadline and what to do when it is due."""

    get_timer: Callable[[], float | None]
    handle_timer: Callback
    active: bool = True
    due_at: float | None = None     # get_timer() as asked before this turn's wait


class Loop:
    """One selector, one wake pipe, deadlines from the registered machines (see the module doc)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._pipe = SelfPipe()
        # epoll, until it refuses an fd (a regular file): then select() over the same handlers
        self._epoll: select.epoll | None = select.epoll()
        self._handlers: dict[int, list[Callback | None]] = {}   # fd -> [on_readable, on_writable]
        self._machines: list[Machine] = []
        self._prepare: list[Callback] = []
        # snapshots iterated each turn, remade only when the lists change (no allocation per turn)
        self._machines_t: tuple[Machine, ...] = ()
        self._prepare_t: tuple[Callback, ...] = ()
        self._calls: list[Call] = []
        self._calls_lock = threading.Lock()
        self._seq = itertools.count()
        self._stopping = False
        self._thread: int | None = None     # the running loop's thread: its own calls need no wake
        self.turns = 0
        self._epoll.register(self._pipe.read_fd, _IN)

    # -- wake ---------------------------------------------------------------------------------------
    @property
    def wake_fd(self) -> int:
        return self._pipe.read_fd

    def wake(self) -> None:
        """End the current (or next) wait at once.  Safe from signal handlers and other threads."""
        self._pipe.wake()

    # -- fds ----------------------------------------------------------------------------------------
    def add_reader(self, fd: int, fn: Callback) -> None:
        self._set(fd, 0, fn)

    def remove_reader(self, fd: int) -> None:
        self._set(fd, 0, None)

    def add_writer(self, fd: int, fn: Callback) -> None:
        """Call ``fn(now)`` while ``fd`` can take data; remove it once the queue is empty."""
        self._set(fd, 1, fn)

    def remove_writer(self, fd: int) -> None:
        self._set(fd, 1, None)

    def watching(self, fd: int) -> bool:
        return fd in self._handlers

    def forget(self, fd: int) -> None:
        """Stop watching ``fd`` for anything (call before closing it)."""
        if self._handlers.pop(fd, None) is not None:
            self._unregister(fd)

    def _set(self, fd: int, slot: int, fn: Callback | None) -> None:
        old = self._handlers.get(fd)
        if old is not None and old[slot] is fn or old is None and fn is None:
            return      # the common case on every turn: nothing changes, no syscall
        pair: list[Callback | None] = list(old) if old is not None else [None, None]
        pair[slot] = fn
        mask = (_IN if pair[0] else 0) | (_OUT if pair[1] else 0)
        if not mask:
            self.forget(fd)
            return
        self._handlers[fd] = pair
        if self._epoll is None:
            return          # select() reads the handlers each turn
        if old is None:
            self._register(fd, mask)
        else:
            try:
                self._epoll.modify(fd, mask)
            except FileNotFoundError:   # closed and reopened under the same number without forget()
                self._register(fd, mask)

    def _register(self, fd: int, mask: int) -> None:
        assert self._epoll is not None
        try:
            self._epoll.register(fd, mask)
        except PermissionError:
            # epoll refuses regular files and /dev/null (chat run with such a stdin); select() does not
            self._epoll.close()
            self._epoll = None

    def _unregister(self, fd: int) -> None:
        if self._epoll is None:
            return
        try:
            self._epoll.unregister(fd)
        except (OSError, ValueError):
            pass    # closed already (epoll dropped it) or never registered

    def _poll(self, timeout: float | None) -> list[tuple[int, int]]:
        if self._epoll is not None:
            # epoll rounds a fraction of a millisecond up, so a near deadline never spins
            return self._epoll.poll(-1 if timeout is None else timeout, len(self._handlers) + 1)
        rd = [fd for fd, pair in self._handlers.items() if pair[0] is not None]
        rd.append(self._pipe.read_fd)
        wr = [fd for fd, pair in self._handlers.items() if pair[1] is not None]
        r, w, _ = select.select(rd, wr, [], timeout)
        events = dict.fromkeys(r, _IN)
        for fd in w:
            events[fd] = events.get(fd, 0) | _OUT
        return list(events.items())

    # -- time ---------------------------------------------------------------------------------------
    def add_machine(self, get_timer: Callable[[], float | None], handle_timer: Callback) -> Machine:
        """Sleep no later than ``get_timer()``; call ``handle_timer(now)`` once it is due."""
        m = Machine(get_timer, handle_timer)
        self._machines.append(m)
        self._machines_t = tuple(self._machines)
        return m

    def remove_machine(self, m: Machine) -> None:
        m.active = False
        if m in self._machines:
            self._machines.remove(m)
            self._machines_t = tuple(self._machines)

    def call_at(self, when: float, fn: Callback) -> Call:
        """Run ``fn(now)`` from the loop at ``when`` (thread-safe: wakes a sleeping loop)."""
        call = Call(when, next(self._seq), fn)
        with self._calls_lock:
            heapq.heappush(self._calls, call)
        if self._thread != threading.get_ident():
            self.wake()     # from the loop's own thread the next wait sees it anyway: no write
        return call

    def call_later(self, delay: float, fn: Callback) -> Call:
        return self.call_at(self.clock() + delay, fn)

    def add_prepare(self, fn: Callback) -> None:
        """Run ``fn(now)`` before every wait (flush output, decide what to watch)."""
        self._prepare.append(fn)
        self._prepare_t = tuple(self._prepare)

    def remove_prepare(self, fn: Callback) -> None:
        if fn in self._prepare:
            self._prepare.remove(fn)
            self._prepare_t = tuple(self._prepare)

    def next_deadline(self) -> float | None:
        """The earliest deadline of the machines and calls (None: wait for an fd).  Notes each
        machine's deadline for the due check after the wait."""
        best: float | None = None
        for m in self._machines_t:
            t = m.due_at = m.get_timer()
            if t is not None and (best is None or t < best):
                best = t
        if self._calls:         # (read without the lock: a call added meanwhile wakes us anyway)
            with self._calls_lock:
                while self._calls and self._calls[0].fn is None:
                    heapq.heappop(self._calls)
                if self._calls and (best is None or self._calls[0].when < best):
                    best = self._calls[0].when
        return best

    # -- running ------------------------------------------------------------------------------------
    def stop(self) -> None:
        """End `run` after the callback running now (nothing else in this turn runs)."""
        self._stopping = True
        self.wake()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Turn until `stop()` is called or ``until()`` is true (checked before every wait)."""
        self._stopping = False
        old_wakeup = self._claim_signal_wakeup()
        outer, self._thread = self._thread, threading.get_ident()
        try:
            while not self._stopping and not (until is not None and until()):
                self.run_once()
        finally:
            self._thread = outer
            self._release_signal_wakeup(old_wakeup)

    def run_once(self, timeout: float | None = None) -> None:
        """One turn: prepare, wait (at most ``timeout``), dispatch ready fds, due machines and calls."""
        now = self.clock()
        for fn in self._prepare_t:
            fn(now)
            if self._stopping:
                return
        deadline = self.next_deadline()
        if deadline is not None:
            wait = max(0.0, deadline - self.clock())
            timeout = wait if timeout is None else min(timeout, wait)
        ready = self._poll(timeout)
        self.turns += 1
        now = self.clock()
        for fd, mask in ready:
            if self._stopping:
                return
            self._dispatch(fd, mask, now)
        for m in self._machines_t:
            if self._stopping:
                return
            # due by the deadline asked before the wait, and still due (a read may have moved it)
            t = m.due_at
            if t is not None and now >= t and m.active:
                t = m.get_timer()
                if t is not None and now >= t:
                    m.handle_timer(now)
        if self._calls:
            self._run_calls(now)

    def _dispatch(self, fd: int, mask: int, now: float) -> None:
        if fd == self._pipe.read_fd:
            self._pipe.drain()
            return
        # looked up again for each half: the reader may have removed the writer (or both)
        pair = self._handlers.get(fd)
        if pair is not None and mask & _NOT_OUT and pair[0] is not None:
            pair[0](now)
        pair = self._handlers.get(fd)
        if pair is not None and mask & _NOT_IN and pair[1] is not None and not self._stopping:
            pair[1](now)

    def _run_calls(self, now: float) -> None:
        while self._calls and not self._stopping:
            with self._calls_lock:
                if not self._calls or self._calls[0].when > now:
                    return
                call = heapq.heappop(self._calls)
            fn = call.fn
            if fn is not None:
                call.fn = None
                fn(now)

    def _claim_signal_wakeup(self) -> int | None:
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            return signal.set_wakeup_fd(self._pipe.write_fd, warn_on_full_buffer=False)
        except ValueError:
            return None

    def _release_signal_wakeup(self, old: int | None) -> None:
        if old is not None:
            try:
                signal.set_wakeup_fd(old)
            except ValueError:
                pass

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        self._handlers.clear()
        self._machines.clear()
        self._machines_t = ()
        self._pipe.close()

    def __enter__(self) -> Loop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
