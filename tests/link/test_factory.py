"""Factory programming for the link firmware (thimble.link.factory): the
flash file Python writes is read by the device's own journal. The host build
of the C server, over a factory flash of the same geometry, reports the slot
ACTIVE with the image's hash and answers a deploy of the same image with
"same"; a COMMIT record with a bad CRC leaves no active model. On QEMU
(watch_m55, link firmware), watch-tiny placed by the factory answers RUN
exactly as the host simulator does, without any deploy."""
import os

import pytest

from device_harness import MODEL, TOOLS
from toolchain import need_board
from thimble.cli import main as thimble
from thimble.firmware import build_firmware
from thimble.firmware.emulator import Emulator
from thimble.link import factory
from thimble.link.client import LinkClient
from thimble.sim.session import Session

FLASH, SECTOR = 1 << 20, 4096
QUERY = "set a timer for ten minutes"


def test_slot_layout_is_the_journals():
    assert factory.slot_layout(FLASH, SECTOR) == (2 * SECTOR, (FLASH - 2 * SECTOR) // 2)
    assert factory.slot_layout(40960, 8192) == (16384, 8192)          # (5 - 2) sectors: one whole each
    for size, sector in ((FLASH, 1000), (FLASH + 4096 // 2, 4096), (3 * 4096, 4096)):
        with pytest.raises(factory.FactoryError):
            factory.slot_layout(size, sector)


def test_factory_flash_is_active_and_a_deploy_of_it_sends_nothing(imgs, tmp_path, start_server, connect):
    a, b = imgs
    flash = tmp_path / "flash.bin"
    assert factory.write_flash(flash, a, FLASH, SECTOR) == (2 * SECTOR, (FLASH - 2 * SECTOR) // 2)
    data = flash.read_bytes()
    assert len(data) == FLASH and data[2 * SECTOR:2 * SECTOR + len(a)] == a
    assert data[SECTOR:2 * SECTOR] == b"\xff" * SECTOR                 # the second log sector stays erased
    link = connect(start_server(flash, flash_size=FLASH, sector=SECTOR))
    info = link.hello()
    assert info["active"] == 0
    s0 = info["slots"][0]
    assert (s0["state"], s0["seqno"], s0["image_size"], s0["written"]) == ("ACTIVE", 1, len(a), len(a))
    assert s0["sha256"] == a[32:64].hex() and info["slots"][1]["state"] == "EMPTY"
    res = link.deploy(a)
    assert (res.status, res.bytes_sent, res.slot) == ("same", 0, 0)
    res = link.deploy(b)                          # the journal the factory wrote takes appends
    assert (res.status, res.slot) == ("deployed", 1) and link.hello()["active"] == 1


@pytest.mark.parametrize("byte", [60, 63, 20])       # the CRC itself, its last byte, the hash it covers
def test_a_corrupted_commit_record_leaves_no_active_model(imgs, tmp_path, start_server, connect, byte):
    a, _ = imgs
    flash = tmp_path / "flash.bin"
    factory.write_flash(flash, a, FLASH, SECTOR)
    data = bytearray(flash.read_bytes())
    data[factory.RECORD_SIZE + byte] ^= 0x01      # record 1: the COMMIT after the GEN record
    flash.write_bytes(bytes(data))
    info = connect(start_server(flash, flash_size=FLASH, sector=SECTOR)).hello()
    assert info["active"] is None and [s["state"] for s in info["slots"]] == ["EMPTY", "EMPTY"]


def test_images_that_do_not_fit_a_slot_or_are_not_images_are_refused(imgs, tmp_path):
    a, _ = imgs
    with pytest.raises(factory.FactoryError, match="a slot of this flash holds"):
        factory.write_flash(tmp_path / "f.bin", a, 16 * 4096, 4096)   # 7-sector slots, a is 23 sectors
    bad = bytearray(a)
    bad[-1] ^= 1
    with pytest.raises(factory.FactoryError, match="not a deployable image"):
        factory.flash_image(bytes(bad), FLASH, SECTOR)
    assert not (tmp_path / "f.bin").exists()


@pytest.fixture(scope="module")
def m55_link():
    need_board("watch_m55")
    root = os.environ.get("THIMBLE_DEVICE_BUILD")
    return build_firmware("watch_m55", os.path.join(root, "watch_m55") if root else None, "thm_app_link")


def test_factory_placed_watch_tiny_answers_run_on_the_board_like_the_simulator(m55_link, tmp_path):
    image = tmp_path / "watch.thm"
    assert thimble(["convert", str(MODEL / "needle.pkl"), "--tokenizer", str(MODEL / "tokenizer.model"),
                    "--calib", str(MODEL / "calib.jsonl"), "--tools", str(MODEL / "tools.json"),
                    "-o", str(image)]) == 0
    want = Session(image, "c:portable").ask(QUERY, TOOLS[:3])
    flash = tmp_path / "flash.bin"
    with Emulator("watch_m55", flash=flash, image=image, elf=m55_link, firmware="link") as emu:
        assert flash.stat().st_size == emu.board.flash_bytes
        with emu.connect() as ser:
            link = LinkClient(ser)
            info = link.hello()
            assert info["active"] == 0 and info["slots"][0]["sha256"] == image.read_bytes()[32:64].hex()
            counters, ans = link.run(QUERY, TOOLS[:3])
    assert ans.ok, ans.text
    assert (ans.tokens, ans.crc, ans.text) == (want["tokens"], want["crc"], want["text"])
    assert counters["prompt_tokens"] == want["prompt_tokens"] and counters["gen_tokens"] == len(want["tokens"])
    assert want["complete"]
