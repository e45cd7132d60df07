"""pppstack: a userspace PPP and CDC-NCM data path for USB cellular modems.

The protocol core (framing, automaton, LCP/IPCP/IPv6CP, PAP/CHAP, NTB codec) contains
no networking code at all: bytes, events and `now` go in; bytes, events and deadlines
come out.  Only `pppstack.io`, `ncm.usb` and `pppstack.cli` touch the operating system.

The engine's front door, importable from here:

* `PPPoS` — one PPP link over an async serial line (RFC 1661 + RFC 1662): ``open(now)``,
  ``receive_data(bytes, now)``, ``data_to_send()``, ``next_event()``, ``get_timer()``,
  ``handle_timer(now)``, ``send_ip(packet, now)``, ``take_packets()``, ``close(reason, now)``;
* `LinkConfig` — its settings, by pppd's option names (raises ValueError on nonsense);
* the events it returns (`LinkUp`, `Ipv4Up`, `Ipv6Up`, `AuthSucceeded`, `AuthFailed`,
  `ModemText`, `LinkDown`, ...; all in `pppstack.events`) and its errors (`PPPError`,
  `MalformedPacket`, `InvalidStateError`);
* `describe_frame` / `describe_packet` — pppd's debug-log text for a frame or packet;
* `wire_packet`, `wire_ip`, `read_frames`, `encode_options` — build and read frames by hand
  (`pppstack.frames`).

They are loaded on first use, so ``import pppstack`` (and the command line) stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pppstack.config import LinkConfig
    from pppstack.describe import describe_frame, describe_packet
    from pppstack.errors import InvalidStateError, MalformedPacket, PPPError
    from pppstack.events import (
        AuthFailed,
        AuthSucceeded,
        DownCause,
        Event,
        Ipv4Down,
        Ipv4Up,
        Ipv6Down,
        Ipv6Up,
        LinkDown,
        LinkUp,
        ModemText,
    )
    from pppstack.frames import encode_options, read_frames, wire_ip, wire_packet
    from pppstack.pppos import PPPoS

_EVENTS = ("Event", "LinkUp", "AuthSucceeded", "AuthFailed", "Ipv4Up", "Ipv4Down", "Ipv6Up", "Ipv6Down",
           "ModemText", "LinkDown", "DownCause")
_ERRORS = ("PPPError", "MalformedPacket", "InvalidStateError")
_FRAMES = ("wire_packet", "wire_ip", "read_frames", "encode_options")

__all__ = [
    "__version__", "PPPoS", "LinkConfig", "describe_frame", "describe_packet",
    "Event", "LinkUp", "AuthSucceeded", "AuthFailed", "Ipv4Up", "Ipv4Down", "Ipv6Up", "Ipv6Down", "ModemText",
    "LinkDown", "DownCause",
    "PPPError", "MalformedPacket", "InvalidStateError",
    "wire_packet", "wire_ip", "read_frames", "encode_options",
]


def __getattr__(name: str) -> Any:
    """The front door's names, imported when first asked for (PEP 562)."""
    if name == "PPPoS":
        from pppstack.pppos import PPPoS
        return PPPoS
    if name == "LinkConfig":
        from pppstack.config import LinkConfig
        return LinkConfig
    if name in ("describe_frame", "describe_packet"):
        from pppstack import describe
        return getattr(describe, name)
    if name in _EVENTS:
        from pppstack import events
        return getattr(events, name)
    if name in _ERRORS:
        from pppstack import errors
        return getattr(errors, name)
    if name in _FRAMES:
        from pppstack import frames
        return getattr(frames, name)
    raise AttributeError(f"module 'pppstack' has no attribute {name!r}")
