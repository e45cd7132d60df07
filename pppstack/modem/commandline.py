"""The modem's side of AT: split a command line into commands (V.250 §5.2-5.4).

Used by anything that plays the modem (the simulator, test responders): ``AT+CGDCONT=1,"IP","x"``
becomes AtCommand("+CGDCONT", SET, ('1', '"IP"', '"x"')).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pppstack.modem import huawei as hw

__all__ = ["CommandKind", "AtCommand", "parse_command_line"]


class CommandKind(Enum):
    ACTION = "action"   # AT^SYSINFOEX, ATD*99#, ATE0
    SET = "set"         # AT+CGDCONT=1,"IP","apn"
    READ = "read"       # AT+CREG?
    TEST = "test"       # AT+CGDCONT=?


@dataclass(frozen=True, slots=True)
class AtCommand:
    name: str                 # "+CGDCONT", "^NDISDUP", "D", "E", "&F", "Q"
    kind: CommandKind
    args: tuple[str, ...] = ()

    def arg(self, i: int, default: str = "") -> str:
        """Argument i with quotes removed."""
        return hw.unquote(self.args[i]) if i < len(self.args) else default


def parse_command_line(line: str) -> list[AtCommand] | None:
    """Split one command line as a modem does (V.250 §5.2-5.4): ``AT`` prefix, basic commands
    (E1, Q0, &F, D<dial string>), extended commands separated by ';'.  Returns None when the line
    is not an AT command line (no ``AT`` prefix); an empty list for a bare ``AT``."""
    s = line.strip()
    if s[:2].upper() != "AT":
        return None
    s = s[2:]
    out: list[AtCommand] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in " ;":
            i += 1
            continue
        if ch in "+^$%*#":
            j = i + 1
            while j < len(s) and (s[j].isalnum() or s[j] == "_"):
                j += 1
            name = s[i:j].upper()
            # the rest of this command runs to the next ';' outside quotes
            k, quoted = j, False
            while k < len(s) and (quoted or s[k] != ";"):
                quoted ^= s[k] == '"'
                k += 1
            rest = s[j:k].strip()
            if rest == "?":
                out.append(AtCommand(name, CommandKind.READ))
            elif rest == "=?":
                out.append(AtCommand(name, CommandKind.TEST))
            elif rest.startswith("="):
                out.append(AtCommand(name, CommandKind.SET, tuple(hw.split_args(rest[1:]))))
            else:
                out.append(AtCommand(name, CommandKind.ACTION, (rest,) if rest else ()))
            i = k + 1
        elif ch.upper() == "D":
            k = s.find(";", i + 1)
            dial = s[i + 1:] if k < 0 else s[i + 1:k]
            out.append(AtCommand("D", CommandKind.ACTION, (dial.strip(),)))
            i = len(s) if k < 0 else k + 1
        elif ch.upper() == "S" and i + 1 < len(s) and s[i + 1].isdigit():
            j = i + 1
            while j < len(s) and s[j].isdigit():
                j += 1
            name = "S" + s[i + 1:j]
            if s[j:j + 1] == "?":
                out.append(AtCommand(name, CommandKind.READ))
                i = j + 1
            elif s[j:j + 1] == "=":
                k = j + 1
                while k < len(s) and s[k].isdigit():
                    k += 1
                out.append(AtCommand(name, CommandKind.SET, (s[j + 1:k],)))
                i = k
            else:
                out.append(AtCommand(name, CommandKind.ACTION))
                i = j
        else:
            name = ch.upper()
            j = i + 1
            if ch == "&" and j < len(s):
                name, j = "&" + s[j].upper(), j + 1
            k = j
            if k < len(s) and s[k] in "=?":
                k += 1
            while k < len(s) and s[k].isdigit():
                k += 1
            val = s[j:k]
            if val == "?":
                out.append(AtCommand(name, CommandKind.READ))
            elif val.startswith("="):
                out.append(AtCommand(name, CommandKind.SET, (val[1:],)))
            else:
                out.append(AtCommand(name, CommandKind.ACTION, (val,) if val else ()))
            i = k
    return out
