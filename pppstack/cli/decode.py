"""`pppstack decode`: read a capture of HDLC-framed PPP and say what is in it, in order.

One line per item, prefixed by its byte offset in the input:

          0  text "AT+CGDCONT=1,\\"IP\\",\\"internet\\"\\r\\r\\n"
         84  [LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0xa1e27395> <pcomp> <accomp>]
        131  discarded, bad FCS (FCS 0x1234, expected 0xf0b8): [LCP EchoReq id=0x0 magic=0x1]
        150  text "NO CARRIER\\r\\n"

Frames print exactly as pppd logs them after "rcvd " (so `--pppd` output diffs against a
pppd debug log); text outside frames is quoted the way pppd quotes strings.

The input may also be a pppd debug log (syslog, logread, journalctl or pppd's own logfile): its
`sent [...]`/`rcvd [...]` lines are turned back into frames (pppstack.capture.pppdlog), so an
old log becomes a pcapng for Wireshark and a ladder diagram (`pppstack trace --ladder`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import IO, Any

from pppstack.capture.pppdlog import looks_like_pppd_log, read_log
from pppstack.capture.timeline import Record, RecordKind, from_log, redact_pap, to_pcapng
from pppstack.describe import decode_frame, describe_frame, normalize_frame
from pppstack.describe._printf import hexbytes, quoted
from pppstack.describe.stream import DiscardReason, ItemKind, Scanner, StreamItem
from pppstack.exitcodes import ExitCode

__all__ = ["register", "handler", "parse_hex", "HexError", "write_pcap", "redact_pap"]
_ = redact_pap  # re-exported: it lived here before pppstack.capture

EPILOG = """output:
  OFFSET  [PROTO ...]            a good frame, as pppd's debug log prints it
  OFFSET  text "..."             modem text outside frames (AT dialogue, NO CARRIER), one line each
  OFFSET  noise 00 01 ...        other octets outside frames
  OFFSET  discarded, REASON ...  a frame thrown away: bad FCS, aborted, too short, longer than
                                 the MRU, or cut off by the end of the input
  The OFFSET is where the item starts in the input (for frames: after the opening flag).
  --pcap writes pcapng: good frames on a PPP_WITH_DIR interface (linktype 204) with FF 03
  and a two-octet protocol restored, the modem's text on a second interface (Wireshark shows
  it as line-based text, and as the packet comment), in one timeline.  For a raw capture each
  packet's timestamp is its offset in microseconds and the direction is "received"; for a
  pppd log the times and directions are the log's.  PAP passwords are replaced by '*' and AT
  commands carrying a PIN or password are masked, unless --pcap-keep-secrets.

pppd logs:
  LINE  sent [PROTO ...]         a sent/rcvd line, rebuilt into a frame
  LINE  ~ sent [PROTO ...]: WHY  rebuilt, but not exactly (e.g. a PAP password pppd hid)
  LINE  skipped sent [...]: WHY  could not be rebuilt (e.g. [IP data], of which pppd logs 8 octets)

examples:
  pppstack decode capture.bin
  pppstack decode --hex - <<< '7e ff 7d 23 c0 21 7d 21 7d 21 7d 20 7d 24 ... 7e'
  socat -u /dev/ttyUSB0,raw - | pppstack decode --accm 0
  pppstack decode --pcap old.pcapng /var/log/ppp.log"""

_READ_CHUNK = 1 << 16


class HexError(ValueError):
    """--hex input that is not hex; the message says where."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decode",
        help="decode a capture of HDLC-framed PPP (pppd-format lines, discards, modem text)",
        description="Decode a byte stream of HDLC-framed PPP: one pppd-format line per frame, "
        "frames discarded and why, and the modem's text, in order.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", nargs="?", default="-", help="capture to read (default: standard input)")
    p.add_argument("--hex", action="store_true", help="the input is hex text (whitespace, 0x, commas, colons allowed)")
    p.add_argument(
        "--accm",
        type=_int,
        default=0xFFFFFFFF,
        metavar="MAP",
        help="receive ACCM: control characters in it arriving unescaped are dropped (default 0xffffffff)",
    )
    p.add_argument(
        "--strict-accm",
        action="store_true",
        help="use --accm only (by default a frame failing its FCS is retried with control "
        "characters read the other way, so captures spanning LCP negotiation decode)",
    )
    p.add_argument("--fcs", type=int, choices=(16, 32), default=16, help="FCS size in bits (default 16)")
    p.add_argument("--mru", type=int, default=1500, help="frames with a longer information field are discarded")
    p.add_argument("--json", action="store_true", help="one JSON object per item, then a summary object")
    p.add_argument("--pppd", action="store_true", help='print only good frames, as pppd logs them ("rcvd [...]")')
    p.add_argument("--pcap", metavar="FILE", help="also write the frames and modem text to FILE (pcapng)")
    p.add_argument("--pppd-log", action="store_true",
                   help="the input is a pppd debug log (found by itself when it has sent/rcvd lines)")
    p.add_argument(
        "--pcap-keep-secrets",
        action="store_true",
        help="keep PAP passwords in the pcap (by default each octet is replaced by '*')",
    )
    p.set_defaults(func=handler)


