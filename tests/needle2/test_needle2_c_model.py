"""The Needle 2 C model (runtime/device/needle2) against its specification,
IntNeedle2: the tiny golden model's image, CQ2 and a mixed map (2, 3, 4 bits,
ternary), with and without a window and sinks, every host ISA: the int32
logits of every token equal requantize_s64 of IntNeedle2's sums. Then the
image entry (CONFIG_NEEDLE2, cqB and uint16 tensors) and what the binder
refuses, each with the tensor it names."""
import pathlib

import numpy as np
import pytest

from test_golden import tiny
from thimble.image import format as fmt
from thimble.image.reader import parse_image
from thimble.image.writer import ImageError, Tensor, build_image
from thimble.kernels import c_backend
from thimble.kernels import reference as R
from thimble.needle2 import image as N2I
from thimble.needle2.c_model import N2Model
from thimble.needle2.int_forward import IntNeedle2, calibrate, cq_model
from thimble.sim.c_model import CModel, CModelError

MIXED = {"q_proj": 4, "k_proj": 3, "gate_proj": 5, "value_proj": 4, "mhc_phi_res": 3}


@pytest.fixture(scope="module", params=["cq2", "mixed"])
def spec(request):
    cfg, params = tiny()
    bits = 2 if request.param == "cq2" else (lambda name: MIXED.get(name.split(".")[-1], 2))
    mats, fparams = cq_model(cfg, params, bits=bits)
    rng = np.random.default_rng(11)
    cal = calibrate(cfg, fparams, [rng.integers(14, cfg.vocab_size, 40) for _ in range(2)])
    return cfg, mats, fparams, cal, rng.integers(14, cfg.vocab_size, 40)


def expected(im, tokens):
    """IntNeedle2's logits as the image's int32 (requantize_s64 of its sums, saturated)."""
    img = parse_image(N2I.build(im))
    im.run(tokens)
    mult = img.tensors["logits.mult"].astype(np.int64)[None]
    r = img.tensors["logits.rshift"].astype(np.int64)[None]
    return np.clip(R.requantize_s64(im.last_acc, mult, r), -2**31, 2**31 - 1)


@pytest.mark.parametrize("window,sinks", [(0, 0), (8, 4)])
def test_c_model_is_the_specification(spec, window, sinks):
    cfg, mats, fparams, cal, tokens = spec
    im = IntNeedle2(cfg, mats, fparams, cal, window=window, sinks=sinks)
    image = N2I.build(im)
    want = expected(im, tokens)
    assert len(np.unique(want.argmax(-1))) > 5              # not a degenerate model
    for isa in sorted({"portable", c_backend.best_isa()}):
        m = N2Model(image, max_pos=len(tokens), isa=isa)
        got = m.run(tokens)
        assert np.array_equal(got, want), (isa, np.argwhere(got != want)[:4])
        m.reset()                                            # a new sequence gives the same numbers
        assert np.array_equal(m.run(tokens[:5]), want[:5])


def test_sequence_bounds_and_tokens(spec):
    cfg, mats, fparams, cal, tokens = spec
    m = N2Model(N2I.build(IntNeedle2(cfg, mats, fparams, cal)), max_pos=3)
    with pytest.raises(CModelError, match="token id outside"):
        m.step(cfg.vocab_size)
    m.run(tokens[:3])
    with pytest.raises(CModelError, match="sequence is full"):
        m.step(tokens[3])
    with pytest.raises(CModelError, match="max_pos 65 is outside"):
        N2Model(N2I.build(IntNeedle2(cfg, mats, fparams, cal)), max_pos=cfg.max_seq_len + 1)


@pytest.fixture(scope="module")
def parts():
    cfg, params = tiny()
    mats, fparams = cq_model(cfg, params, bits=2)
    rng = np.random.default_rng(3)
    im = IntNeedle2(cfg, mats, fparams, calibrate(cfg, fparams, [rng.integers(14, cfg.vocab_size, 20)]),
                    window=8, sinks=2)
    return N2I.image_config(im), N2I.image_tensors(im)


def test_image_entry(parts):
    config, tensors = parts
    img = parse_image(build_image(config, tensors, family="needle2"))
    assert img.family == "needle2" and img.config["kv_window"] == 8 and img.config["kv_sinks"] == 2
    assert img.config["engram_layers"][:2] == [1, 3] and img.config["engram_order"][:2] == [2, 3]
    info = img.tensor_info["layer00.q_proj"]
    assert info["dtype"] == "cq2" and info["dims"] == (64, 128) and img.tensors["layer00.q_proj"].shape == (64, 32)
    assert img.tensor_info["layer00.q_proj.norms"]["dtype"] == "uint16"


