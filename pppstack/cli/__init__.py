"""The `pppstack` command: a thin dispatcher over one module per subcommand.

Each subcommand module exposes `register(subparsers) -> None`, which adds its parser
and sets `func=handler` where `handler(args) -> int` returns an ExitCode.  Only this
layer turns errors into exit codes; no traceback reaches a user.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading

from pppstack import __version__
from pppstack.exitcodes import ExitCode, exit_code_table

__all__ = ["main", "build_parser"]

# Subcommand modules, in the order `--help` lists them.  A module that is not
# present yet is skipped, so rooms can land independently.
SUBCOMMANDS = ("up", "serve", "sim", "status", "modeswitch", "ports", "chat", "decode", "doctor", "trace")

log = logging.getLogger("pppstack")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pppstack",
        description="Userspace PPP and CDC-NCM for USB cellular modems (no pppd, no kernel PPP needed).",
        epilog="exit codes:\n" + exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pppstack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"pppstack.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"pppstack.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


class Interrupted(KeyboardInterrupt):
    """Ctrl-C raised by our own SIGINT handler.  A subclass on purpose: CPython 3.11 marks a plain
    KeyboardInterrupt raised inside exec() (dataclasses build methods that way while modules load)
    as unhandled and kills the process with SIGINT at exit even after we caught it."""


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted()


def _interrupted() -> int:
    print("pppstack: interrupted (Ctrl-C) before anything was started; nothing to clean up.", file=sys.stderr)
    return int(ExitCode.INTERRUPTED)


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C while the subcommands load (a few tenths of a second on a small router) is a sentence
    # and INTERRUPTED, not a KeyboardInterrupt traceback: nothing has been opened yet.
    ours = threading.current_thread() is threading.main_thread() \
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if ours:
        signal.signal(signal.SIGINT, _raise_interrupted)
    try:
        return _main(argv)
    finally:
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _main(argv: list[str] | None) -> int:
    try:
        try:
            parser = build_parser()
        except ImportError as exc:  # e.g. PPPSTACK_HDLC=c without the C core: say so, no traceback
            print(f"pppstack: {exc}", file=sys.stderr)
            return int(ExitCode.OPTION_ERROR)
        args = parser.parse_args(argv)
        args.raw_argv = list(sys.argv[1:] if argv is None else argv)  # e.g. for `up --print-unit`
    except KeyboardInterrupt:
        return _interrupted()
    if not getattr(args, "func", None):
        parser.print_help()
        return int(ExitCode.OPTION_ERROR)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("pppstack: interrupted (Ctrl-C); stopped.", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except Exception as exc:  # the last line of defence: a sentence, never a traceback
        log.debug("internal error", exc_info=True)
        print(
            f"pppstack: internal error: {exc.__class__.__name__}: {exc} (run with --debug for details)",
            file=sys.stderr,
        )
        return int(ExitCode.FATAL)
