"""pppd's secrets files (/etc/ppp/pap-secrets, chap-secrets): ``client server secret [addresses]``.

pppd(8) §AUTHENTICATION: one entry a line, words split on white space, quotes and backslashes
as in a shell, ``#`` starts a comment; ``*`` matches any name.  A secret kept here (mode 0600)
is not on the command line, where every local user can read it in /proc/PID/cmdline.
Parsing only; the caller reads the file.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["SecretEntry", "parse_secrets", "find_secret", "server_secrets"]


@dataclass(frozen=True, slots=True)
class SecretEntry:
    client: str
    server: str
    secret: str = field(repr=False)


def parse_secrets(text: str, source: str = "secrets file") -> list[SecretEntry]:
    """Entries in file order; raises ValueError naming the line for one that cannot be read."""
    out: list[SecretEntry] = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:   # an unclosed quote: say where, never echo the line (a secret)
            raise ValueError(f"{source} line {n}: {exc}") from None
        if not words:
            continue
        if len(words) < 3:
            raise ValueError(f"{source} line {n}: an entry is 'client server secret', found {len(words)} word(s)")
        out.append(SecretEntry(words[0], words[1], words[2]))
    return out


def _match(pattern: str, name: str) -> bool:
    return pattern == "*" or pattern == name


def find_secret(entries: Iterable[SecretEntry], client: str, server: str | None = None) -> str | None:
    """Our secret as ``client`` towards ``server`` (any server when unknown); an exact match of
    both names wins over a wildcard, as in pppd."""
    best: tuple[int, str] | None = None
    for e in entries:
        if not _match(e.client, client) or (server is not None and not _match(e.server, server)):
            continue
        score = (e.client == client) + (server is not None and e.server == server)
        if best is None or score > best[0]:
            best = (score, e.secret)
    return None if best is None else best[1]


def server_secrets(entries: Sequence[SecretEntry], name: str | None) -> dict[str, str]:
    """What a server named ``name`` accepts: client -> secret (``*`` for any client)."""
    return {e.client: e.secret for e in entries if name is None or _match(e.server, name)}
