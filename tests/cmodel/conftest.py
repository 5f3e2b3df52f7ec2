"""Quantized random models of several shapes for the C runtime tests, built
once per session (small, so the whole directory runs in seconds)."""
import numpy as np
import pytest

from thimble.model.synth import random_model, tiny_config
from thimble.quant import calibrate, quantize, random_prompts, to_image

# (name, config overrides): head counts, GQA/MQA/MHA, odd head counts, layer counts
SHAPES = [
    ("gqa", dict(vocab_size=300, d_model=64, num_heads=4, num_kv_heads=2, num_encoder_layers=2,
                 num_decoder_layers=2, max_seq_len=40)),
    ("mqa_deep_dec", dict(vocab_size=97, d_model=48, num_heads=6, num_kv_heads=1, num_encoder_layers=1,
                          num_decoder_layers=3, max_seq_len=24)),
    ("mha_deep_enc", dict(vocab_size=64, d_model=40, num_heads=4, num_kv_heads=4, num_encoder_layers=3,
                          num_decoder_layers=1, max_seq_len=16)),
]


def make_quant(overrides, seed):
    cfg = tiny_config(**overrides)
    fm = random_model(cfg, seed=seed, weight_scale=4)
    cal = calibrate(fm, random_prompts(cfg, n=3, length=min(12, cfg.max_seq_len), seed=seed), decode_tokens=6)
    return quantize(fm, cal)


@pytest.fixture(scope="session", params=SHAPES, ids=[s[0] for s in SHAPES])
def quant(request):
    return make_quant(request.param[1], seed=len(request.param[0]))


@pytest.fixture(scope="session")
def gqa_quant():
    return make_quant(SHAPES[0][1], seed=5)


@pytest.fixture(scope="session")
def gqa_image(gqa_quant):
    return to_image(gqa_quant)


def _prompt(config, n, seed):
    return np.random.default_rng(seed).integers(6, config.vocab_size, n).astype(np.int32)


@pytest.fixture(scope="session")
def prompt():
    """prompt(config, n, seed) -> n random non-special token ids."""
    return _prompt
