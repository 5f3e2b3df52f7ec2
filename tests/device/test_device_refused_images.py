"""Deploys a 32-bit watch must refuse at COMMIT (issue 10), on one booted
board per watch: a good image first, then each crafted image, SHA-valid
every one. COMMIT answers E_IMAGE (the app's own check, thm_app_check, runs
before the A/B switch), nothing is committed, and RUN keeps answering with
the good model bit for bit: no HardFault, no hang (every link call has its
timeout). The 32-bit watches are the point (their size_t is 32 bits); the
AArch64 glasses are left out to keep the time down.

  tok_lone_lead_byte_piece.thm   one USER_DEFINED piece E2 (tests/fuzz/image/regressions):
                                 with it active, RUN was never answered
  arena over the board           2 MiB and 3 MiB arenas; this image plans 3.7 MB
                                 (8,192 positions, 8 decoder layers): refused by the
                                 64-bit comparison of the app's whole layout

And the plan that wrapped, factory-placed on watch_m55 (the watch whose slot
holds 11.6 MB; watch_m4's holds 1 MB): RUN answers the app's refusal with
the host's code and message. With the plan's 2 GiB cap taken out (the old
32-bit plan) the app accepted this image and the board HardFaulted (QEMU
exit 127) on the first RUN.
"""
import pytest

from device_harness import ROOT, TOOLS, still_serving, tiny_image
from thimble.firmware.emulator import Emulator
from thimble.boards import board_names, load_board
from thimble.link.client import LinkClient, LinkError
from thimble.sim.c_model import CModelError, app_check
from thimble.sim.session import Session

QUERY = "set a timer for ten minutes"
WATCHES = tuple(b for b in board_names() if load_board(b).family == "cortex-m")   # the 32-bit watches
REGRESSIONS = ROOT / "tests" / "fuzz" / "image" / "regressions"


def arena_over_board_image():
    """144 KB: d_model 16 in 8 heads of 2, 1 + 8 layers, 8,192 RoPE positions,
    watch-tiny's tokenizer. It loads on the host (no arena budget there) and
    needs 3.7 MB of arena on a board, over both watches' arenas."""
    from thimble.model.synth import random_model, tiny_config
    from thimble.quant import calibrate, quantize, random_prompts, to_image
    from thimble.tokenizer import load_model
    from thimble.tokenizer.payload import build_payload
    cfg = tiny_config(vocab_size=768, d_model=16, num_heads=8, num_kv_heads=8, num_encoder_layers=1,
                      num_decoder_layers=8, d_ff=8, max_seq_len=96)
    fm = random_model(cfg, seed=1)
    qm = quantize(fm, calibrate(fm, random_prompts(cfg, n=1, length=8, seed=1), decode_tokens=2), rope_n_pos=8192)
    return to_image(qm, build_payload(load_model(str(ROOT / "models" / "watch-tiny" / "tokenizer.model"))))


@pytest.fixture
def watch(board):
    if board not in WATCHES:
        pytest.skip(f"{board}: the 32-bit watches only")
    return board


def test_arena_image_loads_on_the_host_but_needs_more_than_a_watch_has():
    got = app_check(arena_over_board_image())
    assert got["need"] > 3 << 20          # over watch_m4's 3 MiB and watch_m55's 2 MiB


def test_a_watch_refuses_crafted_images_at_commit_and_keeps_serving(watch, link_elf, tmp_path):
    good = tiny_image(tmp_path / "good.thm")
    want = Session(good, "c:portable").ask(QUERY, TOOLS[:3])
    crafted = {"tok_lone_lead_byte_piece": (REGRESSIONS / "tok_lone_lead_byte_piece.thm").read_bytes(),
               "arena_over_board": arena_over_board_image()}
    with Emulator(watch, flash=tmp_path / "flash.bin", elf=link_elf) as emu, emu.connect() as ser:
        link = LinkClient(ser)
        link.deploy(good.read_bytes())
        for name, image in crafted.items():
            with pytest.raises(LinkError) as e:
                link.deploy(image, check=False)        # the host's own check would stop it first
            assert e.value.status == "E_IMAGE", (name, str(e.value))
            still_serving(link, watch, good, want, QUERY, TOOLS[:3])


def wrapping_image():
    """11.6 MB: d_model 192 in 96 heads of 2 (KV as wide), 1 + 32 layers,
    313,260 RoPE positions: 14,016 arena bytes a position, 4 GiB + 372 KB in
    all, which a 32-bit size_t wraps to 372 KB. The position count is picked
    so that the wrapped plan plus the app's other buffers (tokenizer scratch,
    logits, 4 bytes a prompt position) fit watch_m55's 2 MiB arena: the old
    app took it for a small model and ran it."""
    from thimble.model.synth import random_model, tiny_config
    from thimble.quant import calibrate, quantize, random_prompts, to_image
    from thimble.tokenizer import load_model
    from thimble.tokenizer.payload import build_payload
    cfg = tiny_config(vocab_size=768, d_model=192, num_heads=96, num_kv_heads=96, num_encoder_layers=1,
                      num_decoder_layers=32, d_ff=8, max_seq_len=64)
    fm = random_model(cfg, seed=1)
    qm = quantize(fm, calibrate(fm, random_prompts(cfg, n=1, length=8, seed=1), decode_tokens=2), rope_n_pos=313260)
    return to_image(qm, build_payload(load_model(str(ROOT / "models" / "watch-tiny" / "tokenizer.model"))))


def factory_flash(path, board, image):
    """The board's flash with `image` committed in slot 0, as thimble's factory
    writes it but without its host check (which refuses this image first)."""
    from thimble.boards.board import load_board
    from thimble.link.factory import ERASED, board_geometry, journal_sector, slot_layout
    size, sector, slots = board_geometry(load_board(board))
    base, slot = slot_layout(size, sector, slots)
    assert len(image) <= slot
    path.write_bytes(journal_sector(len(image), image[32:64], sector) + ERASED * sector + image
                     + ERASED * (size - base - len(image)))
    return path


def test_watch_m55_refuses_the_plan_that_wrapped_32_bits(board, link_elf, tmp_path):
    if board != "watch_m55":
        pytest.skip(f"{board}: watch_m55 only (its slot holds the 11.6 MB image)")
    from thimble.firmware.batch import run_batch_raw
    from thimble.app.request import build_request
    image = wrapping_image()
    with pytest.raises(CModelError) as host:
        app_check(image)
    flash = factory_flash(tmp_path / "flash.bin", board, image)
    req = build_request(QUERY, TOOLS[:3], 8)[0]
    ans, = run_batch_raw(board, None, [req], timeout=120, elf=link_elf, flash=flash)
    assert (ans.status, ans.text) == (host.value.code, str(host.value)) == \
        (-3, "model refused: its arena plan exceeds 2 GiB, the most any runtime plans")
