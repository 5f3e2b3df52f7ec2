"""A link flash with one model slot (a board's `model_slots = 1`: watch_m4,
whose 16 MiB holds one int4 Needle 26M and not two), against the device's C
server on the host (ASan): the slot is the whole flash, a deploy replaces the
model, a refused or cut deploy leaves no model (never a wrong one), a cut
deploy resumes from the journal, and ROLLBACK has nothing to go back to."""
import pytest

from thimble.link import format as F
from thimble.link.client import LinkError
from thimble.link.factory import FactoryError, slot_layout, write_flash

SECTOR = 4096
FLASH = 1 << 20


def who_answers(link):
    """The SHA-256 the server computes from the active slot's flash (its RUN handler says it)."""
    _, out = link.run_raw(b"?")
    return out.split(b":", 1)[0].decode()


@pytest.fixture
def one(start_server, tmp_path):
    return lambda **kw: start_server(tmp_path / "flash.bin", slots=1, **kw)


def test_the_one_slot_is_the_whole_flash_and_the_factory_agrees(one, connect, imgs, tmp_path):
    h = connect(one()).hello()
    assert h["slot_size"] == FLASH - 2 * SECTOR == slot_layout(FLASH, SECTOR, 1)[1]
    assert [s["state"] for s in h["slots"]] == ["EMPTY"] and h["active"] is None
    a, _ = imgs
    flash = tmp_path / "factory.bin"
    assert write_flash(flash, a, FLASH, SECTOR, 1) == (2 * SECTOR, FLASH - 2 * SECTOR)
    with pytest.raises(FactoryError, match="1 .. 2"):
        slot_layout(FLASH, SECTOR, 3)


def test_a_deploy_replaces_the_model_in_its_slot(one, connect, imgs):
    a, b = imgs
    link = connect(one())
    assert (link.deploy(a).slot, who_answers(link)) == (0, a[32:64].hex())
    assert link.deploy(a).status == "same"
    res = link.deploy(b)
    assert (res.status, res.slot) == ("deployed", 0) and who_answers(link) == b[32:64].hex()
    h = link.hello()
    assert h["active"] == 0 and len(h["slots"]) == 1


def test_a_refused_image_leaves_no_model_never_a_wrong_one(one, connect, imgs):
    a, b = imgs
    link = connect(one())
    link.deploy(a)
    bad = bytearray(b)
    bad[-100] ^= 1                                       # B's hash, other bytes
    with pytest.raises(LinkError) as e:
        link.deploy(bytes(bad), check=False)
    assert e.value.status == "E_HASH" and "no model until a deploy completes" in str(e.value)
    h = link.hello()
    assert h["active"] is None and h["slots"][0]["state"] == "PARTIAL"
    res = link.deploy(a)                                 # the host still holds the image: deploy it again
    assert (res.status, res.resumed_from) == ("deployed", 0) and who_answers(link) == a[32:64].hex()


def test_a_power_cut_mid_write_resumes_from_the_journal(one, connect, imgs):
    a, b = imgs
    srv = one()
    assert connect(srv).deploy(a).status == "deployed"
    srv.kill()
    srv = one(cut_after_programs=10)     # B's BEGIN record, 8 sectors, a PROGRESS record, then the cut
    with pytest.raises(LinkError):
        connect(srv, timeout=0.5, retries=1).deploy(b)
    assert srv.wait() == 3 and "power cut" in srv.log()
    link = connect(one())
    h = link.hello()
    assert h["active"] is None                           # A was retired before its first sector was erased
    assert (h["slots"][0]["state"], h["slots"][0]["sha256"], h["slots"][0]["written"]) == \
        ("PARTIAL", b[32:64].hex(), 8 * SECTOR)
    res = link.deploy(b)
    assert (res.resumed_from, res.bytes_sent) == (8 * SECTOR, len(b) - 8 * SECTOR)
    assert who_answers(link) == b[32:64].hex()


def test_rollback_has_nothing_to_go_back_to(one, connect, imgs):
    a, b = imgs
    link = connect(one())
    link.deploy(a)
    link.deploy(b)
    with pytest.raises(LinkError, match="one model slot") as e:
        link.rollback()
    assert e.value.status == "E_STATE" and who_answers(link) == b[32:64].hex()
    link.info = None                                     # the device's own answer, past the client's check
    r, _ = link._unpack("STATUS_R", link.request("ROLLBACK"))
    assert (r["status"], r["slot"]) == (F.STATUS["E_STATE"], 0xFF)
