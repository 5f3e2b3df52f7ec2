"""Parity with the original Needle 2 (cactus-compute/needle 571fcd6, JAX):
golden outputs of the original code on random weights (tests/needle2/data,
README there says how they were made) against thimble's float forward and
.cact reader. Tolerance as for v1: logits within 2e-4."""
import json
import pathlib

import numpy as np
import pytest

from thimble.needle2 import Needle2Float, read_cact
from thimble.needle2.checkpoint import config_from_dict, load_training_checkpoint, tree_to_tensors

DATA = pathlib.Path(__file__).parent / "data"
TOL = 2e-4


def unflatten(flat):
    tree = {}
    for path, v in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = np.asarray(v)
    return tree


def tiny():
    meta = json.loads((DATA / "tiny.json").read_text())
    cfg = config_from_dict(meta["config"], "tiny.json")
    with np.load(DATA / "tiny_params.npz") as z:
        params = tree_to_tensors(unflatten(dict(z)), cfg, "tiny_params.npz")
    return cfg, params


def max_diff(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def test_tiny_full_forward_matches_the_original():
    cfg, params = tiny()
    with np.load(DATA / "tiny_golden.npz") as g:
        tokens, want = g["tokens"], g["logits_full"]
    got = Needle2Float(cfg, params, window=0).run(tokens)
    d = max_diff(got, want)
    print(f"tiny full forward: max |logit diff| {d:.2e} (largest logit {np.abs(want).max():.2f})")
    assert d < TOL


def test_tiny_cached_decode_matches_the_original():
    cfg, params = tiny()
    with np.load(DATA / "tiny_golden.npz") as g:
        tokens, want = g["tokens"], g["logits_cached"]
    m = Needle2Float(cfg, params, window=0)
    m.run(tokens[:16])
    got = np.array([m.run([t])[0] for t in tokens[16:16 + len(want)]])
    d = max_diff(got, want)
    print(f"tiny cached decode: max |logit diff| {d:.2e}")
    assert d < TOL


@pytest.mark.parametrize("kind,sinks", [("window", 0), ("window_sink", 4)])
def test_tiny_window_and_sinks_match_the_original(kind, sinks):
    """Window 8 (key k visible from q iff k <= q and (q - k < 8 or k is a sink)),
    prefill of 16 then 8 steps, as decode.py runs it (its engram ignores the window)."""
    cfg, params = tiny()
    with np.load(DATA / "tiny_golden.npz") as g:
        tokens, pre, want = g["tokens"], g[f"logits_{kind}_prefill"], g[f"logits_{kind}"]
    m = Needle2Float(cfg, params, window=8, sinks=sinks)
    d_pre = max_diff(m.run(tokens[:16]), pre)
    got = np.array([m.run([t])[0] for t in tokens[16:]])
    d = max_diff(got, want)
    print(f"tiny {kind}: prefill {d_pre:.2e}, steps {d:.2e}")
    assert d_pre < TOL and d < TOL


def base_params():
    """The `base` weights from base.json's rule (numpy alone, byte for byte the golden run's)."""
    meta = json.loads((DATA / "base.json").read_text())
    rng = np.random.default_rng(20261206)
    flat = {}
    for path, shape, mean, std in meta["leaves"]:
        draw = rng.standard_normal(tuple(shape), dtype=np.float64)
        flat[path] = np.asarray(mean + max(std, 0.02) * draw).astype(np.float32)
    cfg = config_from_dict({k: v for k, v in meta["config_effective"].items()}, "base.json")
    return cfg, tree_to_tensors(unflatten(flat), cfg, "base.json")


def test_base_shape_matches_the_original():
    """27 layers, d 512, 8 / 4 heads, engram at 2 and 15, 8192 slots: full
    forward of 16 tokens and a KV-cached decode of the last 4."""
    cfg, params = base_params()
    assert (cfg.num_layers, cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.engram_layers) == (27, 512, 8, 4, (2, 15))
    with np.load(DATA / "base_golden.npz") as g:
        tokens, full, cached = g["tokens"], g["logits_full"], g["logits_cached"]
        pos = g["logits_full_positions"]
    got = Needle2Float(cfg, params, window=0).run(tokens)
    d_full = max_diff(got[pos], full)
    m = Needle2Float(cfg, params, window=0)
    m.run(tokens[:12])
    steps = np.array([m.run([t])[0] for t in tokens[12:]])
    d_cached = max_diff(steps, cached)
    print(f"base: full {d_full:.2e}, cached {d_cached:.2e} (largest logit {np.abs(full).max():.2f})")
    assert d_full < TOL and d_cached < TOL
    assert np.array_equal(got[pos].argmax(-1), full.argmax(-1))


@pytest.mark.parametrize("name", ["tiny_cq2", "tiny_mixed"])
def test_cact_written_by_the_original_exporter_reads_back(name):
    """Every tensor of a .cact the original export.py wrote (CQ2; a mixed map with
    2/3/4 bits and ternary) equals the original's own dequantization."""
    c = read_cact(DATA / f"{name}.cact")
    with np.load(DATA / f"{name}_dequant.npz") as z:
        names = [str(n) for n in z["names"]]
        want = {n: z[f"t{i:03d}"] for i, n in enumerate(names) if n != "tokenizer"}
        bits = {n: int(b) for n, b in zip(names, z["bits"])}
        tok_blob = z[f"t{names.index('tokenizer'):03d}"].tobytes()
    assert list(c.tensors) == [n for n in names if n != "tokenizer"]
    worst = 0.0
    for n, w in want.items():
        assert c.tensors[n].bits == bits[n], n
        got = c.float(n)
        assert got.shape == w.shape, n
        worst = max(worst, max_diff(got, w) / max(float(np.abs(w).max()), 1e-30))
    print(f"{name}: {len(want)} tensors, largest difference {worst:.1e} of a tensor's largest value")
    assert worst < 1e-6                       # the original computes in float32, thimble in float64
    assert len(c.tokenizer) == c.config.vocab_size and tok_blob[:4] == (512).to_bytes(4, "little")
    assert c.specials == (0, 1, 2, 3)


def test_cq2_import_runs_the_model():
    """The model the CQ2 .cact stands for, run from thimble's reading of it and
    from the original's dequantized tensors: the same logits."""
    c = read_cact(DATA / "tiny_cq2.cact")
    assert c.config.kv_window == 160 and c.config.d_model == 64    # the exporter's budget window
    with np.load(DATA / "tiny_cq2_dequant.npz") as z:
        theirs = {str(n): z[f"t{i:03d}"].astype(np.float64) for i, n in enumerate(z["names"]) if n != "tokenizer"}
    with np.load(DATA / "tiny_golden.npz") as g:
        tokens = g["tokens"]
    got = Needle2Float(c.config, c.params(), window=0).run(tokens)
    want = Needle2Float(c.config, theirs, window=0).run(tokens)
    assert max_diff(got, want) < 1e-5


def test_training_checkpoint_loads_as_the_original_wrote_it():
    """tiny_ckpt.pkl: the original run.average_checkpoints' pickle (fp16 params,
    format_version 2), through thimble's restricted unpickler."""
    cfg_ckpt, params = load_training_checkpoint(DATA / "tiny_ckpt.pkl")
    cfg, want = tiny()
    assert cfg_ckpt == cfg
    for name, w in want.items():
        assert np.array_equal(params[name], w.astype(np.float16).astype(np.float64)), name
