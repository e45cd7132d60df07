"""`pppstack decode` on a capture like the thread's: AT dialogue, CONNECT, frames, a corrupted
frame, then NO CARRIER — everything comes out, in order, with offsets; and the scanner's
edge cases (abort, runt, MRU, ACCM, FCS-32, text between frames)."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from pppstack.cli import main
from pppstack.cli.decode import HexError, parse_hex
from pppstack.describe.stream import DiscardReason, ItemKind, Scanner, fcs16, scan
from tests.hdlc_spec import fcs16_bitwise as spec_fcs16

H = bytes.fromhex

# What an E3372h answers chat in the thread (echo on), then PPP, then the hang-up.
AT_DIALOGUE = b'AT+CGDCONT=1,"IP","internet"\r\r\nOK\r\nATD*99***1#\r\r\nCONNECT\r\n'
NO_CARRIER = b"\r\nNO CARRIER\r\n"
LCP_REQ = H("ff03c021 01000019 020600000000 0305c22305 050645291790 0702 0802")
CHAP_CHAL = H("ff03c223 01010023 10 26c7ca167a9bd85a2e95c7424221133d") + b"UMTS_CHAP_SRVR"
IPCP_NAK = H("ff038021 03010016 03060a404040 81060a0b0c0d 83060a0b0c0e")


def fcs16_bitwise(data: bytes) -> int:
    """RFC 1662 C.2 bit by bit (the shared reference), to check the scanner's table version."""
    return spec_fcs16(data) ^ 0xFFFF


def hdlc(frame: bytes, accm: int = 0xFFFFFFFF, fcs32: bool = False, corrupt: bool = False) -> bytes:
    fcs = zlib.crc32(frame).to_bytes(4, "little") if fcs32 else fcs16_bitwise(frame).to_bytes(2, "little")
    body = bytearray(frame + fcs)
    if corrupt:
        body[5] ^= 0x01
    out = bytearray(b"\x7e")
    for b in body:
        if b in (0x7D, 0x7E) or (b < 0x20 and accm >> b & 1):
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out + b"\x7e")


def capture() -> bytes:
    return (AT_DIALOGUE + hdlc(LCP_REQ) + hdlc(CHAP_CHAL, accm=0) + hdlc(IPCP_NAK, corrupt=True)
            + hdlc(IPCP_NAK, accm=0) + NO_CARRIER)  # fmt: skip


def test_fcs16_table_matches_rfc1662_bitwise() -> None:
    for data in (b"", b"\xff\x03\xc0\x21", bytes(range(256))):
        assert fcs16(data) == fcs16_bitwise(data)
    # the good-frame residue of RFC 1662 C.2: FCS over data + its FCS, before complement, is 0xf0b8
    frame = LCP_REQ + fcs16(LCP_REQ).to_bytes(2, "little")
    assert fcs16(frame) ^ 0xFFFF == 0xF0B8


