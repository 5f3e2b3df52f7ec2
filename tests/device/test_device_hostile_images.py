"""SHA-valid images the runtime cannot run, deployed to a board that already
serves a model: COMMIT answers E_IMAGE, nothing is committed, and the board
keeps answering with the model it had, bit for bit; never a fault or a hang.
The outside pass's tokenizer image (USER_DEFINED pieces that are single bytes
of multi-byte characters) HardFaulted watch_m4 on "set a timer for ten
minutes" and hung RUN when it was the active model. The host refuses the same
image (the same rule in the Python payload reader)."""
import dataclasses

import pytest

from device_harness import MODEL, TOOLS, tiny_image
from thimble.emulate import Emulator
from thimble.link.client import LinkClient, LinkError
from thimble.sim.session import Session
from thimble.tokenizer import TokenizerModelError, load_model
from thimble.tokenizer.payload import build_payload
from thimble.tokenizer.spm_model import NORMAL, USER_DEFINED

QUERY = "set a timer for ten minutes"


def partial_utf8_tokenizer():
    spm = load_model(str(MODEL / "tokenizer.model"))
    pieces, types = list(spm.pieces), list(spm.types)
    for i, text in zip([i for i, k in enumerate(types) if k == NORMAL][-3:], (b"\xe2", b"\x96", b"\xef")):
        pieces[i], types[i] = text, USER_DEFINED
    return build_payload(dataclasses.replace(spm, pieces=tuple(pieces), types=tuple(types)))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    good = tiny_image(d / "good.thm")
    from thimble.image import parse_image
    from thimble.quant import from_image, to_image
    qm, _ = from_image(good.read_bytes())
    bad = d / "tok_partial_utf8_user_piece.thm"
    bad.write_bytes(to_image(qm, partial_utf8_tokenizer()))
    assert parse_image(bad.read_bytes()).tokenizer     # SHA-valid, tokenizer carried
    return good, bad


def test_the_host_refuses_requests_the_device_refuses(images):
    """Defect 5 of the outside pass: the simulator answered an empty query and
    took arguments from the wrong one of two tools with the same name, while
    the board refuses both (thm_app_parse_request: 1..1024 query bytes;
    thm_grammar_tools_init: THM_GRAMMAR_E_DUP)."""
    from thimble.prompt import PromptError
    host = Session(images[0], "c:portable")
    with pytest.raises(PromptError, match="non-empty"):
        host.ask("", TOOLS[:3])
    dup = [TOOLS[0], dict(TOOLS[1], name=TOOLS[0]["name"])]
    with pytest.raises(PromptError, match="repeated name"):
        host.ask(QUERY, dup)


def test_the_host_refuses_the_image(images):
    with pytest.raises(TokenizerModelError, match="not whole UTF-8"):
        Session(images[1])


def test_a_board_refuses_it_and_keeps_serving(board, link_elf, images, tmp_path):
    good, bad = images
    want = Session(good, "c:portable").ask(QUERY, TOOLS[:3])
    with Emulator(board, flash=tmp_path / "flash.bin", elf=link_elf) as emu, emu.connect() as ser:
        link = LinkClient(ser)
        link.deploy(good.read_bytes())
        active = link.hello()["active"]
        _, ans = link.run(QUERY, TOOLS[:3])
        assert (ans.tokens, ans.crc) == (want["tokens"], want["crc"])
        with pytest.raises(LinkError) as e:
            link.deploy(bad.read_bytes())       # the host refuses it first
        assert e.value.status == "E_IMAGE" and "not whole UTF-8" in str(e.value)
        with pytest.raises(LinkError) as e:
            link.deploy(bad.read_bytes(), check=False)
        assert e.value.status == "E_IMAGE" and "previous model stays active" in str(e.value)
        info = link.hello()
        assert info["active"] == active and info["slots"][active]["sha256"] == good.read_bytes()[32:64].hex()
        _, ans = link.run(QUERY, TOOLS[:3])                # still the good model, bit for bit
        assert ans.ok and (ans.tokens, ans.crc) == (want["tokens"], want["crc"])



def test_an_arena_over_4_gib_is_refused_on_the_board_never_run(board, link_elf, tmp_path):
    """The outside pass's other image: 2^20 positions, 26 decoder layers, heads of width 2, a real
    tokenizer. Its true arena is over 4 GiB; a 32-bit plan used to wrap (tests/cmodel/
    test_arena_32bit.py runs the plan itself on the Cortex-M4). Factory-placed as the active model
    (7 MB: too slow to send over QEMU's UART), the board answers RUN with the arena refusal; the
    host's factory tool refuses to place it at all."""
    from thimble.boards.board import load_board
    from thimble.device_batch import run_batch
    from thimble.link.factory import board_geometry, journal_sector, slot_layout
    from thimble.model.synth import random_model, tiny_config
    from thimble.quant import calibrate, quantize, random_prompts, to_image
    b = load_board(board)
    cfg = tiny_config(vocab_size=768, d_model=128, num_heads=64, num_kv_heads=32, num_encoder_layers=1,
                      num_decoder_layers=26, d_ff=8, max_seq_len=64)
    fm = random_model(cfg, seed=1)
    qm = quantize(fm, calibrate(fm, random_prompts(cfg, n=1, length=8, seed=1), decode_tokens=2), rope_n_pos=1 << 20)
    data = to_image(qm, build_payload(load_model(str(MODEL / "tokenizer.model"))))
    flash_size, sector = board_geometry(b)
    base, slot_size = slot_layout(flash_size, sector)
    if len(data) > slot_size:
        pytest.skip(f"{board}: a {len(data):,}-byte image is larger than a model slot ({slot_size:,} bytes)")
    # placed by hand: the factory tool (link/factory.py) now refuses it on the host, as deploy does
    head = journal_sector(len(data), data[32:64], sector) + b"\xff" * sector
    (tmp_path / "flash.bin").write_bytes(head + b"\xff" * (base - len(head)) + data
                                         + b"\xff" * (flash_size - base - len(data)))
    (a, _), = run_batch(board, None, [(QUERY, TOOLS[:3])], elf=link_elf, flash=tmp_path / "flash.bin")
    assert a.status == -3 and a.text == "model needs more arena than this board has", a.text
    from thimble.link.factory import FactoryError, write_board_flash
    with pytest.raises(FactoryError, match="exceeds 2 GiB"):
        write_board_flash(tmp_path / "refused.bin", data, b)
