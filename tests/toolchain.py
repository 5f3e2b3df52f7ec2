"""One policy for what the tests need from the machine: a cross compiler,
QEMU, cmake, a host gcc or a test dependency that is missing fails the test
with the one hint that fixes it. A skip would prove nothing, and CI's fresh
machine installs everything through tools/bootstrap.sh, as a developer's does.
(Skips stay only for what no install can give: an instruction set this CPU
lacks, a platform without /proc.)

tests/ is on sys.path because its conftest.py is (pytest's rootdir conftest)."""
import importlib
import pathlib
import shutil

import pytest

# the host-side C checks' own headers (thm_test_slurp.h)
TEST_INCLUDE = "-I" + str(pathlib.Path(__file__).resolve().parent / "include")
HINT = "run tools/bootstrap.sh (it installs the toolchains, QEMU and the test dependencies)"


def need(*programs):
    """The paths of `programs` on PATH; the test fails if one is missing."""
    paths = [shutil.which(p) for p in programs]
    missing = [p for p, path in zip(programs, paths) if not path]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: {HINT}", pytrace=False)
    return paths


def need_board(name):
    """The cross compiler, cmake and QEMU a board's firmware tests use."""
    from thimble.boards import load_board
    b = load_board(name)
    need(f"{b.toolchain}-gcc", "cmake", b.qemu_binary)
    return b


def need_module(name):
    """A test dependency (pyproject's [test] extra), imported."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        pytest.fail(f"{name} cannot be imported ({e}): {HINT}", pytrace=False)


def component_args(*names):
    """-I folders and .c files of C components (runtime/device/components.toml)
    and what they need: a test's C check builds exactly what the firmware links."""
    from thimble.firmware.sources import Components
    comps = Components(pathlib.Path(__file__).resolve().parents[1])
    return [f"-I{d}" for d in comps.includes(*names)] + [str(p) for p in comps.sources(*names)]
