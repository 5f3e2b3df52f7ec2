"""Shared fixtures for the board tests: the link firmware per board (the app
behind the serial link server, what a user gets) and the test-only flash
firmware, thimble's trained watch-tiny converted once, and the host
simulator on the same image (the reference every board must equal, token
for token and CRC for CRC).

THIMBLE_DEVICE_BUILD: a folder for the firmware builds (default build/boards)."""
import os

import pytest

from device_harness import BOARDS
from toolchain import need_board
from thimble.firmware import LINK_TARGET, build_firmware
from thimble.sim.session import Session


@pytest.fixture(scope="session", params=BOARDS)
def board(request):
    need_board(request.param)
    return request.param


def _build(board, target=LINK_TARGET):
    root = os.environ.get("THIMBLE_DEVICE_BUILD")
    return build_firmware(board, os.path.join(root, board) if root else None, target)


@pytest.fixture(scope="session")
def link_elf(board):
    return _build(board)


@pytest.fixture(scope="session")
def flash_elf(board):
    return _build(board, "thm_flash_test")


@pytest.fixture(scope="session")
def m4_elf():
    need_board("watch_m4")
    return _build("watch_m4")


@pytest.fixture(scope="session")
def host(watch_image):
    return Session(watch_image, "c:portable")
