"""NeedleConfig: the original defaults, validation, the released shape."""
import dataclasses

import numpy as np
import pytest

from thimble.model import RELEASED, ConfigError, NeedleConfig, parameter_count, tensor_specs

# TransformerConfig of cactus-compute/needle 1c6fa93, needle/model/architecture.py
ORIGINAL_DEFAULTS = dict(vocab_size=8192, d_model=128, num_heads=4, num_kv_heads=2, num_encoder_layers=2,
                         num_decoder_layers=2, d_ff=512, max_seq_len=128, pad_token_id=0, rope_theta=10000.0,
                         dtype="bfloat16", activation="drelu", num_memory_slots=64, dropout_rate=0.1,
                         contrastive_dim=128, no_feedforward=True)


def test_every_original_field_with_its_default():
    assert NeedleConfig().to_dict() == ORIGINAL_DEFAULTS


def test_from_dict_fills_defaults_and_reports_unknown_keys():
    cfg, ignored = NeedleConfig.from_dict({"d_model": 64, "num_heads": 4, "num_kv_heads": 1,
                                           "pretrain_lr": 3e-4, "engram_layers": [2]})
    assert cfg.d_model == 64 and cfg.num_kv_heads == 1
    assert cfg.vocab_size == 8192 and cfg.rope_theta == 10000.0 and cfg.no_feedforward is True
    assert ignored == ["engram_layers", "pretrain_lr"]


def test_from_dict_accepts_numpy_scalars():
    cfg, _ = NeedleConfig.from_dict({"d_model": np.int64(64), "rope_theta": np.float32(500.0),
                                     "no_feedforward": np.bool_(True)})
    assert cfg.d_model == 64 and isinstance(cfg.d_model, int) and cfg.rope_theta == 500.0


@pytest.mark.parametrize("d, match", [
    (dict(d_model=100, num_heads=8), "divisible by num_heads"),
    (dict(num_heads=6, num_kv_heads=4, d_model=96), "divisible by num_kv_heads"),
    (dict(d_model=36, num_heads=4), "odd"),
    (dict(pad_token_id=8192), "outside the vocabulary"),
    (dict(num_encoder_layers=0), "at least 1"),
    (dict(vocab_size=-1), "at least 1"),
    (dict(rope_theta=float("nan")), "rope_theta"),
    (dict(dtype="int8"), "dtype"),
    (dict(activation="gelu"), "activation"),
    (dict(dropout_rate=1.5), "dropout_rate"),
    (dict(d_model="512"), "integer"),
    (dict(d_model=True), "integer"),
    (dict(d_model=512.0), "integer"),
    (dict(no_feedforward=1), "true or false"),
    (dict(rope_theta="1e4"), "number"),
])
def test_refuses_impossible_configs(d, match):
    with pytest.raises(ConfigError, match=match):
        NeedleConfig.from_dict(d)


def test_constructor_validates_too():
    with pytest.raises(ConfigError):
        NeedleConfig(d_model=30, num_heads=4)
    with pytest.raises(ConfigError):
        NeedleConfig(num_heads=2.0)


def test_from_dict_refuses_non_dicts_and_non_string_keys():
    with pytest.raises(ConfigError):
        NeedleConfig.from_dict([("d_model", 64)])
    with pytest.raises(ConfigError):
        NeedleConfig.from_dict({1: 2})


def test_derived_sizes():
    c = NeedleConfig(d_model=512, num_heads=8, num_kv_heads=4)
    assert (c.head_dim, c.q_dim, c.kv_dim, c.kv_groups) == (64, 512, 256, 2)


def test_explicit_dict_rebuilds_the_config():
    c = NeedleConfig(vocab_size=100, d_model=64, rope_theta=500.0)
    d = c.explicit_dict()
    assert "vocab_size" in d and "rope_theta" in d and "d_model" in d
    assert "pad_token_id" not in d          # default, and not a trainer key
    assert NeedleConfig.from_dict(d)[0] == c


def test_released_model_shape_and_parameter_count():
    c = RELEASED
    assert (c.num_encoder_layers, c.num_decoder_layers, c.d_model, c.num_heads, c.num_kv_heads,
            c.head_dim, c.vocab_size, c.rope_theta, c.no_feedforward) == (12, 8, 512, 8, 4, 64, 8192, 10000.0, True)
    specs = tensor_specs(c)
    n = lambda prefix: sum(int(np.prod(s.shape)) for k, s in specs.items() if k.startswith(prefix))
    assert n("embed") == 4_194_304                              # 4.19M
    assert round(n("enc.0.") / 1e6, 2) == 0.79                  # each encoder layer
    assert round(n("dec.0.") / 1e6, 2) == 1.57                  # each decoder layer
    total = parameter_count(c)
    assert total == 26_315_421 and round(total / 1e6, 1) == 26.3   # needle-v1.md: about 26.3M
    assert parameter_count(c, optional=False) == total - 82_049    # less the retrieval head


def test_larger_and_smaller_shapes_of_the_family_build():
    for kw in (dict(d_model=768, num_heads=12, num_kv_heads=6, num_encoder_layers=16, num_decoder_layers=16),
               dict(d_model=16, num_heads=1, num_kv_heads=1, num_encoder_layers=1, num_decoder_layers=1,
                    vocab_size=8)):
        c = dataclasses.replace(RELEASED, **kw)
        assert parameter_count(c) > 0
