"""pppd-format descriptions of PPP packets, byte-exact to pppd 2.4.9's debug log.

    >>> describe_packet(0xC021, bytes.fromhex("01010008050600000001"))
    '[LCP ConfReq id=0x1 <magic 0x1>]'

`describe_packet` / `describe_frame` give the text pppd logs after "sent " or "rcvd ";
`decode_packet` gives the same packet as a dict of named fields for `--json` output.
Sans-I/O, and total: any input gives a string, never an exception.
"""

from __future__ import annotations

from pppstack.describe.fields import decode_frame, decode_packet
from pppstack.describe.packet import (
    LINE_LIMIT,
    PROTOCOLS,
    describe_frame,
    describe_packet,
    find_protocol,
    format_packet,
    normalize_frame,
)

__all__ = [
    "describe_packet",
    "describe_frame",
    "decode_packet",
    "decode_frame",
    "format_packet",
    "normalize_frame",
    "find_protocol",
    "PROTOCOLS",
    "LINE_LIMIT",
]
