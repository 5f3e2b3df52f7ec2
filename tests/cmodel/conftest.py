"""Quantized random models of several shapes for the C runtime tests, built
once per session (small, so the whole directory runs in seconds)."""
import numpy as np
import pytest

from cmodel_models import SHAPES, make_quant
from thimble.quant import to_image


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
