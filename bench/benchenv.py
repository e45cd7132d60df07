"""What every benchmark shares: the installed pppstack, the backend asked for, and a record of
the machine, so a figure always says what it measured.

The benchmarks measure the package the user installed (``pip install .``), never the clone's
source tree: ``python bench/x.py`` puts bench/ (not the clone) first on sys.path, and nothing
here adds the clone. Child processes run ``python -P`` so the working directory is not searched
either. A backend asked for but not built is an error with a sentence, never a silent fallback.
"""

from __future__ import annotations

import os
import platform
import signal
import sys
from collections.abc import Callable
from importlib import metadata
from types import FrameType
from typing import Any, NoReturn

# exit codes shared by the benchmarks
NOT_INSTALLED = 2
BACKEND_MISSING = 4
NOT_ROOT = 3
FAILED = 1
INTERRUPTED = 130

SIMD_BITS = {1: "ssse3", 2: "avx2", 4: "pclmul", 8: "avx512-vbmi2", 16: "vpclmulqdq"}   # native/hdlc.h HDLC_SIMD_*


class BenchError(Exception):
    """A benchmark cannot run or went wrong; the message is the sentence the user sees."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


def installed_pppstack() -> str:
    """Import the installed pppstack; return where it lives. BenchError if it is not installed."""
    try:
        dist = metadata.distribution("pppstack")
        import pppstack
    except (metadata.PackageNotFoundError, ImportError) as exc:
        raise BenchError(f"pppstack is not installed for {sys.executable} ({exc}): run `pip install .` "
                         "in the clone first (see README); the benchmarks measure the installed package.",
                         NOT_INSTALLED) from exc
    where = os.path.dirname(os.path.abspath(pppstack.__file__))
    return f"{where} (pppstack {dist.version})"


def c_core() -> Any:
    """The installed C framing core's cffi lib, or None if it was not built."""
    try:
        from pppstack._hdlc_c import lib
    except ImportError:
        return None
    return lib


def require_backends(backends: list[str]) -> None:
    """BenchError unless every backend asked for is built in the installed package."""
    if "c" in backends and c_core() is None:
        raise BenchError("the installed pppstack has no C framing core (pppstack._hdlc_c was not built: no "
                         "compiler or python3-dev at install time). Install gcc and python3-dev and run "
                         "`pip install .` again, or ask for --backends python.", BACKEND_MISSING)


def loaded_backend() -> str:
    """The framing backend this process's pppstack.hdlc loaded (PPPSTACK_HDLC decides); a C core
    asked for with PPPSTACK_HDLC=c but not built is a BenchError, not a traceback."""
    try:
        from pppstack import hdlc
    except ImportError as exc:
        raise BenchError(f"{exc}", BACKEND_MISSING) from exc
    return str(hdlc.BACKEND)


def simd() -> dict[str, Any]:
    """The C core's SIMD paths in use (after PPPSTACK_HDLC_SIMD), or none without the core."""
    lib = c_core()
    if lib is None:
        return {"mask": None, "paths": [], "PPPSTACK_HDLC_SIMD": os.environ.get("PPPSTACK_HDLC_SIMD")}
    mask = int(lib.hdlc_features())
    return {"mask": mask, "paths": [name for bit, name in SIMD_BITS.items() if mask & bit],
            "PPPSTACK_HDLC_SIMD": os.environ.get("PPPSTACK_HDLC_SIMD")}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(backends: list[str]) -> dict[str, Any]:
    """What the figures were measured on: for the --json output of every benchmark."""
    return {
        "backends": backends,
        "simd": simd(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "pppstack": installed_pppstack(),
    }


def _raise_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_main(body: Callable[[], int]) -> int:
    """Run a benchmark's body: SIGTERM and SIGHUP unwind like Ctrl-C (so every ``finally`` cleans
    up), and errors end with one sentence and a distinct exit code, never a traceback."""
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even if started with SIGINT ignored
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)
    try:
        return body()
    except BenchError as exc:
        print(f"{os.path.basename(sys.argv[0])}: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:   # the reader of our output went away (| head): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILED
    except KeyboardInterrupt as exc:
        why = str(exc) or "Ctrl-C"
        print(f"{os.path.basename(sys.argv[0])}: interrupted ({why}); cleaned up, no figures.", file=sys.stderr)
        return INTERRUPTED
