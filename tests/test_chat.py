"""The sans-I/O chat engine: chat.c's log lines, exit codes, escapes and timers on a fake clock."""

from __future__ import annotations

import pytest

from pppstack.modem.chat import Chat, ChatScript, ChatScriptError, OutputKind, clean, visible

THREAD_SCRIPT = """ABORT BUSY ABORT 'NO CARRIER' ABORT ERROR REPORT CONNECT TIMEOUT 10
'' 'AT+CGDCONT=1,"IP","internet.vodafone.net"' TIMEOUT 30 OK ATD*99***1# CONNECT ' '"""
# The modem's bytes from the thread's third log (URCs between the command and its OK).
THREAD_REPLY_1 = b'\r\n^RSSI: 16\r\n\r\n^CERSSI:0,-80,-4,0,0,0,0\r\n\r\n^HCSQ:"WCDMA",45,41,57\r\n\r\nOK\r\n'
THREAD_REPLY_2 = b"\r\nCONNECT\r\n"

# chat's log from the thread, after the script's "expect ()"/"got it" for the leading ''
THREAD_LOG = """abort on (BUSY)
abort on (NO CARRIER)
abort on (ERROR)
report (CONNECT)
timeout set to 10 seconds
expect ()
got it
send (AT+CGDCONT=1,"IP","internet.vodafone.net"^M)
timeout set to 30 seconds
expect (OK)
^M
^RSSI: 16^M
^M
^CERSSI:0,-80,-4,0,0,0,0^M
^M
^HCSQ:"WCDMA",45,41,57^M
^M
OK
 -- got it
send (ATD*99***1#^M)
expect (CONNECT)
^M
^M
CONNECT
 -- got it
send ( ^M)""".splitlines()


def logs(chat: Chat) -> list[str]:
    return [o.text for o in chat.take_output() if o.kind is OutputKind.LOG]


def run_thread(chunks: list[bytes], now: float = 0.0) -> Chat:
    chat = Chat(ChatScript.parse(THREAD_SCRIPT))
    chat.start(now)
    assert chat.data_to_send() == b'AT+CGDCONT=1,"IP","internet.vodafone.net"\r'
    for chunk in chunks:
        chat.receive_data(chunk, now)
    return chat


def test_thread_exchange_reproduces_chats_log_exactly() -> None:
    chat = run_thread([THREAD_REPLY_1])
    assert chat.data_to_send() == b"ATD*99***1#\r"
    chat.receive_data(THREAD_REPLY_2, 1.0)
    assert chat.data_to_send() == b" \r"
    chat.handle_timer(3.0)   # the REPORT line is complete at the \r after CONNECT
    assert chat.done and chat.result.exit_code == 0
    out = chat.take_output()
    assert [o.text for o in out if o.kind is OutputKind.LOG] == THREAD_LOG
    assert chat.result.reports == ("CONNECT",)


def test_thread_exchange_byte_by_byte_is_the_same() -> None:
    data = THREAD_REPLY_1 + THREAD_REPLY_2
    chat = Chat(ChatScript.parse(THREAD_SCRIPT))
    chat.start(0.0)
    for i in range(len(data)):
        chat.receive_data(data[i:i + 1], 0.0)
    assert chat.done and chat.result.exit_code == 0
    assert logs(chat) == THREAD_LOG


def test_bytes_after_connect_are_left_for_ppp() -> None:
    chat = run_thread([THREAD_REPLY_1 + b"\r\nCONNECT 150000000\r\n~\xff\x03\xc0\x21"])
    assert chat.done
    assert chat.result.reports == ("CONNECT 150000000",)
    assert chat.take_unconsumed() == b"\n~\xff\x03\xc0\x21"


@pytest.mark.parametrize("answer,code,reason", [(b"BUSY\r\n", 4, "BUSY"), (b"NO CARRIER\r\n", 5, "NO CARRIER"),
                                                (b"ERROR\r\n", 6, "ERROR")])
