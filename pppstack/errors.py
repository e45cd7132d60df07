"""Exception classes, split by who is at fault (the h11 model).

`MalformedPacket` means the peer sent bytes we cannot parse; it is caught at the
protocol boundary, counted and discarded (RFC 1661: "silently discard") and never
reaches the caller.  `InvalidStateError` means local misuse of an API and is raised.
"""

from __future__ import annotations

__all__ = ["PPPError", "MalformedPacket", "InvalidStateError"]


class PPPError(Exception):
    """Base class of every pppstack error."""


class MalformedPacket(PPPError):
    """The peer sent something that does not parse (never escapes a protocol core)."""


class InvalidStateError(PPPError):
    """The caller used an API at a moment it does not allow (e.g. send_ip before IPCP is up)."""
