"""bench_hdlc.py measures the SIMD levels it is asked for or says why it cannot, and every C
record names its level; PPPSTACK_HDLC_SIMD caps the C core as if the CPU had no more.
(Speed itself is never asserted.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_hdlc.py"
SMALL = ["--backends", "c", "--sizes", "64", "--kinds", "random", "--reps", "1", "--min-time", "0.001"]


def _c_core() -> object:
    try:
        from pppstack._hdlc_c import lib
    except ImportError:
        pytest.fail("the C framing core is not built: `pip install -e .` with a C compiler (.ci/run does)")
    return lib


def _bench(*args: str, simd_env: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PPPSTACK_HDLC_SIMD", None)
    if simd_env is not None:
        env["PPPSTACK_HDLC_SIMD"] = simd_env
    # from a directory that holds no pppstack: only the installed package can be found
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=300,
                          cwd="/", env=env)


def test_every_c_record_names_its_simd_level_and_the_levels_are_recorded() -> None:
    _c_core()
    p = _bench("--json", *SMALL, "--simd", "portable")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    env = doc["environment"]
    assert env["simd_levels"] == ["portable"] and env["clock"] == "thread CPU time"
    assert env["cpu_model"] and env["python"] == ".".join(map(str, sys.version_info[:3]))
    recs = doc["records"]
    core = [r for r in recs if r["backend"] == "portable-core"]
    assert {r["op"] for r in core} == {"encode", "decode"}
    assert all(r["simd"] == "portable" and r["simd_mask"] == 0 for r in core)
    assert all("simd" in r for r in recs if r["backend"] in ("c", "c-frame", "portable-core", "c-packed"))
    # the public batched decode without an object per frame sits beside feed in the same run
    assert {r["backend"] for r in recs if r["op"] == "decode"} >= {"c", "c-packed", "c-packed-views"}
    assert not any(r["backend"] in ("c-core", "c-core-avx2") for r in recs)   # not asked for
    assert {r["op"] for r in recs if r["backend"] == "memcpy"} == {"encode", "decode"}


def test_a_level_the_cpu_lacks_is_an_error_with_a_sentence() -> None:
    """PPPSTACK_HDLC_SIMD=avx2 makes this machine an AVX2-only CPU: asking for avx512 must fail
    with a sentence and exit 4, not measure the AVX2 path under the AVX-512 label."""
    _c_core()
    p = _bench(*SMALL, "--simd", "avx512", "portable", simd_env="avx2")
    assert p.returncode == 4, (p.returncode, p.stdout, p.stderr)
    assert "SIMD level avx512 is not available here" in p.stderr and "Traceback" not in p.stderr
    assert "MB/s" not in p.stdout
    p = _bench(*SMALL, "--simd", "portable", simd_env="avx2")
    assert p.returncode == 0 and "portable-core" in p.stdout, p.stderr


def test_default_levels_are_what_the_core_can_run() -> None:
    lib = _c_core()
    p = _bench("--json", *SMALL, "--no-python", simd_env="none")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["environment"]["simd_levels"] == ["portable"]
    assert doc["environment"]["simd"]["mask"] == 0
    assert {r["simd"] for r in doc["records"] if "simd" in r} == {"portable"}
    assert lib is not None


def _features_under(value: str) -> subprocess.CompletedProcess[str]:
    code = ("from pppstack._hdlc_c import lib\nimport pppstack.hdlc._native\n"
            "print(lib.hdlc_features(), lib.hdlc_set_features(0xFFFFFFFF))")
    env = dict(os.environ, PPPSTACK_HDLC_SIMD=value)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd="/")


def test_simd_env_caps_the_core_as_if_the_cpu_had_no_more() -> None:
    lib = _c_core()
    p = _features_under("all")          # what this CPU has, whatever this process was started with
    assert p.returncode == 0, p.stderr
    full = int(p.stdout.split()[0])
    avx2 = lib.HDLC_SIMD_SSSE3 | lib.HDLC_SIMD_AVX2 | lib.HDLC_SIMD_PCLMUL
    for value, cap in (("none", 0), ("portable", 0), ("0", 0), ("avx2", avx2),
                       ("ssse3", lib.HDLC_SIMD_SSSE3 | lib.HDLC_SIMD_PCLMUL), ("avx512", 0xFFFFFFFF)):
        p = _features_under(value)
        assert p.returncode == 0, p.stderr
        # set_features cannot turn a capped path back on
        assert p.stdout.split() == [str(full & cap)] * 2, value


def test_simd_env_with_a_typo_is_refused_with_a_sentence() -> None:
    _c_core()
    env = dict(os.environ, PPPSTACK_HDLC_SIMD="avx-512", PPPSTACK_HDLC="c")
    p = subprocess.run([sys.executable, "-c", "import pppstack.hdlc"], capture_output=True, text=True,
                       timeout=60, env=env, cwd="/")
    assert p.returncode != 0
    assert "PPPSTACK_HDLC_SIMD must be one of none, portable, ssse3, avx2, avx512 or all" in p.stderr
