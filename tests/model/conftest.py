import pytest

from thimble.model.synth import random_model, tiny_config


@pytest.fixture(scope="session")
def tiny():
    """A small GQA model (d 32, 4 q / 2 kv heads, 2 + 2 layers, vocab 96)."""
    return random_model(tiny_config(), seed=1)


@pytest.fixture(scope="session")
def sharp():
    """The same shape with 8x larger matrices: attention that is far from
    uniform, so a wrong mask or position shows in the logits."""
    return random_model(tiny_config(), seed=2, weight_scale=8.0)
