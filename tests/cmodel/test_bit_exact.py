"""The C runtime == IntNeedle on the reference kernels (the specification):
encoder output, every step's logits, and the hidden-state CRC, bit for bit."""
import numpy as np

from thimble.kernels import get_backend
from thimble.quant import to_image
from thimble.sim import IntNeedle
from thimble.sim.c_model import CModel


def reference_run(qm, tokens, steps):
    im = IntNeedle(qm, get_backend("reference"))
    enc = im.encode(tokens)
    st = im.start_decoder(enc)
    tok, logits = 1, []
    for _ in range(steps):
        lg = im.decode_step(st, tok)
        logits.append(lg)
        tok = int(np.argmax(lg))
    return enc, np.array(logits), st.crc


def c_run(cm, tokens, steps):
    cm.encode(tokens)
    enc = cm.encoder_out
    tok, logits = 1, []
    for _ in range(steps):
        lg = cm.decode_step(tok)
        logits.append(lg)
        tok = int(np.argmax(lg))
    return enc, np.array(logits), cm.crc


def assert_same_runs(want, got, n):
    """Two (encoder output, logits, crc) runs of n prompt tokens are one."""
    assert np.array_equal(want[0], got[0]), f"{n} tokens: encoder output differs"
    assert np.array_equal(want[1], got[1]), f"{n} tokens: logits differ"
    assert want[2] == got[2] != 0, f"{n} tokens: hidden crc differs"


def test_c_matches_reference(quant, prompt):
    cm = CModel(to_image(quant))
    n_pos = quant.rope_n_pos
    # length 1, odd lengths, the maximum; the same CModel re-encodes each prompt
    for n, steps in ((1, 3), (7, 5), (n_pos - 2 | 1, 4), (n_pos, 6)):
        toks = prompt(quant.config, n, seed=n)
        assert_same_runs(reference_run(quant, toks, steps), c_run(cm, toks, steps), n)


def test_decoder_fills_to_max_dec(gqa_quant, prompt):
    """Every decoder position up to the arena's max_dec, then a clear refusal."""
    max_dec = 12
    cm = CModel(to_image(gqa_quant), max_enc=9, max_dec=max_dec)
    toks = prompt(gqa_quant.config, 9, seed=1)
    want = reference_run(gqa_quant, toks, max_dec)
    got = c_run(cm, toks, max_dec)
    assert np.array_equal(want[1], got[1]) and want[2] == got[2]
    assert cm.length == max_dec
    try:
        cm.decode_step(1)
    except ValueError as e:
        assert "decoder full" in str(e)
    else:
        raise AssertionError("decode past max_dec was accepted")


def test_argmax_and_encoder_out_lifetime(gqa_quant, prompt):
    cm = CModel(to_image(gqa_quant), max_enc=8, max_dec=4)
    cm.encode(prompt(gqa_quant.config, 5, seed=2))
    assert cm.encoder_out.shape == (5, gqa_quant.config.d_model)
    other = CModel(to_image(gqa_quant), max_enc=8, max_dec=4)
    other.encode(prompt(gqa_quant.config, 5, seed=2))
    lg = cm.decode_step(1)
    assert other.decode_argmax(1) == int(np.argmax(lg)) and other.crc == cm.crc
    try:
        cm.encoder_out
    except ValueError as e:
        assert "reused" in str(e)
    else:
        raise AssertionError("encoder output served after a decode step reused its buffer")


def test_encoder_blocks_follow_the_lent_cache(gqa_quant, prompt):
    """The encoder's attention runs in query blocks as large as the decoder's
    idle cross V^T slots (layers 1..) and self K/V cache allow (max_dec sets
    the latter): one max_dec-1 arena (the arena's own 8-row workspace, one
    idle cross slot of 40 x 32 bytes and little else: blocks of a few rows) and
    a roomy one give the reference's encoder output and steps, for prompts
    that are not a multiple of either block."""
    image = to_image(gqa_quant)
    n_pos = gqa_quant.rope_n_pos
    for max_dec in (1, 2, n_pos):
        cm = CModel(image, max_enc=n_pos, max_dec=max_dec)
        for n in (9, 17, n_pos - 1, n_pos):
            toks = prompt(gqa_quant.config, n, seed=n + max_dec)
            steps = min(max_dec, 3)
            assert_same_runs(reference_run(gqa_quant, toks, steps), c_run(cm, toks, steps), n)
