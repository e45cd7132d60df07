"""`run_ncm_up` edges without root: malformed options are refused with a sentence and exit 2,
and a dialled link ended normally hangs up with AT^NDISDUP=1,0 (fake USB modem, scripted AT
port, a stand-in for the TUN device)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

import pytest
from fake_ncm_device import FakeBackend, FakeNcmModem
from modem_scripted import ScriptedModem

from pppstack.exitcodes import ExitCode
from pppstack.io import ncmoptions, tun
from pppstack.io.ncmlink import NcmUpOptions, run_ncm_up


@pytest.mark.parametrize(("flags", "words"), [
    ({"usb": "zz"}, "--usb 'zz' is not a USB id"),
    ({"usb": "12d1:xyz"}, "--usb '12d1:xyz' is not a USB id"),
    ({"usb": "12d1:1ffff"}, "is not a USB id"),
    ({"usb": ":155e"}, "is not a USB id"),
    ({"local_ip": "10.0.0.300"}, "--local-ip '10.0.0.300' is not an IPv4 address"),
    ({"local_ip": "10.0.0.1/40"}, "--local-ip '10.0.0.1/40'"),
    ({"gateway": "nope"}, "--gateway 'nope' is not an IPv4 address"),
])
def test_malformed_options_are_a_sentence_and_option_error(flags: dict, words: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        code = run_ncm_up(argparse.Namespace(**flags))
    assert code is ExitCode.OPTION_ERROR
    assert any(words in r.getMessage() for r in caplog.records), caplog.text
    assert "internal error" not in caplog.text


def test_usb_ids_parse_as_lsusb_prints_them() -> None:
    assert ncmoptions.parse_usb("12d1:155e") == (0x12D1, 0x155E)
    assert ncmoptions.parse_usb("12d1") == (0x12D1, None)
    assert ncmoptions.parse_usb(None) == (None, None)
    with pytest.raises(ValueError, match="not a USB id"):
        ncmoptions.parse_usb("-1")
    assert run_ncm_up(NcmUpOptions(usb="zz")) is ExitCode.OPTION_ERROR  # options built in code, too


class _FakeTun:
    """Just enough of TunDevice for run_ncm_up: an fd that never becomes readable."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._r, self._w = os.pipe()
        self.is_up = threading.Event()

    def fileno(self) -> int:
        return self._r

    def read_batch(self, limit: int = 256) -> list[bytes]:
        return []

    def write_many(self, packets) -> int:  # noqa: ANN001
        return len(list(packets))

    def set_ipv4(self, local: object, peer: object) -> None:
        self.addr = (str(local), str(peer))

    def up(self) -> None:
        self.is_up.set()

    def add_default_route(self, metric: int = 0) -> None: ...

    def add_routes(self, routes: list[str]) -> None: ...

    # what the shared interface setup (io/netconf.InterfaceSetup) does to a TUN
    def set_mtu(self, mtu: int) -> None: ...

    def add_route(self, dest: str, family: int = 4, metric: int = 0) -> None: ...

    def remove_routes(self, family: int) -> None: ...

    def flush_addresses(self, family: int) -> None: ...

    def down(self) -> None:
        self.is_up.clear()

    def stats(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        for fd in (self._r, self._w):
            os.close(fd)


def test_normal_end_of_a_dialled_link_hangs_up(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    ok = b"\r\nOK\r\n"
    at = ScriptedModem({
        "AT": ok, "AT+CMEE=2": ok, "AT+CPIN?": b"\r\n+CPIN: READY\r\n" + ok,
        "AT+CREG?": b"\r\n+CREG: 0,1\r\n" + ok, "AT+CGREG?": b"\r\n+CGREG: 0,1\r\n" + ok,
        "AT+CEREG?": b"\r\n+CEREG: 0,1\r\n" + ok, "AT^HCSQ?": ok, "AT^SYSINFOEX": ok, "AT+CSQ": ok,
        'AT^NDISDUP=1,1,"internet"': ok, "AT^NDISSTATQRY?": b'\r\n^NDISSTATQRY: 1,,,"IPV4"\r\n' + ok,
        "AT^DHCP?": b"\r\n^DHCP: 1010A0A,FCFFFFFF,2010A0A,2010A0A,8080808,4040808,150000000,50000000\r\n" + ok,
        "AT^NDISDUP=1,0": ok,
    })
    fake = _FakeTun("ncmt9")
    monkeypatch.setattr(tun.TunDevice, "create", classmethod(lambda cls, name, mtu=None, **kw: fake))

    def end_link() -> None:   # what `kill <pid>` does to a running `pppstack up --mode ncm`
        if fake.is_up.wait(20):
            os.kill(os.getpid(), signal.SIGTERM)

    # a SIGTERM arriving after run_ncm_up restored the handlers must not kill pytest
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with at:
            threading.Thread(target=end_link, daemon=True).start()
            code = run_ncm_up(NcmUpOptions(ifname="ncmt9", apn="internet", at_port=at.path, noipv6=True,
                                           no_routes=True, run_dir=str(tmp_path), dial_timeout=20),
                              backend=FakeBackend(FakeNcmModem()))
            commands = list(at.commands)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code is ExitCode.OK
    assert fake.addr == ("10.10.1.1", "10.10.1.2")              # from ^DHCP
    assert commands.index('AT^NDISDUP=1,1,"internet"') < commands.index("AT^DHCP?")
    assert commands[-1] == "AT^NDISDUP=1,0"
