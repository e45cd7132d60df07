"""What `up` does after a call ended: end the command, or dial again and when (pure).

pppd's rules: without `persist` the first end is the last; with it, a call that ended for a
reason another attempt may cure is dialled again after `holdoff` seconds, until `maxfail`
failures in a row (a call that brought the network up resets the count).  A stop signal ends
everything (before the link came up that is INTERRUPTED, whatever the call said); SIGHUP with
`persist` hangs up and dials again at once (after the modem's pause).  The loop that sleeps
and dials lives in pppstack/io/lifecycle.py; this module only decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from pppstack.endreason import LinkEnd
from pppstack.exitcodes import EdgeCause, ExitCode

__all__ = ["EndPolicy", "Next", "RETRYABLE", "REDIAL_PAUSE"]

REDIAL_PAUSE = 4  # seconds: the modem's LCP restart timer (3 s) after our Terminate-Request, plus margin

# exit codes after which another attempt makes sense with `persist`
RETRYABLE = frozenset({
    ExitCode.HANGUP, ExitCode.PORT_VANISHED, ExitCode.CARRIER_LOST, ExitCode.NO_CARRIER, ExitCode.PEER_DEAD,
    ExitCode.PEER_TERMINATED, ExitCode.LCP_TIMEOUT, ExitCode.NEGOTIATION_FAILED, ExitCode.NETWORK_FAILED,
    ExitCode.CONNECT_FAILED, ExitCode.OPEN_FAILED, ExitCode.NO_DEVICE, ExitCode.LOOPBACK, ExitCode.OK,
    # the NCM path's own: a USB transfer failing, ^NDISDUP refused (the network may come back)
    ExitCode.USB_ERROR, ExitCode.NCM_DIAL_FAILED,
})


@dataclass(frozen=True)
class Next:
    """The decision: `final` ends the command with that end; else wait `wait` s and dial again."""

    final: LinkEnd | None
    wait: float = 0.0
    failures: int = 0
    note: str = ""


@dataclass(frozen=True)
class EndPolicy:
    persist: bool = False
    holdoff: int = 30
    maxfail: int = 10

    def after(self, end: LinkEnd, failures: int, *, stopped_by: str | None = None,
              redial: bool = False) -> Next:
        """Given how a call ended, the failures in a row before it, and whether a stop signal
        (its name) or a redial request (SIGHUP with persist) came: what next."""
        if stopped_by is not None:
            if not end.was_up and end.code is not ExitCode.INTERRUPTED:  # e.g. LCP closed on request
                end = LinkEnd(EdgeCause.INTERRUPTED, f"{stopped_by} received before the link came up; stopped "
                              f"({end.message.rstrip('.')}).")
            return Next(end)
        if redial:
            # After our Terminate-Request the modem waits its restart time (3 s) before it is back
            # in command mode; dialling sooner meets a port still in PPP mode.
            wait = max(REDIAL_PAUSE, self.holdoff if self.persist else 0)
            return Next(None, wait, failures, f"redialling (SIGHUP) in {wait} s")
        if not self.persist or end.code not in RETRYABLE:
            return Next(end)
        failures = 0 if end.was_up else failures + 1
        if self.maxfail and failures >= self.maxfail:
            return Next(LinkEnd(EdgeCause.MAXFAIL, f"{end.message} That was failure {failures} in a row "
                                f"(maxfail {self.maxfail}); giving up.", end.was_up))
        wait = self.holdoff if end.was_up else max(self.holdoff, 1)
        return Next(None, wait, failures, f"persist: dialling again in {wait} s")

    @staticmethod
    def interrupted_while_waiting(signal_name: str | None, redial: bool, last: LinkEnd) -> LinkEnd:
        """A stop signal during the wait before the next dial."""
        if redial:
            return LinkEnd(EdgeCause.INTERRUPTED, f"{signal_name} received while waiting to redial; stopped.")
        return LinkEnd(EdgeCause.INTERRUPTED, f"{signal_name} received while waiting to redial (holdoff); "
                       f"stopped. The last link ended: {last.message}")