def _int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (use e.g. 0 or 0x000a0000)") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} does not fit in 32 bits")
    return value


_HEX_NOISE = re.compile(r"(?<![0-9A-Fa-f])0[xX]|\\x|[\s,:]")


def parse_hex(text: str) -> bytes:
    """Hex text to bytes; tolerates whitespace, 0x and \\x prefixes, commas and colons."""
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        cleaned = _HEX_NOISE.sub("", line)
        bad = re.search(r"[^0-9A-Fa-f]", cleaned)
        if bad:
            column = line.find(bad.group()) + 1
            raise HexError(f"line {number}, column {column}: {bad.group()!r} is not a hex digit")
        lines.append(cleaned)
    digits = "".join(lines)
    if len(digits) % 2:
        raise HexError(f"odd number of hex digits ({len(digits)}): the last octet is missing a digit")
    return bytes.fromhex(digits)


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_READ_CHUNK):
        yield chunk


def _items(chunks: Iterable[bytes], scanner: Scanner) -> Iterator[StreamItem]:
    for chunk in chunks:
        yield from scanner.feed(chunk)
    yield from scanner.finish()


def _text_lines(item: StreamItem) -> Iterator[tuple[int, bytes]]:
    """Modem text split after each LF, with the offset of each line."""
    offset = item.offset
    for line in re.findall(rb"[^\n]*\n|[^\n]+", item.data):
        yield offset, line
        offset += len(line)


def _discard_text(item: StreamItem) -> str:
    assert item.reason is not None
    head = f"discarded, {item.reason.value}"
    if item.detail:
        head += f" ({item.detail})"
    if item.reason in (DiscardReason.BAD_FCS, DiscardReason.OVERSIZE) and item.data:
        return f"{head}: {describe_frame(item.data)}"
    return f"{head}:{hexbytes(item.data[:32])}{' ...' if len(item.data) > 32 else ''}"


def _render(item: StreamItem) -> Iterator[tuple[int, str]]:
    if item.kind is ItemKind.FRAME:
        line = describe_frame(item.data)
        if item.dropped_controls:
            line += f"  ({item.dropped_controls} unescaped control characters ignored)"
        yield item.offset, line
    elif item.kind is ItemKind.TEXT:
        for offset, line in _text_lines(item):
            yield offset, "text " + quoted(line)
    elif item.kind is ItemKind.NOISE:
        more = " ..." if len(item.data) > 32 else ""
        yield item.offset, f"noise{hexbytes(item.data[:32])}{more} ({len(item.data)} octets)"
    else:
        yield item.offset, _discard_text(item)


def _json(item: StreamItem) -> Iterator[dict[str, Any]]:
    if item.kind is ItemKind.FRAME:
        fields = decode_frame(item.data)
        obj: dict[str, Any] = {"kind": "frame", "offset": item.offset, "frame_length": len(item.data),
                               "hex": item.data.hex()}  # fmt: skip
        obj.update(fields)
        if item.dropped_controls:
            obj["dropped_controls"] = item.dropped_controls
        yield obj
    elif item.kind is ItemKind.TEXT:
        for offset, line in _text_lines(item):
            yield {"kind": "text", "offset": offset, "text": line.decode("latin-1")}
    elif item.kind is ItemKind.NOISE:
        yield {"kind": "noise", "offset": item.offset, "length": len(item.data), "hex": item.data.hex()}
    else:
        assert item.reason is not None
        obj = {"kind": "discard", "offset": item.offset, "reason": item.reason.name.lower(), "detail": item.detail,
               "length": len(item.data), "hex": item.data.hex(), "message": _discard_text(item)}  # fmt: skip
        if item.reason in (DiscardReason.BAD_FCS, DiscardReason.OVERSIZE) and item.data:
            obj["text"] = describe_frame(item.data)
        yield obj


