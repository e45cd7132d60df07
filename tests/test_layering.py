"""The protocol core stays sans-I/O: no module outside the edges reaches the OS.

Edges (design.md): pppstack/io/, pppstack/cli/, files named usb.py (the pyusb edges) and
``python -m pppstack`` (pppstack/__main__.py, which only calls the CLI).
Everything else is core: it may not import an I/O, clock or randomness module, may not import
an edge (absolutely or relatively), may not load code dynamically, and may not open files.
``os`` is allowed for ``os.environ`` alone (backend choice at import time).

The fence is itself tested: each kind of violation is planted in a scratch module and must be
caught, so a checker that silently stops looking fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Top-level modules that do I/O, read a clock, draw randomness or load code.
FORBIDDEN_ROOTS = {
    "serial", "usb", "fcntl", "termios", "tty", "pty", "selectors", "select", "socket", "time",
    "random", "secrets", "subprocess", "threading", "multiprocessing", "asyncio", "signal",
    "pytun", "libusb_package", "ctypes", "importlib", "io", "pathlib", "shutil", "tempfile",
    "mmap", "builtins", "datetime",
}
# Edge packages and modules: the core never imports them, absolutely or relatively.
FORBIDDEN_PACKAGES = ("pppstack.io", "pppstack.cli", "ncm.usb")
FORBIDDEN_CALLS = {"open", "__import__", "exec", "eval", "compile", "breakpoint", "input"}
OS_ALLOWED = {"environ"}


def _is_edge(rel: str) -> bool:
    if rel == "pppstack/__main__.py":
        return True
    return rel.startswith(("pppstack/io/", "pppstack/cli/")) or rel.rsplit("/", 1)[-1] == "usb.py"


def _core_modules() -> list[Path]:
    files = [p for pkg in ("pppstack", "ncm") for p in (ROOT / pkg).rglob("*.py")]
    return sorted(p for p in files if not _is_edge(p.relative_to(ROOT).as_posix()))


def _module_name(rel: str) -> str:
    parts = rel[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, rel: str) -> list[str]:
    """The absolute module names an ``from … import …`` can bind, relative ones resolved."""
    if node.level == 0:
        base = node.module or ""
    else:
        package = _module_name(rel).split(".")
        if not rel.endswith("__init__.py"):
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    # `from pppstack import io` binds the submodule pppstack.io: check base.name too.
    return [base] + [f"{base}.{a.name}" for a in node.names]


def _forbidden_module(name: str) -> str | None:
    root = name.split(".")[0]
    if root in FORBIDDEN_ROOTS:
        return name
    for pkg in FORBIDDEN_PACKAGES:
        if name == pkg or name.startswith(pkg + "."):
            return name
    return None


def violations(source: str, rel: str) -> list[str]:
    """Every way ``source`` (the module at repository path ``rel``) leaves the sans-I/O core."""
    tree = ast.parse(source, filename=rel)
    found: list[str] = []
    os_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os" or alias.name.startswith("os."):
                    os_names.add(alias.asname or "os")
                    if alias.name != "os":
                        found.append(f"{rel}:{node.lineno} imports {alias.name}")
                elif _forbidden_module(alias.name):
                    found.append(f"{rel}:{node.lineno} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            names = _absolute(node, rel)
            if names[0] == "os":
                bad = [a.name for a in node.names if a.name not in OS_ALLOWED]
                if bad:
                    found.append(f"{rel}:{node.lineno} imports os.{', os.'.join(bad)}")
                continue
            for name in names:
                if _forbidden_module(name):
                    found.append(f"{rel}:{node.lineno} imports {name}")
                    break
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in FORBIDDEN_CALLS:
                found.append(f"{rel}:{node.lineno} calls {node.func.id}()")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in os_names and node.attr not in OS_ALLOWED):
            found.append(f"{rel}:{node.lineno} uses os.{node.attr}")
    return found


def test_core_modules_exist() -> None:
    rels = {p.relative_to(ROOT).as_posix() for p in _core_modules()}
    assert {"pppstack/link.py", "pppstack/fsm/cp.py", "ncm/ntb.py"} <= rels


def test_core_reaches_no_io() -> None:
    offenders: list[str] = []
    for path in _core_modules():
        offenders += violations(path.read_text(), path.relative_to(ROOT).as_posix())
    assert not offenders, "core modules must stay sans-I/O:\n" + "\n".join(offenders)


PLANTED = [
    ("import time\n", "imports time"),
    ("import socket as s\n", "imports socket"),
    ("from selectors import DefaultSelector\n", "imports selectors"),
    ("from ..io import tun\n", "imports pppstack.io"),
    ("from ..io.tun import open_tun\n", "imports pppstack.io.tun"),
    ("from .. import io\n", "imports pppstack.io"),
    ("from pppstack import cli\n", "imports pppstack.cli"),
    ("from pppstack.cli.up import main\n", "imports pppstack.cli.up"),
    ("import ncm.usb\n", "imports ncm.usb"),
    ("import os\nos.read(0, 1)\n", "uses os.read"),
    ("import os as _o\n_o.open('x', 0)\n", "uses os.open"),
    ("from os import write\n", "imports os.write"),
    ("import os.path\n", "imports os.path"),
    ("import ctypes\n", "imports ctypes"),
    ("import importlib\n", "imports importlib"),
    ("from importlib import import_module\n", "imports importlib"),
    ("x = open('/etc/passwd').read()\n", "calls open()"),
    ("m = __import__('socket')\n", "calls __import__()"),
    ("from pathlib import Path\n", "imports pathlib"),
]


@pytest.mark.parametrize(("source", "expected"), PLANTED, ids=[p[1] for p in PLANTED])
def test_fence_catches_planted_violation(source: str, expected: str) -> None:
    found = violations(source, "pppstack/modem/planted.py")
    assert any(expected in f for f in found), found


def test_fence_allows_what_the_core_needs() -> None:
    ok = ("import os\nx = os.environ.get('A')\nfrom os import environ\n"
          "from . import at\nfrom ..hdlc import encode\nfrom ncm.ntb import decode_ntb\n"
          "import logging, struct, enum\nlink.open(now)\n")
    assert violations(ok, "pppstack/modem/planted.py") == []


def test_relative_import_from_package_init_resolves_to_the_package() -> None:
    # In pppstack/__init__.py, `from .io import x` is pppstack.io — an edge.
    assert violations("from .io import x\n", "pppstack/__init__.py")
    assert not violations("from .link import Link\n", "pppstack/__init__.py")
