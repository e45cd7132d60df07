"""`pppstack trace`: follow a running `pppstack up` live, or draw a negotiation as a ladder diagram.

    pppstack trace                       # attach to the running up (its socket in the run directory)
    pppstack trace --verbose             # ... with each option and what our side decided
    pppstack trace --ladder out.svg      # attach, and draw the ladder when the link ends
    pppstack trace --ladder out.svg capture.pcapng|serial.bin|ppp.log

Attaching never disturbs the link: `up` serves every watcher from its own buffer and drops one that
falls behind.  Several watchers at once are fine; each ends when the link ends.  The same options
for `up` itself: `--trace` / `--trace=verbose` print the timeline, `--pcap FILE` writes pcapng.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO

from pppstack.capture.explain import trace_line
from pppstack.capture.ladder import Row, ladder_svg
from pppstack.capture.pppdlog import looks_like_pppd_log, read_log
from pppstack.capture.timeline import PcapngError, Record, RecordKind, from_log, from_pcapng, from_serial
from pppstack.exitcodes import ExitCode
from pppstack.io import hooks
from pppstack.io.tracetap import TraceTap, find_sockets, follow, record_from_json, socket_path

__all__ = ["register", "handler", "add_trace_arguments", "make_tap", "load_records"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="follow a running `up` packet by packet, or draw a negotiation as an SVG ladder",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", help="pcapng, raw serial capture or pppd log (default: the running up)")
    p.add_argument("--ladder", metavar="SVG", help="write the negotiation as a sequence diagram (plain SVG)")
    p.add_argument("--verbose", "-v", action="store_true", help="each option decoded, with what our side decided")
    p.add_argument("--ifname", help="which running up to attach to, when several run")
    p.add_argument("--run-dir", default=hooks.default_run_dir(), help="where up keeps its status and trace socket")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing (with --ladder)")
    p.set_defaults(func=handler)


def add_trace_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("trace")
    g.add_argument("--trace", nargs="?", const="on", choices=("on", "verbose"), metavar="verbose",
                   help="print every frame both ways and the AT dialogue, ms since CONNECT (=verbose: "
                   "each option and what we decided)")
    g.add_argument("--pcap", metavar="FILE", help="write the session as pcapng (frames, direction, AT text)")


def make_tap(args: argparse.Namespace, name: str) -> TraceTap | None:
    """The tap for `up`; None after saying why when the pcapng file cannot be written."""
    pcap: IO[bytes] | None = None
    if getattr(args, "pcap", None):
        try:
            pcap = open(args.pcap, "wb")  # noqa: SIM115 - the tap closes it
        except OSError as exc:
            print(f"pppstack up: cannot write {args.pcap}: {exc.strerror}", file=sys.stderr)
            return None
    trace = getattr(args, "trace", None)
    out = sys.stderr if getattr(args, "json", False) else sys.stdout  # --json keeps stdout for its document
    # named like the status file: unique per interface and network namespace
    return TraceTap(out=out if trace else None, verbose=trace == "verbose", pcap=pcap,
                    sock_path=socket_path(args.run_dir, f"{name}@net{hooks.netns_id()}"))


def load_records(path: str) -> list[Record]:
    """Any input the ladder takes: pcapng, a pppd log, or a raw serial capture (read as received)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        return from_pcapng(data)
    if looks_like_pppd_log(data[:65536]):
        return from_log(read_log(data.decode("utf-8", "replace").splitlines()))
    # a raw capture has no times, only order (decode's pcapng uses byte offsets): number its records
    return [dataclasses.replace(r, time=i * 1e-6) for i, r in enumerate(from_serial([data]))]


