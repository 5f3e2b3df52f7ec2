"""The float reference forward: shapes, causality, KV cache, padding, and
agreement with a second, loop-by-loop implementation of the architecture.

(The vectorised forward was also held against the original flax module of
cactus-compute/needle; docs/checkpoints.md has the numbers. That check needs
jax, flax and the original source, so it is not part of this suite.)"""
import math

import numpy as np
import pytest

from thimble.model import FloatNeedle, load_checkpoint
from thimble.model.synth import random_model, save_needle_pickle, tiny_config

SRC = np.array([[7, 12, 33, 5, 41, 9, 60, 18], [25, 8, 14, 90, 3, 0, 0, 0]])
TGT = np.array([[1, 4, 22, 57, 31, 11], [1, 4, 70, 2, 19, 44]])


def test_shapes(tiny):
    fm = FloatNeedle(tiny)
    enc = fm.encode(SRC, return_layers=True)
    assert enc.hidden.shape == (2, 8, 32) and enc.mask.shape == (2, 8)
    assert len(enc.layers) == 1 + tiny.config.num_encoder_layers
    logits, layers = fm.decode(enc, TGT, return_layers=True)
    assert logits.shape == (2, 6, 96) and len(layers) == 1 + tiny.config.num_decoder_layers
    assert logits.dtype == np.float32
    one = fm.encode(SRC[0])                     # a 1-D prompt is a batch of one
    assert one.hidden.shape == (1, 8, 32)


def test_later_decoder_tokens_do_not_change_earlier_logits(sharp):
    fm = FloatNeedle(sharp)
    enc = fm.encode(SRC)
    base = fm.decode(enc, TGT)
    changed = TGT.copy()
    changed[:, 4] = [88, 6]
    other = fm.decode(enc, changed)
    np.testing.assert_array_equal(other[:, :4], base[:, :4])
    assert np.abs(other[:, 4:] - base[:, 4:]).max() > 1e-3


def test_kv_cache_decoding_equals_full_recompute(sharp):
    fm = FloatNeedle(sharp)
    enc = fm.encode(SRC)
    full = fm.decode(enc, TGT)
    cache = fm.start_decoder(enc)
    steps = [fm.decode_step(cache, TGT[:, i:i + 1]) for i in range(TGT.shape[1])]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=0, atol=2e-5)
    cache = fm.start_decoder(enc)                # chunks of 2, 1, 3
    chunks = [fm.decode_step(cache, TGT[:, a:b]) for a, b in ((0, 2), (2, 3), (3, 6))]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), full, rtol=0, atol=2e-5)
    assert cache.length == 6 and cache.self_k[0].shape == (2, 2, 6, 8)
    assert cache.cross_k[1].shape == (2, 2, 8, 8)


def test_padding_is_masked(sharp):
    fm = FloatNeedle(sharp)
    short = SRC[1:, :5]                                          # the real tokens of prompt 1
    padded = np.concatenate([short, np.zeros((1, 7), int)], axis=1)
    e1, e2 = fm.encode(short), fm.encode(padded)
    np.testing.assert_allclose(e2.hidden[:, :5], e1.hidden, atol=2e-5)
    np.testing.assert_allclose(fm.decode(e2, TGT[1:]), fm.decode(e1, TGT[1:]), atol=2e-5)
    # and the pad id really is what is masked: another filler token changes the answer
    filler = padded.copy()
    filler[:, 5:] = 17
    assert np.abs(fm.decode(fm.encode(filler), TGT[1:]) - fm.decode(e1, TGT[1:])).max() > 1e-3


def test_batch_rows_are_independent(sharp):
    fm = FloatNeedle(sharp)
    both = fm.decode(fm.encode(SRC), TGT)
    for b in range(2):
        np.testing.assert_allclose(both[b:b + 1], fm.decode(fm.encode(SRC[b:b + 1]), TGT[b:b + 1]), atol=2e-5)


def test_fully_padded_prompt_gives_uniform_cross_attention_not_nan(tiny):
    fm = FloatNeedle(tiny)
    enc = fm.encode(np.zeros((1, 4), int))
    assert np.all(np.isfinite(fm.decode(enc, [[1, 5]])))


def test_float32_agrees_with_float64(sharp):
    a = FloatNeedle(sharp).forward(SRC, TGT)
    b = FloatNeedle(sharp, dtype=np.float64).forward(SRC, TGT)
    assert b.dtype == np.float64
    np.testing.assert_allclose(a, b, atol=5e-5)


def test_rope_depends_only_on_the_relative_position(tiny):
    fm = FloatNeedle(tiny, dtype=np.float64)
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(1, 1, 1, 8)), rng.normal(size=(1, 1, 1, 8))
    dots = [float((fm.rope(q, [p + 3]) * fm.rope(k, [p])).sum()) for p in (0, 5, 40)]
    np.testing.assert_allclose(dots, dots[0], rtol=1e-12)
    assert not np.allclose(fm.rope(q, [1]), q)
    np.testing.assert_allclose(np.linalg.norm(fm.rope(q, [7])), np.linalg.norm(q))
    # half split: dimension i pairs with i + hd/2, at frequency theta^(-2i/hd)
    e = np.zeros((1, 1, 1, 8))
    e[..., 1] = 1.0
    r = fm.rope(e, [2])[0, 0, 0]
    f = 10000.0 ** (-2 / 8)
    np.testing.assert_allclose([r[1], r[5]], [math.cos(2 * f), math.sin(2 * f)], rtol=1e-12)
    assert np.count_nonzero(np.abs(r) > 1e-12) == 2