def test_abort_exit_codes_follow_abort_order(answer: bytes, code: int, reason: str) -> None:
    chat = run_thread([THREAD_REPLY_1, b"\r\n" + answer])
    assert chat.done
    assert chat.result.exit_code == code
    assert chat.result.abort == reason
    lines = logs(chat)
    assert lines[-2:] == [" -- failed", f"Failed ({reason})"]


def test_timeout_on_fake_clock(clock) -> None:
    chat = Chat(ChatScript.from_argv(["TIMEOUT", "5", "", "AT", "OK", "ATD*99#"]))
    chat.start(clock.now)
    assert chat.data_to_send() == b"AT\r"
    assert chat.get_timer() == clock.now + 5
    chat.handle_timer(clock.advance(4.9))
    assert not chat.done
    chat.receive_data(b"\r\n^RSSI: 12\r\n", clock.now)   # a URC is not OK
    chat.handle_timer(clock.advance(0.1))
    assert chat.done and chat.result.exit_code == 3
    assert logs(chat)[-3:] == ["^RSSI: 12^M", "alarm", "Failed"]
    assert "timed out after 5 s" in chat.result.message


def test_default_timeout_is_45_and_sticky(clock) -> None:
    chat = Chat(ChatScript.from_argv(["", "AT", "OK", "AT", "OK"]))
    chat.start(clock.now)
    assert chat.get_timer() == clock.now + 45


def test_sub_expect_sub_send(clock) -> None:
    chat = Chat(ChatScript.from_argv(["TIMEOUT", "2", "", "AT", "OK-AT-OK", "ATI"]))
    chat.start(clock.now)
    assert chat.data_to_send() == b"AT\r"
    chat.handle_timer(clock.advance(2))
    assert chat.data_to_send() == b"AT\r"      # the sub-send after the first OK timed out
    assert not chat.done
    chat.receive_data(b"OK\r\n", clock.now)
    assert chat.data_to_send() == b"ATI\r"
    assert chat.done and chat.result.exit_code == 0


def test_abort_does_not_take_the_subsend(clock) -> None:
    chat = Chat(ChatScript.from_argv(["ABORT", "BUSY", "", "ATD1", "CONNECT-ATD1-CONNECT", ""]))
    chat.start(clock.now)
    chat.data_to_send()
    chat.receive_data(b"BUSY\r\n", clock.now)
    assert chat.done and chat.result.exit_code == 4 and chat.data_to_send() == b""


def test_delays_are_deadlines(clock) -> None:
    chat = Chat(ChatScript.from_argv(["", "AT\\dZ\\pX"]))
    chat.start(clock.now)
    assert chat.data_to_send() == b"AT"
    assert chat.get_timer() == clock.now + 1.0
    chat.handle_timer(clock.advance(1.0))
    assert chat.data_to_send() == b"Z"
    chat.handle_timer(clock.advance(0.01))
    assert chat.data_to_send() == b"X\r"
    assert chat.done


def test_escapes_like_chat_clean() -> None:
    assert clean("AT^M", False)[0] == "AT\r"
    assert clean("a\\r\\n\\s\\t\\b", True)[0] == "a\r\n \t\b\r"
    assert clean("ATZ\\c", True)[0] == "ATZ"
    assert clean("AT\\c", False)[0] == "ATc"
    assert clean("x\\d\\p\\K\\\\", True)[0] == "x\\d\\p\\K\\\\\r"   # kept for the sender
    assert clean("\\101\\102", False)[0] == "AB"
    assert clean("\\N", True)[0] == "\\\0\r"
    assert clean("pass\\q", True) == ("pass\r", True)
    assert clean("ATD\\T", True, phone=("555", None))[0] == "ATD555\r"
    assert visible("a\r\x7f\x81") == "a^M^?M-^A"


