"""Faults on every board's link firmware in QEMU (thm_app_link), between
`thimble deploy`'s client and the emulated UART: corrupted, dropped and
duplicated frames each way, a wrong image hash, a disconnect mid-transfer
then a resumed deploy, and a board reset mid-write (QEMU killed, restarted
on the same flash file). After each the board names, in HELLO, a model
deployed whole before (or none), and the model in service answers RUN
exactly as the host simulator does on the same image.

A few cases per board: each deploy of the ~90 KB image takes seconds over
QEMU's UART. The fast, many-case version runs against the host build of the
same C server (test_faults.py)."""
import json
import os
import pathlib

import pytest
import serial
from toolchain import need_board

from thimble.bench.link import random_image
from thimble.boards.board import board_names, load_board
from thimble.firmware import build_firmware
from thimble.firmware.emulator import Emulator
from thimble.link import format as F
from thimble.link.client import LinkClient, LinkError
from thimble.link.proxy import Fault, LinkProxy
from thimble.sim.session import Session

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Two tools: a short prompt keeps each RUN under QEMU short.
TOOLS = json.loads((ROOT / "models" / "watch-tiny" / "tools.json").read_text())[:2]
QUERY = "set a timer for ten minutes"
TIMEOUT = 2.0              # QEMU's UART is slow and the guest shares two cores with the tests


@pytest.fixture(scope="module", params=board_names())
def board_fw(request):
    """(board name, its link firmware), built where the device tests build theirs."""
    b = load_board(request.param)
    need_board(b.name)
    root = os.environ.get("THIMBLE_DEVICE_BUILD")
    return b.name, build_firmware(b.name, os.path.join(root, b.name) if root else None, "thm_app_link")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{name: (image bytes, the simulator's answer)} for two ~90 KB models."""
    out = {}
    for name, seed in (("a", 7), ("b", 8)):
        path = tmp_path_factory.mktemp("models") / f"{name}.thm"
        path.write_bytes(random_image(d_model=32, layers=1, seed=seed))
        out[name] = (path.read_bytes(), Session(path, "c:portable").ask(QUERY, TOOLS))
    return out


def sha(image):
    return image[32:64].hex()


def answers_like(link, want):
    """RUN on the board gives the simulator's tokens, CRC and text for this model."""
    _, ans = link.run(QUERY, TOOLS)
    assert (ans.tokens, ans.crc, ans.text) == (want["tokens"], want["crc"], want["text"])


def kept_after_a_failed_deploy(link, board, image, want):
    """What a deploy that did not commit leaves: on an A/B board the model that
    served before (`image`) still answers; on a one-slot board (watch_m4) that
    slot was given to the deploy, so no model is active and RUN says so."""
    if load_board(board).model_slots == 2:
        assert link.active_sha() == sha(image)
        answers_like(link, want)
        return
    info = link.hello()
    assert info["active"] is None and info["slots"][0]["state"] == "PARTIAL", info
    _, ans = link.run(QUERY, TOOLS)
    assert not ans.ok and "no model installed" in ans.text, ans


def test_corrupt_drop_duplicate_then_a_wrong_hash(board_fw, models, tmp_path):
    board, link_elf = board_fw
    a, want_a = models["a"]
    b, _ = models["b"]
    faults = [Fault("corrupt", cmd="DATA", nth=5), Fault("drop", cmd="DATA", nth=20),
              Fault("duplicate", cmd="DATA", nth=40), Fault("drop", direction="d2h", cmd="DATA", nth=50),
              Fault("corrupt", direction="d2h", cmd="DATA", nth=60), Fault("duplicate", cmd="BEGIN", nth=1)]
    with Emulator(board, flash=tmp_path / "flash.bin", elf=link_elf, firmware="link") as emu, \
            LinkProxy(emu.url, faults=faults, seed=1) as px, serial.serial_for_url(px.url) as ser:
        link = LinkClient(ser, timeout=TIMEOUT)
        res = link.deploy(a)
        assert res.status == "deployed" and res.retransmits >= 1
        assert len(px.log) == len(faults), f"faults that fired: {px.log}"
        bad = b[:8192]                      # b's header and hash, not b's bytes: the device must refuse it
        with pytest.raises(LinkError) as e:
            link.deploy(bad, check=False)
        assert e.value.status == "E_HASH"
        kept_after_a_failed_deploy(link, board, a, want_a)
    assert px.errors == []


def test_disconnect_then_resume_and_a_reset_mid_write(board_fw, models, tmp_path):
    board, link_elf = board_fw
    a, want_a = models["a"]
    b, want_b = models["b"]
    flash = tmp_path / "flash.bin"
    with Emulator(board, flash=flash, elf=link_elf, firmware="link") as emu:
        with LinkProxy(emu.url, faults=[Fault("cut", cmd="DATA", nth=30)]) as px:
            with serial.serial_for_url(px.url) as ser, pytest.raises(LinkError):
                LinkClient(ser, timeout=TIMEOUT).deploy(a)
            assert px.injected("cut")
            with serial.serial_for_url(px.url) as ser:          # the cable back in; the board stayed up
                link = LinkClient(ser, timeout=TIMEOUT)
                assert link.hello()["active"] is None
                res = link.deploy(a)
                assert 0 < res.resumed_from <= 30 * F.DATA_CHUNK and res.bytes_sent < len(a)
                sector = link.hello()["sector"]
        # b's deploy: the board loses power once the 70th KiB is acknowledged
        kill = Fault("cut", direction="d2h", cmd="DATA", nth=70, on_fire=lambda e: emu.kill())
        with LinkProxy(emu.url, faults=[kill]) as px:
            with serial.serial_for_url(px.url) as ser, pytest.raises(LinkError):
                LinkClient(ser, timeout=TIMEOUT).deploy(b)
            assert px.injected("cut") and emu.proc.poll() is not None
    with Emulator(board, flash=flash, elf=link_elf, firmware="link") as emu, emu.connect() as ser:
        link = LinkClient(ser, timeout=TIMEOUT)
        kept_after_a_failed_deploy(link, board, a, want_a)   # A/B: the old model answers after a reset mid-write
        res = link.deploy(b)
        every = F.PROGRESS_EVERY * sector                       # the journal's PROGRESS granularity
        journaled = 70 * F.DATA_CHUNK // every * every
        assert res.status == "deployed" and journaled <= res.resumed_from < len(b)
        assert res.resumed_from % sector == 0 and res.bytes_sent == len(b) - res.resumed_from
        assert link.active_sha() == sha(b)
        answers_like(link, want_b)


def test_a_frame_cut_short_does_not_swallow_the_next_hello(board_fw, tmp_path):
    """A DATA frame whose tail never came (a cable pulled mid-frame; QEMU drops
    what its socket held when the host hangs up): after a silence, the board
    drops it, and the first HELLO of the next host is answered, not read as
    the rest of the dead frame's payload (CI saw a board deaf to 6 HELLOs)."""
    import time
    from thimble.link import codec
    board, link_elf = board_fw
    C = F.COMMANDS
    dead = codec.encode(C["DATA"], 7, codec.pack("DATA", 0, bytes(4), tail=bytes(range(256)) * 4))
    with Emulator(board, flash=tmp_path / "flash.bin", elf=link_elf, firmware="link") as emu, emu.connect() as ser:
        assert LinkClient(ser, timeout=TIMEOUT).hello()["active"] is None
        ser.write(dead[:300])
        ser.flush()
        time.sleep(1.5)                                # over the board's 500 ms of silence
        assert LinkClient(ser, timeout=TIMEOUT, retries=0).hello()["active"] is None
