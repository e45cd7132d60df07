"""The session lifecycle both data paths share: call after call until the policy says stop.

`up` in PPP mode (cli/up.py) and in NCM mode (io/ncmlink.py) hand this loop one function that
makes a single call — dial, link, interface setup, run, end classification, teardown — and get
back the end the command reports.  Between calls it sleeps as `EndPolicy` decides (holdoff,
the SIGHUP redial pause), and a stop signal ends the wait at once (Signals' self-pipe).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pppstack.endpolicy import EndPolicy
from pppstack.endreason import LinkEnd
from pppstack.exitcodes import EXPLANATIONS, EdgeCause, ExitCode
from pppstack.io.session import Signals

__all__ = ["run_calls", "summary_data", "summary_lines"]

log = logging.getLogger("pppstack")


def run_calls(signals: Signals, policy: EndPolicy, call: Callable[[], LinkEnd | None], *,
              on_end: Callable[[LinkEnd], None] | None = None,
              finished: Callable[[LinkEnd], bool] | None = None) -> LinkEnd:
    """Call ``call()`` until the end is final.  None from it means a signal stopped it before
    the link came up.  ``on_end`` sees every call's end; ``finished(end)`` ends the command
    after a call even with persist (the --simulate demo has done what it showed)."""
    failures = 0
    while True:
        end = call()
        if end is None:
            return LinkEnd(EdgeCause.INTERRUPTED, "Stopped before the link came up.")
        if on_end is not None:
            on_end(end)
        stopped_by = signals.signal_name if signals.stop_requested else None
        redial = signals.redial_requested
        if stopped_by is None and not redial and finished is not None and finished(end):
            return end
        nxt = policy.after(end, failures, stopped_by=stopped_by, redial=redial)
        if nxt.final is not None:
            return nxt.final
        signals.redial_requested = False
        failures = nxt.failures
        if not redial:
            log.warning("%s", end.message)
        log.info("%s", nxt.note)
        if not signals.sleep(nxt.wait):
            return policy.interrupted_while_waiting(signals.signal_name, redial, end)


def summary_data(code: ExitCode, message: str, sessions: int, setup: Any, seconds: float) -> dict[str, Any]:
    """The summary's common fields (`--json`), both modes."""
    data: dict[str, Any] = {
        "exit_code": int(code), "exit_name": code.name, "message": message, "meaning": EXPLANATIONS[code],
        "sessions": sessions, "ifname": setup.ifname if setup else None, "seconds": round(seconds, 1),
    }
    c = getattr(getattr(setup, "driver", None), "counters", None)
    if c is not None:
        data.update(bytes_sent=c.bytes_out, bytes_rcvd=c.bytes_in, packets_sent=c.packets_out,
                    packets_rcvd=c.packets_in)
    return data


def summary_lines(data: dict[str, Any], notes: list[str], *, first: list[str] | None = None,
                  middle: list[str] | None = None) -> list[str]:
    """The summary as text: the sentence, the traffic, notes, and the exit code with its meaning
    (`first` goes before the traffic line, `middle` after it)."""
    lines = [f"pppstack: {data['message']}", *(first or [])]
    if "packets_sent" in data:
        lines.append(f"  {data['sessions']} call(s); sent {data['packets_sent']} packets ({data['bytes_sent']} bytes),"
                     f" received {data['packets_rcvd']} packets ({data['bytes_rcvd']} bytes)")
    lines += middle or []
    lines += [f"  note: {note}" for note in notes]
    code = ExitCode(data["exit_code"])
    lines.append(f"  exit code {int(code)} ({code.name.lower().replace('_', ' ')}): {EXPLANATIONS[code]}")
    return lines