def test_zcrmsnorm(tiny):
    fm = FloatNeedle(tiny, dtype=np.float64)
    x = np.array([3.0, -4.0])
    np.testing.assert_allclose(fm.norm(x, np.array([0.0, 1.0])), [3.0, -8.0] / np.sqrt(12.5 + 1e-6))


def test_token_validation(tiny):
    fm = FloatNeedle(tiny)
    with pytest.raises(ValueError):
        fm.encode([[1, 96]])
    with pytest.raises(ValueError):
        fm.encode([[1.0, 2.0]])
    with pytest.raises(ValueError):
        FloatNeedle(tiny, dtype=np.float16)


def test_loaded_checkpoint_runs_like_the_model(tiny, tmp_path):
    p = tmp_path / "m.pkl"
    save_needle_pickle(tiny, p, dtype=np.float32)
    np.testing.assert_array_equal(FloatNeedle(load_checkpoint(p)).forward(SRC, TGT), FloatNeedle(tiny).forward(SRC, TGT))


def test_greedy(sharp):
    out = FloatNeedle(sharp).greedy(SRC[0], max_new_tokens=5)
    assert len(out) <= 5 and all(0 <= t < 96 for t in out)


# --- a second implementation, one token and one head at a time ----------

def _loop_reference(m, src, tgt):
    c, w = m.config, {k: v.astype(np.float64) for k, v in m.tensors.items()}
    hd, H, KV = c.head_dim, c.num_heads, c.num_kv_heads

    def norm(x, g):
        return (1 + g) * x / math.sqrt(float(np.mean(x * x)) + 1e-6)

    def rot(v, pos):
        out = v.copy()
        for i in range(hd // 2):
            a = pos * c.rope_theta ** (-2 * i / hd)
            out[i] = v[i] * math.cos(a) - v[i + hd // 2] * math.sin(a)
            out[i + hd // 2] = v[i + hd // 2] * math.cos(a) + v[i] * math.sin(a)
        return out

    def attention(p, xq, xkv, allowed, rope):
        out = []
        for t, x in enumerate(xq):
            heads = []
            for h in range(H):
                g = h // (H // KV)                               # the kv head this query head reads
                q = norm((w[f"{p}.q"] @ x)[h * hd:(h + 1) * hd], w[f"{p}.q_norm"])
                q = rot(q, t) if rope else q
                scores, values = [], []
                for s, y in enumerate(xkv):
                    k = norm((w[f"{p}.k"] @ y)[g * hd:(g + 1) * hd], w[f"{p}.k_norm"])
                    k = rot(k, s) if rope else k
                    scores.append(q @ k / math.sqrt(hd) if allowed(t, s) else -np.inf)
                    values.append((w[f"{p}.v"] @ y)[g * hd:(g + 1) * hd])
                e = np.exp(np.array(scores) - max(scores))
                heads.append(sum(pi * v for pi, v in zip(e / e.sum(), values)))
            out.append(w[f"{p}.o"] @ np.concatenate(heads))
        return out

    sig = lambda s: 1 / (1 + math.exp(-float(s)))
    x = [w["embed"][t] * math.sqrt(c.d_model) for t in src]
    keep = [t != c.pad_token_id for t in src]
    for i in range(c.num_encoder_layers):
        h = [norm(v, w[f"enc.{i}.attn_norm"]) for v in x]
        a = attention(f"enc.{i}.attn", h, h, lambda t, s: keep[s], True)
        x = [v + sig(w[f"enc.{i}.attn_gate"]) * u for v, u in zip(x, a)]
    enc = [norm(v, w["enc.final_norm"]) for v in x]
    y = [w["embed"][t] * math.sqrt(c.d_model) for t in tgt]
    for i in range(c.num_decoder_layers):
        h = [norm(v, w[f"dec.{i}.self_norm"]) for v in y]
        a = attention(f"dec.{i}.self_attn", h, h, lambda t, s: s <= t, True)
        y = [v + sig(w[f"dec.{i}.self_gate"]) * u for v, u in zip(y, a)]
        h = [norm(v, w[f"dec.{i}.cross_norm"]) for v in y]
        a = attention(f"dec.{i}.cross_attn", h, enc, lambda t, s: keep[s], False)
        y = [v + sig(w[f"dec.{i}.cross_gate"]) * u for v, u in zip(y, a)]
    return np.array([w["embed"] @ norm(v, w["dec.final_norm"]) for v in y])


def test_matches_a_loop_by_loop_implementation():
    m = random_model(tiny_config(vocab_size=40, d_model=24, num_heads=6, num_kv_heads=2, num_encoder_layers=2,
                                 num_decoder_layers=1, rope_theta=50.0), seed=5, weight_scale=6.0)
    src, tgt = [3, 9, 17, 25, 0, 0], [1, 4, 30, 12]
    ref = _loop_reference(m, src, tgt)
    ours = FloatNeedle(m, dtype=np.float64).forward([src], [tgt])[0]
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)
    assert np.abs(ref).max() > 0.5              # a forward with something to compare
