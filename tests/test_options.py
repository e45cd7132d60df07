"""pppd option files and words: pppd's tokenizer rules, typed values, file:line errors, call NAME."""

from __future__ import annotations

import ipaddress

import pytest

from pppstack.options import OPTION_NAMES, OptionError, PppOptions, parse_argv, parse_text, tokenize

# The E3372 peer file a user would write for pppd (OpenWrt ppp.sh options plus common extras).
PEER_FILE = """\
# /etc/ppp/peers/e3372 -- Huawei E3372h-320 in stick mode
/dev/ttyUSB0 115200
connect "/usr/sbin/chat -v -f /etc/chatscripts/e3372"
noauth
lcp-echo-interval 5 lcp-echo-failure 4   # keepalive
usepeerdns
defaultroute defaultroute-metric 200
persist holdoff 3 maxfail 0
user "my user" password 'se cret'
noipdefault nodetach lock
noaccomp nopcomp novj nobsdcomp
asyncmap 0
mtu 1400 mru 1400
crtscts local
ifname wwan0
"""


def test_peer_file_fields() -> None:
    o = parse_text(PEER_FILE, "/etc/ppp/peers/e3372")
    assert o.device == "/dev/ttyUSB0" and o.speed == 115200
    assert o.connect == "/usr/sbin/chat -v -f /etc/chatscripts/e3372"
    assert (o.lcp_echo_interval, o.lcp_echo_failure) == (5, 4)
    assert o.usepeerdns and o.defaultroute and o.defaultroute_metric == 200
    assert o.persist and o.holdoff == 3 and o.maxfail == 0
    assert o.user == "my user" and o.password == "se cret"
    assert o.noipdefault and not o.pcomp and not o.accomp and o.asyncmap == 0
    assert (o.mtu, o.mru, o.effective_mru()) == (1400, 1400, 1400)
    assert o.crtscts and not o.modem and o.ifname == "wwan0"
    assert set(o.ignored) == {"nodetach", "lock", "novj", "nobsdcomp"}


def test_password_never_in_repr() -> None:
    o = parse_argv(["user", "u", "password", "hunter2"])
    assert "hunter2" not in repr(o)


def test_later_words_win_and_negations() -> None:
    o = parse_argv(["defaultroute", "nodefaultroute", "crtscts", "-crtscts", "persist", "nopersist", "modem"])
    assert not o.defaultroute and not o.crtscts and not o.persist and o.modem
    o = parse_argv(["local"], base=o)
    assert not o.modem


def test_defaults_match_pppd() -> None:
    o = PppOptions()
    assert o.maxfail == 10 and o.holdoff == 30 and o.defaultroute_metric == 0 and o.lcp_echo_interval == 0
    assert o.pcomp and o.accomp and o.asyncmap is None


def test_addresses_and_dns() -> None:
    o = parse_argv(["10.0.0.1:10.0.0.2", "ms-dns", "8.8.8.8", "ms-dns", "1.1.1.1"])
    assert o.local_ip == ipaddress.IPv4Address("10.0.0.1") and o.remote_ip == ipaddress.IPv4Address("10.0.0.2")
    assert o.ms_dns == (ipaddress.IPv4Address("8.8.8.8"), ipaddress.IPv4Address("1.1.1.1"))
    o = parse_argv([":10.0.0.9"])
    assert o.local_ip is None and str(o.remote_ip) == "10.0.0.9"


def test_ipv6_identifiers() -> None:
    o = parse_argv(["noipv6", "ipv6", "::1,::2"])
    assert not o.noipv6 and o.ipv6_local_ifid == bytes(7) + b"\1" and o.ipv6_remote_ifid == bytes(7) + b"\2"


def test_tokenizer_quotes_escapes_comments() -> None:
    words = tokenize('a "b c" \'d#e\' f\\ g # comment\nh\\\ni "x\\ty" \\101', "t")
    assert [w.text for w in words] == ["a", "b c", "d#e", "f g", "hi", "x\ty", "A"]
    assert [w.line for w in words] == [1, 1, 1, 1, 2, 3, 3]


