"""Answer prompts on an emulated board without the serial link: the image is
placed in the board's model flash by QEMU's loader (the way a factory
programs flash), the requests go in a semihosting job file, the answers come
back in another (runtime/device/app/main.c, batch mode). Used by the device
tests and by anything that needs the board's answers on big images."""
import os
import struct
import tempfile

from .boards.board import load_board
from .device_prompt import build_request, parse_answer, DeviceAnswerError
from .firmware.build import build_firmware, default_build_dir
from .firmware.qemu import QemuError, run_qemu

APP_TARGET = "thm_app"
FLASH_MAX_BYTES = 64 << 20          # THM_FLASH_MAX_BYTES


def flash_bytes(board):
    """THM_FLASH_BYTES for this board (see runtime/device/flash/thm_flash.h)."""
    w = board.regions["weights"]
    return min(w.real_size, w.size, FLASH_MAX_BYTES)


def build_app(board_name, build_dir=None):
    return build_firmware_target(board_name, APP_TARGET, build_dir)


def build_firmware_target(board_name, target, build_dir=None):
    """thm_app (the app's own request path) or thm_app_link (behind the serial link server)."""
    return build_firmware(board_name, build_dir or default_build_dir(board_name), target=target)


def run_batch(board_name, image_path, prompts, *, max_new_tokens=96, timeout=300.0, elf=None):
    """prompts: [(query, tools)] -> [(DeviceAnswer, name_map)] answered by the board."""
    reqs = [build_request(q, t, max_new_tokens) for q, t in prompts]
    answers = run_batch_raw(board_name, image_path, [r for r, _ in reqs], timeout=timeout, elf=elf)
    return [(a, nm) for a, (_, nm) in zip(answers, reqs)]


def run_batch_raw(board_name, image_path, requests, *, timeout=300.0, elf=None):
    """requests: request bytes (checked by the device, not here) -> [DeviceAnswer].
    image_path None: the board's flash holds no model."""
    board = load_board(board_name)
    elf = elf or build_app(board.name)
    if image_path is not None and os.path.getsize(image_path) > flash_bytes(board):
        raise QemuError(f"{image_path} is larger than {board.name}'s model flash ({flash_bytes(board)} bytes)")
    with tempfile.TemporaryDirectory(prefix="thm_batch_") as tmp:
        job = b"THJB" + struct.pack("<II", 1, len(requests)) + b"".join(struct.pack("<I", len(r)) + r
                                                                        for r in requests)
        with open(os.path.join(tmp, "thm_job.bin"), "wb") as f:
            f.write(job)
        loads = [(os.path.abspath(image_path), board.regions["weights"].base)] if image_path else []
        run = run_qemu(board, elf, loads=loads, timeout=timeout, cwd=tmp)
        if run.returncode != 0:
            raise QemuError(f"{board.name}: the app exited {run.returncode}: {run.stdout[-2000:]}{run.stderr[-2000:]}")
        with open(os.path.join(tmp, "thm_answers.bin"), "rb") as f:
            raw = f.read()
    if len(raw) < 12 or raw[:4] != b"THAN" or struct.unpack_from("<II", raw, 4) != (1, len(requests)):
        raise DeviceAnswerError("answers file: bad header")
    out, pos = [], 12
    for _ in requests:
        if pos + 4 > len(raw):
            raise DeviceAnswerError("answers file: truncated")
        (n,) = struct.unpack_from("<I", raw, pos)
        out.append(parse_answer(raw[pos + 4:pos + 4 + n]))
        pos += 4 + n
    if pos != len(raw):
        raise DeviceAnswerError("answers file: trailing bytes")
    return out
