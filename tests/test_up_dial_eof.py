"""End of file during the dial phase is a hang-up (15), not a vanished port (16)."""
import argparse
import os

from pppstack.exitcodes import ExitCode, exit_code
from pppstack.io.dialing import run_dialer
from pppstack.io.serialport import SerialPort


def test_eof_while_dialling_is_hangup() -> None:
    r, w = os.pipe()
    os.close(w)                       # the modem side is gone: reads return end of file
    os.set_blocking(r, False)
    port = SerialPort(r, None, None, owns_fd=True)
    args = argparse.Namespace(apn="x", pin=None, pdp_type="IP", number="*99#")
    cause, message, _ = run_dialer(port, args)
    code = exit_code(cause)
    assert code == ExitCode.HANGUP, message
    port.close()


def test_port_node_removed_while_dialling_went_away_not_off_usb(tmp_path) -> None:
    """A vanished port during the dial is 16; 'dropped off USB' only for a USB tty (this is a pty)."""
    import tty

    from pppstack.io.serialport import open_port

    master, slave = os.openpty()
    tty.setraw(slave)
    link = tmp_path / "modem3"
    link.symlink_to(os.ttyname(slave))
    port = open_port(str(link))
    link.unlink()                     # udev removed the node ...
    os.close(master)                  # ... and the line is dead
    args = argparse.Namespace(apn="x", pin=None, pdp_type="IP", number="*99#")
    try:
        cause, message, _ = run_dialer(port, args)
        code = exit_code(cause)
    finally:
        port.close()
        os.close(slave)
    assert code == ExitCode.PORT_VANISHED, message
    assert "went away" in message and "USB" not in message, message