def refusal(config, tensors):
    with pytest.raises(CModelError) as e:
        N2Model(build_image(config, tensors, family="needle2"), max_pos=4)
    return str(e.value)


def replaced(tensors, name, data, **kw):
    return [Tensor(name, data, **kw) if t.name == name else t for t in tensors]


def test_binder_refusals(parts):
    config, tensors = parts
    assert "missing: layer02.k_norm.eps" in refusal(config, [t for t in tensors if t.name != "layer02.k_norm.eps"])
    assert "does not use: zz.extra" in refusal(config, tensors + [Tensor("zz.extra", np.zeros(4, np.int8))])
    bad = next(t for t in tensors if t.name == "layer01.out_proj.rshift").data.copy()
    bad[3] = 95
    assert "out of range: layer01.out_proj.rshift" in refusal(config, replaced(tensors, "layer01.out_proj.rshift",
                                                                               bad))
    attn = next(t for t in tensors if t.name == "layer03.attn").data.copy()
    attn[1], attn[2] = 5, 1 << 30                  # diff_max << 5 past int32: the softmax's rule
    assert "out of range: layer03.attn" in refusal(config, replaced(tensors, "layer03.attn", attn))
    neg = np.full(64, 2, np.uint8)
    assert "out of range: layer00.d3.neg" in refusal(config, replaced(tensors, "layer00.d3.neg", neg))
    assert "wrong dtype or shape: layer00.q_norm.mult" in refusal(
        config, replaced(tensors, "layer00.q_norm.mult", np.zeros(15, np.int32)))
    assert "not a Needle 2 image" in refusal(dict(config, hada_n=48), tensors)
    assert "not a Needle 2 image" in refusal(dict(config, engram_layers=[3, 1, 0, 0]), tensors)
    # more orders than the config's array holds, with no site to use them (the image fuzz harness)
    assert "not a Needle 2 image" in refusal(dict(config, engram_sites=0, engram_orders=9), tensors)
    # tables x slots past one int32 row index (2 tables here): refused before anything is sized
    assert "not a Needle 2 image" in refusal(dict(config, engram_slots=1 << 24), tensors)


def test_families_refuse_each_other(parts):
    config, tensors = parts
    v1 = pathlib.Path(__file__).parents[1] / "fuzz" / "image" / "corpus" / "tiny.thm"
    assert parse_image(v1.read_bytes()).family == "needle"
    with pytest.raises(CModelError, match="not a Needle 2 image"):
        N2Model(v1)
    with pytest.raises(CModelError, match="image refused"):
        CModel(build_image(config, tensors, family="needle2"))


def test_reader_refusals(parts):
    config, tensors = parts
    with pytest.raises(ImageError, match="multiple of 128"):
        Tensor("w", np.zeros((2, 16), np.uint8), dtype="cq2", dims=(2, 64))
    buf = bytearray(build_image(config, tensors, family="needle2"))
    # the config section's kind made TOKENIZER's: no config section left
    table = parse_image(bytes(buf)).header["section_table"]
    assert int.from_bytes(buf[table:table + 4], "little") == fmt.SECTION_KINDS["CONFIG_NEEDLE2"]
    buf[table:table + 4] = fmt.SECTION_KINDS["TOKENIZER"].to_bytes(4, "little")
    with pytest.raises(ImageError, match="exactly one config section"):
        parse_image(bytes(buf), verify_hash=False)
    with pytest.raises(CModelError, match="required section is missing"):
        N2Model(bytes(buf), verify_hash=False)


@pytest.mark.parametrize("lanes", [2, 3])
def test_other_lane_counts(lanes):
    """The C model's general lane loops (Needle 2 has 4 lanes, which has its own) on a
    random small model with 2 or 3."""
    from needle2_models import TINY, random_params
    from thimble.needle2 import config as C
    cfg = C.validate(C.Needle2Config(**dict(TINY, mhc_lanes=lanes)))
    mats, fparams = cq_model(cfg, random_params(cfg, seed=lanes), bits=2)
    rng = np.random.default_rng(lanes)
    cal = calibrate(cfg, fparams, [rng.integers(0, cfg.vocab_size, 16)])
    tokens = rng.integers(0, cfg.vocab_size, 20)
    im = IntNeedle2(cfg, mats, fparams, cal)
    want = expected(im, tokens)
    assert np.array_equal(N2Model(N2I.build(im), max_pos=20).run(tokens), want)
