"""One table from cause to exit code (pppstack.exitcodes.EXIT_CODES), and nowhere else.

Every member of the four cause enums has exactly one row, every exit code a command can end
with is reached from a row, and no other module maps anything to an ExitCode by a table, by a
member name (`ExitCode[name]`) or by matching a message."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ncm.link import NcmDownCause
from pppstack.endpolicy import RETRYABLE, EndPolicy
from pppstack.endreason import LinkEnd
from pppstack.events import DownCause
from pppstack.exitcodes import EXIT_CODES, EdgeCause, ExitCode, dial_cause, exit_code
from pppstack.modem.dial import DialError

ROOT = Path(__file__).resolve().parent.parent
CAUSE_ENUMS = (DownCause, NcmDownCause, EdgeCause)


def test_every_cause_has_one_row_and_only_causes_have_rows() -> None:
    members = [m for e in CAUSE_ENUMS for m in e]
    assert sorted(map(repr, EXIT_CODES)) == sorted(map(repr, members))


def test_every_exit_code_is_reached_from_the_table() -> None:
    assert set(EXIT_CODES.values()) == set(ExitCode), set(ExitCode) - set(EXIT_CODES.values())


@pytest.mark.parametrize("error", list(DialError))
def test_a_dial_error_is_a_cause_in_each_mode(error: DialError) -> None:
    pin = error in (DialError.SIM_PIN_REQUIRED, DialError.SIM_PIN_REJECTED, DialError.SIM_PUK_REQUIRED)
    assert exit_code(dial_cause(error, ncm=False)) is (ExitCode.SIM_PIN if pin else ExitCode.CONNECT_FAILED)
    ncm = ExitCode.SIM_PIN if pin else ExitCode.NO_DEVICE if error is DialError.NO_RESPONSE \
        else ExitCode.NCM_DIAL_FAILED
    assert exit_code(dial_cause(error, ncm=True)) is ncm


def _sources() -> list[Path]:
    return [p for d in ("pppstack", "ncm") for p in (ROOT / d).rglob("*.py") if p.name != "exitcodes.py"]


def _violations(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict) and any(
                isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name) and v.value.id == "ExitCode"
                for v in node.values):
            found.append(f"{name}:{node.lineno} a dict of exit codes")
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "ExitCode":
            found.append(f"{name}:{node.lineno} ExitCode[...]")
    if "Access denied" in source and "ExitCode" in source:
        found.append(f"{name}: an exit code from a message's words")
    return found


def test_no_other_module_maps_to_exit_codes() -> None:
    """No dict whose values are ExitCode members, no ExitCode[...] lookup by name, no matching
    of a message's words, outside pppstack/exitcodes.py."""
    found = [v for p in _sources() for v in _violations(p.read_text(), str(p.relative_to(ROOT)))]
    assert not found, found


def test_the_fence_catches_planted_maps() -> None:
    planted = ("CODES = {Cause.A: ExitCode.OK}\ncode = ExitCode[name]\n"
               "if 'Access denied' in msg: code = ExitCode.PERMISSION\n")
    assert len(_violations(planted, "planted.py")) == 3


def test_policy_retries_only_what_another_call_may_cure() -> None:
    policy = EndPolicy(persist=True, holdoff=5, maxfail=2)
    hangup = LinkEnd(EdgeCause.HANGUP, "Modem hangup.")
    first = policy.after(hangup, 0)
    assert first.final is None and first.wait == 5 and first.failures == 1
    second = policy.after(hangup, first.failures)
    assert second.final is not None and second.final.code is ExitCode.MAXFAIL and "failure 2 in a row" in \
        second.final.message
    auth = LinkEnd(DownCause.AUTH_FAILED, "CHAP authentication failed.")
    assert ExitCode.AUTH_FAILED not in RETRYABLE and policy.after(auth, 0).final == auth
    up_then_down = LinkEnd(NcmDownCause.CARRIER_LOST, "carrier lost", was_up=True)
    assert policy.after(up_then_down, 1).failures == 0          # a call that came up resets the count
    assert EndPolicy(persist=False).after(hangup, 0).final == hangup


def test_policy_on_signals() -> None:
    policy = EndPolicy(persist=True, holdoff=1, maxfail=0)
    early = policy.after(LinkEnd(DownCause.LOCAL_CLOSE, "closed"), 0, stopped_by="SIGTERM")
    assert early.final is not None and early.final.code is ExitCode.INTERRUPTED and "SIGTERM" in early.final.message
    late = LinkEnd(DownCause.LOCAL_CLOSE, "closed", was_up=True)
    assert policy.after(late, 0, stopped_by="SIGTERM").final == late
    redial = policy.after(late, 3, redial=True)
    assert redial.final is None and redial.wait == 4 and redial.failures == 3   # the modem's pause
