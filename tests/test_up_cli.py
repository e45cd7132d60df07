"""`pppstack up` option handling: pppd files, words and flags in pppd's order; connect lines."""

from __future__ import annotations

import pytest

from pppstack.cli import build_parser
from pppstack.cli.up import build_options
from pppstack.io.dialing import parse_connect
from pppstack.options import OptionError


def _args(argv: list[str]):
    return build_parser().parse_args(["up", *argv])


def test_file_then_words_then_flags(tmp_path) -> None:
    peer = tmp_path / "e3372"
    peer.write_text("lcp-echo-interval 30\nmtu 1400\nusepeerdns\nholdoff 5\nuser fromfile\n")
    opts = build_options(_args(["--file", str(peer), "--lcp-echo-interval", "5", "--device", "/dev/ttyUSB2",
                                "--", "holdoff", "7", "maxfail", "2"]))
    assert opts.lcp_echo_interval == 5          # the flag beats the file
    assert opts.holdoff == 7 and opts.maxfail == 2  # words after the file
    assert opts.mtu == 1400 and opts.usepeerdns and opts.user == "fromfile"
    assert opts.device == "/dev/ttyUSB2" and opts.files == (str(peer),)


def test_flags_map_to_pppd_options() -> None:
    opts = build_options(_args(["--persist", "--defaultroute", "--defaultroute-metric", "50", "--noipv6",
                                "--mru", "1280", "--ip-up", "/etc/ppp/ip-up", "--connect", "chat -f x"]))
    assert opts.persist and opts.defaultroute and opts.defaultroute_metric == 50 and opts.noipv6
    assert opts.mru == 1280 and opts.ip_up_script == "/etc/ppp/ip-up" and opts.connect == "chat -f x"


def test_bad_file_is_an_option_error_with_location(tmp_path) -> None:
    peer = tmp_path / "bad"
    peer.write_text("noauth\nlcp-echo-failure lots\n")
    with pytest.raises(OptionError) as e:
        build_options(_args(["--file", str(peer)]))
    assert str(e.value).startswith(f"{peer}:2: ")


def test_cli_exit_code_for_bad_options(tmp_path, capsys) -> None:
    import logging

    from pppstack.cli import main

    logger = logging.getLogger("pppstack")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    try:
        assert main(["up", "--", "demand"]) == 2
        assert "demand dialling is not implemented" in capsys.readouterr().err
    finally:  # the CLI configures logging for the process; give it back to the other tests
        logger.handlers[:], logger.propagate, logger.level = saved


@pytest.mark.parametrize(("line", "words", "file", "timeout", "env"), [
    ("chat -v -f /etc/chatscripts/e3372", None, "/etc/chatscripts/e3372", 45, False),
    ("/usr/sbin/chat -t5 -v -E -f /etc/chatscripts/3g.chat", None, "/etc/chatscripts/3g.chat", 5, True),
    ("chat -t 10 '' AT OK 'ATD*99#' CONNECT", ("", "AT", "OK", "ATD*99#", "CONNECT"), None, 10, False),
    ("pppstack chat -v '' AT OK", ("", "AT", "OK"), None, 45, False),
])
def test_parse_connect_chat(line: str, words, file, timeout: int, env: bool) -> None:
    spec = parse_connect(line)
    assert spec.command is None
    assert spec.chat_file == file and spec.timeout == timeout and spec.use_env is env
    if words is not None:
        assert spec.chat_words == words


def test_parse_connect_other_program_and_errors() -> None:
    spec = parse_connect("/usr/local/bin/dial-my-modem --fast")
    assert spec.chat_words is None and spec.command == "/usr/local/bin/dial-my-modem --fast"
    with pytest.raises(OptionError):
        parse_connect("chat -f")
    with pytest.raises(OptionError):
        parse_connect("chat 'unterminated")
