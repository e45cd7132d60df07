"""Route each normalised line to the parser for the program that wrote it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pppstack.doctor.facts import Fact
from pppstack.doctor.kernel import kernel_facts
from pppstack.doctor.lines import LogLine, normalise
from pppstack.doctor.managers import comgt_facts, mm_facts, netifd_facts, nm_facts, wvdial_facts
from pppstack.doctor.modemtext import at_text, modem_facts
from pppstack.doctor.pppd import chat_facts, pppd_facts

__all__ = ["facts_of_line", "facts_of_lines"]

_BY_PROGRAM: dict[str, Callable[[LogLine], list[Fact]]] = {
    "pppd": pppd_facts, "chat": chat_facts, "kernel": kernel_facts, "netifd": netifd_facts,
    "comgt": comgt_facts, "gcom": comgt_facts, "wvdial": wvdial_facts, "networkmanager": nm_facts,
    "modemmanager": mm_facts,
}


def _bare(line: LogLine) -> list[Fact]:
    """A line with no program name: pppd's logfile, chat on stderr, dmesg, wvdial, a modem session."""
    for parse in (pppd_facts, chat_facts, kernel_facts):
        facts = parse(line)
        if facts:
            return facts
    if line.message.startswith("-->") or line.message[:2].upper() == "AT":
        return wvdial_facts(line)
    return modem_facts(line, at_text(line.message))


def facts_of_line(raw: str) -> list[Fact]:
    line = normalise(raw)
    if not line.message:
        return []
    parse = _BY_PROGRAM.get(line.program)
    if parse is not None:
        return parse(line)
    return _bare(line)


def facts_of_lines(lines: Iterable[str]) -> list[Fact]:
    return [f for raw in lines for f in facts_of_line(raw)]
