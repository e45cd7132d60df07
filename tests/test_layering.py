"""The protocol core stays sans-I/O: no module outside the edges imports an I/O or clock module.

Edges (design.md): pppstack/io/, pppstack/cli/, and files named usb.py (the pyusb edges).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "serial", "usb", "fcntl", "termios", "tty", "pty", "selectors", "select", "socket", "time",
    "random", "subprocess", "threading", "asyncio", "signal", "pytun", "libusb_package",
}


def _is_edge(path: Path) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return rel.startswith(("pppstack/io/", "pppstack/cli/")) or path.name == "usb.py"


def _core_modules() -> list[Path]:
    files = [p for pkg in ("pppstack", "ncm") for p in (ROOT / pkg).rglob("*.py")]
    return sorted(p for p in files if not _is_edge(p))


def test_core_modules_exist() -> None:
    assert len(_core_modules()) >= 3


def test_core_imports_no_io() -> None:
    offenders: list[str] = []
    for path in _core_modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not offenders, "core modules must stay sans-I/O:\n" + "\n".join(offenders)
