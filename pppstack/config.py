"""LinkConfig: everything the PPP engine is told, with pppd's names and pppd's code defaults.

Field names are pppd option names with underscores (the CLI maps words straight onto them).
Defaults follow pppd's code, not its man page (anchors §1.2): restart 3 s, 10 Configure-Requests,
2 Terminate-Requests, 5 Nak loops, IPCP 100 Nak loops (3G networks stall with Naks).

The network side is the same engine with a different config: `require_chap`/`require_pap` with
`secrets`, `remote_ip` to hand out by Nak, `ms_dns` to offer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address

__all__ = ["LinkConfig", "DEFAULT_MRU", "MIN_MRU", "MAX_MRU"]

DEFAULT_MRU = 1500
MIN_MRU = 128
MAX_MRU = 16384


def _ip(value: object) -> IPv4Address | None:
    if value is None or isinstance(value, IPv4Address):
        return value
    return IPv4Address(value)


def _ifid(value: object) -> bytes | None:
    """An interface identifier from 8 octets, "::1:2:3:4" (pppd's ipv6 option), "1:2:3:4" or 16 hex digits."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if "::" in text:
            from ipaddress import IPv6Address

            return IPv6Address(text).packed[8:]
        if text.count(":") == 3:
            return b"".join(int(g, 16).to_bytes(2, "big") for g in text.split(":"))
        return bytes.fromhex(text.rjust(16, "0"))
    data: bytes = bytes(value)  # type: ignore[call-overload]
    if len(data) != 8:
        raise ValueError(f"an IPv6 interface identifier has 8 octets, not {len(data)}")
    return data


@dataclass(frozen=True)
class LinkConfig:
    """The engine's settings (pppd option names).  Invalid values raise ValueError."""

    # LCP (pppd/lcp.c lcp_init): we ask asyncmap 0, magic, pcomp, accomp; MRU only if not 1500
    mru: int = DEFAULT_MRU
    asyncmap: int = 0
    pcomp: bool = True
    accomp: bool = True
    magic: bool = True
    lcp_restart: float = 3.0
    lcp_max_configure: int = 10
    lcp_max_terminate: int = 2
    lcp_max_failure: int = 5
    lcp_echo_interval: float = 0
    lcp_echo_failure: int = 0
    lcp_echo_adaptive: bool = False
    passive: bool = False
    silent: bool = False
    # Field tolerance: a Configure-Request identical to the one we acked, arriving in Opened, is
    # re-acked without tearing the layer down (u-blox SARA-R4; particle-iot/lwip#8).
    reack_repeated_confreq: bool = True
    # Field tolerance: resend our first LCP Configure-Request once when the peer's first request
    # arrives before any answer to ours (pppd flushes its tty after CONNECT; fsm/cp.py argues why
    # this never renegotiates an Opened layer).
    lcp_resend_first: bool = True
    # authentication: as authenticatee
    user: str = ""
    password: str = field(default="", repr=False)
    refuse_pap: bool = False
    refuse_chap: bool = False
    # authentication: as authenticator
    require_pap: bool = False
    require_chap: bool = False
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Accept any name and secret, as a mobile network's modem does (the simulator, test peers).
    accept_any_credentials: bool = False
    name: str = ""
    pap_restart: float = 3.0
    pap_max_authreq: int = 10
    pap_timeout: float = 30.0       # authenticator: wait this long for the peer's Authenticate-Request
    chap_restart: float = 3.0
    chap_max_challenge: int = 10
    chap_interval: float = 0        # re-challenge every n seconds once authenticated (0: never)
    chap_timeout: float = 60.0      # authenticatee: give up if no Challenge/Success comes (pppd PR #160)
    # IPCP
    noip: bool = False
    local_ip: IPv4Address | None = None
    remote_ip: IPv4Address | None = None
    # pppd's defaults: a configured address is ours to keep and the peer's to take.  Without
    # ipcp-accept-local a peer's Nak does not move `local_ip`; without ipcp-accept-remote a peer
    # asking an address other than `remote_ip` is Naked with it.  An address not configured is
    # always negotiable (pppd ipcp_check_options sets accept_* when the address is 0).
    ipcp_accept_local: bool = False
    ipcp_accept_remote: bool = False
    usepeerdns: bool = True
    ms_dns: tuple[IPv4Address, ...] = ()
    request_wins: bool = False  # ask the peer for NBNS (130/132) like DNS; off as in pppd
    ms_wins: tuple[IPv4Address, ...] = ()  # NBNS servers offered to a peer that asks
    ipcp_restart: float = 3.0
    ipcp_max_configure: int = 10
    ipcp_max_terminate: int = 2
    ipcp_max_failure: int = 100
    # IPv6CP (on by default, as in pppd 2.4.9+)
    noipv6: bool = False
    ipv6_local_ifid: bytes | None = None
    ipv6_remote_ifid: bytes | None = None
    # The same policy for interface identifiers (pppd ipv6cp-accept-local, and pppd 2.5's
    # ipv6cp-accept-remote); ipv6cp-use-ipaddr takes both identifiers from the IPv4 addresses.
    ipv6cp_accept_local: bool = False
    ipv6cp_accept_remote: bool = False
    ipv6cp_use_ipaddr: bool = False
    ipv6cp_restart: float = 3.0
    ipv6cp_max_configure: int = 10
    ipv6cp_max_terminate: int = 2
    ipv6cp_max_failure: int = 5

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "local_ip", _ip(self.local_ip))
        setattr_(self, "remote_ip", _ip(self.remote_ip))
        setattr_(self, "ms_dns", tuple(_ip(a) for a in self.ms_dns))
        setattr_(self, "ms_wins", tuple(_ip(a) for a in self.ms_wins))
        setattr_(self, "ipv6_local_ifid", _ifid(self.ipv6_local_ifid))
        setattr_(self, "ipv6_remote_ifid", _ifid(self.ipv6_remote_ifid))
        setattr_(self, "user", self.user or "")
        setattr_(self, "password", self.password or "")
        setattr_(self, "name", self.name or "")
        if not MIN_MRU <= self.mru <= MAX_MRU:
            raise ValueError(f"mru {self.mru} is outside {MIN_MRU}..{MAX_MRU}")
        if not 0 <= self.asyncmap <= 0xFFFFFFFF:
            raise ValueError(f"asyncmap 0x{self.asyncmap:x} does not fit 32 bits")
        for name in ("lcp_restart", "ipcp_restart", "ipv6cp_restart", "pap_restart", "chap_restart"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        for name in ("lcp_max_configure", "lcp_max_terminate", "lcp_max_failure", "ipcp_max_configure",
                     "ipcp_max_terminate", "ipcp_max_failure", "pap_max_authreq", "chap_max_challenge"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.noip and self.noipv6:
            raise ValueError("noip and noipv6 together leave no network protocol to run")
        if (self.require_pap and self.refuse_pap) or (self.require_chap and self.refuse_chap):
            raise ValueError("an authentication protocol cannot be both required and refused")

    @property
    def wants_auth(self) -> bool:
        return self.require_chap or self.require_pap
