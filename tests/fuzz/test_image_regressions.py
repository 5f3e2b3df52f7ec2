"""The crafted images of issue 10 under image/regressions/ (the image fuzz
harness replays every file there): each is made here, from the project's own
writers, and must equal the committed file, so a change to the writers that
alters them is noticed. Each is SHA-valid and refused by the board app's own
check (thm_app_check, here through cffi) and by the Python readers, with the
board's message and code.

  tok_partial_utf8_user_piece.thm   USER_DEFINED pieces E2, 96, EF (tests/fuzz/seeds.py
                                    makes it): watch_m4 HardFaulted on "set a timer for
                                    ten minutes" (the encoder split one byte into three
                                    symbols, past its scratch)
  tok_lone_lead_byte_piece.thm      one USER_DEFINED piece, E2: RUN was never answered

The arena plan that wrapped a 32-bit size_t has no file here: its RoPE table
alone is 4 bytes a position and the wrap needs ~2^20 positions (7 MB);
tests/cmodel/test_arena_32bit.py makes it on the fly."""
import dataclasses
import pathlib

import pytest

import seeds
from thimble.sim.c_model import CModelError, app_check
from thimble.tokenizer import TokenizerModelError
from thimble.tokenizer.payload import parse_payload

REGRESSIONS = pathlib.Path(__file__).resolve().parent / "image" / "regressions"
THM_APP_E_NO_MODEL = -2


def lone_lead_byte_image():
    """The fuzz corpus's tiny model with one NORMAL piece of watch-tiny's
    tokenizer turned into the USER_DEFINED piece b"\\xe2" (the lead byte of
    U+2581, the space marker every prompt carries)."""
    from thimble.quant import from_image, to_image
    from thimble.tokenizer import load_model
    from thimble.tokenizer.payload import build_payload
    from thimble.tokenizer.spm_model import NORMAL, USER_DEFINED
    spm = load_model(str(seeds.MODEL / "tokenizer.model"))
    pieces, types = list(spm.pieces), list(spm.types)
    last = [i for i, k in enumerate(types) if k == NORMAL][-1]
    pieces[last], types[last] = b"\xe2", USER_DEFINED
    qm, _ = from_image(seeds.tiny_image())
    return to_image(qm, build_payload(dataclasses.replace(spm, pieces=tuple(pieces), types=tuple(types))))


MAKERS = {"tok_partial_utf8_user_piece.thm": seeds.partial_utf8_image,
          "tok_lone_lead_byte_piece.thm": lone_lead_byte_image}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_committed_regression_is_current(name):
    made = MAKERS[name]()
    assert len(made) < 64 << 10, f"{name}: {len(made)} bytes, over the 64 KB a regression may take"
    assert (REGRESSIONS / name).read_bytes() == made, \
        f"{name} differs from what {MAKERS[name].__name__}() makes now: regenerate it (see README there)"


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_the_app_check_and_the_python_reader_refuse_it(name):
    from thimble.image import parse_image
    data = (REGRESSIONS / name).read_bytes()
    img = parse_image(data, verify_hash=True)          # SHA-valid: only the runtime's checks stand in the way
    with pytest.raises(CModelError) as e:
        app_check(data)
    assert e.value.code == THM_APP_E_NO_MODEL
    assert str(e.value) == "tokenizer refused: tokenizer piece is not whole UTF-8 characters"
    with pytest.raises(TokenizerModelError, match="not whole UTF-8 characters"):
        parse_payload(img.tokenizer)


def test_the_tiny_model_itself_passes_the_app_check():
    """The regressions differ from a loadable image only in their tokenizer."""
    got = app_check(seeds.tiny_image())
    assert got["max_enc"] == 96 and got["need"] > 0


def regenerate():
    for name, make in MAKERS.items():
        (REGRESSIONS / name).write_bytes(make())
        print(f"{REGRESSIONS / name}: written")


if __name__ == "__main__":
    regenerate()
