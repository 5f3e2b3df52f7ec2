"""Board tests build each board's firmware once per session (CMake, into
build/boards/NAME) and run it under QEMU. A missing toolchain or QEMU fails
these tests: tools/bootstrap.sh installs them, so CI must have them."""
import pytest

from thimble.boards import load_board
from thimble.firmware import build_firmware


@pytest.fixture(scope="session")
def firmware():
    """board name -> (Board, ELF path), built on first use."""
    built = {}

    def get(name):
        if name not in built:
            built[name] = (load_board(name), build_firmware(name))
        return built[name]
    return get