def test_decode_capture_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "capture.bin"
    path.write_bytes(capture())
    assert main(["decode", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    first_frame = len(AT_DIALOGUE) + 1
    bad = capture().index(hdlc(IPCP_NAK, corrupt=True)) + 1
    ok, atd, conn = (AT_DIALOGUE.index(s) for s in (b"OK", b"ATD", b"CONNECT"))
    expected = [
        '        0  text "AT+CGDCONT=1,\\"IP\\",\\"internet\\"\\r\\r\\n"',
        f'{ok:>9}  text "OK\\r\\n"',
        f'{atd:>9}  text "ATD*99***1#\\r\\r\\n"',
        f'{conn:>9}  text "CONNECT\\r\\n"',
        f"{first_frame:>9}  [LCP ConfReq id=0x0 <asyncmap 0x0> <auth chap MD5> <magic 0x45291790> <pcomp> <accomp>]",
    ]
    assert lines[: len(expected)] == expected
    assert lines[5].endswith('[CHAP Challenge id=0x1 <26c7ca167a9bd85a2e95c7424221133d>, name = "UMTS_CHAP_SRVR"]')
    assert lines[6].startswith(f"{bad:>9}  discarded, bad FCS (FCS 0x")
    # the corruption flipped the identifier: a bad frame still shows what arrived
    assert lines[6].endswith("[IPCP ConfNak id=0x0 <addr 10.64.64.64> <ms-dns1 10.11.12.13> <ms-dns2 10.11.12.14>]")
    assert lines[7].endswith("  [IPCP ConfNak id=0x1 <addr 10.64.64.64> <ms-dns1 10.11.12.13> <ms-dns2 10.11.12.14>]")
    end = len(capture()) - len(NO_CARRIER)
    assert lines[8:10] == [f'{end:>9}  text "\\r\\n"', f'{end + 2:>9}  text "NO CARRIER\\r\\n"']
    text = len(AT_DIALOGUE) + len(NO_CARRIER)
    assert lines[10] == f"summary: 3 frames, 1 discarded (bad FCS 1), {text} octets of text, 0 octets of noise"
    assert len(lines) == 11


def test_decode_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "capture.bin"
    path.write_bytes(capture())
    assert main(["decode", "--json", str(path)]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["kind"] for o in objs] == ["text"] * 4 + ["frame", "frame", "discard", "frame", "text", "text", "summary"]
    assert "".join(o["text"] for o in objs[:4]) == AT_DIALOGUE.decode()
    lcp = objs[4]
    assert (lcp["offset"], lcp["protocol"], lcp["code_name"], lcp["id"]) == (len(AT_DIALOGUE) + 1, 0xC021, "ConfReq", 0)
    assert [o["name"] for o in lcp["options"]] == ["asyncmap", "auth", "magic", "pcomp", "accomp"]
    assert lcp["hex"] == LCP_REQ.hex()
    chap = objs[5]
    assert (chap["protocol_name"], chap["name"], chap["value"]) == (
        "CHAP",
        "UMTS_CHAP_SRVR",
        "26c7ca167a9bd85a2e95c7424221133d",
    )
    bad = objs[6]
    assert bad["reason"] == "bad_fcs" and bad["text"].startswith("[IPCP ConfNak")
    assert objs[7]["options"][1] == {"type": 129, "name": "ms-dns1", "hex": "0a0b0c0d", "value": "10.11.12.13"}
    text = len(AT_DIALOGUE) + len(NO_CARRIER)
    assert objs[-1] == {
        "kind": "summary",
        "frame": 3,
        "discard": 1,
        "text": text,
        "noise": 0,
        "discards": {"bad_fcs": 1, "abort": 0, "runt": 0, "oversize": 0, "truncated": 0},
    }


def test_decode_hex_stdin_and_pppd_mode() -> None:
    hex_text = " ".join(f"0x{b:02x}" for b in hdlc(LCP_REQ)) + "\n" + hdlc(IPCP_NAK).hex(":")
    proc = subprocess.run([sys.executable, "-m", "pppstack", "decode", "--hex", "--pppd", "-"],
                          input=hex_text.encode(), capture_output=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().splitlines() == [
        "rcvd [LCP ConfReq id=0x0 <asyncmap 0x0> <auth chap MD5> <magic 0x45291790> <pcomp> <accomp>]",
        "rcvd [IPCP ConfNak id=0x1 <addr 10.64.64.64> <ms-dns1 10.11.12.13> <ms-dns2 10.11.12.14>]",
    ]


def test_decode_errors_are_sentences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.hex"
    bad.write_text("7e ff 03\n7e zz\n")
    assert main(["decode", "--hex", str(bad)]) == 2
    assert "line 2, column 4: 'z' is not a hex digit" in capsys.readouterr().err
    assert main(["decode", str(tmp_path / "missing.bin")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_parse_hex_tolerance() -> None:
    assert parse_hex("0x7E,0xff 03:c0\t21\n\\x01") == H("7eff03c02101")
    with pytest.raises(HexError, match="odd number"):
        parse_hex("7e f")


# -- the scanner ---------------------------------------------------------------------------


def test_abort_runt_oversize_truncated() -> None:
    good = hdlc(IPCP_NAK)
    data = good + b"\xff\x03\xc0\x7d\x7e" + b"\x7e\x01\x02\x7e" + hdlc(H("ff030021") + bytes(60)) + b"\xff\x03\xc0"
    items = scan(data, mru=40)
    kinds = [(i.kind, i.reason) for i in items]
    assert kinds == [
        (ItemKind.FRAME, None),
        (ItemKind.DISCARD, DiscardReason.ABORT),
        (ItemKind.DISCARD, DiscardReason.RUNT),
        (ItemKind.DISCARD, DiscardReason.OVERSIZE),
        (ItemKind.DISCARD, DiscardReason.TRUNCATED),
    ]
    assert items[1].offset == len(good) and items[1].data == H("ff03c0")
    assert items[3].detail == "64 octets, more than MRU 40 + 4"


def test_escaped_escape_before_flag_is_not_an_abort() -> None:
    frame = H("ff030021 457d")  # ends in 0x7d: escaped as 7d 5d, right before the FCS
    assert [i.kind for i in scan(hdlc(frame, accm=0))] == [ItemKind.FRAME]


def test_receive_accm_drops_unescaped_controls() -> None:
    xonxoff = 0x000A0000  # the sender escapes XON/XOFF, the receiver drops raw ones
    wire = bytearray(hdlc(LCP_REQ, accm=xonxoff))
    wire[3:3] = b"\x11\x13"  # inserted by the DCE (RFC 1662 §7.1)
    (item,) = scan(bytes(wire), accm=xonxoff)
    assert item.kind is ItemKind.FRAME and item.data == LCP_REQ and item.dropped_controls == 2
    # with a receive ACCM of 0 the same octets are data, and the FCS no longer matches
    assert scan(bytes(wire), accm=0, strict_accm=True)[0].reason is DiscardReason.BAD_FCS


def test_capture_spanning_accm_change() -> None:
    # before LCP opens everything below 0x20 is escaped; after, with asyncmap 0, nothing is
    data = hdlc(LCP_REQ) + hdlc(IPCP_NAK, accm=0)
    assert [i.data for i in scan(data)] == [LCP_REQ, IPCP_NAK]
    strict = scan(data, strict_accm=True)
    assert strict[0].data == LCP_REQ and strict[1].reason is DiscardReason.BAD_FCS


def test_fcs32() -> None:
    items = scan(hdlc(LCP_REQ, fcs32=True), fcs_bits=32)
    assert [(i.kind, i.data) for i in items] == [(ItemKind.FRAME, LCP_REQ)]
    assert scan(hdlc(LCP_REQ, fcs32=True))[0].reason is DiscardReason.BAD_FCS


def test_text_between_frames_and_noise_before() -> None:
    data = b"\x00\x80" + hdlc(IPCP_NAK) + b"\r\nRING\r\n" + hdlc(IPCP_NAK)
    items = scan(data)
    assert [i.kind for i in items] == [ItemKind.NOISE, ItemKind.FRAME, ItemKind.TEXT, ItemKind.FRAME]
    assert items[2].data == b"\r\nRING\r\n" and items[2].offset == 2 + len(hdlc(IPCP_NAK))


def test_feeding_byte_by_byte_gives_the_same_items() -> None:
    data = capture() + b"\x7e\x7d\x7e" + hdlc(LCP_REQ)
    whole = scan(data)
    scanner = Scanner()
    pieces = [item for i in range(len(data)) for item in scanner.feed(data[i : i + 1])] + scanner.finish()
    assert pieces == whole
