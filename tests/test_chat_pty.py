"""`pppstack chat` end to end on real pty pairs with a scripted modem on the other side."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from modem_scripted import ScriptedModem

from pppstack.cli import main

ROOT = Path(__file__).resolve().parent.parent
URC_OK = b'\r\n^RSSI: 16\r\n\r\n^CERSSI:0,-80,-4,0,0,0,0\r\n\r\n^HCSQ:"WCDMA",45,41,57\r\n\r\nOK\r\n'
THREAD_MODEM = {'AT+CGDCONT=1,"IP","internet.vodafone.net"': URC_OK, "ATD*99***1#": b"\r\nCONNECT\r\n"}
SCRIPT = ["ABORT", "BUSY", "ABORT", "NO CARRIER", "ABORT", "ERROR", "REPORT", "CONNECT", "TIMEOUT", "10", "",
          'AT+CGDCONT=1,"IP","internet.vodafone.net"', "TIMEOUT", "30", "OK", "ATD*99***1#", "CONNECT", " "]


def test_device_mode_thread_exchange(capsys) -> None:
    with ScriptedModem(THREAD_MODEM) as modem:
        rc = main(["chat", "-v", "--device", modem.path, *SCRIPT])
    err = capsys.readouterr().err
    assert rc == 0
    assert modem.commands == ['AT+CGDCONT=1,"IP","internet.vodafone.net"', "ATD*99***1#"]
    assert "send (ATD*99***1#^M)\nexpect (CONNECT)\n^M\n^M\nCONNECT\n -- got it\n" in err
    assert '^HCSQ:"WCDMA",45,41,57^M' in err
    report = err.rstrip().splitlines()[-1]
    assert report.startswith("chat:  ") and report.endswith(" CONNECT")


def test_abort_exit_code_and_report_file(tmp_path) -> None:
    report = tmp_path / "report"
    with ScriptedModem({**THREAD_MODEM, "ATD*99***1#": b"\r\nNO CARRIER\r\n"}) as modem:
        rc = main(["chat", "-r", str(report), "--device", modem.path, *SCRIPT])
    assert rc == 5     # the second ABORT string
    assert not report.read_text().strip()   # no CONNECT to report


def test_script_file_and_timeout(tmp_path) -> None:
    f = tmp_path / "3g.chat"
    f.write_text("ABORT ERROR\nTIMEOUT 1\n'' AT\nOK ATD*99#\nCONNECT ''\n")
    with ScriptedModem({"AT": b"\r\nOK\r\n", "ATD*99#": None}) as modem:
        rc = main(["chat", "-f", str(f), "--device", modem.path])
    assert rc == 3


def test_bad_script_is_exit_1(tmp_path, capsys) -> None:
    f = tmp_path / "bad.chat"
    f.write_text("'' 'AT\n")
    assert main(["chat", "-f", str(f)]) == 1
    assert "unterminated quote (line 1)" in capsys.readouterr().err


def test_hangup_is_exit_2() -> None:
    with ScriptedModem({"AT": b"\r\nOK\r\n"}, hangup_after="AT") as modem:
        rc = main(["chat", "--device", modem.path, "", "AT", "OK", "ATD*99#", "CONNECT", ""])
    assert rc == 2


def test_stdin_stdout_like_pppd_connect() -> None:
    """pppd runs the connect script with the modem tty on stdin and stdout."""
    with ScriptedModem(THREAD_MODEM) as modem:
        fd = os.open(modem.path, os.O_RDWR | os.O_NOCTTY)
        try:
            proc = subprocess.run([sys.executable, "-m", "pppstack", "chat", "-v", "-E", *SCRIPT[:11],
                                   'AT+CGDCONT=1,"IP","$USE_APN"', *SCRIPT[12:]],
                                  stdin=fd, stdout=fd, stderr=subprocess.PIPE, timeout=30,
                                  env={**os.environ, "USE_APN": "internet.vodafone.net",
                                       "PYTHONPATH": str(ROOT)}, cwd=ROOT)
        finally:
            os.close(fd)
    assert proc.returncode == 0, proc.stderr
    assert b'send (AT+CGDCONT=1,"IP","internet.vodafone.net"^M)' in proc.stderr
    assert modem.commands[-1] == "ATD*99***1#"


def test_openwrt_invocation(tmp_path, monkeypatch, capsys) -> None:
    """netifd's connect line: USE_APN=... chat -t5 -v -E -f /etc/chatscripts/3g.chat"""
    from test_chat import OPENWRT_3G_CHAT

    f = tmp_path / "3g.chat"
    f.write_text(OPENWRT_3G_CHAT)
    monkeypatch.setenv("USE_APN", "internet")
    ok = b"\r\nOK\r\n"
    with ScriptedModem({"AT&F": ok, "ATE1": ok, 'AT+CGDCONT=1,"IP","internet"': URC_OK,
                        "ATD*99***1#": b"\r\nCONNECT 150000000\r\n"}) as modem:
        rc = main(["chat", "-t5", "-v", "-E", "-f", str(f), "--device", modem.path])
    err = capsys.readouterr().err
    assert rc == 0
    assert modem.commands == ["AT&F", "ATE1", 'AT+CGDCONT=1,"IP","internet"', "ATD*99***1#"]
    assert "Calling UMTS/GPRS" in err and err.rstrip().endswith("CONNECT 150000000")


def test_stdin_at_end_of_file_is_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "pppstack", "chat", "", "AT", "OK", ""], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stdout == b"AT\r"
    assert b"hung up" in proc.stderr and b"Traceback" not in proc.stderr


def test_report_file_gets_the_connect_line(tmp_path) -> None:
    report = tmp_path / "report"
    with ScriptedModem({**THREAD_MODEM, "ATD*99***1#": b"\r\nCONNECT 150000000\r\n"}) as modem:
        rc = main(["chat", "-v", "-r", str(report), "--device", modem.path, *SCRIPT])
    assert rc == 0
    lines = report.read_bytes().decode().split("\n")[:-1]  # tmp_path may hold a \r (this CI's user name)
    assert lines[0] == f'Opening "{report}"...' and lines[-1] == f'Closing "{report}".'
    assert lines[1].startswith("chat:  ") and lines[1].endswith(" CONNECT 150000000")