def test_tokenizer_unterminated_quote_points_at_line() -> None:
    with pytest.raises(OptionError) as e:
        tokenize('noauth\nuser "bob\n', "/etc/ppp/peers/x")
    assert str(e.value).startswith("/etc/ppp/peers/x:2:") and "quote" in str(e.value)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("noauth\n\nlcp-echo-interval x\n", 3, "needs a number"),
    ("mru 99999\n", 1, "out of range"),
    ("asyncmap zz\n", 1, "hex"),
    ("noauth\nfrobnicate\n", 2, "unrecognized option 'frobnicate'"),
    ("demand\n", 1, "demand dialling is not implemented"),
    ("ms-dns 1.2.3\n", 1, "not an IPv4 address"),
    ("noauth\nuser\n", 2, "user needs a value"),
])
def test_errors_name_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(OptionError) as e:
        parse_text(text, "peers/e3372")
    assert str(e.value).startswith(f"peers/e3372:{line}: ")
    assert words in str(e.value)


def test_command_line_errors_name_the_word() -> None:
    with pytest.raises(OptionError) as e:
        parse_argv(["debug", "maxfail", "many"])
    assert "maxfail needs a number" in str(e.value) and "word 3" in str(e.value)


def test_call_reads_peers_file_and_nested_file() -> None:
    files = {"/peers/e3372": "file /etc/common\nlcp-echo-interval 10\n", "/etc/common": "usepeerdns\nmtu 1280\n"}
    seen: list[str] = []

    def loader(path: str) -> str:
        seen.append(path)
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory")
        return files[path]

    o = parse_argv(["call", "e3372", "lcp-echo-failure", "3"], loader=loader, peers_dir="/peers")
    assert seen == ["/peers/e3372", "/etc/common"]
    assert o.usepeerdns and o.mtu == 1280 and o.lcp_echo_interval == 10 and o.lcp_echo_failure == 3
    assert o.linkname == "e3372" and o.files == ("/peers/e3372", "/etc/common")
    with pytest.raises(OptionError) as e:
        parse_argv(["call", "nope"], loader=loader, peers_dir="/peers")
    assert "cannot read /peers/nope" in str(e.value) and "No such file" in str(e.value)
    with pytest.raises(OptionError):
        parse_argv(["call", "../etc/passwd"], loader=loader, peers_dir="/peers")


def test_error_inside_included_file_points_there() -> None:
    files = {"/peers/bad": "noauth\nnoauth\nholdoff soon\n"}
    with pytest.raises(OptionError) as e:
        parse_argv(["call", "bad"], loader=files.__getitem__, peers_dir="/peers")
    assert str(e.value).startswith("/peers/bad:3: holdoff needs a number")


def test_self_including_file_is_caught() -> None:
    with pytest.raises(OptionError) as e:
        parse_argv(["file", "/loop"], loader=lambda p: "file /loop\n")
    assert "nest" in str(e.value)


def test_replacedefaultroute_warns() -> None:
    o = parse_argv(["replacedefaultroute"])
    assert any("no longer has any effect" in w for w in o.warnings)


def test_link_config_kwargs() -> None:
    o = parse_argv(["mtu", "1400", "lcp-echo-interval", "5", "user", "u", "noipv6", "default-asyncmap"])
    kw = o.link_config_kwargs()
    assert kw["mru"] == 1400 and kw["lcp_echo_interval"] == 5 and kw["user"] == "u" and kw["noipv6"]
    assert kw["asyncmap"] == 0xFFFFFFFF
    assert "lcp_restart" not in kw  # engine default
    assert set(o.link_config_kwargs(["mru"])) == {"mru"}


def test_device_forms() -> None:
    assert parse_argv(["ttyUSB2"]).device == "/dev/ttyUSB2"
    assert parse_argv(["/dev/ttyACM0", "921600"]).speed == 921600


def test_every_listed_option_parses() -> None:
    """Each option name we claim to know is accepted (with a plausible argument where it takes one)."""
    args = {"asyncmap": "0", "ms-dns": "1.2.3.4", "ipv6": "::1,::2", "lcp-restart": "3", "file": None, "call": None}
    for name in sorted(OPTION_NAMES):
        if name in ("file", "call"):
            continue
        words = [name]
        if name in args:
            words.append(args[name])
        try:
            parse_argv(words)
        except OptionError as exc:
            if "needs a value" in str(exc):
                numeric = ("max", "interval", "failure", "restart", "timeout", "kdebug", "slots", "comp", "deflate",
                           "fd", "time", "holdoff", "unit", "metric", "delay")
                arg = "1400" if name in ("mru", "mtu") else "5" if any(k in name for k in numeric) else "x"
                parse_argv([name, arg])
            else:
                raise
