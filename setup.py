# The C kernels are built by cffi; everything else about the package is in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["kernels/cffi/build_ffi.py:ffibuilder"])
