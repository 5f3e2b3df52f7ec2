"""thm_model_bind refuses a bad image and names the first bad tensor; the
arena and call-order checks refuse clearly. Images are built with the image
writer directly, so the C side sees exactly what a hostile file could hold."""
import numpy as np
import pytest

from thimble.image import Tensor, build_image
from thimble.quant import tensors as T
from thimble.quant.image import image_config
from thimble.sim.c_model import CModel, CModelError, ffi, lib


def image(qm, drop=(), replace=None, extra=(), config=None):
    """qm's image with tensors dropped, replaced ({name: array}) or added."""
    replace = replace or {}
    ts = [Tensor(n, np.ascontiguousarray(replace.get(n, qm.tensors[n])))
          for n in T.tensor_table(qm.config, qm.rope_n_pos) if n not in drop]
    ts += [Tensor(n, a) for n, a in extra]
    return build_image(dict(image_config(qm), **(config or {})), ts)


def refused(img, code, tensor):
    with pytest.raises(CModelError) as e:
        CModel(img)
    assert e.value.code == getattr(lib, code), str(e.value)
    assert e.value.tensor == tensor
    if tensor:
        assert tensor in str(e.value)


def test_good_image_binds(gqa_quant):
    assert CModel(image(gqa_quant)).vocab_size == gqa_quant.config.vocab_size


def test_missing_tensor_named(gqa_quant):
    refused(image(gqa_quant, drop=["dec.1.cross_attn.v.shift"]), "THM_MODEL_E_MISSING", "dec.1.cross_attn.v.shift")
    refused(image(gqa_quant, drop=["rope.sin"]), "THM_MODEL_E_MISSING", "rope.sin")


def test_misshaped_tensor_named(gqa_quant):
    q = gqa_quant.tensors["enc.1.attn.q"]
    refused(image(gqa_quant, replace={"enc.1.attn.q": q[:-1]}), "THM_MODEL_E_SHAPE", "enc.1.attn.q")
    k = gqa_quant.tensors["enc.1.attn.k"]             # [KV, d], not square
    refused(image(gqa_quant, replace={"enc.1.attn.k": k.T.copy()}), "THM_MODEL_E_SHAPE", "enc.1.attn.k")
    cos = gqa_quant.tensors["rope.cos"]
    refused(image(gqa_quant, replace={"rope.cos": cos.astype(np.int32)}), "THM_MODEL_E_SHAPE", "rope.cos")
    refused(image(gqa_quant, replace={"model.consts": np.zeros(5, np.int32)}), "THM_MODEL_E_SHAPE", "model.consts")


def test_out_of_range_shift_named(gqa_quant):
    s = gqa_quant.tensors["dec.0.self_attn.k.shift"].copy()
    s[3] = 31
    refused(image(gqa_quant, replace={"dec.0.self_attn.k.shift": s}), "THM_MODEL_E_RANGE", "dec.0.self_attn.k.shift")
    s = gqa_quant.tensors["logits.shift"].copy()
    s[-1] = -32
    refused(image(gqa_quant, replace={"logits.shift": s}), "THM_MODEL_E_RANGE", "logits.shift")


@pytest.mark.parametrize("field,value", [("diff_max", -1), ("gate_shift", 31), ("score_shift", -32),
                                         ("norm_eps_hi", 1 << 8), ("k_norm_eps_hi", -1)])
def test_out_of_range_consts_named(gqa_quant, field, value):
    c = gqa_quant.tensors["dec.1.self_attn.consts"].copy()
    c[T.BLOCK[field]] = value
    refused(image(gqa_quant, replace={"dec.1.self_attn.consts": c}), "THM_MODEL_E_RANGE", "dec.1.self_attn.consts")


def test_model_eps_out_of_range(gqa_quant):
    c = gqa_quant.tensors["model.consts"].copy()
    c[T.MODEL["dec_final_eps_hi"]] = 1 << 9          # 2^41 > 2^40
    refused(image(gqa_quant, replace={"model.consts": c}), "THM_MODEL_E_RANGE", "model.consts")


def test_extra_tensor_named(gqa_quant):
    refused(image(gqa_quant, extra=[("enc.9.attn.q", np.zeros((2, 2), np.int8))]), "THM_MODEL_E_EXTRA", "enc.9.attn.q")


@pytest.mark.parametrize("field,value", [("weight_bits", 4), ("head_dim", 8), ("n_kv_heads", 3),
                                         ("n_dec_layers", 0), ("n_enc_layers", 33)])
def test_bad_config_refused(gqa_quant, field, value):
    refused(image(gqa_quant, config={field: value}), "THM_MODEL_E_CONFIG", "")


def test_config_layers_must_match_tensors(gqa_quant):
    # one more decoder layer than the image has tensors for: the first missing one is named
    refused(image(gqa_quant, config={"n_dec_layers": 3}), "THM_MODEL_E_MISSING", "dec.2.self_attn.norm.mult")


def test_arena_too_small_refused(gqa_image):
    cm = CModel(gqa_image, max_enc=10, max_dec=5)
    need = cm.arena_size(10, 5)
    assert need == cm.arena_bytes
    assert cm.arena_size(20, 5) > need and cm.arena_size(10, 6) > need
    m = ffi.new("thm_model *")
    assert lib.thm_model_bind(m, cm._img) == 0
    buf = np.zeros(need + 128, np.uint8)
    at = (-buf.ctypes.data) % 64
    base = ffi.cast("uint8_t *", buf.ctypes.data) + at
    assert lib.thm_model_init(m, base, need - 1, 10, 5) == lib.THM_MODEL_E_ARENA
    assert lib.thm_model_init(m, base + 1, need, 10, 5) == lib.THM_MODEL_E_ARENA      # misaligned
    assert lib.thm_model_init(m, base, need, 10, cm.max_dec_len + 1) == lib.THM_MODEL_E_ARG
    assert lib.thm_model_init(m, base, need, 10, 5) == 0
    with pytest.raises(CModelError):
        cm.arena_size(0, 5)


def test_call_order_and_tokens_refused(gqa_image):
    cm = CModel(gqa_image, max_enc=10, max_dec=5)
    with pytest.raises(CModelError, match="no prompt encoded"):
        cm.decode_step(1)
    with pytest.raises(CModelError, match="1 to 10 tokens"):
        cm.encode(np.arange(11) + 6)
    with pytest.raises(CModelError, match="token outside"):
        cm.encode([6, cm.vocab_size])
    cm.encode([6, 7])
    with pytest.raises(CModelError, match="vocabulary"):
        cm.decode_step(-1)


def test_corrupt_image_refused(gqa_image):
    bad = bytearray(gqa_image)
    bad[-1] ^= 1
    with pytest.raises(CModelError, match="image refused"):
        CModel(bytes(bad))


def test_tensor_order_does_not_matter(gqa_quant):
    """Binding searches from the last match and wraps: any order binds the same model."""
    names = list(T.tensor_table(gqa_quant.config, gqa_quant.rope_n_pos))[::-1]
    shuffled = build_image(image_config(gqa_quant), [Tensor(n, gqa_quant.tensors[n]) for n in names])
    runs = []
    for img in (image(gqa_quant), shuffled):
        cm = CModel(img, max_enc=6, max_dec=3)
        cm.encode([6, 9, 12])
        runs.append((cm.decode_step(1).tolist(), cm.crc))
    assert runs[0] == runs[1]
