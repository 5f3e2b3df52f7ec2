"""`thimble selftest` over the link on every board, a model deployed: every
check passes (identity, kernels bit-exact under every ISA, speed, memory,
flash, UART, slots, stack after a model run) and the JSON says so. On
firmware built with deliberate defects (a fast path's rounding off by one,
a flash driver that drops a bit, an arena whose second half aliases its
first) it fails with exactly those lines, and exit 1. A firmware that
speaks another link protocol is one error line."""
import json
import os

import pytest

from device_harness import OldProtocolDevice, tiny_image
from toolchain import need_board
from thimble.cli import main as thimble
from thimble.core import resources
from thimble.firmware.build import build_firmware
from thimble.firmware.emulator import Emulator
from thimble.link import format as F

CHECKS = ["identity", "kernels", "speed", "memory", "flash", "uart", "slots", "stack"]


def selftest(url, capsys, *extra):
    rc = thimble(["selftest", "--port", url, "--json", *extra])
    return rc, json.loads(capsys.readouterr().out)


def test_every_check_passes_with_a_model_deployed(board, link_elf, tmp_path, capsys):
    image = tiny_image(tmp_path / "tiny.thm")
    with Emulator(board, image=image, elf=link_elf) as emu:
        rc, rep = selftest(emu.url, capsys, "--board", board)
    assert rc == 0 and rep["passed"] and rep["board"] == board, rep
    checks = {c["name"]: c for c in rep["checks"]}
    assert list(checks) == CHECKS and all(c["ok"] for c in checks.values()), rep
    assert len(checks["kernels"]["isas"]) >= 2 and checks["kernels"]["runs"] >= 40      # portable and a fast path
    assert checks["slots"]["valid"] == 1 and checks["stack"]["after_model_run"]
    assert checks["memory"]["bytes"] > 0 and checks["flash"]["bytes"] > 0


def test_deliberate_defects_fail_their_own_lines(tmp_path, capsys):
    board = "watch_m4"
    need_board(board)
    root = os.environ.get("THIMBLE_DEVICE_BUILD") or os.path.join(resources.build_root(), "defect")
    elf = build_firmware(board, os.path.join(root, "defect-" + board), "thm_app_link",
                         defines=["THM_DEFECT_ROUNDING=1", "THM_DEFECT_FLASH_BIT=1", "THM_DEFECT_ARENA_ALIAS=1"])
    with Emulator(board, elf=elf) as emu:
        rc = thimble(["selftest", "--port", emu.url])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1, out
    fails = {line.split(":")[0] for line in out if line.startswith("FAIL")}
    assert fails == {"FAIL kernels", "FAIL memory", "FAIL flash"}, out
    kernels = next(line for line in out if line.startswith("FAIL kernels"))
    assert "arm_dsp matmul_s8" in kernels, kernels         # the fast path, not the portable C
    assert "at arena offset 0x180000" in next(line for line in out if line.startswith("FAIL memory"))
    assert "read back wrong at byte 5 " in next(line for line in out if line.startswith("FAIL flash"))


def test_firmware_of_another_protocol_version_is_one_error(capsys):
    """A device that answers HELLO as link protocol v3 (before TEST)."""
    with OldProtocolDevice() as url:
        rc = thimble(["selftest", "--port", url])
    err = capsys.readouterr().err
    assert rc == 1 and err.strip().splitlines() == [err.strip()], err
    assert f"link protocol v{F.VERSION - 1}, this host v{F.VERSION}" in err, err


def test_usage_errors(capsys):
    assert thimble(["selftest", "--port", "socket://127.0.0.1:1", "--board", "no_board"]) == 2
    assert thimble(["selftest", "--port", "socket://127.0.0.1:1", "--timeout", "0"]) == 2
