"""Needle 2's integer pipeline (numpy specification) against the float
forward on the same CQ weights: the tiny golden model, CQ2, per-layer
cosine, logits and top-1; prefill and step-by-step decode give the same
integers; the pieces it adds (sigmoid in Q15, the FWHT) against float."""
import numpy as np
import pytest

from test_golden import tiny
from thimble.needle2 import Needle2Float
from thimble.needle2.int_forward import IntNeedle2, calibrate, cq_model


@pytest.fixture(scope="module")
def model():
    cfg, params = tiny()
    mats, fparams = cq_model(cfg, params, bits=2)
    rng = np.random.default_rng(11)
    cal = calibrate(cfg, fparams, [rng.integers(14, cfg.vocab_size, 40) for _ in range(2)])
    return cfg, mats, fparams, cal, rng.integers(14, cfg.vocab_size, 48)


def cosine(a, b):
    return np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def test_integer_tracks_float(model):
    cfg, mats, fparams, cal, tokens = model
    fm, hidden = Needle2Float(cfg, fparams, window=0), []
    fm.probe = lambda name, layer, v: hidden.append(v.mean(axis=1)) if name == "lanes" and layer > 0 else None
    f = fm.run(tokens)
    im = IntNeedle2(cfg, mats, fparams, cal)
    i = im.run(tokens)
    per_layer = [float(cosine(a, b).min()) for a, b in zip(hidden, im.trace.hidden)]
    print(f"tiny CQ2, 48 tokens: per-layer min cosine {[round(c, 5) for c in per_layer]}, "
          f"logits {cosine(f, i).min():.5f}, top-1 {np.mean(f.argmax(-1) == i.argmax(-1)):.3f}")
    assert len(per_layer) == cfg.num_layers and min(per_layer) > 0.998
    assert cosine(f, i).min() > 0.998 and np.mean(f.argmax(-1) == i.argmax(-1)) >= 0.95


def test_decode_steps_are_the_prefill(model):
    """The integers of a step (KV cache, engram history, conv) are the prefill's row for row."""
    cfg, mats, fparams, cal, tokens = model
    full = IntNeedle2(cfg, mats, fparams, cal).run(tokens[:20])
    im = IntNeedle2(cfg, mats, fparams, cal)
    first = im.run(tokens[:12])
    steps = np.array([im.run([t])[0] for t in tokens[12:20]])
    assert np.array_equal(first, full[:12]) and np.array_equal(steps, full[12:20])


@pytest.mark.parametrize("window,sinks", [(8, 0), (8, 4)])
def test_window_and_sinks(model, window, sinks):
    """The window in the prefill and in the steps: the float forward's logits at the same
    window, and the steps the prefill's integers."""
    cfg, mats, fparams, cal, tokens = model
    f = Needle2Float(cfg, fparams, window=window, sinks=sinks).run(tokens[:24])
    full = IntNeedle2(cfg, mats, fparams, cal, window=window, sinks=sinks).run(tokens[:24])
    assert cosine(f, full).min() > 0.998 and np.mean(f.argmax(-1) == full.argmax(-1)) >= 0.95
    im = IntNeedle2(cfg, mats, fparams, cal, window=window, sinks=sinks)
    im.run(tokens[:16])
    steps = np.array([im.run([t])[0] for t in tokens[16:24]])
    assert np.array_equal(steps, full[16:24])
    assert not np.array_equal(full, IntNeedle2(cfg, mats, fparams, cal, window=0).run(tokens[:24]))
