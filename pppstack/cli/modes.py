"""Which `up` options apply to which data path (--mode): the one table a refusal is built from.

An option that does nothing in the chosen mode is refused with a sentence (exit 25,
NOT_FOR_MODE), never silently ignored: `up --mode ncm lcp-echo-interval 5` would otherwise look
like a keepalive that is not there.  Both the flags and the pppd words (from the command line,
`file` and `call`) are checked, because a word from a peers file is as much a request.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from pppstack.options import PppOptions

__all__ = ["FLAGS", "PPP_FIELDS", "PPP_IGNORED_WORDS", "refusal"]

PPP, NCM = "ppp", "ncm"
WHY = {
    NCM: "it configures PPP (LCP, IPCP, HDLC framing, the serial line or the PPP dial), which --mode ncm "
         "does not use",
    PPP: "it configures the NCM data path, which only --mode ncm uses",
}

# argparse dest -> (the flag as typed, the only mode it applies to)
FLAGS: dict[str, tuple[str, str]] = {
    "speed": ("--speed", PPP), "mru": ("--mru", PPP), "asyncmap": ("--asyncmap", PPP),
    "lcp_echo_interval": ("--lcp-echo-interval", PPP), "lcp_echo_failure": ("--lcp-echo-failure", PPP),
    "connect": ("--connect", PPP), "no_dial": ("--no-dial", PPP), "number": ("--number", PPP),
    "simulate": ("--simulate", PPP), "stay": ("--stay", PPP), "sim_fault": ("--sim-fault", PPP),
    "usb_mode": ("--usb-mode", PPP), "trace": ("--trace", PPP),
    "usb": ("--usb", NCM), "at_port": ("--at-port", NCM), "local_ip": ("--local-ip", NCM),
    "gateway": ("--gateway", NCM), "ntb32": ("--ntb32", NCM), "ndp_at_end": ("--ndp-at-end", NCM),
}

# PppOptions fields only PPP acts on -> the pppd word that sets them
PPP_FIELDS: dict[str, str] = {
    "speed": "a serial speed", "mru": "mru", "asyncmap": "asyncmap", "pcomp": "nopcomp", "accomp": "noaccomp",
    "lcp_echo_interval": "lcp-echo-interval", "lcp_echo_failure": "lcp-echo-failure",
    "lcp_echo_adaptive": "lcp-echo-adaptive", "lcp_restart": "lcp-restart",
    "lcp_max_configure": "lcp-max-configure", "lcp_max_terminate": "lcp-max-terminate",
    "lcp_max_failure": "lcp-max-failure", "ipcp_max_failure": "ipcp-max-failure", "passive": "passive",
    "silent": "silent", "name": "name", "remotename": "remotename", "require_pap": "require-pap",
    "require_chap": "require-chap", "refuse_pap": "refuse-pap", "refuse_chap": "refuse-chap",
    "local_ip": "a LOCAL:REMOTE address pair", "remote_ip": "a LOCAL:REMOTE address pair",
    "noipdefault": "noipdefault", "ipcp_accept_local": "ipcp-accept-local",
    "ipcp_accept_remote": "ipcp-accept-remote", "ms_dns": "ms-dns", "noip": "noip",
    "ipv6_local_ifid": "ipv6", "ipv6_remote_ifid": "ipv6", "ipv6cp_accept_local": "ipv6cp-accept-local",
    "ipv6cp_accept_remote": "ipv6cp-accept-remote", "ipv6cp_use_ipaddr": "ipv6cp-use-ipaddr",
    "defaultroute6": "defaultroute6", "unit": "unit", "connect": "connect", "disconnect": "disconnect",
    "connect_delay": "connect-delay", "crtscts": "crtscts", "modem": "modem",
}

# pppd words we accept without effect in PPP mode that name PPP negotiation: in NCM mode they
# are a misunderstanding, so they are refused too (lock, nodetach & co. stay harmless)
PPP_IGNORED_WORDS = frozenset({
    "noccp", "-ccp", "novj", "-vj", "novjccomp", "-vjccomp", "nobsdcomp", "nodeflate", "nopredictor1",
    "nomppe", "refuse-mschap", "refuse-mschap-v2", "refuse-eap", "noipx", "nomagic", "nomultilink", "nomp",
    "noendpoint", "ipcp-no-address", "ipcp-no-addresses", "xonxoff", "receive-all", "proxyarp",
    "ipcp-restart", "ipv6cp-restart", "pap-restart", "chap-restart", "pap-max-authreq", "chap-max-challenge",
    "chap-interval", "ipcp-max-configure", "ipcp-max-terminate", "ipv6cp-max-configure", "ipv6cp-max-failure",
    "ipv6cp-max-terminate", "pap-timeout", "bsdcomp", "deflate", "vj-max-slots",
})


def _given(value: object) -> bool:
    return not (value is None or value is False or value == [])


def refusal(args: argparse.Namespace, opts: PppOptions, mode: str) -> str | None:
    """A sentence naming the first option that does not apply to ``mode``, or None."""
    for dest, (flag, only) in FLAGS.items():
        if only != mode and _given(getattr(args, dest, None)):
            return f"{flag} does not apply to --mode {mode}: {WHY[mode]}."
    if mode != NCM:
        return None
    defaults = PppOptions()
    known = {f.name for f in fields(PppOptions)}
    for name, word in PPP_FIELDS.items():
        if name in known and getattr(opts, name) != getattr(defaults, name):
            return (f"{word} does not apply to --mode ncm: {WHY[NCM]}; remove it from the command line or the "
                    f"options file{'s ' + ', '.join(opts.files) if opts.files else ''}.")
    for word in opts.ignored:
        if word.split()[0] in PPP_IGNORED_WORDS:
            return (f"{word.split()[0]} does not apply to --mode ncm: {WHY[NCM]}; remove it from the command line "
                    f"or the options file{'s ' + ', '.join(opts.files) if opts.files else ''}.")
    return None
