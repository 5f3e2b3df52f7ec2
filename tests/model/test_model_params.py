"""NeedleModel.build: canonical names, shapes checked against the config."""
import numpy as np
import pytest

from thimble.model import CheckpointError, NeedleModel, tensor_specs
from thimble.model.synth import tiny_config


def _tensors(cfg):
    return {n: np.zeros(s.shape, np.float32) for n, s in tensor_specs(cfg).items()}


def test_canonical_names_and_shapes():
    cfg = tiny_config()
    specs = tensor_specs(cfg)
    assert specs["embed"].shape == (96, 32)
    assert specs["enc.0.attn.q"].shape == (32, 32)          # [out, in]
    assert specs["enc.1.attn.k"].shape == (16, 32)          # 2 kv heads x 8
    assert specs["dec.1.cross_attn.o"].shape == (32, 32)
    assert specs["dec.0.self_attn.q_norm"].shape == (8,)
    assert specs["dec.0.cross_gate"].shape == ()
    assert not any(".ffn" in n for n in specs)
    assert not specs["contrastive.proj.w"].required
    ffn = tensor_specs(tiny_config(no_feedforward=False))
    assert ffn["enc.0.ffn.gate"].shape == (64, 32) and ffn["dec.1.ffn.down"].shape == (32, 64)


def test_build_converts_to_float32_and_keeps_scalars_scalar():
    cfg = tiny_config()
    t = {n: a.astype(np.float16) for n, a in _tensors(cfg).items()}
    m = NeedleModel.build(cfg, t)
    assert m["enc.0.attn_gate"].shape == () and m["enc.0.attn_gate"].dtype == np.float32
    assert all(a.flags.c_contiguous and a.dtype == np.float32 for a in m.tensors.values())


def test_missing_tensor_is_named_with_its_shape():
    cfg = tiny_config()
    t = _tensors(cfg)
    del t["dec.1.cross_attn.v"]
    with pytest.raises(CheckpointError, match=r"'dec.1.cross_attn.v' is missing \(expected shape \(16, 32\)\)"):
        NeedleModel.build(cfg, t)


def test_misshaped_tensor_names_both_shapes():
    cfg = tiny_config()
    t = _tensors(cfg)
    t["enc.0.attn.k"] = np.zeros((32, 16), np.float32)       # [in, out] by mistake
    with pytest.raises(CheckpointError, match=r"'enc.0.attn.k': expected shape \(16, 32\), got \(32, 16\)"):
        NeedleModel.build(cfg, t)


def test_all_problems_are_listed():
    cfg = tiny_config()
    t = _tensors(cfg)
    del t["embed"]
    t["enc.final_norm"] = np.zeros(31, np.float32)
    with pytest.raises(CheckpointError) as e:
        NeedleModel.build(cfg, t)
    assert "'embed' is missing" in str(e.value) and "'enc.final_norm'" in str(e.value)


def test_unexpected_tensors_are_reported_or_refused():
    cfg = tiny_config()
    t = _tensors(cfg)
    t["enc.5.attn.q"] = np.zeros((32, 32), np.float32)
    m = NeedleModel.build(cfg, t)
    assert "enc.5.attn.q" not in m and any("enc.5.attn.q" in n for n in m.notes)
    with pytest.raises(CheckpointError, match="unexpected"):
        NeedleModel.build(cfg, t, strict=True)


def test_non_finite_and_non_float_values_are_refused():
    cfg = tiny_config()
    t = _tensors(cfg)
    t["dec.0.self_norm"] = np.full(32, np.nan, np.float32)
    with pytest.raises(CheckpointError, match="NaN"):
        NeedleModel.build(cfg, t)
    t = _tensors(cfg)
    t["embed"] = np.zeros((96, 32), np.int8)
    with pytest.raises(CheckpointError, match="not a float"):
        NeedleModel.build(cfg, t)


def test_optional_heads_may_be_absent():
    cfg = tiny_config()
    t = {n: a for n, a in _tensors(cfg).items() if not n.startswith("contrastive")}
    assert "contrastive.proj.w" not in NeedleModel.build(cfg, t)