def doctor_verdict(records: Sequence[Record], log_lines: Sequence[str] | None = None,
                   ) -> Callable[[Sequence[Row]], str] | None:
    """The ladder's verdict when the input does not record how the link ended: pppstack doctor's,
    over the pppd log (or the records said as pppd would log them).  None: keep the default."""
    if any(r.kind is RecordKind.END for r in records):
        return None  # our own end cause (exit code name and sentence) says it best
    from pppstack.doctor import diagnose_log

    lines = list(log_lines) if log_lines is not None else [
        (f"{'sent' if r.sent else 'rcvd'} {r.describe()}" if r.kind is RecordKind.FRAME else r.describe())
        for r in records if r.kind in (RecordKind.FRAME, RecordKind.TEXT)]
    try:
        diagnoses = diagnose_log(lines)
    except Exception:  # the doctor is advice: a ladder is still drawn without it
        return None
    if not diagnoses:
        return None
    d = diagnoses[-1]
    text = f"{d.verdict.value} (pppstack doctor): {d.summary or d.fix}"
    return lambda rows: text


def _log_lines(path: str) -> list[str] | None:
    with open(path, "rb") as f:
        head = f.read(65536)
    if not looks_like_pppd_log(head):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def _attach(args: argparse.Namespace) -> tuple[str | None, str]:
    found = find_sockets(args.run_dir)
    if args.ifname:
        found = [p for p in found if os.path.basename(p).split("@net")[0] == args.ifname
                 or os.path.basename(p) == f"{args.ifname}.trace.sock"]
    where = f" for {args.ifname}" if args.ifname else ""
    if not found:
        return None, (f"no running `pppstack up`{where} to attach to (nothing in {args.run_dir}; give --run-dir as "
                      "up has it)")
    if len(found) > 1:
        names = ", ".join(os.path.basename(p)[: -len(".trace.sock")] for p in found)
        return None, f"several links run ({names}): choose one with --ifname"
    return found[0], ""


def _live(args: argparse.Namespace) -> tuple[list[Record], int]:
    path, why = _attach(args)
    if path is None:
        print(f"pppstack trace: {why}", file=sys.stderr)
        return [], int(ExitCode.NO_DEVICE)
    records: list[Record] = []
    zero: float | None = None
    try:
        for obj in follow(path):
            if "zero" in obj:
                zero = obj["zero"]
                continue
            rec = record_from_json(obj)
            records.append(rec)
            if not args.quiet:
                print(trace_line(rec, zero, args.verbose), flush=True)
    except (ConnectionRefusedError, FileNotFoundError):
        print(f"pppstack trace: the link behind {path} is gone (a stale socket)", file=sys.stderr)
        return records, int(ExitCode.NO_DEVICE)
    except OSError as exc:
        print(f"pppstack trace: {path}: {exc.strerror or exc}", file=sys.stderr)
        return records, int(ExitCode.FATAL)
    return records, int(ExitCode.OK)


def handler(args: argparse.Namespace) -> int:
    if args.input:
        try:
            records = load_records(args.input)
            log_lines = _log_lines(args.input)
        except OSError as exc:
            print(f"pppstack trace: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
        except PcapngError as exc:
            print(f"pppstack trace: {args.input}: {exc}", file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
        if not args.ladder and not args.quiet:
            for rec in records:
                print(trace_line(rec, None, args.verbose))
        code = int(ExitCode.OK)
    else:
        records, code = _live(args)
        log_lines = None
    if args.ladder:
        frames = [r for r in records if r.kind is RecordKind.FRAME]
        if not frames:
            print("pppstack trace: no PPP frames to draw", file=sys.stderr)
            return code or int(ExitCode.OPTION_ERROR)
        try:
            with open(args.ladder, "w", encoding="utf-8") as out:
                out.write(ladder_svg(records, title=os.path.basename(args.input or "live link"),
                                     verdict=doctor_verdict(records, log_lines)))
        except OSError as exc:
            print(f"pppstack trace: cannot write {args.ladder}: {exc.strerror}", file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
        if not args.quiet:
            print(f"pppstack trace: {len(frames)} packets drawn to {args.ladder}", file=sys.stderr)
    return code
