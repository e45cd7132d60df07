"""Events the PPP engine reports to its driver (`PPPoS.next_event()`).

Frozen, slotted dataclasses; don't subclass them.  IP packets are *not* events: they come out
of `PPPoS.take_packets()` so the data path allocates nothing per packet beyond the packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Address, IPv6Address

__all__ = [
    "Event", "DownCause", "LinkUp", "AuthSucceeded", "AuthFailed", "Ipv4Up", "Ipv4Down",
    "Ipv6Up", "Ipv6Down", "ModemText", "LinkDown", "link_local",
]


class DownCause(Enum):
    """Why the link went down (each maps to one ExitCode of the same name in the CLI)."""

    LCP_TIMEOUT = "lcp-timeout"              # no answer to our LCP Configure-Requests
    NEGOTIATION_FAILED = "negotiation-failed"  # LCP could not agree, or the peer rejected LCP itself
    AUTH_FAILED = "auth-failed"              # the peer refused our credentials (or never asked / answered)
    PEER_AUTH_FAILED = "peer-auth-failed"    # the peer failed to authenticate to us
    LOOPBACK = "loopback"                    # we hear our own magic number: the line is looped back
    PEER_DEAD = "peer-dead"                  # echo keepalive got no answers
    PEER_TERMINATED = "peer-terminated"      # the peer sent Terminate-Request
    LOCAL_CLOSE = "local-close"              # close() was called
    NETWORK_FAILED = "network-failed"        # no network protocol (IPCP/IPv6CP) could be opened


def link_local(ifid: bytes) -> IPv6Address:
    """fe80::/64 + the 64-bit interface identifier (RFC 5072 §5)."""
    return IPv6Address(b"\xfe\x80" + bytes(6) + bytes(ifid))


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every engine event."""


@dataclass(frozen=True, slots=True)
class LinkUp(Event):
    """LCP reached Opened.  `mru`: what we receive; `peer_mru`: the most we may send."""

    mru: int
    peer_mru: int
    accm: int = 0            # the ACCM we send with (the peer's wish)
    pcomp: bool = False      # we may compress the protocol field on send
    accomp: bool = False     # we may drop FF 03 on send
    auth: str | None = None  # the protocol the peer asked us to authenticate with ("PAP"/"CHAP")
    peer_auth: str | None = None  # the protocol we asked the peer to authenticate with


@dataclass(frozen=True, slots=True)
class AuthSucceeded(Event):
    """One direction of authentication completed (`as_authenticator`: we checked the peer)."""

    protocol: str
    peer_name: str = ""
    as_authenticator: bool = False


@dataclass(frozen=True, slots=True)
class AuthFailed(Event):
    """Authentication failed; `by_peer`: the peer refused us (else: we refused the peer)."""

    protocol: str
    message: str
    by_peer: bool = True


@dataclass(frozen=True, slots=True)
class Ipv4Up(Event):
    """IPCP reached Opened."""

    local: IPv4Address
    peer: IPv4Address
    dns: tuple[IPv4Address, ...] = ()
    mtu: int = 1500
    wins: tuple[IPv4Address, ...] = ()


@dataclass(frozen=True, slots=True)
class Ipv4Down(Event):
    """IPCP left Opened."""


@dataclass(frozen=True, slots=True)
class Ipv6Up(Event):
    """IPv6CP reached Opened; link-local addresses derive from the identifiers."""

    local_ifid: bytes
    peer_ifid: bytes
    mtu: int = 1500

    @property
    def local_ll(self) -> IPv6Address:
        return link_local(self.local_ifid)

    @property
    def peer_ll(self) -> IPv6Address:
        return link_local(self.peer_ifid)


@dataclass(frozen=True, slots=True)
class Ipv6Down(Event):
    """IPv6CP left Opened."""


@dataclass(frozen=True, slots=True)
class ModemText(Event):
    """Text between frames that is not PPP (e.g. "NO CARRIER" when the modem leaves data mode)."""

    text: str


@dataclass(frozen=True, slots=True)
class LinkDown(Event):
    """The link is down for good; `message` is a sentence for a user."""

    cause: DownCause
    message: str
