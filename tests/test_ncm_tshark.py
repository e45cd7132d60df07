"""Wireshark's own NTB parser (tshark's MBIM bulk dissector reads NCMH/ncmh blocks) reads our NTBs.

The blocks are written to a pcap with a user link type mapped to the ``mbim.bulk`` dissector, so
tshark dissects NTH, NDP and each Ethernet datagram down to ARP, ICMP and ICMPv6.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import subprocess
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from pathlib import Path

import pytest

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import ICMP, IP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import raw  # noqa: E402

from ncm import Aggregator, NtbParameters, encode_ntb  # noqa: E402
from ncm.l2 import L2Config, L2Shim, build_neighbor_solicitation  # noqa: E402

ME, GW = bytes.fromhex("0c5b8f279a64"), bytes.fromhex("001e101f0000")
USER_DLT = 147
FIELDS = ["mbim.bulk.nth.signature", "mbim.bulk.nth.sequence_number", "mbim.bulk.nth.block_length",
          "mbim.bulk.nth.ndp_index", "mbim.bulk.ndp.signature", "mbim.bulk.ndp.datagram.length",
          "mbim.bulk.total_nb_datagrams", "frame.protocols", "_ws.expert", "frame.len"]


def _tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "tshark"], check=False, capture_output=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        path = shutil.which("tshark")
    if path is None:
        pytest.fail("tshark is needed (CI installs it with apt)")
    return path


def dissect(blocks: list[bytes], tmp: Path) -> list[dict[str, str]]:
    pcap = tmp / "ntb.pcap"
    with open(pcap, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, USER_DLT))
        for i, b in enumerate(blocks):
            f.write(struct.pack("<IIII", i, 0, len(b), len(b)) + b)
    conf = tmp / "home" / ".config" / "wireshark"
    conf.mkdir(parents=True)
    (conf / "user_dlts").write_text(f'"User 0 (DLT={USER_DLT})","mbim.bulk","0","","0",""\n')
    cmd = [_tshark(), "-r", str(pcap), "-T", "fields", "-E", "aggregator=,", "-E", "occurrence=a"]
    for fld in FIELDS:
        cmd += ["-e", fld]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, HOME=str(tmp / "home"))).stdout
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in out.splitlines()]


def test_tshark_reads_our_ntbs(tmp_path: Path) -> None:
    params = NtbParameters(bmNtbFormatsSupported=3, wNdpOutDivisor=16, wNdpOutPayloadRemainder=2)
    shim = L2Shim(L2Config(mac=ME, ipv4=IPv4Interface("10.10.1.1/30"), gateway=IPv4Address("10.10.1.2")))
    shim.start(0.0)
    (arp,) = shim.take_frames()
    ping = raw(Ether(src=ME, dst=GW) / IP(src="10.10.1.1", dst="192.0.2.1") / ICMP() / (b"x" * 1000))
    ns = build_neighbor_solicitation(ME, IPv6Address("fe80::e5b:8fff:fe27:9a64"), IPv6Address("fe80::1"))
    frames = [arp, ping, ns]
    blocks = [
        encode_ntb(frames, params, sequence=1),
        encode_ntb(frames, params, ntb32=True, sequence=2),
        encode_ntb(frames, params, ndp_at_end=True, sequence=3),
        encode_ntb(frames, params, ntb32=True, ndp_at_end=True, sequence=4),
    ]
    rows = dissect(blocks, tmp_path)
    assert len(rows) == 4
    for i, (row, block) in enumerate(zip(rows, blocks, strict=True)):
        assert row["mbim.bulk.nth.signature"] == ("ncmh" if i % 2 else "NCMH")
        assert row["mbim.bulk.nth.sequence_number"] == str(i + 1)
        assert row["mbim.bulk.nth.block_length"] == row["frame.len"] == str(len(block))
        assert row["mbim.bulk.ndp.signature"] == ("0x306d636e" if i % 2 else "0x304d434e")
        assert row["mbim.bulk.ndp.datagram.length"] == f"{len(arp)},{len(ping)},{len(ns)},0"
        assert row["mbim.bulk.total_nb_datagrams"] == "3"
        assert ":arp:" in row["frame.protocols"] + ":" and ":icmp:" in row["frame.protocols"] + ":"
        assert "icmpv6" in row["frame.protocols"]
        assert row["_ws.expert"] == "", row            # no malformed/bad-checksum warnings


def test_tshark_reads_aggregated_blocks_at_the_size_limit(tmp_path: Path) -> None:
    agg = Aggregator(NtbParameters(dwNtbOutMaxSize=16384), max_packet_size=512)
    frame = raw(Ether(src=ME, dst=GW) / IP(src="10.10.1.1", dst="192.0.2.1") / ICMP() / (b"y" * 1472))
    blocks = [b for _ in range(25) for b in agg.add(frame, 0.0)] + agg.flush()
    rows = dissect(blocks, tmp_path)
    assert [r["mbim.bulk.total_nb_datagrams"] for r in rows] == ["10", "10", "5"]
    assert all(r["_ws.expert"] == "" and int(r["frame.len"]) <= 16384 for r in rows)
