"""The link server's own bring-up checks (TEST FLASH, SLOTS, FILL) against
its C code on the host (ASan): the flash test uses the journal's idle log
sector and leaves the journal working; SLOTS finds a slot whose bytes
changed under it; FILL is bounded; the app's ops are refused where no app
handler is installed."""
import pytest

from thimble.link import format as F
from thimble.link.client import LinkError

SECTOR = 4096


def test_fill_returns_its_pattern_and_is_bounded(link):
    head, out = link.test("FILL", F.MAX_OUTPUT)
    assert head["status"] == "OK" and out == bytes((i * 7 + 1) & 0xFF for i in range(F.MAX_OUTPUT))
    with pytest.raises(LinkError) as e:
        link.test("FILL", F.MAX_OUTPUT + 1)
    assert e.value.status == "E_LENGTH"


def test_the_flash_test_leaves_the_journal_in_charge(start_server, connect, imgs, tmp_path):
    a, b = imgs
    flash = tmp_path / "flash.bin"
    link = connect(start_server(flash))
    link.deploy(a)
    for _ in range(2):
        head, _ = link.test("FLASH")
        assert (head["status"], head["v0"], head["v1"]) == ("OK", SECTOR, F.TEST_NO_FAULT)
    link.deploy(b)                                  # the journal appends and compacts as before
    link.ser.close()
    again = connect(start_server(flash))            # and a restart reads it
    assert again.hello()["slots"][again.hello()["active"]]["sha256"] == b[32:64].hex()


def test_slots_finds_a_slot_whose_bytes_changed(start_server, connect, imgs, tmp_path):
    a, _ = imgs
    flash = tmp_path / "flash.bin"
    link = connect(start_server(flash))
    head, _ = link.test("SLOTS")
    assert (head["status"], head["v0"]) == ("OK", 0)
    link.deploy(a)
    head, _ = link.test("SLOTS")
    assert (head["status"], head["v0"], head["v1"]) == ("OK", 1, 0)
    data = bytearray(flash.read_bytes())
    data[2 * SECTOR + 1000] ^= 0x10                 # slot 0 starts after the two log sectors
    flash.write_bytes(bytes(data))
    head, _ = link.test("SLOTS")
    assert (head["status"], head["v0"], head["v1"]) == ("E_HASH", 1, 1)


@pytest.mark.parametrize("op", ["IDENT", "MEMORY", "STACK"])
def test_the_apps_checks_need_the_app(link, op):
    with pytest.raises(LinkError) as e:
        link.test(op)
    assert e.value.status == "E_CMD"


def test_a_kernel_job_must_be_the_staged_request(link):
    link.stage(b"x" * 300)
    with pytest.raises(LinkError) as e:
        link.test("KERNEL", 299, 0)                 # names another stage
    assert e.value.status == "E_STATE"
