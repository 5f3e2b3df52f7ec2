# The C kernels are built by cffi; the rest of the package's metadata is in
# pyproject.toml. This file adds what pyproject.toml cannot say: the data an
# installed thimble reads (copied into the wheel as thimble/_data; see
# runtime/thimble/core/resources.py) and the wheel's abi3 tag.
import pathlib
import platform
import shutil
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
# What the firmware build (CMakeLists.txt and what it includes), `thimble demo`
# and the host link server read, by folder and file pattern: a list, not
# whole folders, so stray build outputs in a checkout never ship.
# MANIFEST.in lists the same for the sdist.
DATA_FILES = ["CMakeLists.txt"]
DATA_TREES = [
    ("boards", ["*.toml"]),
    ("cmake", ["*.cmake"]),
    ("kernels/include", ["*.h"]),
    ("kernels/src", ["*.c"]),
    ("kernels/arm", ["*.c", "*.h"]),
    ("kernels/x86", ["*.c", "*.h"]),
    ("runtime/device", ["*.c", "*.h", "*.S", "*.cmake", "*.ld.in", "*.toml"]),
    ("models/watch-tiny", ["*.pkl", "*.model", "*.json", "*.jsonl", "*.md"]),
    ("models/watch-small", ["*.pkl", "*.model", "*.json", "*.jsonl", "*.md"]),
]


def data_files():
    """Every file shipped as package data, as paths under HERE. A missing one
    fails the build: a wheel without its boards would install and then fail."""
    files = [HERE / f for f in DATA_FILES]
    for folder, patterns in DATA_TREES:
        found = [p for pattern in patterns for p in (HERE / folder).rglob(pattern)]
        if not found:
            raise SystemExit(f"setup.py: no {' '.join(patterns)} in {folder}/ (an incomplete sdist?)")
        files += found
    for f in files:
        if not f.is_file():
            raise SystemExit(f"setup.py: {f.relative_to(HERE)} is missing (an incomplete sdist?)")
    return sorted(set(files))


class build_py_with_data(build_py):
    """build_py, then the data trees into thimble/_data of the build."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return              # an editable install reads the repository itself
        root = pathlib.Path(self.build_lib, "thimble", "_data")
        shutil.rmtree(root, ignore_errors=True)     # no file left from an earlier build
        for src in data_files():
            dst = root / src.relative_to(HERE)
            self.mkpath(str(dst.parent))
            self.copy_file(str(src), str(dst))

    def get_outputs(self, include_bytecode=1):
        root = pathlib.Path(self.build_lib, "thimble", "_data")
        return super().get_outputs(include_bytecode) + [str(root / f.relative_to(HERE)) for f in data_files()]


# cffi builds the extension against the stable ABI (_kernels.abi3.so) except on
# debug and free-threaded Pythons; tag the wheel to match, so one wheel serves
# every CPython from requires-python's 3.11 up.
LIMITED_API = not hasattr(sys, "gettotalrefcount") and not sysconfig.get_config_var("Py_GIL_DISABLED")

# The CPU view for benchmarks (runtime/host/thm_cpuid_view.c): a shared object
# `thimble bench model --cpu` preloads into its child, never imported. Linux on
# x86-64 only (CPUID faulting is an x86 feature that Linux exposes).
CPU_VIEW = [Extension("thimble._cpuid_view", ["runtime/host/thm_cpuid_view.c"], py_limited_api=LIMITED_API,
                      extra_compile_args=["-O2"])] \
    if sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64") else []

setup(cffi_modules=["kernels/cffi/build_ffi.py:ffibuilder"],
      ext_modules=CPU_VIEW,
      cmdclass={"build_py": build_py_with_data},
      options={"bdist_wheel": {"py_limited_api": "cp311"}} if LIMITED_API else {})
