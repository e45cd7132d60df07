import atexit, shutil, tempfile, setuptools  # noqa: E401,I001  fresh build dir: a no-compiler build reused ./build
atexit.register(shutil.rmtree, tmp := tempfile.mkdtemp(prefix="pppstack-build-"), True)
setuptools.setup(cffi_modules=["native/build_hdlc.py:ffibuilder"], options={"build": {"build_base": tmp}})
