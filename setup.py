from setuptools import setup

setup(cffi_modules=["native/build_hdlc.py:ffibuilder"])
