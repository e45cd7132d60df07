"""ip-up/ip-down get pppd's arguments and environment; DNS and status files are our own."""

from __future__ import annotations

import json
import os
import stat

from pppstack.io import hooks
from pppstack.io.hooks import HookContext, hook_argv, hook_env, run_hook


def _ctx(**kw) -> HookContext:
    base = dict(ifname="ppp0", device="/dev/ttyUSB0", speed=115200, local="10.1.2.3", remote="10.64.64.64",
                ipparam="wan", dns=("10.11.12.1", "10.11.12.2", "10.11.12.3"), usepeerdns=True,
                ll_local="fe80::1", ll_remote="fe80::2", linkname="e3372")
    base.update(kw)
    return HookContext(**base)


def test_argv_is_pppds_six_arguments() -> None:
    assert hook_argv("/etc/ppp/ip-up", _ctx()) == ["/etc/ppp/ip-up", "ppp0", "/dev/ttyUSB0", "115200", "10.1.2.3",
                                                   "10.64.64.64", "wan"]
    assert hook_argv("/etc/ppp/ipv6-up", _ctx(), ipv6=True)[4:6] == ["fe80::1", "fe80::2"]


def test_env_ip_up() -> None:
    env = hook_env(_ctx())
    assert env["IFNAME"] == "ppp0" and env["DEVICE"] == "/dev/ttyUSB0" and env["SPEED"] == "115200"
    assert env["IPLOCAL"] == "10.1.2.3" and env["IPREMOTE"] == "10.64.64.64"
    assert env["DNS1"] == "10.11.12.1" and env["DNS2"] == "10.11.12.2" and "DNS3" not in env
    assert env["USEPEERDNS"] == "1" and env["LLLOCAL"] == "fe80::1" and env["LLREMOTE"] == "fe80::2"
    assert env["LINKNAME"] == "e3372" and "PATH" in env
    assert "CONNECT_TIME" not in env and "BYTES_SENT" not in env  # ip-down only


def test_env_dns_without_usepeerdns_and_ip_down_counters() -> None:
    env = hook_env(_ctx(usepeerdns=False, connect_time=61, bytes_sent=1000, bytes_rcvd=2000))
    assert env["DNS1"] == "10.11.12.1" and "USEPEERDNS" not in env  # pppd exports DNS1/2 regardless
    assert env["CONNECT_TIME"] == "61" and env["BYTES_SENT"] == "1000" and env["BYTES_RCVD"] == "2000"


def test_env_is_clean() -> None:
    os.environ["PPPSTACK_TEST_SECRET"] = "x"
    try:
        assert "PPPSTACK_TEST_SECRET" not in hook_env(_ctx())
    finally:
        del os.environ["PPPSTACK_TEST_SECRET"]


def test_run_hook_passes_args_and_env(tmp_path) -> None:
    out = tmp_path / "out.json"
    script = tmp_path / "ip-up"
    script.write_text("#!/usr/bin/env python3\nimport json, os, sys\n"
                      f"json.dump({{'argv': sys.argv[1:], 'env': dict(os.environ)}}, open({str(out)!r}, 'w'))\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    code = run_hook(str(script), _ctx(connect_time=5, bytes_sent=1, bytes_rcvd=2), wait=True)
    assert code == 0
    got = json.loads(out.read_text())
    assert got["argv"] == ["ppp0", "/dev/ttyUSB0", "115200", "10.1.2.3", "10.64.64.64", "wan"]
    assert got["env"]["IPREMOTE"] == "10.64.64.64" and got["env"]["CONNECT_TIME"] == "5"


def test_run_hook_background_and_timeout(tmp_path) -> None:
    script = tmp_path / "slow"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(0o755)
    assert run_hook(str(script), _ctx(), wait=True, timeout=0.3) is None  # killed, the link goes on
    proc = run_hook(str(script), _ctx())
    assert proc is not None and proc.poll() is None  # ip-up runs in the background
    proc.kill()
    proc.wait()


def test_missing_or_not_executable_scripts_are_skipped(tmp_path) -> None:
    assert run_hook(str(tmp_path / "none"), _ctx()) is None
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\nexit 0\n")
    assert run_hook(str(plain), _ctx(), wait=True) is None
    assert run_hook(None, _ctx()) is None


def test_resolv_conf_is_our_own_file(tmp_path) -> None:
    path = hooks.resolv_path("ppp0", str(tmp_path))
    assert path == str(tmp_path / "ppp0" / "resolv.conf")
    hooks.write_resolv_conf(path, ["10.11.12.1", "10.11.12.2"], "ppp0")
    text = open(path).read()
    assert "nameserver 10.11.12.1\nnameserver 10.11.12.2\n" in text and text.startswith("#")
    hooks.remove_file(path, remove_parent=True)
    assert not os.path.exists(path) and not os.path.exists(tmp_path / "ppp0")
    hooks.remove_file(path)  # twice is fine


def test_status_file_round_trip(tmp_path) -> None:
    path = hooks.status_path("ppp3", str(tmp_path))
    hooks.write_status(path, {"phase": "up", "local": "10.0.0.1", "counters": {"bytes_sent": 5}})
    assert hooks.read_status(path)["counters"]["bytes_sent"] == 5
    assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(path)]  # no temp files left behind
    assert hooks.status_files(str(tmp_path), "ppp3") == [path]