def test_env_substitution_only_with_E() -> None:
    env = {"USE_APN": "internet", "DIALNUMBER": "*99#"}
    assert clean('AT+CGDCONT=1,"IP","$USE_APN"', True, env)[0] == 'AT+CGDCONT=1,"IP","internet"\r'
    assert clean("ATD$DIALNUMBER", True, None)[0] == "ATD$DIALNUMBER\r"
    assert clean("cost \\$5 $MISSING.", False, env)[0] == "cost $5 ."


# OpenWrt's /etc/chatscripts/3g.chat (package/network/utils/comgt/files/3g.chat), byte for byte.
OPENWRT_3G_CHAT = """ABORT   BUSY
ABORT   'NO CARRIER'
ABORT   ERROR
REPORT  CONNECT
TIMEOUT 10
""      "AT&F"
OK      "ATE1"
OK      'AT+CGDCONT=1,"IP","$USE_APN"'
SAY     "Calling UMTS/GPRS"
TIMEOUT 30
OK      "ATD*99***1#"
CONNECT ' '
"""


def test_openwrt_3g_chat_with_env(clock) -> None:
    chat = Chat(ChatScript.parse(OPENWRT_3G_CHAT), {"USE_APN": "web"}, timeout=5)
    chat.start(clock.now)
    sent = []
    for reply in (b"OK\r\n", b"ATE1\r\r\nOK\r\n", b"OK\r\n", b"CONNECT\r\n"):
        sent.append(chat.data_to_send())
        chat.receive_data(reply, clock.now)
    sent.append(chat.data_to_send())
    assert sent == [b"AT&F\r", b"ATE1\r", b'AT+CGDCONT=1,"IP","web"\r', b"ATD*99***1#\r", b" \r"]
    out = chat.take_output()
    assert any(o.kind is OutputKind.STDERR and o.text == "Calling UMTS/GPRS\r" for o in out)
    assert chat.result.exit_code == 0 and chat.result.reports == ("CONNECT",)


def test_script_parsing_quotes_and_comments() -> None:
    s = ChatScript.parse("# a comment\n'' ATZ\n\"OK\" 'AT+CGDCONT=1,\"IP\",\"a b\"'\nOK\t\"it\\'s\"\n")
    assert s.words == ("", "ATZ", "OK", 'AT+CGDCONT=1,"IP","a b"', "OK", "it\\'s")
    with pytest.raises(ChatScriptError) as err:
        ChatScript.parse("'' ATZ\nOK 'unterminated\n")
    assert err.value.line == 2


def test_clr_abort_and_clr_report(clock) -> None:
    chat = Chat(ChatScript.from_argv(["ABORT", "BUSY", "ABORT", "ERROR", "CLR_ABORT", "BUSY", "REPORT", "X",
                                      "CLR_REPORT", "X", "", "AT", "OK", ""]))
    chat.start(clock.now)
    chat.data_to_send()
    chat.receive_data(b"BUSY\r\nOK\r\n", clock.now)
    assert chat.done and chat.result.exit_code == 0
    assert "clear abort on (BUSY)" in logs(chat)
    # ERROR moved to index 0 after the clear: its code is now 4
    chat2 = Chat(ChatScript.from_argv(["ABORT", "BUSY", "ABORT", "ERROR", "CLR_ABORT", "BUSY", "", "AT", "OK", ""]))
    chat2.start(clock.now)
    chat2.receive_data(b"ERROR\r\n", clock.now)
    assert chat2.result.exit_code == 4


def test_too_long_abort_string_is_a_parameter_error(clock) -> None:
    chat = Chat(ChatScript.from_argv(["ABORT", "X" * 60, "", "AT"]))
    chat.start(clock.now)
    assert chat.done and chat.result.exit_code == 1
    assert chat.data_to_send() == b""


def test_eot_break_and_quiet(clock) -> None:
    chat = Chat(ChatScript.from_argv(["", "EOT", "", "BREAK", "", "secret\\q"]))
    chat.start(clock.now)
    assert chat.data_to_send() == b"\x04secret\r"
    assert chat.breaks_requested == 1
    assert "send (??????)" in logs(chat)


