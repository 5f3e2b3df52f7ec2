"""A small random Needle 2 and its .cact, shared by the tests here."""
import pytest

from needle2_models import TINY, mixed_bits, random_params
from thimble.needle2 import Needle2Config, build_cact, validate


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
