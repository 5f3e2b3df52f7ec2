"""The integer model: identical on every backend, faithful to the float model,
and the same after a round trip through a .thm image."""
import numpy as np
import pytest

from thimble.kernels import get_backend
from thimble.model import FloatNeedle
from thimble.model.synth import random_model, tiny_config
from thimble.quant import QuantizeError, calibrate, from_image, quantize, random_prompts, to_image
from thimble.sim import IntNeedle


def run(qm, backend, prompt, steps=6):
    im = IntNeedle(qm, get_backend(backend))
    enc = im.encode(prompt)
    st = im.start_decoder(enc)
    toks, tok, logits = [], 1, []
    for _ in range(steps):
        lg = im.decode_step(st, tok)
        logits.append(lg)
        tok = int(np.argmax(lg))
        toks.append(tok)
    return enc, toks, st.crc, np.array(logits)


@pytest.mark.parametrize("backend", ["c", "c:portable", "numba"])
def test_backends_match_reference(small_quant, prompts, backend):
    for i, p in enumerate(prompts):
        want = run(small_quant, "reference", p)
        got = run(small_quant, backend, p)
        assert np.array_equal(want[0], got[0]), f"prompt {i}: encoder output differs on {backend}"
        assert want[1] == got[1] and want[2] == got[2], f"prompt {i}: tokens/crc differ on {backend}"
        assert np.array_equal(want[3], got[3]), f"prompt {i}: logits differ on {backend}"


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_fidelity_to_float(small_float, small_quant, prompts):
    fm = FloatNeedle(small_float, np.float64)
    im = IntNeedle(small_quant, get_backend("c"))
    s = small_quant.scales
    for p in prompts[:3]:
        ef = fm.encode(p[None], return_layers=True)
        out, layers = im.encode(p, return_layers=True)
        for i, (lf, li) in enumerate(zip(ef.layers, layers)):
            assert cosine(lf[0], li * s["enc.stream"]) > 0.999, f"encoder layer {i}"
        assert cosine(ef.hidden[0], out * s["enc.final_norm"]) > 0.995
        # decoder logits: top-1 agrees with the float model on a teacher-forced sequence
        cache = fm.start_decoder(ef)
        st = im.start_decoder(out)
        agree = 0
        seq = [1] + [int(t) for t in p[:7]]
        for tok in seq:
            lf = fm.decode_step(cache, [[tok]])[0, -1]
            li = im.decode_step(st, tok)
            agree += int(np.argmax(lf) == np.argmax(li))
        assert agree >= len(seq) - 1, f"top-1 agreement {agree}/{len(seq)}"


def test_image_round_trip_runs_identically(small_quant, prompts):
    qm2, img = from_image(to_image(small_quant, source_id=b"test"))
    for name, a in small_quant.tensors.items():
        assert np.array_equal(a, qm2.tensors[name]), name
    assert run(small_quant, "c", prompts[0])[1:3] == run(qm2, "c", prompts[0])[1:3]


def test_image_missing_tensor_is_named(small_quant):
    from thimble.quant.quantize import QuantModel
    t = dict(small_quant.tensors)
    del t["dec.1.cross_attn.k_norm.mult"]
    with pytest.raises(ValueError, match="dec.1.cross_attn.k_norm.mult"):
        to_image(QuantModel(small_quant.config, t, small_quant.rope_n_pos, {}))


def test_feedforward_models_are_refused():
    m = random_model(tiny_config(no_feedforward=False), seed=1)
    with pytest.raises(QuantizeError, match="feed-forward"):
        quantize(m, calibrate(m, random_prompts(m.config, n=1, length=4), decode_tokens=1))


def test_negative_norm_gain_is_refused_with_its_name():
    m = random_model(tiny_config(), seed=1)
    m.tensors["enc.1.attn_norm"][3] = -2.0
    with pytest.raises(QuantizeError, match="enc.1.attn.norm"):
        quantize(m, calibrate(m, random_prompts(m.config, n=1, length=4), decode_tokens=1))
