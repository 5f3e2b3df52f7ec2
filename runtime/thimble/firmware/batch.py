"""Answer many prompts on an emulated board through the firmware a user
gets: the link firmware (thm_app_link) in QEMU, the image factory-placed in
its flash (thimble.link.factory: committed in slot 0, as a finished deploy
leaves it, so nothing big goes over the emulated UART), each request staged
and RUN over the serial link (LinkClient.run_raw). Used by the device tests
and by anything that needs the board's answers on big images."""
from ..app.request import build_request, parse_answer
from ..link.client import LinkClient
from .emulator import Emulator


def run_batch(board_name, image_path, prompts, *, max_new_tokens=96, timeout=300.0, elf=None, flash=None):
    """prompts: [(query, tools)] -> [(DeviceAnswer, name_map)] answered by the board."""
    reqs = [build_request(q, t, max_new_tokens) for q, t in prompts]
    answers = run_batch_raw(board_name, image_path, [r for r, _ in reqs], timeout=timeout, elf=elf, flash=flash)
    return [(a, nm) for a, (_, nm) in zip(answers, reqs)]


def run_batch_raw(board_name, image_path, requests, *, timeout=300.0, elf=None, flash=None):
    """requests: request bytes (checked by the device, not here; the link
    stages 1..MAX_REQUEST bytes, else LinkError) -> [DeviceAnswer], one QEMU
    boot for all. image_path: factory-placed first (a .thm the host reader
    accepts, fitting a slot; else EmulatorError); None: the flash as it is,
    `flash` (a file the board's size) or a fresh erased one (no model)."""
    with Emulator(board_name, flash=flash, image=image_path, elf=elf, firmware="link") as emu:
        with emu.connect(read_timeout=timeout) as ser:
            link = LinkClient(ser, run_timeout=timeout)
            return [parse_answer(link.run_raw(r)[1]) for r in requests]
