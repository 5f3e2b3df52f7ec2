"""A small random Needle 2 and its .cact, shared by the tests here."""
import numpy as np
import pytest

from thimble.needle2 import Needle2Config, build_cact, validate
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


@pytest.fixture(scope="session")
def tiny_cfg():
    return validate(Needle2Config(**TINY))


@pytest.fixture(scope="session")
def tiny_params(tiny_cfg):
    return random_params(tiny_cfg)


@pytest.fixture(scope="session")
def tiny_blob(tiny_cfg, tiny_params):
    pieces = [(b"<pad>", 0.0, "control"), (b"</s>", 0.0, "control"), (b"<s>", 0.0, "control"),
              (b"<unk>", 0.0, "unknown")] + [(f"p{i}".encode(), -float(i), "normal") for i in range(4, 300)]
    return build_cact(tiny_cfg, tiny_params, bits=mixed_bits, tokenizer=pieces)
