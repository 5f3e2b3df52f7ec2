"""SHA-valid images the runtime cannot run, deployed to a board that already
serves a model: COMMIT answers E_IMAGE, nothing is committed, and the board
keeps answering with the model it had, bit for bit; never a fault or a hang.
The outside pass's tokenizer image (USER_DEFINED pieces that are single bytes
of multi-byte characters) HardFaulted watch_m4 on "set a timer for ten
minutes" and hung RUN when it was the active model. The host refuses the same
image (the same rule in the Python payload reader)."""
import dataclasses

import pytest

from device_harness import MODEL, TOOLS, still_serving, tiny_image
from thimble.boards.board import load_board
from thimble.firmware.emulator import Emulator
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
    from thimble.app.prompt import PromptError
    host = Session(images[0], "c:portable")
    with pytest.raises(PromptError, match="non-empty"):
        host.ask("", TOOLS[:3])
    dup = [TOOLS[0], dict(TOOLS[1], name=TOOLS[0]["name"])]
    with pytest.raises(PromptError, match="repeated name"):
        host.ask(QUERY, dup)


def dup_request():
    """A request whose tools' wire form names one tool twice (made by hand:
    thimble's own request builder refuses to make it)."""
    import json
    import struct
    from thimble.app.request import REQ_MAGIC, REQ_VERSION, tools_wire
    tools = json.dumps([{"name": "set_timer", "parameters": {"minutes": {}}},
                        {"name": "set_timer", "parameters": {"seconds": {}}}], separators=(",", ":"))
    q, tj = QUERY.encode(), tools.encode()
    w = tools_wire(tools)
    return REQ_MAGIC + struct.pack("<HHIIII", REQ_VERSION, 8, len(q), len(tj), len(w), 0) + q + tj + w


def test_host_and_board_refuse_a_request_with_one_message(board, link_elf, images, tmp_path):
    from thimble.app.prompt import PromptError
    from thimble.sim.device_checks import check_request
    with pytest.raises(PromptError) as host:
        check_request(dup_request())
    with Emulator(board, flash=tmp_path / "flash.bin", elf=link_elf) as emu, emu.connect() as ser:
        link = LinkClient(ser)
        link.deploy(images[0].read_bytes())
        from thimble.app.request import parse_answer
        _, out = link.run_raw(dup_request())
        ans = parse_answer(out)
    assert ans.status == -1 and ans.text == str(host.value) == "tools: repeated name, or repeated key in one tool"


def test_the_host_refuses_the_image(images):
    from thimble.sim.device_checks import CModelError
    from thimble.tokenizer.payload import parse_payload
    from thimble.image import parse_image
    with pytest.raises(CModelError, match="tokenizer refused: tokenizer piece is not whole UTF-8") as e:
        Session(images[1])                  # the board's own check (thm_app_check), through cffi
    assert e.value.code == -2               # THM_APP_E_NO_MODEL, as the board answers
    with pytest.raises(TokenizerModelError, match="not whole UTF-8"):
        parse_payload(parse_image(images[1].read_bytes()).tokenizer)     # and the Python reader agrees


def test_a_board_refuses_it_and_keeps_serving(board, link_elf, images, tmp_path):
    good, bad = images
    want = Session(good, "c:portable").ask(QUERY, TOOLS[:3])
    with Emulator(board, flash=tmp_path / "flash.bin", elf=link_elf) as emu, emu.connect() as ser:
        link = LinkClient(ser)
        link.deploy(good.read_bytes())
        _, ans = link.run(QUERY, TOOLS[:3])
        assert (ans.tokens, ans.crc) == (want["tokens"], want["crc"])
        with pytest.raises(LinkError) as e:
            link.deploy(bad.read_bytes())       # the host refuses it first
        assert e.value.status == "E_IMAGE" and "not whole UTF-8" in str(e.value)
        with pytest.raises(LinkError) as e:
            link.deploy(bad.read_bytes(), check=False)
        kept = "previous model stays active" if load_board(board).model_slots == 2 else "no model until"
        assert e.value.status == "E_IMAGE" and kept in str(e.value)
        still_serving(link, board, good, want, QUERY, TOOLS[:3])   # the good model, bit for bit


