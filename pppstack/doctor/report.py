"""Diagnoses as text for a person at 2 a.m., or as the stable JSON list for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pppstack.doctor.verdicts import Diagnosis

__all__ = ["render_text", "render_json", "render_steps"]


def render_steps(passed: Sequence[tuple[str, str]]) -> list[str]:
    """The live walk's passed steps, one per line: ``signal  LTE RSRP -95 dBm (fair)``."""
    width = max((len(name) for name, _ in passed), default=0)
    return [f"  ok  {name:<{width}}  {saw}" for name, saw in passed]


def render_text(diagnoses: Sequence[Diagnosis], *, numbered: bool = True) -> str:
    if not diagnoses:
        return ("No session found: no line from pppd, chat, wvdial, comgt/netifd, ModemManager, "
                "NetworkManager or the kernel's USB drivers was recognised.")
    out: list[str] = []
    for i, d in enumerate(diagnoses, 1):
        head = f"session {i}" + (f" ({d.title})" if d.title else "") + ": " if numbered and len(diagnoses) > 1 \
            or (numbered and d.title) else ""
        out.append(f"{head}{d.verdict.value} at step {d.step.value}")
        if d.summary:
            out.append(f"  {d.summary}")
        if d.evidence:
            out.append("  evidence:")
            out += [f"    {e}" for e in d.evidence]
        for n in d.notes:
            out.append(f"  note: {n}")
        out.append(f"  fix: {d.fix}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_json(diagnoses: Sequence[Diagnosis]) -> str:
    return json.dumps([d.to_json() for d in diagnoses], indent=2)
