"""The firmware is built freestanding: every header it includes is the
project's own (runtime/device, kernels, the generated board header) or the
cross compiler's own (stddef.h, stdint.h, arm_*.h from its include folder),
never a C library's (newlib's /usr/include/newlib, glibc's /usr/include).
So the firmware needs neither libnewlib-arm-none-eabi nor
libc6-dev-arm64-cross (tools/bootstrap.sh installs no newlib; the arm64 libc
headers only for a test that runs the tokenizer as a Linux program under
qemu-user, and this test proves the boards never read them).

The headers are read from the build's dependency records: Ninja's
(`ninja -t deps`) or the compiler's .d files (Makefile generators)."""
import glob
import os
import shutil
import subprocess

import pytest

from thimble.core import resources
from thimble.boards import load_board
from thimble.firmware import build_firmware
from thimble.boards import board_names

BOARDS = board_names()         # every board file
TARGETS = ["thm_conformance", "thm_app_link", "thm_flash_test"]


def _deps(build_dir):
    """Every file the build's objects were compiled from (sources and headers)."""
    if os.path.exists(os.path.join(build_dir, "build.ninja")):
        out = subprocess.run([shutil.which("ninja") or "ninja", "-C", build_dir, "-t", "deps"],
                             capture_output=True, text=True, check=True).stdout
        # "OBJ: #deps N, deps mtime ..." then one indented path a line
        return {line.strip() for line in out.splitlines() if line.startswith((" ", "\t")) and line.strip()}
    found = set()
    for d in glob.glob(os.path.join(build_dir, "CMakeFiles", "**", "*.d"), recursive=True):
        with open(d) as f:
            text = f.read().replace("\\\n", " ")
        for line in text.splitlines():
            if ":" in line:
                found.update(p for p in line.split(":", 1)[1].split() if p != "\\")
    return found


def _compiler_include(board):
    gcc = f"{board.toolchain}-gcc"
    out = subprocess.run([gcc, "-print-file-name=include"], capture_output=True, text=True, check=True)
    return os.path.realpath(out.stdout.strip())


@pytest.mark.parametrize("name", BOARDS)
def test_firmware_includes_no_c_library_header(name):
    board = load_board(name)
    elfs = [build_firmware(name, target=t) for t in TARGETS]
    build_dir = os.path.dirname(elfs[0])
    deps = {os.path.realpath(p if os.path.isabs(p) else os.path.join(build_dir, p)) for p in _deps(build_dir)}
    headers = {p for p in deps if p.endswith(".h")}
    cc_include = _compiler_include(board)
    allowed = [os.path.realpath(str(resources.data_root())), os.path.realpath(build_dir), cc_include]
    foreign = sorted(h for h in headers if not any(h.startswith(a + os.sep) for a in allowed))
    assert not foreign, f"{name}: headers from outside the project and the compiler: {foreign}"
    assert not [h for h in headers if h.startswith(("/usr/include/", "/usr/lib/arm-none-eabi/include/"))]
    # the dependency records were read, and name the two header sets the build uses
    libc = os.path.realpath(str(resources.data_path("runtime", "device", "libc", "include", "string.h")))
    assert libc in headers and os.path.join(cc_include, "stdint.h") in headers
    feature_header = {"watch_m4": "arm_acle.h", "watch_m55": "arm_mve.h", "glasses_a55": "arm_neon.h"}[name]
    assert os.path.join(cc_include, feature_header) in headers
