"""Needle 2's engram slots: engram_hash on every backend against the
reference, and the reference against the original's own indices (the JAX
code's engram_indices on the tiny golden prompt) and thimble's float forward."""
import pathlib

import numpy as np
import pytest

from thimble.kernels import get_backend
from thimble.needle2 import Needle2Config
from thimble.needle2.forward import engram_indices

REF = get_backend("reference")
GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "needle2" / "data" / "tiny_golden.npz"


@pytest.mark.parametrize("orders,heads,slots", [((2, 3), 2, 8192), ((1,), 1, 1), ((2, 3, 4, 16), 3, 1 << 24),
                                                ((5,), 64, 97)])
def test_bit_exact(kernel, orders, heads, slots):
    rng = np.random.default_rng(slots)
    hist = rng.integers(0, 1 << 31, 40).astype(np.int32)       # ids past any vocabulary: uint32 wraps
    hist[:3] = [0, (1 << 31) - 1, 12345]
    pos = np.arange(40, dtype=np.int32)
    assert np.array_equal(kernel.engram_hash(hist, pos, orders, heads, slots),
                          REF.engram_hash(hist, pos, orders, heads, slots))


def test_the_originals_indices():
    """tiny_golden.npz's engram_indices (24 positions, orders 2 and 3, one head, 64 slots)
    are the original JAX code's; positions before an order's reach read as slot 0 there
    (masked by the model), -1 here."""
    with np.load(GOLDEN) as g:
        tokens, want = g["tokens"], g["engram_indices"]
    got = REF.engram_hash(tokens, np.arange(24, dtype=np.int32), (2, 3), 1, 64)
    ok = got >= 0
    assert ok[:, 0].tolist() == [False] + [True] * 23 and ok[:, 1].tolist() == [False] * 2 + [True] * 22
    assert np.array_equal(got[ok], want[ok])


def test_the_float_forward_agrees():
    cfg = Needle2Config(vocab_size=512, d_model=512, num_heads=8, num_kv_heads=4, num_layers=4,
                        engram_layers=(1,), engram_slots=8192)
    hist = np.random.default_rng(3).integers(14, 512, 30).astype(np.int32)
    got = REF.engram_hash(hist, np.arange(30, dtype=np.int32), cfg.engram_orders, cfg.engram_hash_heads, cfg.engram_slots)
    for t in range(30):
        idx, ok = engram_indices(hist, t, cfg)
        assert [i if k else -1 for i, k in zip(idx, ok)] == got[t].tolist()


def test_refused(kernel):
    with pytest.raises(ValueError):
        kernel.engram_hash(np.array([1, -2], np.int32), np.array([1], np.int32), (2,), 1, 64)
    with pytest.raises(ValueError):
        kernel.engram_hash(np.array([1, 2], np.int32), np.array([2], np.int32), (2,), 1, 64)
    with pytest.raises(ValueError):
        kernel.engram_hash(np.array([1, 2], np.int32), np.array([1], np.int32), (2,), 1, 0)
