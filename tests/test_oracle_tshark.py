"""Oracle we did not write: tshark dissects the pcap `pppstack decode --pcap` writes, and its
fields agree with our decoding (LCP options, CHAP, IPCP, IPV6CP, PAP, Protocol-Reject, IP)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pppstack.cli import main
from pppstack.describe import decode_frame
from tests.test_decode import AT_DIALOGUE, CHAP_CHAL, IPCP_NAK, LCP_REQ, NO_CARRIER, hdlc

H = bytes.fromhex
IPV6CP_REQ = H("ff038057 0101000e 010a510082abaf796c55")
PAP_REQ = H("ff03c023 01070011 04") + b"user\x07s3cret!"
PROT_REJ = H("c021 08010015 80fd 0101000f 1a047800 18047800 15032f")  # ACFC: the pcap restores FF 03
IP_PING = H("21 45000014 00004000 40010000 0a404002 08080808")  # ACFC + PFC
FRAMES = [LCP_REQ, CHAP_CHAL, IPCP_NAK, IPV6CP_REQ, PAP_REQ, PROT_REJ, IP_PING]

FIELDS = (
    "ppp.protocol", "ppp.code", "ppp.identifier", "lcp.opt.type", "lcp.opt.asyncmap", "lcp.opt.auth_protocol",
    "lcp.opt.algorithm", "lcp.opt.magic_number", "lcp.rej_proto", "chap.code", "chap.identifier", "chap.value",
    "chap.name", "ipcp.opt.type", "ipcp.opt.ip_address", "ipcp.opt.pri_dns_address", "ipcp.opt.sec_dns_address",
    "ipv6cp.interface_identifier", "pap.code", "pap.peer_id", "pap.password", "ip.src", "ip.dst",
)  # fmt: skip


def _tshark() -> str:
    path = shutil.which("tshark")
    if path is None:  # CI installs it (.ci/run); on a dev box install it the same way
        subprocess.run(["apt-get", "install", "-y", "-q", "tshark"], check=True, capture_output=True, timeout=900)
        path = shutil.which("tshark")
    assert path, "tshark is needed for this oracle"
    return path


@pytest.fixture(scope="module")
def dissected(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, list[str]]]:
    tmp = tmp_path_factory.mktemp("tshark")
    capture = tmp / "capture.bin"
    capture.write_bytes(AT_DIALOGUE + b"".join(hdlc(f) for f in FRAMES) + hdlc(LCP_REQ, corrupt=True) + NO_CARRIER)
    pcap = tmp / "capture.pcap"
    assert main(["decode", "--pcap", str(pcap), str(capture)]) == 0
    cmd = [_tshark(), "-n", "-r", str(pcap), "-Y", "ppp", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
           "-E", "aggregator=|"] + [a for f in FIELDS for a in ("-e", f)]  # fmt: skip
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp)}
    )
    assert proc.returncode == 0, proc.stderr
    rows = []
    for line in proc.stdout.splitlines():
        values = line.split("\t")
        rows.append({f: (v.split("|") if v else []) for f, v in zip(FIELDS, values, strict=True)})
    return rows


def _pcap_path_frames() -> list[dict[str, Any]]:
    return [decode_frame(f) for f in FRAMES]


def test_tshark_sees_only_the_good_frames_in_order(dissected: list[dict[str, list[str]]]) -> None:
    ours = _pcap_path_frames()
    assert len(dissected) == len(FRAMES)  # the corrupted frame and the text are not in the pcap
    assert [int(r["ppp.protocol"][0], 16) for r in dissected] == [o["protocol"] for o in ours]


def test_lcp_options_agree(dissected: list[dict[str, list[str]]]) -> None:
    row, ours = dissected[0], _pcap_path_frames()[0]
    assert int(row["ppp.code"][0]) == ours["code"] and int(row["ppp.identifier"][0]) == ours["id"]
    assert [int(t) for t in row["lcp.opt.type"]] == [o["type"] for o in ours["options"]]
    by_name = {o["name"]: o for o in ours["options"]}
    assert int(row["lcp.opt.magic_number"][0], 16) == by_name["magic"]["value"] == 0x45291790
    assert int(row["lcp.opt.asyncmap"][0], 16) == by_name["asyncmap"]["value"]
    assert int(row["lcp.opt.auth_protocol"][0], 16) == by_name["auth"]["value"]["protocol"] == 0xC223
    assert int(row["lcp.opt.algorithm"][0]) == 5 and by_name["auth"]["value"]["algorithm"] == "MD5"


def test_chap_agrees(dissected: list[dict[str, list[str]]]) -> None:
    row, ours = dissected[1], _pcap_path_frames()[1]
    assert int(row["chap.code"][0]) == ours["code"] == 1 and int(row["chap.identifier"][0]) == ours["id"]
    assert row["chap.value"][0].replace(":", "") == ours["value"]
    assert row["chap.name"] == [ours["name"]] == ["UMTS_CHAP_SRVR"]


def test_ipcp_and_ipv6cp_agree(dissected: list[dict[str, list[str]]]) -> None:
    row, ours = dissected[2], _pcap_path_frames()[2]
    assert [int(t) for t in row["ipcp.opt.type"]] == [o["type"] for o in ours["options"]]
    values = [o["value"] for o in ours["options"]]
    assert row["ipcp.opt.ip_address"] + row["ipcp.opt.pri_dns_address"] + row["ipcp.opt.sec_dns_address"] == values
    v6, ours6 = dissected[3], _pcap_path_frames()[3]
    assert v6["ipv6cp.interface_identifier"][0].replace(":", "") == ours6["options"][0]["value"]["interface_id"]


def test_pap_agrees_and_the_password_is_redacted(dissected: list[dict[str, list[str]]]) -> None:
    row, ours = dissected[4], _pcap_path_frames()[4]
    assert row["pap.peer_id"] == [ours["user"]] == ["user"]
    assert row["pap.password"] == ["*" * ours["password_length"]]


def test_protocol_reject_and_ip_agree(dissected: list[dict[str, list[str]]]) -> None:
    rej, ours = dissected[5], _pcap_path_frames()[5]
    assert int(rej["lcp.rej_proto"][0], 16) == ours["rejected_protocol"] == 0x80FD
    ip, ours_ip = dissected[6], _pcap_path_frames()[6]
    assert (ip["ip.src"], ip["ip.dst"]) == ([ours_ip["src"]], [ours_ip["dst"]])


def test_pcap_keep_secrets(tmp_path: Path) -> None:
    capture = tmp_path / "pap.bin"
    capture.write_bytes(hdlc(PAP_REQ))
    pcap = tmp_path / "pap.pcap"
    assert main(["decode", "--pppd", "--pcap", str(pcap), "--pcap-keep-secrets", str(capture)]) == 0
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    cmd = [_tshark(), "-n", "-r", str(pcap), "-T", "fields", "-e", "pap.password"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.stdout.split() == ["s3cret!"]
