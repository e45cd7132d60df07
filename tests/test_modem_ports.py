"""Port discovery on fake sysfs trees (the thread's layout, the research notes' layouts, CD-ROM mode)."""

from __future__ import annotations

import json

import pytest
from modem_scripted import ScriptedModem
from modem_sysfs import CDROM_1F01, E3372H_320_155F, E3372H_1506, HILINK_14DC, add_device

from pppstack.cli import main
from pppstack.io.sysfs import find_modems
from pppstack.modem.ports import DeviceMode, PortRole, classify_interface


@pytest.mark.parametrize("pid", [0x155F, 0x155E])   # the thread's JSON target, and usb_modeswitch -X's
def test_thread_layout(tmp_path, pid: int) -> None:
    add_device(tmp_path, "1-1", 0x12D1, pid, E3372H_320_155F)
    [m] = find_modems(str(tmp_path))
    assert m.id == f"12d1:{pid:04x}" and m.mode is DeviceMode.STICK
    assert [i.sysname for i in m.interfaces] == ["1-1:1.0", "1-1:1.1", "1-1:1.2", "1-1:1.3", "1-1:1.4"]
    assert [i.ttys for i in m.interfaces[:3]] == [("ttyUSB0",), ("ttyUSB1",), ("ttyUSB2",)]
    assert m.ppp_port == "/dev/ttyUSB2"          # the port that carried PPP in the thread
    assert m.at_port == "/dev/ttyUSB0"
    assert m.net_interface == "wwan0"
    assert m.interfaces[3].role is PortRole.NCM_CONTROL and m.interfaces[3].driver == "cdc_ncm"
    assert m.interfaces[4].role is PortRole.NCM_DATA
    assert m.interfaces[2].guess.certain and not m.interfaces[0].guess.certain


def test_vendor_ncm_layout(tmp_path) -> None:
    add_device(tmp_path, "2-1", 0x12D1, 0x1506, E3372H_1506)
    [m] = find_modems(str(tmp_path))
    assert m.ppp_port == "/dev/ttyUSB0" and m.at_port == "/dev/ttyUSB1"
    ncm = m.ports(PortRole.VENDOR_NCM)[0]
    assert ncm.nets == ("wwan0",) and ncm.wdms == ("cdc-wdm0",)


def test_cdrom_mode_needs_switch(tmp_path, capsys) -> None:
    add_device(tmp_path, "1-1", 0x12D1, 0x1F01, CDROM_1F01)
    [m] = find_modems(str(tmp_path))
    assert m.mode is DeviceMode.NEEDS_SWITCH and m.ppp_port is None
    assert main(["ports", "--sysfs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "needs mode switch" in out and "pppstack modeswitch" in out


def test_hilink(tmp_path) -> None:
    add_device(tmp_path, "1-1", 0x12D1, 0x14DC, HILINK_14DC)
    assert find_modems(str(tmp_path))[0].mode is DeviceMode.HILINK


def test_json_output(tmp_path, capsys) -> None:
    add_device(tmp_path, "1-1", 0x12D1, 0x155F, E3372H_320_155F)
    assert main(["ports", "--sysfs", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc[0]["ppp_port"] == "/dev/ttyUSB2"
    assert [i["role"] for i in doc[0]["interfaces"]] == ["pcui", "diag", "modem", "ncm-control", "ncm-data"]


def test_no_modem(tmp_path, capsys) -> None:
    assert main(["ports", "--sysfs", str(tmp_path)]) == 4   # ExitCode.NO_DEVICE
    assert "no USB modem" in capsys.readouterr().err


@pytest.mark.parametrize("triple,role", [
    ((0xFF, 0x01, 0x01), PortRole.MODEM), ((0xFF, 0x02, 0x01), PortRole.MODEM),
    ((0xFF, 0x01, 0x02), PortRole.PCUI), ((0xFF, 0x02, 0x02), PortRole.PCUI),
    ((0xFF, 0x01, 0x05), PortRole.GPS), ((0xFF, 0x06, 0x14), PortRole.GPS),
    ((0xFF, 0x02, 0x16), PortRole.VENDOR_NCM), ((0xFF, 0x03, 0x16), PortRole.VENDOR_NCM),
    ((0x02, 0x0D, 0x00), PortRole.NCM_CONTROL), ((0x0A, 0x00, 0x01), PortRole.NCM_DATA),
    ((0x08, 0x06, 0x50), PortRole.MASS_STORAGE), ((0xE0, 0x01, 0x03), PortRole.RNDIS),
    ((0xFF, 0xFF, 0xFF), PortRole.UNKNOWN),
])
def test_classification_table(triple, role) -> None:
    assert classify_interface(*triple).role is role


def test_probe_confirms_at(tmp_path, monkeypatch, capsys) -> None:
    """--probe opens each tty and asks AT; the fake tree's ttyUSB0 is pointed at a pty modem."""
    add_device(tmp_path, "1-1", 0x12D1, 0x155F, E3372H_320_155F[:1])
    import pppstack.cli.ports as ports_cli

    with ScriptedModem({"AT": b"\r\nOK\r\n"}) as modem:
        real = ports_cli.probe_port
        monkeypatch.setattr(ports_cli, "probe_port", lambda path, timeout: real(modem.path, timeout))
        assert main(["ports", "--sysfs", str(tmp_path), "--probe", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc[0]["interfaces"][0]["probe"] == {"answered": True, "ok": True, "message": "OK"}


def test_status_reads_the_modem(tmp_path, monkeypatch, capsys) -> None:
    add_device(tmp_path, "1-1", 0x12D1, 0x155F, E3372H_320_155F)
    import pppstack.cli.ports as ports_cli

    ok = b"\r\nOK\r\n"
    replies = {"AT": ok, "AT+CPIN?": b"\r\n+CPIN: READY\r\n" + ok, "AT+CREG?": b"\r\n+CREG: 0,5\r\n" + ok,
               "AT^HCSQ?": b'\r\n^HCSQ:"WCDMA",45,41,57\r\n' + ok, "AT+CSQ": b"\r\n+CSQ: 16,99\r\n" + ok}
    with ScriptedModem(replies) as modem:
        real = ports_cli.query_status
        monkeypatch.setattr(ports_cli, "query_status", lambda path: real(modem.path, 2.0))
        assert main(["ports", "--sysfs", str(tmp_path), "--status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)[0]["status"]
    assert st["sim"] == "READY" and st["registered"] and st["registration"] == {"creg": "roaming"}
    assert st["hcsq"]["rscp_dbm"] == -80


def test_interface_string_names_an_unknown_vendor_interface() -> None:
    assert classify_interface(0xFF, 0xFF, 0xFF, 0x12D1, "HUAWEI Mobile Connect - Modem").role is PortRole.MODEM
    assert classify_interface(0xFF, 0xFF, 0xFF, 0x12D1, "HUAWEI Mobile Connect - PCUI").role is PortRole.PCUI
    # a descriptor rule wins over the string
    assert classify_interface(0xFF, 0x02, 0x02, 0x12D1, "Modem").role is PortRole.PCUI


def test_sysfs_reads_the_interface_string(tmp_path) -> None:
    add_device(tmp_path, "1-1", 0x12D1, 0x1001, [(0, 0xFF, 0xFF, 0xFF, "option", ("ttyUSB0",))])
    iface = next((tmp_path / "bus/usb/devices").glob("1-1:1.0"))
    (iface / "interface").write_text("HUAWEI Mobile Connect - Modem\n")
    [m] = find_modems(str(tmp_path))
    assert m.ppp_port == "/dev/ttyUSB0"
