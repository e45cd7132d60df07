"""pppd option files and words, parsed into a typed configuration (sans-I/O).

Users arrive with /etc/ppp/peers/NAME files and pppd command lines; this module reads them with
pppd's own rules (pppd/options.c getword and the pppd(8) option list) so the same words work here:
blanks separate words, `#` starts a comment, '...' and "..." quote, backslash escapes the next
character, `file F` and `call NAME` (= /etc/ppp/peers/NAME) include further files, a word that
names a tty is the device, a bare number is the speed, and `10.0.0.1:10.0.0.2` sets the local and
remote addresses.  Later words win, as in pppd.

Reading files is injected (`loader`), so this module stays sans-I/O.  Every error names the file
and line it came from ("/etc/ppp/peers/e3372:7: lcp-echo-interval needs a number, got 'x'").
Options pppd has but this stack does not implement are refused with a sentence, never silently
dropped; options that only matter to pppd's process model (lock, nodetach, kdebug...) are accepted
and listed in `ignored` so the caller can say so.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = [
    "OptionError", "PppOptions", "Word", "tokenize", "parse_words", "parse_text", "parse_argv",
    "PEERS_DIR", "Loader", "OPTION_NAMES",
]

PEERS_DIR = "/etc/ppp/peers"

#: loader(path) -> file text; raises OSError if it cannot be read.
Loader = Callable[[str], str]


class OptionError(ValueError):
    """A word that could not be understood, with where it came from."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None) -> None:
        where = f"{source}:{line}: " if source and line else (f"{source}: " if source else "")
        super().__init__(where + message)
        self.message = message
        self.source = source
        self.line = line


@dataclass(frozen=True)
class Word:
    text: str
    source: str
    line: int


