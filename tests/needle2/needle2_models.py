"""The small random Needle 2 the tests here share (conftest.py makes fixtures
of it; a test module imports from here, since every tests/ directory has a
conftest of its own and `import conftest` would find any of them)."""
import numpy as np

from thimble.needle2 import cact_format as F

TINY = dict(vocab_size=300, d_model=64, num_heads=4, num_kv_heads=2, num_layers=4, engram_layers=(1, 3),
            engram_slots=64, max_seq_len=64)


def random_params(cfg, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape) * (0.1 if kind == "matrix" else 0.3)
            for name, shape, kind in F.tensor_order(cfg)}


def mixed_bits(name):
    """Every width the format has, ternary included, and fp16 matrices."""
    if name.endswith("q_proj"):
        return 4
    if name.endswith("gate_proj"):
        return 5
    if name.endswith("k_proj"):
        return 3
    if name.endswith("value_proj"):
        return None
    return 2
