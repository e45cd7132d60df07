"""Huawei parsers against ModemManager's test vectors and the E3372h-320 thread's own lines."""

from ipaddress import IPv4Address

import pytest

from pppstack.modem import huawei as hw


def test_dhcp_modemmanager_vector_1() -> None:
    # tests/test-modem-helpers-huawei.c (anchors §5.1)
    info = hw.parse_dhcp("^DHCP: a3ec5c64,f8ffffff,a1ec5c64,a1ec5c64,2200b10a,74bba80a,236800,236800")
    assert info is not None
    assert info.address == IPv4Address("100.92.236.163")
    assert info.prefixlen == 29
    assert info.gateway == IPv4Address("100.92.236.161")
    assert info.dns == (IPv4Address("10.177.0.34"), IPv4Address("10.168.187.116"))
    assert info.uplink_bps == 236800


def test_dhcp_short_hex_and_0x_prefix() -> None:
    # leading zeros lost (7 characters) and upper case, as in MM's second vector
    info = hw.parse_dhcp("1010A0A,FCFFFFFF,2010A0A,1010A0A,0,0,150000000,150000000")
    assert info is not None
    assert str(info.interface) == "10.10.1.1/30"
    assert info.gateway == IPv4Address("10.10.1.2")
    assert info.dns == ()
    assert hw.parse_dhcp("0x0101A8C0,0x00FFFFFF,0x0101A8C0,0,0,0").address == IPv4Address("192.168.1.1")


@pytest.mark.parametrize("bad", ["", "^DHCP: 1,2", "zz,ffffffff,1,1,1,1", "1,0f0fffff,1,1,1,1", "123456789,1,1,1,1,1"])
def test_dhcp_garbage_is_none(bad: str) -> None:
    assert hw.parse_dhcp(bad) is None


@pytest.mark.parametrize("line,v4,v6,err", [
    ("^NDISSTAT: 1,,,IPV4", True, None, None),
    ("^NDISSTAT: 0,33,,IPV6", None, False, 33),
    ('^NDISSTATQRY:0,,,"IPV4",0,,,"IPV6"', False, False, None),
    ('^NDISSTATQRY: 1,,,"IPV4",1,,,"IPV6"', True, True, None),
    ("^NDISSTATQry:1", True, None, None),
])
def test_ndisstat_forms(line: str, v4, v6, err) -> None:
    st = hw.parse_ndisstat(line)
    assert st is not None
    assert (st.ipv4, st.ipv6, st.error) == (v4, v6, err)


def test_ndisstat_garbage() -> None:
    assert hw.parse_ndisstat("^NDISSTAT: x,,,IPV4") is None
    assert hw.parse_ndisstat("^NDISSTAT: 1,,,IPX") is None


def test_hcsq_from_the_thread_agrees_with_cerssi() -> None:
    # Both lines arrived in the same second of the thread's log: the dBm values must agree.
    h = hw.parse_hcsq('^HCSQ:"WCDMA",45,41,57')
    c = hw.parse_cerssi("^CERSSI:0,-80,-4,0,0,0,0")
    assert h is not None and c is not None
    assert h.rssi_dbm == -76 and h.rscp_dbm == c.rscp_dbm == -80 and h.ecio_db == c.ecio_db == -4
    assert hw.rssi_csq_to_dbm(16) == -81   # ^RSSI: 16 of the same moment


def test_hcsq_lte_and_unknown() -> None:
    h = hw.parse_hcsq('^HCSQ: "LTE",60,50,151,20')
    assert h is not None
    assert (h.rssi_dbm, h.rsrp_dbm, h.sinr_db, h.rsrq_db) == (-61, -91, 10.0, -10.0)
    n = hw.parse_hcsq('^HCSQ: "NOSERVICE"')
    assert n is not None and n.sysmode == "NOSERVICE" and n.rssi_dbm is None
    assert hw.parse_hcsq('^HCSQ: "LTE",255,255,255,255').rsrp_dbm is None


def test_sysinfoex_quoted_and_unquoted() -> None:
    a = hw.parse_sysinfoex('^SYSINFOEX:2,3,0,1,,3,"WCDMA",41,"HSPA+"')
    b = hw.parse_sysinfoex("^SYSINFOEX:2,3,1,1,,6,LTE,101,LTE")
    assert a is not None and a.has_service and a.sysmode_name == "WCDMA" and a.submode_name == "HSPA+"
    assert b is not None and b.roaming and b.sysmode == 6
    assert hw.parse_sysinfoex("^SYSINFOEX:garbage") is None


def test_syscfgex_round_trip() -> None:
    cmd = hw.build_syscfgex(hw.NetworkMode.PREFER_LTE)
    assert cmd == 'AT^SYSCFGEX="030201",3FFFFFFF,2,4,7FFFFFFFFFFFFFFF,,'
    parsed = hw.parse_syscfgex('^SYSCFGEX: "030201",3FFFFFFF,1,2,7FFFFFFFFFFFFFFF')
    assert parsed is not None and parsed.mode is hw.NetworkMode.PREFER_LTE and parsed.band == 0x3FFFFFFF
    with pytest.raises(ValueError):
        hw.build_syscfgex("3")


def test_ndisdup_builders() -> None:
    assert hw.build_ndisdup("internet") == 'AT^NDISDUP=1,1,"internet"'
    # credentials without an auth type mean CHAP, as in ModemManager
    assert hw.build_ndisdup("apn", "u", "p") == 'AT^NDISDUP=1,1,"apn","u","p",2'
    assert hw.build_ndisdup("apn", "u", "p", hw.AuthType.PAP) == 'AT^NDISDUP=1,1,"apn","u","p",1'
    assert hw.build_ndisdup_teardown() == "AT^NDISDUP=1,0"
    with pytest.raises(ValueError):
        hw.build_ndisdup('bad"apn')


def test_getportmode() -> None:
    roles = hw.parse_getportmode("^GETPORTMODE: TYPE: WCDMA: huawei,MDM:0,NDIS:1,DIAG:2,PCUI:3,GPS:4")
    assert roles == {0: "modem", 1: "net", 2: "diag", 3: "pcui", 4: "gps"}
