"""Build a board's firmware with CMake (configure once per build folder)."""
import os
import shutil
import subprocess
import sys

from ..core import resources
from ..core.errors import CommandError
from ..boards.board import load_board


# the firmware executables CMakeLists.txt and runtime/device/app/app.cmake define
FIRMWARE_TARGETS = ("thm_conformance", "thm_app_link", "thm_flash_test")
LINK_TARGET = "thm_app_link"     # the app behind the serial link server: what a user flashes


class BuildError(CommandError, RuntimeError):
    """The toolchain is missing or the build failed."""


def default_build_dir(board_name):
    """build/boards/NAME in a source checkout, else in the per-user cache (thimble.core.resources)."""
    return os.path.join(resources.build_root(), "boards", board_name)


def build_firmware(board_name, build_dir=None, target="thm_conformance", quiet=True, defines=()):
    """Configure (if needed) and build `target` for the board; returns the ELF path.
    defines: C macros (NAME or NAME=VALUE) for a variant build (profiling
    counters, the deliberate defects selftest's test builds); a variant
    needs its own build_dir, since they are fixed when the folder is configured."""
    board = load_board(board_name)
    build_dir = os.path.abspath(build_dir or default_build_dir(board.name))
    for tool in ("cmake", f"{board.toolchain}-gcc"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} not found (tools/bootstrap.sh installs it)")
    source = str(resources.data_root())       # CMakeLists.txt: the repository or the package data
    toolchain = os.path.join(source, "cmake", f"toolchain-{board.toolchain}.cmake")
    steps = []
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        flags = [f"-DCMAKE_C_FLAGS={' '.join('-D' + d for d in defines)}"] if defines else []
        steps.append(["cmake", "-S", source, "-B", build_dir, *gen, f"-DTHM_BOARD={board.name}",
                      f"-DCMAKE_TOOLCHAIN_FILE={toolchain}", f"-DPython3_EXECUTABLE={sys.executable}", *flags])
    steps.append(["cmake", "--build", build_dir, "--target", target])
    for argv in steps:
        p = subprocess.run(argv, capture_output=True, text=True, errors="replace")
        if p.returncode != 0:
            raise BuildError(f"{' '.join(argv)} failed:\n{(p.stdout + p.stderr)[-4000:]}")
        if not quiet:
            print(p.stdout, end="")
    elf = os.path.join(build_dir, f"{target}.elf")
    if not os.path.isfile(elf):
        raise BuildError(f"the build did not produce {elf}")
    return elf
