"""Build the optional C framing core through cffi, in a temporary build directory.

setuptools' default build directory is ./build in the clone, and its build_ext skips an
extension whose built file there is newer than the sources. So after `pip install .`, a later
build without a compiler (`CC=false pip install .`) silently reused the stale
``_hdlc_c.abi3.so`` instead of falling back to pure Python. A fresh directory per build, removed
when the build ends, means every build compiles what the current sources and compiler give.
"""

import atexit
import shutil
import tempfile

from setuptools import setup

build_base = tempfile.mkdtemp(prefix="pppstack-build-")
atexit.register(shutil.rmtree, build_base, ignore_errors=True)

setup(
    cffi_modules=["native/build_hdlc.py:ffibuilder"],
    options={"build": {"build_base": build_base}},
)
