import numpy as np
import pytest

from thimble.model.synth import random_model, tiny_config
from thimble.quant import calibrate, quantize, random_prompts


@pytest.fixture(scope="session")
def small_float():
    cfg = tiny_config(vocab_size=300, d_model=64, num_heads=4, num_kv_heads=2, num_encoder_layers=2,
                      num_decoder_layers=2, max_seq_len=64)
    return random_model(cfg, seed=3, weight_scale=4)


@pytest.fixture(scope="session")
def small_quant(small_float):
    cal = calibrate(small_float, random_prompts(small_float.config, n=6, length=24))
    return quantize(small_float, cal)


@pytest.fixture(scope="session")
def prompts(small_float):
    return [np.asarray(p) for p in random_prompts(small_float.config, n=3, length=20, seed=9)] + \
        [np.array([7], dtype=np.int64)]
