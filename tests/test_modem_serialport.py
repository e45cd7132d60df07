"""The serial edge on real ptys: raw mode, CLOCAL, and hang-up told apart from a vanished port."""

from __future__ import annotations

import os
import termios
import time

import pytest

from pppstack.io.serialport import Hangup, PortVanished, open_port


def _pty():
    master, slave = os.openpty()
    return master, slave, os.ttyname(slave)


def _read_until_error(port, seconds: float = 2.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        port.read()
        time.sleep(0.01)
    raise AssertionError("no error raised")


def test_raw_clocal_and_no_translation() -> None:
    master, slave, path = _pty()
    try:
        with open_port(path) as port:
            attrs = termios.tcgetattr(port.fileno())
            assert attrs[2] & termios.CLOCAL and not attrs[2] & termios.CRTSCTS
            assert not attrs[3] & (termios.ICANON | termios.ECHO)
            os.write(master, b"OK\r\n\x7e\x11\x13")
            got = b""
            deadline = time.monotonic() + 10          # the pty delivers when the kernel gets to it
            while len(got) < 7 and time.monotonic() < deadline:
                got += port.read()
                time.sleep(0.01)
            assert got == b"OK\r\n\x7e\x11\x13"               # no ICRNL, no XON/XOFF eaten
            assert port.write(b"AT\r") == 3
            assert os.read(master, 10) == b"AT\r"
            assert port.read() == b""                       # non-blocking
            assert port.carrier() is None                   # a pty has no modem lines
        with open_port(path, crtscts=True, modem_control=True) as port:
            attrs = termios.tcgetattr(port.fileno())
            assert not attrs[2] & termios.CLOCAL and attrs[2] & termios.CRTSCTS and attrs[2] & termios.HUPCL
    finally:
        os.close(master)
        os.close(slave)


def test_master_closing_is_a_hangup() -> None:
    master, slave, path = _pty()
    port = open_port(path)
    os.close(master)
    with pytest.raises(Hangup, match="hung up"):
        _read_until_error(port)
    port.close()
    os.close(slave)


def test_removed_node_is_a_vanished_port(tmp_path) -> None:
    """Through a symlink (as the simulator exposes ttyUSB2): the link removed = the device is gone."""
    master, slave, path = _pty()
    link = tmp_path / "ttyUSB2"
    link.symlink_to(path)
    port = open_port(str(link))
    link.unlink()
    os.close(master)
    with pytest.raises(PortVanished, match="the port went away"):  # a pty: nothing was on USB
        _read_until_error(port)
    port.close()
    os.close(slave)


def test_symlink_still_there_is_a_hangup(tmp_path) -> None:
    master, slave, path = _pty()
    link = tmp_path / "ttyUSB0"
    link.symlink_to(path)
    port = open_port(str(link))
    os.close(master)
    with pytest.raises(Hangup):
        _read_until_error(port)
    port.close()
    os.close(slave)


def test_usb_node_removed_just_after_the_hangup_is_a_vanished_port(tmp_path) -> None:
    """A USB disconnect hangs option's tty up (EOF) a moment before usb-serial removes the node:
    the virtual stick's brown-out read as "Modem hangup" instead of PORT_VANISHED."""
    import threading

    master, slave, path = _pty()
    link = tmp_path / "ttyUSB2"
    link.symlink_to(path)
    port = open_port(str(link))
    port.usb = True                         # what is_usb_tty says of a real ttyUSB2
    os.close(master)
    remover = threading.Timer(0.2, link.unlink)
    remover.start()
    try:
        with pytest.raises(PortVanished, match="dropped off USB"):
            _read_until_error(port)
    finally:
        remover.join()
        port.close()
        os.close(slave)


def test_missing_port() -> None:
    with pytest.raises(PortVanished, match="does not exist"):
        open_port("/dev/ttyUSB-pppstack-none")
    with pytest.raises(ValueError):
        master, slave, path = _pty()
        try:
            open_port(path, baudrate=12345)
        finally:
            os.close(master)
            os.close(slave)


def test_from_fds_restores_blocking_mode() -> None:
    """pppd keeps using the tty after its connect script: leave the shared flags as found."""
    from pppstack.io.serialport import SerialPort

    master, slave, _ = _pty()
    try:
        assert os.get_blocking(slave)
        port = SerialPort.from_fds(slave, slave, configure=False)
        assert not os.get_blocking(slave)
        port.close()
        assert os.get_blocking(slave)
        os.fstat(slave)   # not closed: it was never ours
    finally:
        os.close(master)
        os.close(slave)
