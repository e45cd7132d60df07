"""`up --simulate --sim-fault F`: wait for F to happen, then say what pppstack did about it.

The plain demo ends a second after IPCP opens; most faults fire later (a brown-out 3 s after
CONNECT, a dead bearer after 5 s, a modem reset after 5 s), so without this the demo ended first
and a fault looked like no fault.  Here:

* the demo keeps the link up after its pings until a fault that ends links has ended this one
  (with a limit, so a fault that never comes is said, not waited for forever);
* a dead bearer is only noticed by LCP echo, so the demo turns echo on (1 s, 3 failures) unless
  the user chose an interval;
* with `--persist` the demo uses a 1 s holdoff and maxfail 3 unless given, so a recovery is seen
  in seconds, not pppd's 30 s;
* the summary names, per fault, what happened and what pppstack did (the exit code, the redial).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any

from pppstack.exitcodes import ExitCode
from pppstack.options import PppOptions, with_overrides
from pppstack.sim.modem import CommandSeen, Fault, SimConfig

__all__ = ["FaultDemo"]

# faults that end an established link, and how long after CONNECT they fire
_LINK_ENDING = {Fault.BROWNOUT: "brownout_after", Fault.DEAD_ECHO: "dead_echo_after", Fault.RESET: "reset_after"}
DEMO_HOLDOFF = 1
DEMO_MAXFAIL = 3
DEMO_ECHO = (1, 3)  # lcp-echo-interval, lcp-echo-failure


def _given(args: argparse.Namespace, flag: str, word: str) -> bool:
    return getattr(args, flag, None) is not None or word in (getattr(args, "words", None) or ())


class FaultDemo:
    """The injected faults of one `up --simulate` run and what became of them."""

    def __init__(self, faults: Iterable[Fault], config: SimConfig) -> None:
        self.faults = frozenset(faults)
        self.config = config
        self.ends: list[tuple[int, ExitCode, str]] = []  # (call number, exit code, sentence) of failed calls
        self.recovered_call: int | None = None
        self.ipcp_naks = 0  # Configure-Naks of our IPCP request, counted by the engine
        self.notes: list[str] = []

    # -- before the first call ---------------------------------------------------------------------
    def adjust(self, opts: PppOptions, args: argparse.Namespace) -> PppOptions:
        """Settings that let the fault be seen within the demo; each change is said in a note."""
        changes: dict[str, Any] = {}
        if Fault.DEAD_ECHO in self.faults and not opts.lcp_echo_interval:
            changes.update(lcp_echo_interval=DEMO_ECHO[0], lcp_echo_failure=DEMO_ECHO[1])
            self.notes.append(f"DEAD_ECHO is only noticed by LCP echo: the demo sends one every {DEMO_ECHO[0]} s "
                              f"and gives up after {DEMO_ECHO[1]} unanswered (pppd: lcp-echo-interval, "
                              "lcp-echo-failure)")
        if opts.persist and not _given(args, "holdoff", "holdoff"):
            changes["holdoff"] = DEMO_HOLDOFF
            self.notes.append(f"the demo redials after {DEMO_HOLDOFF} s (--holdoff; pppd's default is 30 s)")
        if opts.persist and not _given(args, "maxfail", "maxfail"):
            changes["maxfail"] = DEMO_MAXFAIL
        return with_overrides(opts, **changes) if changes else opts

    # -- while it runs ------------------------------------------------------------------------------
    def wait_after_pings(self) -> float | None:
        """Seconds the demo keeps an established link up for a link-ending fault, or None."""
        if self.ends or self.recovered_call is not None:
            return None  # the fault already happened: this call only shows the recovery
        delays = [getattr(self.config, attr) for f, attr in _LINK_ENDING.items() if f in self.faults]
        if not delays:
            return None
        extra = DEMO_ECHO[0] * (DEMO_ECHO[1] + 2) if Fault.DEAD_ECHO in self.faults else 0
        return max(delays) + extra + 10.0

    def call_ended(self, call: int, code: ExitCode, message: str, was_up: bool, ipcp_naks: int = 0) -> None:
        self.ipcp_naks += ipcp_naks
        if code is not ExitCode.OK:
            self.ends.append((call, code, message))
        elif self.ends and was_up:
            self.recovered_call = call

    # -- the summary ----------------------------------------------------------------------------------
    def summary(self, commands: Sequence[Any], persist: bool) -> list[dict[str, str]]:
        return [{"fault": f.name, "what": f.description, "outcome": self._outcome(f, commands, persist)}
                for f in sorted(self.faults, key=lambda f: f.name)]

    def summary_lines(self, commands: Sequence[Any], persist: bool) -> list[str]:
        lines: list[str] = []
        for s in self.summary(commands, persist):
            lines += [f"  fault {s['fault']}: {s['what']}", f"    what pppstack did: {s['outcome']}"]
        return lines

    def _outcome(self, fault: Fault, commands: Sequence[Any], persist: bool) -> str:
        if fault is Fault.LEGACY_REJECTED:
            refused = [c.line for c in commands if isinstance(c, CommandSeen) and c.final == "ERROR"]
            if refused:
                return (f"the modem answered ERROR to {', '.join(refused)}; the dialer carried on without them "
                        "and the call went through")
            return ("the dialer sends none of the legacy commands the firmware refuses (ATQ0, ATS0=0, AT&C1, "
                    "AT&D2), so the call went through untouched")
        if fault is Fault.IPCP_STALL:
            if not self.ipcp_naks:
                return "nothing: IPCP was never Naked"
            return (f"the network Naked our IPCP request {self.ipcp_naks} times; pppstack kept asking (IPCP "
                    "allows 100 Naks, as pppd: 3G networks stall like this) and got its address")
        if not self.ends:
            if fault in _LINK_ENDING:
                return "nothing yet: the demo stopped before the fault happened"
            return "nothing: the fault did not show"
        call, code, message = self.ends[0]
        said = f"call {call} ended with exit code {int(code)} ({code.name}): {message}"
        if fault is Fault.WRONG_PORT:  # redialling the same port cannot help
            return f"{said} Dial the other port: `pppstack ports` shows which one carries PPP."
        if self.recovered_call is not None:
            return f"{said} With --persist it dialled again and call {self.recovered_call} came up: recovered."
        if persist:
            return f"{said} With --persist it dialled again, but no call came up."
        return f"{said} Add --persist to watch it dial again and recover."
