"""PPP authentication (RFC 1334 PAP, RFC 1994 CHAP-MD5), each as authenticatee and authenticator.

Every machine has the same sans-I/O shape: `start(now)`, `receive(code, ident, data, now)`,
`handle_timer(now)` and a `deadline`; packets go out through the `send` callable it was given,
and an outcome (`AuthResult`) comes back from `receive`/`handle_timer` once.  Secrets are never
logged or put in a result message.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AuthResult"]


@dataclass(frozen=True, slots=True)
class AuthResult:
    ok: bool
    message: str       # a sentence for a user (the peer's own text quoted when it sent one)
    peer_name: str = ""


def peer_text(data: bytes) -> str:
    """The peer's message as printable text (for logs; bounded)."""
    text = data[:120].decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else "?" for ch in text)
