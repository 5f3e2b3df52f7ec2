"""Shared fixtures for the board tests: the link firmware per board (the app
behind the serial link server, what a user gets) and the test-only flash
firmware, thimble's trained watch-tiny converted once, and the host
simulator on the same image (the reference every board must equal, token
for token and CRC for CRC).

THIMBLE_DEVICE_BUILD: a folder for the firmware builds (default build/boards)."""
import os

import pytest

from device_harness import BOARDS, MODEL, have_tools
from thimble.cli import main as thimble
from thimble.device_batch import LINK_TARGET, build_firmware_target
from thimble.sim.session import Session


@pytest.fixture(scope="session", params=BOARDS)
def board(request):
    if not have_tools(request.param):
        pytest.skip(f"{request.param}: cross compiler, cmake or QEMU missing (tools/bootstrap.sh)")
    return request.param


def _build(board, target=LINK_TARGET):
    root = os.environ.get("THIMBLE_DEVICE_BUILD")
    return build_firmware_target(board, target, os.path.join(root, board) if root else None)


@pytest.fixture(scope="session")
def link_elf(board):
    return _build(board)


@pytest.fixture(scope="session")
def flash_elf(board):
    return _build(board, "thm_flash_test")


@pytest.fixture(scope="session")
def m4_elf():
    if not have_tools("watch_m4"):
        pytest.skip("watch_m4: cross compiler, cmake or QEMU missing (tools/bootstrap.sh)")
    return _build("watch_m4")


@pytest.fixture(scope="session")
def watch_image(tmp_path_factory):
    out = tmp_path_factory.mktemp("watch") / "watch.thm"
    rc = thimble(["convert", str(MODEL / "needle.pkl"), "--tokenizer", str(MODEL / "tokenizer.model"),
                  "--calib", str(MODEL / "calib.jsonl"), "--tools", str(MODEL / "tools.json"), "-o", str(out)])
    assert rc == 0
    return out


@pytest.fixture(scope="session")
def host(watch_image):
    return Session(watch_image, "c:portable")
