"""The README cannot rot: every command in it is run or, where running it would dial a real modem
or need root, parsed by the very parser and option reader `pppstack` uses.

* Code blocks (indented or fenced) are read line by line.  A `pppstack` command that cannot touch
  hardware or the network (`--help`, `--simulate` without `--stay`, `--dry-run`, `--explain`,
  `--print-unit`, `status`, `ports`, ...) runs as a normal user in a scratch directory holding the
  thread's usb-mode.json, and must end without a traceback and without the exit codes that mean
  "the README is wrong" (1 FATAL, 2 OPTION_ERROR).  Any other `pppstack` command is parsed, and an
  `up` command's options go through build_options() as for a real start.  Other programs must be
  ones a reader has (or files in this repository), and every line must be valid bash.
* Inline `pppstack ...` spans without placeholders are parsed the same way.
* The Python example (`>>>`) runs as a doctest.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest

from pppstack.cli import build_parser
from pppstack.exitcodes import ExitCode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
# programs a README line may call besides pppstack: a reader's Debian 12 has them (or they are ours)
OTHER_PROGRAMS = {"python3", "python", "pip", "bash", "sudo", "systemctl", "udevadm", "journalctl", "usermod",
                  "tee", "ip", "ping"}
SAFE_FLAGS = {"--help", "-h", "--version", "--simulate", "--dry-run", "--explain", "--print-unit", "--check"}
SAFE_COMMANDS = {"status", "ports", "decode"}
PLACEHOLDER = re.compile(r"[\[\]…|\\]|\b(FILE|PTY|HEX|TTY|APN|NAME|F|N|SCRIPT|PATH|capture|script)\b")
UDEV_RULE = re.compile(r'^(\s*[A-Z_]+(\{[^}]+\})?\s*(==|!=|=|\+=|:=)\s*"[^"]*"\s*,?)+$')


def _text() -> str:
    with open(README, encoding="utf-8") as f:
        return f.read()


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """(the heading above it, its lines) for every indented or fenced code block."""
    blocks: list[tuple[str, list[str]]] = []
    heading, current, fenced, prev_blank = "", None, False, True
    for line in text.splitlines():
        if line.startswith("```"):
            if fenced:
                blocks.append((heading, current or []))
                current, fenced = None, False
            else:
                current, fenced = [], True
            continue
        if fenced:
            current.append(line)  # type: ignore[union-attr]
            continue
        if line.startswith("#"):
            heading = line.lstrip("# ").strip()
        indented = line.startswith("    ") and not line.lstrip().startswith(("|", "-", "*"))
        if indented and (current is not None or prev_blank):
            if current is None:
                current = []
            current.append(line[4:])
        elif line.strip() == "" and current is not None:
            current.append("")
        else:
            if current is not None:
                blocks.append((heading, current))
                current = None
        prev_blank = line.strip() == ""
    if current is not None:
        blocks.append((heading, current))
    return [(h, [x for x in b if x.strip()]) for h, b in blocks if any(x.strip() for x in b)]


def _commands() -> list[str]:
    lines = []
    for heading, block in _blocks(_text()):
        if heading == "Layout" or any(x.lstrip().startswith(">>>") for x in block):
            continue  # a directory map; the doctest is run below
        lines += [x.strip() for x in block]  # list items indent their blocks further
    return lines


def _segments(line: str) -> list[list[str]]:
    """The simple commands of a shell line (split at &&, ||, |, ;), comments dropped."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.commenters = "#"
    lex.whitespace_split = True
    segments, current = [], []
    for token in lex:
        if token in ("&&", "||", "|", ";", "&"):
            segments.append(current)
            current = []
        else:
            current.append(token)
    segments.append(current)
    return [s for s in segments if s]


def _pppstack_argv(segment: list[str]) -> list[str] | None:
    words = segment[1:] if segment[0] == "sudo" else segment
    if words and os.path.basename(words[0]) == "pppstack":
        return words[1:]
    return None


def _parse(argv: list[str]) -> None:
    """What `pppstack ARGV` would make of its words, without running it."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code in (0, None):  # --help, --version
            return
        raise AssertionError(f"`pppstack {shlex.join(argv)}` does not parse (exit {exc.code})") from None
    if argv and argv[0] == "up" and "call" not in argv:
        from pppstack.cli.up import build_options

        build_options(args)


def _is_safe(argv: list[str], sudo: bool) -> bool:
    if sudo or "--stay" in argv:
        return False
    return bool(SAFE_FLAGS & set(argv)) or (bool(argv) and argv[0] in SAFE_COMMANDS)


README_COMMANDS = _commands()


def test_the_readme_has_the_walkthrough_commands() -> None:
    joined = "\n".join(README_COMMANDS)
    for needle in ("pppstack ports", "pppstack modeswitch", "pppstack up --device", "--pin", "pppstack status",
                   "--print-unit", "ID_MM_DEVICE_IGNORE"):
        assert needle in joined, needle


@pytest.mark.parametrize("line", README_COMMANDS)
def test_readme_line(line: str, tmp_path) -> None:
    if UDEV_RULE.match(line):
        return  # a udev rule: its grammar is the pattern above
    syntax = subprocess.run(["bash", "-n", "-c", line], capture_output=True, text=True)
    assert syntax.returncode == 0, f"not valid bash: {line}\n{syntax.stderr}"
    for segment in _segments(line):
        argv = _pppstack_argv(segment)
        if argv is None:
            program = segment[1] if segment[0] == "sudo" and len(segment) > 1 else segment[0]
            name = os.path.basename(program)
            if program.startswith("venv/bin/"):
                assert name in ("pip", "python", "python3"), line  # the venv the README makes
            elif os.path.exists(os.path.join(ROOT, program)):
                continue
            else:
                assert name in OTHER_PROGRAMS, f"unknown program {program!r} in README line: {line}"
                if name in ("python", "python3") and len(segment) > 1 and segment[1].endswith(".py"):
                    assert os.path.exists(os.path.join(ROOT, segment[1])), line
            continue
        _parse(argv)
        if _is_safe(argv, segment[0] == "sudo"):
            _run(argv, tmp_path)


def _run(argv: list[str], tmp_path) -> None:
    from test_modem_usbmode import THREAD_JSON

    work = tempfile.mkdtemp(prefix="pppstack-readme-")
    try:
        os.chmod(work, 0o777)
        with open(os.path.join(work, "usb-mode.json"), "w") as f:
            f.write(THREAD_JSON)
        env = dict(os.environ, PYTHONPATH=ROOT, HOME=work, PPPSTACK_RUN_DIR=os.path.join(work, "run"))
        proc = subprocess.run(UNPRIVILEGED + [sys.executable, "-m", "pppstack", *argv], capture_output=True, text=True,
                              env=env, cwd=work, timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode not in (ExitCode.FATAL, ExitCode.OPTION_ERROR), f"pppstack {shlex.join(argv)}:\n{out}"
    assert out.strip(), f"pppstack {shlex.join(argv)} said nothing"
    if "--print-unit" in argv:
        assert "ExecStart=" in proc.stdout and "RestartPreventExitStatus=" in proc.stdout


def _inline() -> list[str]:
    spans = re.findall(r"`(pppstack [^`]+)`", _text())
    return sorted({s for s in spans if not PLACEHOLDER.search(s)})


@pytest.mark.parametrize("span", _inline())
def test_inline_commands_parse(span: str) -> None:
    _parse(shlex.split(span)[1:])


def test_the_python_example_runs() -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(_text(), {}, "README.md", README, 0)
    assert len(test.examples) >= 10
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0 and result.attempted == len(test.examples)
