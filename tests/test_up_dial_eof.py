"""End of file during the dial phase is a hang-up (15), not a vanished port (16)."""
import argparse
import os

from pppstack.exitcodes import ExitCode
from pppstack.io.dialing import run_dialer
from pppstack.io.serialport import SerialPort


def test_eof_while_dialling_is_hangup() -> None:
    r, w = os.pipe()
    os.close(w)                       # the modem side is gone: reads return end of file
    os.set_blocking(r, False)
    port = SerialPort(r, None, None, owns_fd=True)
    args = argparse.Namespace(apn="x", pin=None, pdp_type="IP", number="*99#")
    code, message, _ = run_dialer(port, args)
    assert code == ExitCode.HANGUP, message
    port.close()
