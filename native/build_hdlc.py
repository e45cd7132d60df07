"""cffi build script for the C framing core (pppstack._hdlc_c).

setup.py names it in cffi_modules.  The declarations come from native/hdlc.h (preprocessor lines
dropped, as cffi's cdef does not run cpp).  The extension is optional: without a working
compiler setuptools prints a warning, the install goes on, and pppstack.hdlc uses its
pure-Python backend.  `python native/build_hdlc.py` builds it in place for quick local work.
"""

from __future__ import annotations

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
SOURCES = ["hdlc.c", "hdlc_x86.c", "offload.c", "tunio.c", "pump.c"]
# offload.h: TUN offloads; tunio.h: batched TUN reads and writes; pump.h: the fast path
HEADERS = ["hdlc.h", "offload.h", "tunio.h", "pump.h"]


def _cdef() -> str:
    text = "\n".join((HERE / h).read_text() for h in HEADERS)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


ffibuilder = FFI()
ffibuilder.cdef(_cdef())
ffibuilder.set_source(
    "pppstack._hdlc_c",
    "".join(f'#include "{h}"\n' for h in HEADERS),
    sources=[str(Path("native") / s) for s in SOURCES],
    include_dirs=["native"],
    extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra"],
    optional=True,
)

if __name__ == "__main__":
    import os

    os.chdir(HERE.parent)
    ffibuilder.compile(verbose=True)