def write_pcap(out: IO[bytes], items: Iterable[StreamItem], keep_secrets: bool = False) -> int:
    """Write the frames and text of a raw capture as pcapng; returns the frame count."""
    records: list[Record] = []
    for item in items:
        for k in range(item.repeat):
            start = item.offset + k * item.stride
            if item.kind is ItemKind.FRAME:
                frame = normalize_frame(item.data) or item.data
                records.append(Record(start / 1_000_000, RecordKind.FRAME, False, frame))
            elif item.kind is ItemKind.TEXT:
                for offset, line in _text_lines(replace(item, offset=start)):
                    records.append(Record(offset / 1_000_000, RecordKind.TEXT, False, line))
    out.write(to_pcapng(records, keep_secrets=keep_secrets))
    return sum(1 for r in records if r.kind is RecordKind.FRAME)


def _times(n: int, last: int) -> str:
    return f"  [{n} times in a row, the last at {last}]" if n > 1 else ""


class _Runs:
    """Identical discards in a row print as one line with a count: a flood of `7e 7d` is one
    line, not 25 million (the scanner collapses exact repeats; this also joins runs it hands
    over in pieces, across reads)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.line: str | None = None
        self.first = self.last = self.count = 0

    def add(self, offset: int, line: str, n: int, last: int) -> None:
        if line != self.line:
            self.flush()
            self.line, self.first, self.count = line, offset, 0
        self.count += n
        self.last = last

    def flush(self) -> None:
        if self.line is not None:
            self.out.write(f"{self.first:>9}  {self.line}{_times(self.count, self.last)}\n")
            self.line = None


def _summary(counts: Counter[str]) -> str:
    discards = ", ".join(f"{r.value} {counts[r.name]}" for r in DiscardReason if counts[r.name])
    text = f"{counts['frame']} frames, {counts['discard']} discarded"
    text += f" ({discards})" if discards else ""
    return text + f", {counts['text']} octets of text, {counts['noise']} octets of noise"


def handler(args: argparse.Namespace) -> int:
    try:
        source = _open_input(args)
        if not args.hex:
            source, log_text = _sniff_log(source, args.pppd_log)
            if log_text is not None:
                return _log_handler(args, log_text)
    except (OSError, HexError, UnicodeDecodeError) as exc:
        print(f"pppstack decode: {exc}", file=sys.stderr)
        return int(ExitCode.OPTION_ERROR)
    pcap: IO[bytes] | None = None
    if args.pcap:
        try:
            pcap = open(args.pcap, "wb")  # noqa: SIM115 - closed in finally
        except OSError as exc:
            print(f"pppstack decode: cannot write {args.pcap}: {exc.strerror}", file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
    scanner = Scanner(args.accm, args.fcs, args.mru, strict_accm=args.strict_accm, collapse=True)
    counts: Counter[str] = Counter()
    good: list[StreamItem] = []
    out = sys.stdout
    runs = _Runs(out)
    try:
        for item in _items(source, scanner):
            n = item.repeat
            counts[item.kind.value] += n * len(item.data) if item.kind in (ItemKind.TEXT, ItemKind.NOISE) else n
            if item.reason is not None:
                counts[item.reason.name] += n
            if item.kind in (ItemKind.FRAME, ItemKind.TEXT) and pcap is not None:
                good.append(item)
            if args.json:
                for obj in _json(item):
                    if n > 1:
                        obj.update(repeat=n, stride=item.stride)
                    out.write(json.dumps(obj) + "\n")
            elif args.pppd:
                if item.kind is ItemKind.FRAME:
                    out.write(f"rcvd {describe_frame(item.data)}\n" * n)
            elif item.kind is ItemKind.DISCARD:
                for offset, line in _render(item):
                    runs.add(offset, line, n, item.offset + (n - 1) * item.stride)
            else:
                runs.flush()
                for offset, line in _render(item):
                    out.write(f"{offset:>9}  {line}{_times(n, item.offset + (n - 1) * item.stride)}\n")
        runs.flush()
        if args.json:
            out.write(
                json.dumps(
                    {
                        "kind": "summary",
                        **{k: counts[k] for k in ("frame", "discard", "text", "noise")},
                        "discards": {r.name.lower(): counts[r.name] for r in DiscardReason},
                    }
                )
                + "\n"
            )
        elif not args.pppd:
            out.write(f"summary: {_summary(counts)}\n")
        if pcap is not None:
            write_pcap(pcap, good, keep_secrets=args.pcap_keep_secrets)
    except BrokenPipeError:
        # the reader went away (`decode ... | head`): nothing more to say, and no traceback at exit
        sys.stdout = None  # type: ignore[assignment]
        return int(ExitCode.OK)
    except OSError as exc:
        print(f"pppstack decode: reading the input failed: {exc}", file=sys.stderr)
        return int(ExitCode.FATAL)
    finally:
        if pcap is not None:
            pcap.close()
    return int(ExitCode.OK)


def _open_input(args: argparse.Namespace) -> Iterable[bytes]:
    stream: IO[bytes] = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    if args.hex:
        with stream:
            return [parse_hex(stream.read().decode("ascii", "replace"))]
    return _closing_chunks(stream)


def _closing_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    with stream:
        yield from _chunks(stream)


def _sniff_log(source: Iterable[bytes], forced: bool) -> tuple[Iterable[bytes], str | None]:
    """Peek at the input: a pppd log is read whole (text), anything else is streamed on."""
    chunks = iter(source)
    head = next(chunks, b"")
    if not forced and not looks_like_pppd_log(head[:_READ_CHUNK]):
        return _prepend(head, chunks), None
    return [], (head + b"".join(chunks)).decode("utf-8", "replace")


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


def _log_handler(args: argparse.Namespace, text: str) -> int:
    frames = list(read_log(text.splitlines()))
    out = sys.stdout
    counts: Counter[str] = Counter()
    for f in frames:
        way = "sent" if f.sent else "rcvd"
        if f.rebuilt is None:
            counts["skipped"] += 1
            line = f"skipped {way} {f.text}: {f.why}"
        elif not f.rebuilt.exact or f.rebuilt.note:
            counts["approximate"] += 1
            line = f"~ {way} {describe_frame(f.rebuilt.frame)}: {f.rebuilt.note}"
        else:
            counts["exact"] += 1
            line = f"{way} {describe_frame(f.rebuilt.frame)}"
        if args.json:
            obj: dict[str, Any] = {"kind": "frame" if f.rebuilt else "skipped", "line": f.line_number,
                                   "direction": way, "logged": f.text}
            if f.rebuilt is not None:
                obj.update(hex=f.rebuilt.frame.hex(), exact=f.rebuilt.exact and not f.rebuilt.note,
                           note=f.rebuilt.note, **decode_frame(f.rebuilt.frame))
            else:
                obj["why"] = f.why
            out.write(json.dumps(obj) + "\n")
        elif args.pppd:
            if f.rebuilt is not None:
                out.write(f"{way} {describe_frame(f.rebuilt.frame)}\n")
        else:
            out.write(f"{f.line_number:>9}  {line}\n")
    summary = {k: counts[k] for k in ("exact", "approximate", "skipped")}
    if args.json:
        out.write(json.dumps({"kind": "summary", "source": "pppd-log", **summary}) + "\n")
    elif not args.pppd:
        out.write(f"summary: pppd log, {summary['exact']} frames rebuilt exactly, {summary['approximate']} "
                  f"approximately, {summary['skipped']} skipped\n")
    if not frames:
        print("pppstack decode: no sent/rcvd lines in the log (pppd logs packets only with its `debug` option)",
              file=sys.stderr)
    if args.pcap:
        try:
            with open(args.pcap, "wb") as pcap:
                pcap.write(to_pcapng(from_log(frames), keep_secrets=args.pcap_keep_secrets))
        except OSError as exc:
            print(f"pppstack decode: cannot write {args.pcap}: {exc.strerror}", file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
    return int(ExitCode.OK)