@dataclass(frozen=True)
class PppOptions:
    """What the words asked for.  Field names are pppd's option names with underscores."""

    device: str | None = None
    speed: int | None = None
    # LCP
    mru: int | None = None
    mtu: int | None = None
    asyncmap: int | None = None
    pcomp: bool = True
    accomp: bool = True
    lcp_echo_interval: int = 0
    lcp_echo_failure: int = 0
    lcp_echo_adaptive: bool = False
    lcp_restart: float | None = None
    lcp_max_configure: int | None = None
    lcp_max_terminate: int | None = None
    lcp_max_failure: int | None = None
    ipcp_max_failure: int | None = None
    passive: bool = False
    silent: bool = False
    # authentication
    noauth: bool = True  # pppd's `auth` default only applies when a default route exists; a modem never authenticates
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # never printed (pppd hide-password)
    name: str | None = None
    remotename: str | None = None
    require_pap: bool = False
    require_chap: bool = False
    refuse_pap: bool = False
    refuse_chap: bool = False
    # IPCP / IPv6CP
    local_ip: ipaddress.IPv4Address | None = None
    remote_ip: ipaddress.IPv4Address | None = None
    noipdefault: bool = False
    ipcp_accept_local: bool = False
    ipcp_accept_remote: bool = False
    usepeerdns: bool = False
    ms_dns: tuple[ipaddress.IPv4Address, ...] = ()
    noip: bool = False
    noipv6: bool = False
    ipv6_local_ifid: bytes | None = None
    ipv6_remote_ifid: bytes | None = None
    ipv6cp_accept_local: bool = False
    ipv6cp_accept_remote: bool = False
    ipv6cp_use_ipaddr: bool = False
    # routes, DNS file, interface
    defaultroute: bool = False
    defaultroute_metric: int = 0
    defaultroute6: bool = False
    noresolvconf: bool = False
    ifname: str | None = None
    unit: int | None = None
    # session
    persist: bool = False
    holdoff: int = 30  # pppd main.c
    maxfail: int = 10
    connect: str | None = None
    disconnect: str | None = None
    connect_delay: int = 1000
    crtscts: bool = False
    modem: bool = False  # pppd's default is `modem`; USB modems report no DCD, so ours is `local`
    debug: bool = False
    ipparam: str | None = None
    linkname: str | None = None
    ip_up_script: str | None = None
    ip_down_script: str | None = None
    # provenance
    files: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def effective_mru(self) -> int | None:
        """`mtu N` implies the MRU we ask for when `mru` is not given (OpenWrt ppp.sh does this)."""
        return self.mru if self.mru is not None else self.mtu

    def link_config_kwargs(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The fields the engine's LinkConfig knows (contracts §3), limited to ``names`` if given.

        Values left at None mean "engine default" and are omitted.
        """
        kw: dict[str, Any] = {
            "mru": self.effective_mru(), "asyncmap": self.asyncmap, "pcomp": self.pcomp, "accomp": self.accomp,
            "lcp_restart": self.lcp_restart, "lcp_max_configure": self.lcp_max_configure,
            "lcp_max_terminate": self.lcp_max_terminate, "lcp_max_failure": self.lcp_max_failure,
            "lcp_echo_interval": self.lcp_echo_interval, "lcp_echo_failure": self.lcp_echo_failure,
            "lcp_echo_adaptive": self.lcp_echo_adaptive, "passive": self.passive, "silent": self.silent,
            "user": self.user, "password": self.password, "refuse_pap": self.refuse_pap,
            "refuse_chap": self.refuse_chap, "require_pap": self.require_pap, "require_chap": self.require_chap,
            "local_ip": self.local_ip, "remote_ip": self.remote_ip, "usepeerdns": self.usepeerdns,
            "ms_dns": self.ms_dns, "ipcp_max_failure": self.ipcp_max_failure, "noip": self.noip,
            "noipv6": self.noipv6, "ipv6_local_ifid": self.ipv6_local_ifid,
            "ipv6_remote_ifid": self.ipv6_remote_ifid, "name": self.name,
            "ipcp_accept_local": self.ipcp_accept_local, "ipcp_accept_remote": self.ipcp_accept_remote,
            "ipv6cp_accept_local": self.ipv6cp_accept_local, "ipv6cp_accept_remote": self.ipv6cp_accept_remote,
            "ipv6cp_use_ipaddr": self.ipv6cp_use_ipaddr,
        }
        kw = {k: v for k, v in kw.items() if v is not None}
        if names is not None:
            allowed = set(names)
            kw = {k: v for k, v in kw.items() if k in allowed}
        return kw


# -- tokenizer -----------------------------------------------------------------------------------

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "s": " ", "t": "\t"}


def tokenize(text: str, source: str = "<options>") -> list[Word]:
    """Split option text into words the way pppd's getword() does."""
    words: list[Word] = []
    i, n, line = 0, len(text), 1
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
            continue
        if ch in " \t\r\f\v":
            i += 1
            continue
        if ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        start_line = line
        buf: list[str] = []
        quote: str | None = None
        while i < n:
            ch = text[i]
            if quote is None and ch in " \t\r\n\f\v":
                break
            if ch == "\\":
                i += 1
                if i >= n:
                    break
                esc = text[i]
                if esc == "\n":  # line continuation
                    line += 1
                elif esc in _ESCAPES:
                    buf.append(_ESCAPES[esc])
                elif esc in "01234567":
                    j = i
                    while j < n and j < i + 3 and text[j] in "01234567":
                        j += 1
                    buf.append(chr(int(text[i:j], 8)))
                    i = j
                    continue
                elif esc == "x":
                    j = i + 1
                    while j < n and j < i + 3 and text[j] in "0123456789abcdefABCDEF":
                        j += 1
                    buf.append(chr(int(text[i + 1:j], 16)) if j > i + 1 else "x")
                    i = j
                    continue
                else:
                    buf.append(esc)
                i += 1
                continue
            if quote is not None and ch == quote:
                quote = None
                i += 1
                continue
            if quote is None and ch in "'\"":
                quote = ch
                i += 1
                continue
            if ch == "\n":
                line += 1
            buf.append(ch)
            i += 1
        if quote is not None:
            raise OptionError(f"unterminated {quote} quote", source, start_line)
        words.append(Word("".join(buf), source, start_line))
    return words


# -- the option table ----------------------------------------------------------------------------

_TRUE: dict[str, tuple[str, Any]] = {
    # word: (field, value)
    "lcp-echo-adaptive": ("lcp_echo_adaptive", True),
    "noauth": ("noauth", True), "auth": ("noauth", False),
    "require-pap": ("require_pap", True), "+pap": ("require_pap", True),
    "require-chap": ("require_chap", True), "+chap": ("require_chap", True),
    "refuse-pap": ("refuse_pap", True), "-pap": ("refuse_pap", True),
    "refuse-chap": ("refuse_chap", True), "-chap": ("refuse_chap", True),
    "noipdefault": ("noipdefault", True),
    "ipcp-accept-local": ("ipcp_accept_local", True), "ipcp-accept-remote": ("ipcp_accept_remote", True),
    "ipv6cp-accept-local": ("ipv6cp_accept_local", True), "ipv6cp-accept-remote": ("ipv6cp_accept_remote", True),
    "ipv6cp-use-ipaddr": ("ipv6cp_use_ipaddr", True),
    "usepeerdns": ("usepeerdns", True),
    "noip": ("noip", True), "-ip": ("noip", True),
    "noipv6": ("noipv6", True), "-ipv6": ("noipv6", True), "+ipv6": ("noipv6", False),
    "defaultroute": ("defaultroute", True), "nodefaultroute": ("defaultroute", False),
    "-defaultroute": ("defaultroute", False),
    "defaultroute6": ("defaultroute6", True), "nodefaultroute6": ("defaultroute6", False),
    "noresolvconf": ("noresolvconf", True),
    "persist": ("persist", True), "nopersist": ("persist", False),
    "crtscts": ("crtscts", True), "nocrtscts": ("crtscts", False), "-crtscts": ("crtscts", False),
    "modem": ("modem", True), "local": ("modem", False),
    "debug": ("debug", True), "-d": ("debug", True),
    "passive": ("passive", True), "-p": ("passive", True), "silent": ("silent", True),
    "nopcomp": ("pcomp", False), "-pc": ("pcomp", False),
    "noaccomp": ("accomp", False), "-ac": ("accomp", False),
    "default-asyncmap": ("asyncmap", 0xFFFFFFFF), "-am": ("asyncmap", 0xFFFFFFFF),
}

_INT: dict[str, tuple[str, int, int]] = {
    # word: (field, min, max)
    "mru": ("mru", 128, 16384), "mtu": ("mtu", 128, 16384),
    "lcp-echo-interval": ("lcp_echo_interval", 0, 86400), "lcp-echo-failure": ("lcp_echo_failure", 0, 1000),
    "lcp-max-configure": ("lcp_max_configure", 1, 1000), "lcp-max-terminate": ("lcp_max_terminate", 1, 1000),
    "lcp-max-failure": ("lcp_max_failure", 1, 1000), "ipcp-max-failure": ("ipcp_max_failure", 1, 1000),
    "holdoff": ("holdoff", 0, 86400), "maxfail": ("maxfail", 0, 1_000_000),
    "defaultroute-metric": ("defaultroute_metric", 0, 2**32 - 1), "unit": ("unit", 0, 65535),
    "connect-delay": ("connect_delay", 0, 600_000),
}

_STR: dict[str, str] = {
    "user": "user", "password": "password", "name": "name", "remotename": "remotename",
    "connect": "connect", "disconnect": "disconnect", "ifname": "ifname", "ipparam": "ipparam",
    "linkname": "linkname", "ip-up-script": "ip_up_script", "ip-down-script": "ip_down_script",
}

# Accepted because they shape only pppd's own process or kernel driver, which we do not have.
_IGNORED_FLAGS = frozenset({
    "lock", "nolock", "nodetach", "updetach", "detach", "noccp", "-ccp", "novj", "-vj", "novjccomp",
    "-vjccomp", "nobsdcomp", "nodeflate", "nopredictor1", "nomppe", "refuse-mschap", "refuse-mschap-v2",
    "refuse-eap", "noipx", "hide-password", "show-password", "nomagic", "nomultilink", "nomp",
    "noendpoint", "nodefaultroute6", "replacedefaultroute", "noreplacedefaultroute", "ktune", "noktune",
    "proxyarp", "noproxyarp", "netmask", "receive-all", "xonxoff", "nologfd", "dump", "dryrun",
    "child-timeout", "ipcp-no-address", "ipcp-no-addresses", "allow-ip",
})
_IGNORED_WITH_ARG = frozenset({"kdebug", "logfile", "logfd", "ipcp-restart", "ipv6cp-restart", "pap-restart",
                               "chap-restart", "pap-max-authreq", "chap-max-challenge", "chap-interval",
                               "ipcp-max-configure", "ipcp-max-terminate", "ipv6cp-max-configure",
                               "ipv6cp-max-failure", "ipv6cp-max-terminate", "pap-timeout", "bsdcomp",
                               "deflate", "vj-max-slots", "child-timeout", "remotenumber", "init", "welcome",
                               "pidfile"})
_UNSUPPORTED = {
    "demand": "demand dialling is not implemented: the link is dialled at start",
    "idle": "the idle timeout is not implemented",
    "maxconnect": "maxconnect is not implemented",
    "plugin": "pppd plugins (PPPoE, PPPoL2TP...) do not exist here",
    "multilink": "multilink PPP is not implemented", "mp": "multilink PPP is not implemented",
    "require-mschap": "MS-CHAP is not implemented", "require-mschap-v2": "MS-CHAPv2 is not implemented",
    "require-eap": "EAP is not implemented", "require-mppe": "MPPE encryption is not implemented",
    "callback": "callback control is not implemented", "pty": "pty commands are not implemented",
    "sync": "synchronous HDLC is not implemented", "notty": "notty is not implemented",
    "record": "record is not implemented", "active-filter": "packet filters are not implemented",
    "pass-filter": "packet filters are not implemented", "lcp-rtt-file": "lcp-rtt-file is not implemented",
}

#: Every option word this parser understands (for `--help` and tests).
OPTION_NAMES = frozenset(
    set(_TRUE) | set(_INT) | set(_STR) | _IGNORED_FLAGS | _IGNORED_WITH_ARG
    | {"asyncmap", "lcp-restart", "ms-dns", "file", "call", "ipv6", "nodefaultroute", "local", "modem"}
)

_KNOWN_TTY_PREFIXES = ("/dev/", "tty", "pts/", "rfcomm", "cu.")


def _number(word: Word, opt: str, lo: int, hi: int) -> int:
    try:
        value = int(word.text, 0)
    except ValueError:
        raise OptionError(f"{opt} needs a number, got {word.text!r}", word.source, word.line) from None
    if not lo <= value <= hi:
        raise OptionError(f"{opt} {value} is out of range ({lo}..{hi})", word.source, word.line)
    return value


def _ipv4(text: str, word: Word, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise OptionError(f"{what} {text!r} is not an IPv4 address", word.source, word.line) from None


def _ifid(text: str, word: Word) -> bytes:
    """An IPv6CP interface identifier written as ::1 or fe80::1:2 (the low 64 bits)."""
    try:
        return ipaddress.IPv6Address(text).packed[8:]
    except ValueError:
        raise OptionError(f"ipv6 identifier {text!r} is not an IPv6 address", word.source, word.line) from None


def _looks_like_device(text: str) -> bool:
    return text.startswith(_KNOWN_TTY_PREFIXES)


def parse_words(words: Sequence[Word], base: PppOptions | None = None, loader: Loader | None = None,
                peers_dir: str = PEERS_DIR, _depth: int = 0) -> PppOptions:
    """Apply ``words`` over ``base`` (later words win); returns a new PppOptions."""
    if _depth > 10:
        src = words[0].source if words else None
        raise OptionError("`file`/`call` nest more than 10 deep (a file including itself?)", src)
    values: dict[str, Any] = {f.name: getattr(base, f.name) for f in fields(PppOptions)} if base else {}
    if not values:
        values = {f.name: getattr(PppOptions(), f.name) for f in fields(PppOptions)}
    ignored = list(values["ignored"])
    warnings = list(values["warnings"])
    files = list(values["files"])
    ms_dns = list(values["ms_dns"])
    i = 0

    def arg(opt: Word) -> Word:
        nonlocal i
        if i >= len(words):
            raise OptionError(f"{opt.text} needs a value", opt.source, opt.line)
        w = words[i]
        i += 1
        return w

    while i < len(words):
        w = words[i]
        i += 1
        t = w.text
        if t in _TRUE:
            name, value = _TRUE[t]
            values[name] = value
        elif t in _INT:
            name, lo, hi = _INT[t]
            values[name] = _number(arg(w), t, lo, hi)
        elif t in _STR:
            values[_STR[t]] = arg(w).text
        elif t == "asyncmap":
            a = arg(w)
            try:
                values["asyncmap"] = int(a.text, 16) & 0xFFFFFFFF
            except ValueError:
                raise OptionError(f"asyncmap needs a hex number, got {a.text!r}", a.source, a.line) from None
        elif t == "lcp-restart":
            values["lcp_restart"] = float(_number(arg(w), t, 1, 3600))
        elif t == "ms-dns":
            a = arg(w)
            ms_dns.append(_ipv4(a.text, a, "ms-dns"))
        elif t == "ipv6":
            a = arg(w)
            local, _, remote = a.text.partition(",")
            if local:
                values["ipv6_local_ifid"] = _ifid(local, a)
            if remote:
                values["ipv6_remote_ifid"] = _ifid(remote, a)
            values["noipv6"] = False
        elif t in ("file", "call"):
            a = arg(w)
            path = a.text if t == "file" else _peer_path(a, peers_dir)
            if loader is None:
                raise OptionError(f"`{t} {a.text}` cannot be read here", a.source, a.line)
            try:
                text = loader(path)
            except OSError as exc:
                why = exc.strerror or str(exc)
                raise OptionError(f"cannot read {path} for `{t} {a.text}`: {why}", a.source, a.line) from None
            files.append(path)
            if t == "call" and not values.get("linkname"):
                values["linkname"] = a.text
            sub = parse_words(tokenize(text, path), _make(values, ignored, warnings, files, ms_dns),
                              loader, peers_dir, _depth + 1)
            values = {f.name: getattr(sub, f.name) for f in fields(PppOptions)}
            ignored, warnings, files, ms_dns = (list(values["ignored"]), list(values["warnings"]),
                                                list(values["files"]), list(values["ms_dns"]))
        elif t in _UNSUPPORTED:
            raise OptionError(f"{t}: {_UNSUPPORTED[t]}", w.source, w.line)
        elif t in _IGNORED_FLAGS:
            ignored.append(t)
            if t == "replacedefaultroute":
                warnings.append("replacedefaultroute no longer has any effect (pppd PR #544): the default route "
                                "is added at defaultroute-metric")
        elif t in _IGNORED_WITH_ARG:
            ignored.append(f"{t} {arg(w).text}")
        elif ":" in t and not t.startswith("/") and _is_addr_pair(t):
            local, remote = t.split(":", 1)
            if local:
                values["local_ip"] = _ipv4(local, w, "local address")
            if remote:
                values["remote_ip"] = _ipv4(remote, w, "remote address")
        elif t.isdigit():
            values["speed"] = _number(w, "speed", 50, 4_000_000)
        elif _looks_like_device(t):
            values["device"] = t if t.startswith("/") else f"/dev/{t}"
        else:
            raise OptionError(f"unrecognized option {t!r}", w.source, w.line)
    return _make(values, ignored, warnings, files, ms_dns)


def _is_addr_pair(text: str) -> bool:
    local, _, remote = text.partition(":")
    return all(part == "" or part.replace(".", "").isdigit() for part in (local, remote))


def _peer_path(word: Word, peers_dir: str) -> str:
    name = word.text
    if not name or "/" in name or name in (".", ".."):
        raise OptionError(f"call {name!r}: a peer name may not contain '/'", word.source, word.line)
    return f"{peers_dir}/{name}"


def _make(values: Mapping[str, Any], ignored: list[str], warnings: list[str], files: list[str],
          ms_dns: list[ipaddress.IPv4Address]) -> PppOptions:
    v = dict(values)
    v.update(ignored=tuple(ignored), warnings=tuple(warnings), files=tuple(files), ms_dns=tuple(ms_dns))
    return PppOptions(**v)


def parse_text(text: str, source: str = "<options>", base: PppOptions | None = None,
               loader: Loader | None = None, peers_dir: str = PEERS_DIR) -> PppOptions:
    """Parse an options file's text."""
    return parse_words(tokenize(text, source), base, loader, peers_dir)


def parse_argv(argv: Sequence[str], base: PppOptions | None = None, loader: Loader | None = None,
               peers_dir: str = PEERS_DIR, source: str = "command line") -> PppOptions:
    """Parse already-split words (a pppd command line); errors name the word's position."""
    words = [Word(a, source, n) for n, a in enumerate(argv, 1)]
    try:
        return parse_words(words, base, loader, peers_dir)
    except OptionError as exc:
        if exc.source == source:  # "command line:3" would read as a line number; say "word 3"
            raise OptionError(f"{exc.message} (word {exc.line})", source) from None
        raise


def with_overrides(opts: PppOptions, **changes: Any) -> PppOptions:
    """A copy with typed fields replaced (for CLI flags that bypass the word parser)."""
    return replace(opts, **changes)


__all__ += ["with_overrides"]
