"""pyproject.toml uses forms setuptools keeps accepting: `project.license` as an SPDX expression
string (PEP 639; the `{text = ...}` table is refused by setuptools from 2027-02-18), and a build
requirement on a setuptools that understands that string (77+)."""

from __future__ import annotations

import os
import tomllib

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pyproject() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_license_is_an_spdx_expression_string() -> None:
    license_ = _pyproject()["project"]["license"]
    assert isinstance(license_, str), f"project.license must be an SPDX string, not {license_!r}"
    try:
        from packaging.licenses import canonicalize_license_expression
    except ImportError:  # packaging < 24.2: check the shape at least
        assert license_.replace(" ", "").isascii() and license_.strip() == license_
    else:
        assert canonicalize_license_expression(license_) == license_


def test_build_requires_a_setuptools_that_reads_spdx_strings() -> None:
    reqs = [Requirement(r) for r in _pyproject()["build-system"]["requires"]]
    (st,) = [r for r in reqs if r.name == "setuptools"]
    assert not st.specifier.contains(Version("76.9")), st
    assert st.specifier.contains(Version("77.0.0")), st