def test_connection_lost_is_exit_2(clock) -> None:
    chat = Chat(ChatScript.from_argv(["", "ATD*99#", "CONNECT", ""]))
    chat.start(clock.now)
    chat.connection_lost(clock.now, "/dev/ttyUSB0: end of file on read: the modem hung up")
    assert chat.done and chat.result.exit_code == 2
    assert "hung up" in chat.result.message


def test_file_send_needs_a_reader(clock) -> None:
    chat = Chat(ChatScript.from_argv(["", "@/tmp/x"]), read_file=lambda p: "ATI\n")
    chat.start(clock.now)
    assert chat.data_to_send() == b"ATI\r"
    bad = Chat(ChatScript.from_argv(["", "@/tmp/x"]))
    bad.start(clock.now)
    assert bad.result.exit_code == 1


# Debian's ppp package, /etc/chatscripts/gprs (the APN comes in with -T)
DEBIAN_GPRS = """# You can use this script unmodified to connect to cellular networks.
ABORT		BUSY
ABORT		VOICE
ABORT		"NO CARRIER"
ABORT		"NO DIALTONE"
ABORT		"NO DIAL TONE"
ABORT		"NO ANSWER"
ABORT		"DELAYED"
ABORT		"ERROR"
ABORT		"+CGATT: 0"
""		AT
TIMEOUT		12
OK		ATH
OK		ATE1
OK		AT+CGDCONT=1,"IP","\\T","",0,0
OK		ATD*99#
TIMEOUT		22
CONNECT		""
"""


def test_debian_gprs_script_with_T(clock) -> None:
    chat = Chat(ChatScript.parse(DEBIAN_GPRS), phone=("internet", None))
    chat.start(clock.now)
    sent = []
    for reply in (b"\r\nOK\r\n", b"\r\nOK\r\n", b"ATE1\r\r\nOK\r\n", b"\r\nOK\r\n", b"\r\nCONNECT\r\n"):
        sent.append(chat.data_to_send())
        chat.receive_data(reply, clock.now)
    sent.append(chat.data_to_send())
    assert sent == [b"AT\r", b"ATH\r", b"ATE1\r", b'AT+CGDCONT=1,"IP","internet","",0,0\r', b"ATD*99#\r", b"\r"]
    assert chat.done and chat.result.exit_code == 0


@pytest.mark.parametrize("answer,code", [(b"NO ANSWER", 9), (b"+CGATT: 0", 12), (b"VOICE", 5)])
def test_debian_gprs_abort_codes(clock, answer: bytes, code: int) -> None:
    chat = Chat(ChatScript.parse(DEBIAN_GPRS), phone=("internet", None))
    chat.start(clock.now)
    chat.receive_data(b"\r\n" + answer + b"\r\n", clock.now)
    assert chat.done and chat.result.exit_code == code


def test_echo_on_copies_received_text(clock) -> None:
    chat = Chat(ChatScript.from_argv(["ECHO", "ON", "", "AT", "OK", ""]), verbose=False)
    chat.start(clock.now)
    chat.receive_data(b"\r\nOK\r\n", clock.now)
    out = chat.take_output()
    assert "".join(o.text for o in out if o.kind is OutputKind.STDERR) == "\nOK\n"
    assert not [o for o in out if o.kind is OutputKind.LOG]      # not verbose: no log lines


def test_long_lines_are_logged_in_80_character_pieces(clock) -> None:
    chat = Chat(ChatScript.from_argv(["", "AT", "OK", ""]))
    chat.start(clock.now)
    chat.receive_data(b"x" * 170 + b"\r\nOK\r\n", clock.now)
    lines = logs(chat)
    assert lines[lines.index("expect (OK)") + 1:][:3] == ["x" * 80, "x" * 80, "x" * 10 + "^M"]
