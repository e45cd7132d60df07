"""mypy --strict passes on the sans-I/O core (the modules tests/test_layering.py fences)."""

from __future__ import annotations

import os

import pytest

from tests.test_layering import ROOT, _core_modules

mypy_api = pytest.importorskip("mypy.api", reason="mypy is a test dependency (pip install -e '.[test]')")


def test_core_is_strictly_typed() -> None:
    files = [str(p.relative_to(ROOT)) for p in _core_modules()]
    cwd = os.getcwd()
    os.chdir(ROOT)  # pyproject.toml's [tool.mypy] is found from here
    try:
        out, err, status = mypy_api.run(["--no-incremental", "--no-error-summary", *files])
    finally:
        os.chdir(cwd)
    assert status == 0, f"mypy --strict on the core:\n{out}{err}"
