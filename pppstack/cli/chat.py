"""`pppstack chat`: a drop-in for chat(8).

Like chat it talks to the modem on standard input and output (pppd's ``connect`` runs it that
way), or opens ``--device PATH`` itself.  Options, log lines and exit codes are chat's:
0 the script ran to the end, 1 bad parameters or script, 2 I/O error or hang-up, 3 timeout,
4 + n the (n+1)-th ABORT string matched.  (These are chat's codes, not pppstack's, so that
``connect`` lines keep working.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from pppstack.io.atport import run
from pppstack.io.serialport import SerialPort, open_port
from pppstack.modem.chat import DEFAULT_TIMEOUT, Chat, ChatExit, ChatOutput, ChatScript, ChatScriptError, OutputKind

__all__ = ["register", "handler"]

USAGE_EPILOG = """chat exit codes:
    0  the script completed
    1  invalid parameters or script
    2  I/O error, hang-up or signal
    3  an expect timed out with no sub-send left
  4+n  the (n+1)-th ABORT string was seen (4 = first ABORT)"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="run a chat(8) script (drop-in for pppd's connect script)",
                       description="Run a chat(8) script against a modem on stdin/stdout or --device.",
                       epilog=USAGE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-e", dest="echo", action="store_true", help="echo what the modem sends to stderr")
    p.add_argument("-E", dest="use_env", action="store_true", help="substitute $VARIABLES from the environment")
    p.add_argument("-v", dest="verbose", action="store_true", help="log the conversation (chat's log lines)")
    p.add_argument("-V", dest="verbose_stderr", action="store_true", help="copy received text to stderr")
    p.add_argument("-s", dest="to_stderr", action="store_true", help="log to stderr (always on here)")
    p.add_argument("-S", dest="no_syslog", action="store_true", help="no syslog (accepted; never used here)")
    p.add_argument("-t", dest="timeout", type=int, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"expect timeout (default {DEFAULT_TIMEOUT})")
    p.add_argument("-r", dest="report_file", metavar="FILE", help="append REPORT lines to FILE")
    p.add_argument("-T", dest="phone", metavar="NUMBER", help="replaces \\T in the script")
    p.add_argument("-U", dest="phone2", metavar="NUMBER", help="replaces \\U in the script")
    p.add_argument("-f", dest="chat_file", metavar="FILE", help="read the script from FILE")
    p.add_argument("--device", metavar="PATH", help="open this port instead of using stdin/stdout")
    p.add_argument("--baud", type=int, default=115200, help="with --device (default 115200)")
    p.add_argument("--crtscts", action="store_true", help="with --device: hardware flow control")
    p.add_argument("--modem-control", action="store_true",
                   help="with --device: honour DCD (clear CLOCAL); by default carrier is ignored")
    p.add_argument("script", nargs=argparse.REMAINDER, help="expect send [expect send ...]")
    p.set_defaults(func=handler)


def _read_file(path: str) -> str:
    with open(path, encoding="latin-1") as f:
        return f.read()


class _Output:
    def __init__(self, verbose: bool, report_path: str | None) -> None:
        self.verbose = verbose
        self.report_fp = None
        self.report_path = report_path
        if report_path:
            try:
                self.report_fp = open(report_path, "a", encoding="latin-1")  # noqa: SIM115 - closed in close()
                if verbose:
                    self.report_fp.write(f'Opening "{report_path}"...\n')
            except OSError:
                self.report_fp = None

    def emit(self, items: list[ChatOutput]) -> None:
        for item in items:
            if item.kind is OutputKind.LOG:
                if self.verbose:
                    print(item.text, file=sys.stderr)
            elif item.kind is OutputKind.ERROR:
                print(item.text, file=sys.stderr)
            elif item.kind is OutputKind.STDERR:
                sys.stderr.write(item.text)
            elif item.kind is OutputKind.REPORT:
                line = f"chat:  {time.strftime('%b %d %H:%M:%S ')}{item.text}\n"
                (self.report_fp or sys.stderr).write(line)
        sys.stderr.flush()

    def close(self) -> None:
        if self.report_fp is not None:
            if self.verbose:
                self.report_fp.write(f'Closing "{self.report_path}".\n')
            self.report_fp.close()


def handler(args: argparse.Namespace) -> int:
    try:
        if args.chat_file:
            if args.script:
                print("chat: give the script either with -f or on the command line, not both", file=sys.stderr)
                return int(ChatExit.PARAMS)
            try:
                script = ChatScript.parse(_read_file(args.chat_file))
            except OSError as exc:
                print(f"{args.chat_file} -- open failed: {exc.strerror}", file=sys.stderr)
                return int(ChatExit.PARAMS)
        else:
            script = ChatScript.from_argv(args.script)
    except ChatScriptError as exc:
        print(str(exc), file=sys.stderr)
        return int(ChatExit.PARAMS)
    env = dict(os.environ) if args.use_env else None
    machine = Chat(script, env, timeout=args.timeout, verbose=args.verbose, verbose_stderr=args.verbose_stderr,
                   echo=args.echo, phone=(args.phone, args.phone2), read_file=_read_file)
    out = _Output(args.verbose, args.report_file)
    try:
        if args.device:
            try:
                port = open_port(args.device, args.baud, args.crtscts, args.modem_control)
            except (OSError, ValueError) as exc:
                print(f"chat: cannot open {args.device}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
                return int(ChatExit.IO)
        else:
            try:
                port = SerialPort.from_fds(0, 1, configure=False)
            except OSError as exc:
                print(f"chat: cannot use standard input/output as the modem: {exc.strerror or exc}", file=sys.stderr)
                return int(ChatExit.IO)
        with port:
            result = run(port, machine, on_progress=lambda: out.emit(machine.take_output()))
        out.emit(machine.take_output())
        return int(result.exit_code)
    except KeyboardInterrupt:
        print("SIGINT", file=sys.stderr)
        return int(ChatExit.IO)
    finally:
        out.close()
