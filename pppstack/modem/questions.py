"""Ask a modem a few questions and keep every answer (the doctor's AT+CEER, legacy-init probe).

Unlike the dialers this never fails on an ERROR: an ERROR is an answer worth reporting.
"""

from __future__ import annotations

from pppstack.modem.at import Response
from pppstack.modem.dial import _AtDialogue  # the shared command/timeout/resync shell
from pppstack.modem.machine import Program

__all__ = ["Questions"]


class Questions(_AtDialogue):
    """Send each command in turn; `result` is [(command, Response or None if unanswered)]."""

    def __init__(self, commands: list[str], *, command_timeout: float = 2.0) -> None:
        super().__init__(command_timeout=command_timeout)
        self.commands = list(commands)

    def _lost_result(self, reason: str) -> list[tuple[str, Response | None]]:
        return []

    def _program(self) -> Program:
        answers: list[tuple[str, Response | None]] = []
        for c in self.commands:
            resp = yield from self._cmd(c)
            answers.append((c, resp))
        self.result = answers
