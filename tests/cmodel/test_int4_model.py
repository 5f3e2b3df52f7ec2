"""int4 weights through the whole integer model: an image whose projections
are int4 (all of them, or a mixed choice, with or without a board's packed
int8 layout for the rest; and the embedding, which is the tied head, too)
runs bit-exact in the C runtime and in IntNeedle on the reference kernels,
round-trips through the image, and the binder refuses int4 where the model
reads none (the RoPE tables), scale tables of the wrong length and a
weight_bits that does not say what the tensors are."""
import numpy as np
import pytest

from cmodel_models import SHAPES, make_quant
from test_bind_errors import refused
from test_bit_exact import assert_same_runs, c_run, reference_run
from thimble.image import Tensor, build_image, parse_image
from thimble.kernels.reference import pack_s4
from thimble.quant import from_image, to_image
from thimble.quant import tensors as T
from thimble.quant.image import image_config
from thimble.sim.c_model import CModel

CFG = SHAPES[0][1]


@pytest.fixture(scope="module")
def int4_quant():
    return make_quant(CFG, seed=5, int4="all")


@pytest.fixture(scope="module")
def all4_quant():
    """Every projection and the embedding (so the tied head) int4."""
    return make_quant(CFG, seed=5, int4="all", embed_int4=True)


@pytest.fixture(scope="module")
def mixed_quant():
    return make_quant(CFG, seed=5, int4={"enc.0.attn.q", "enc.1.attn.o", "dec.1.cross_attn.v"})


@pytest.mark.parametrize("which", ["int4", "mixed", "int4 and embedding"])
@pytest.mark.parametrize("layout", ["row_major", "s8_r8k64", "s16_r4k16"])
def test_int4_image_matches_reference(int4_quant, mixed_quant, all4_quant, prompt, which, layout):
    qm = {"int4": int4_quant, "mixed": mixed_quant, "int4 and embedding": all4_quant}[which]
    data = to_image(qm, layout=layout)
    img = parse_image(data)
    int4 = T.int4_names(qm.tensors)
    assert img.config["weight_bits"] == 4
    assert {n for n, i in img.tensor_info.items() if i["dtype"] == "int4"} == int4
    assert ("embed" in int4) == (which == "int4 and embedding")
    assert all(img.tensor_info[n]["layout"] == "row_major" for n in int4)
    back, _ = from_image(data)
    assert all(np.array_equal(back.tensors[n], qm.tensors[n]) for n in qm.tensors)
    cm = CModel(data)
    for n, steps in ((1, 3), (9, 5), (qm.rope_n_pos, 4)):
        toks = prompt(qm.config, n, seed=n + 7)
        assert_same_runs(reference_run(qm, toks, steps), c_run(cm, toks, steps), n)


def test_int4_halves_the_projection_bytes(int4_quant, gqa_quant):
    d = CFG["d_model"]
    q = int4_quant.tensors["enc.0.attn.q"]
    assert q.dtype == np.uint8 and q.shape == (d, d // 2)
    assert gqa_quant.tensors["enc.0.attn.q"].shape == (d, d)
    assert len(to_image(int4_quant)) < len(to_image(gqa_quant))


def _image(qm, replace=None, config=None, dtypes=None):
    replace, dtypes = replace or {}, dtypes or {}
    int4 = T.int4_names(qm.tensors)
    ts = []
    for n in T.tensor_table(qm.config, qm.rope_n_pos, int4):
        a = np.ascontiguousarray(replace.get(n, qm.tensors[n]))
        if n in dtypes:
            ts.append(Tensor(n, a, dtypes[n][0], dtypes[n][1]))
        elif n in int4:
            ts.append(Tensor(n, a, "int4", (a.shape[0], qm.config.d_model if n[-1] != "o" else qm.config.q_dim)))
        else:
            ts.append(Tensor(n, a))
    return build_image(dict(image_config(qm), **(config or {})), ts)


def test_binder_refuses_bad_int4_images(int4_quant, gqa_quant):
    assert CModel(_image(int4_quant)).vocab_size == int4_quant.config.vocab_size
    # the scale table of an int4 projection one row short
    m = int4_quant.tensors["dec.0.self_attn.k.mult"]
    refused(_image(int4_quant, replace={"dec.0.self_attn.k.mult": m[:-1]}), "THM_MODEL_E_SHAPE",
            "dec.0.self_attn.k.mult")
    # an int4 projection with the wrong logical width (same bytes: K 63 packs like K 64)
    q = int4_quant.tensors["enc.0.attn.q"]
    refused(_image(int4_quant, dtypes={"enc.0.attn.q": ("int4", (q.shape[0], 63))}), "THM_MODEL_E_SHAPE",
            "enc.0.attn.q")
    # int4 where the model reads no int4: the RoPE tables
    cos = int4_quant.tensors["rope.cos"]
    c4 = pack_s4(np.clip(cos, -8, 7).astype(np.int64))
    refused(_image(int4_quant, replace={"rope.cos": c4}, dtypes={"rope.cos": ("int4", cos.shape)}),
            "THM_MODEL_E_SHAPE", "rope.cos")
    # weight_bits must say whether any projection is int4
    refused(_image(int4_quant, config={"weight_bits": 8}), "THM_MODEL_E_CONFIG", "")
    refused(_image(gqa_quant, config={"weight_bits": 4}), "THM_MODEL_E_CONFIG", "")
    refused(_image(gqa_quant, config={"weight_bits": 2}), "THM_MODEL_E_CONFIG", "")
    with pytest.raises(ValueError, match="weight_bits"):
        from_image(_image(int4_quant, config={"weight_bits": 8}))


@pytest.mark.parametrize("layout", ["row_major", "s8_r8k64", "s16_r4k16"])
def test_plan_sizes_int8_and_int4_exactly(int4_quant, gqa_quant, layout):
    """thimble plan's int8 / int4 figures are the sizes the converter writes,
    from an int8 image (plain or packed for a board) and from an int4 one."""
    from thimble.sim.plan import make_plan
    want = {"int8": len(to_image(gqa_quant)), "int4": len(to_image(int4_quant))}
    for src in (to_image(gqa_quant, layout=layout), to_image(int4_quant, layout=layout)):
        assert make_plan(src, 8, 4).weight_variants == want
