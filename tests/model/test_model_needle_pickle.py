"""Needle's pickle checkpoint: round trips through the real pickle module,
and a restricted unpickler that runs nothing from a hostile file."""
import collections
import pickle
import struct

import numpy as np
import pytest

from thimble.model import CheckpointError, load_checkpoint, load_needle_pickle
from thimble.model.flax_tree import tensors_to_tree, unflatten
from thimble.model.needle_pickle import read_pickle
from thimble.model.synth import random_model, save_needle_pickle, tiny_config


def _assert_same(m, m2, dtype):
    assert set(m2.tensors) == set(m.tensors)
    for n in m.tensors:
        np.testing.assert_array_equal(m2[n], m[n].astype(dtype).astype(np.float32), err_msg=n)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_round_trip_float16_like_the_released_checkpoints(tiny, tmp_path, protocol):
    p = tmp_path / "needle.pkl"
    save_needle_pickle(tiny, p, protocol=protocol)
    m2 = load_needle_pickle(p)
    assert m2.config == tiny.config
    _assert_same(tiny, m2, np.float16)


def test_round_trip_float32_and_all_config_fields(tiny, tmp_path):
    p = tmp_path / "needle.pkl"
    save_needle_pickle(tiny, p, dtype=np.float32, config_keys="all")
    m2 = load_checkpoint(p)
    _assert_same(tiny, m2, np.float32)
    assert not any("defaults" in n for n in m2.notes)


def test_feed_forward_model_round_trip(tmp_path):
    m = random_model(tiny_config(no_feedforward=False, activation="swiglu"), seed=3)
    p = tmp_path / "ffn.pkl"
    save_needle_pickle(m, p, dtype=np.float32)
    _assert_same(m, load_needle_pickle(p), np.float32)


def test_param_tree_is_the_original_layout(tiny):
    flat = tensors_to_tree(tiny)
    assert flat["embedding/embedding"].shape == (96, 32)
    assert flat["encoder/layers/EncoderBlock_0/self_attn/k_proj/kernel"].shape == (2, 32, 16)   # [L, in, out]
    assert flat["encoder/layers/EncoderBlock_0/attn_gate"].shape == (2,)
    assert flat["decoder/layers/DecoderBlock_0/ZCRMSNorm_1/scale"].shape == (2, 32)             # pre cross-attn
    assert flat["decoder/ZCRMSNorm_0/scale"].shape == (32,)                                     # decoder final norm
    assert flat["log_temp"].shape == ()
    np.testing.assert_array_equal(flat["decoder/layers/DecoderBlock_0/cross_attn/q_proj/kernel"][1],
                                  tiny["dec.1.cross_attn.q"].T)


def test_defaults_filled_and_extras_reported(tiny, tmp_path):
    p = tmp_path / "needle.pkl"
    save_needle_pickle(tiny, p, extra={"pretrain_step": 1000})
    m2 = load_needle_pickle(p)
    notes = " | ".join(m2.notes)
    assert "pretrain_step" in notes and "rope_theta" in notes


def test_big_endian_and_fortran_arrays_and_ordered_dicts(tiny, tmp_path):
    flat = tensors_to_tree(tiny)
    flat = {k: (np.asfortranarray(v.astype(">f4")) if v.ndim == 3 else v) for k, v in flat.items()}
    tree = unflatten(flat)
    tree["encoder"] = collections.OrderedDict(tree["encoder"])
    p = tmp_path / "odd.pkl"
    with open(p, "wb") as f:
        pickle.dump({"params": tree, "config": tiny.config.explicit_dict()}, f, protocol=2)
    _assert_same(tiny, load_needle_pickle(p), np.float32)


def test_older_flax_frozen_dict_is_read_as_a_dict(tiny, tmp_path):
    inner = pickle.dumps({"params": unflatten(tensors_to_tree(tiny)), "config": tiny.config.explicit_dict()},
                         protocol=2)
    # FrozenDict pickles as REDUCE(flax.core.frozen_dict.FrozenDict, (dict,))
    blob = b"\x80\x02cflax.core.frozen_dict\nFrozenDict\n" + inner[2:-1] + b"\x85R."
    p = tmp_path / "frozen.pkl"
    p.write_bytes(blob)
    _assert_same(tiny, load_needle_pickle(p), np.float32)


class _Evil:
    def __init__(self, target, args):
        self.target, self.args = target, args

    def __reduce__(self):
        return self.target, self.args


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_hostile_pickle_runs_nothing_and_names_the_global(tiny, tmp_path, protocol):
    import os
    marker = tmp_path / "pwned"
    payload = {"params": {"evil": _Evil(os.system, (f"touch {marker}",))}, "config": {}}
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(CheckpointError, match=r"global (posix|os|nt)\.system") as e:
        load_needle_pickle(p)
    assert "refused" in str(e.value)
    assert not marker.exists()


def test_hostile_eval_and_exec_are_refused(tmp_path):
    import builtins
    for fn in (builtins.eval, builtins.exec, getattr):
        p = tmp_path / f"{fn.__name__}.pkl"
        p.write_bytes(pickle.dumps({"params": _Evil(fn, ("1",) if fn is not getattr else (1, "real")),
                                    "config": {}}, protocol=4))
        with pytest.raises(CheckpointError, match=rf"builtins\.{fn.__name__}"):
            read_pickle(p)


def test_hostile_global_hidden_inside_an_array_state(tmp_path):
    # an ndarray whose BUILD state smuggles a call: the dtype slot holds os.system(...)
    blob = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
            b"(K\x01K\x01\x85cos\nsystem\nX\x04\x00\x00\x00true\x85R\x89C\x01\x00tb.")
    p = tmp_path / "smuggle.pkl"
    p.write_bytes(blob)
    with pytest.raises(CheckpointError, match=r"os\.system"):
        read_pickle(p)


def test_object_arrays_and_structured_dtypes_are_refused(tmp_path):
    for arr in (np.array([object()], dtype=object)[:0], np.zeros(2, dtype=[("a", "<f4")]),
                np.zeros(2, dtype=np.complex64)):
        p = tmp_path / "bad.pkl"
        p.write_bytes(pickle.dumps({"params": {"x": arr}, "config": {}}, protocol=2))
        with pytest.raises(CheckpointError):
            read_pickle(p)


def test_every_truncation_is_refused(tiny, tmp_path):
    p = tmp_path / "needle.pkl"
    save_needle_pickle(random_model(tiny_config(vocab_size=8, d_model=8, num_heads=2, num_kv_heads=1,
                                                num_encoder_layers=1, num_decoder_layers=1), seed=0), p)
    blob = p.read_bytes()
    q = tmp_path / "cut.pkl"
    for n in list(range(0, 64)) + list(range(64, len(blob) - 1, 37)) + [len(blob) - 1]:
        q.write_bytes(blob[:n])
        with pytest.raises(CheckpointError):
            load_needle_pickle(q)


def test_lengths_that_overrun_the_file_are_refused_before_allocation(tmp_path):
    p = tmp_path / "huge.pkl"
    # BINBYTES8 claiming 2**62 bytes, BYTEARRAY8 claiming 2**40
    for op in (b"\x8e", b"\x96"):
        n = 2 ** 62 if op == b"\x8e" else 2 ** 40
        p.write_bytes(b"\x80\x05" + op + struct.pack("<Q", n) + b"abc")
        with pytest.raises(CheckpointError, match="not a valid pickle"):
            read_pickle(p)


@pytest.mark.parametrize("payload, match", [
    ([1, 2, 3], "not a dict"),
    ({"config": {}}, "'params'"),
    ({"params": {}, "config": "d_model=512"}, "'config'"),
    ({"params": {1: np.zeros(2)}, "config": {}}, "keyed by strings"),     # refused before it is hashed
    ({"params": {"embedding": {"embedding": [1.0, 2.0]}}, "config": {}}, "not an array"),
    ({"params": {}, "config": {"d_model": 100, "num_heads": 8}}, "divisible"),
    ({"params": {}, "config": {}}, "'embedding/embedding' is missing"),
])
def test_malformed_payloads(tmp_path, payload, match):
    p = tmp_path / "m.pkl"
    p.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(CheckpointError, match=match):
        load_needle_pickle(p)


def test_misshaped_stacked_tensor_names_the_tree_path(tiny, tmp_path):
    flat = tensors_to_tree(tiny)
    flat["decoder/layers/DecoderBlock_0/self_attn/v_proj/kernel"] = np.zeros((3, 32, 16), np.float32)
    p = tmp_path / "m.pkl"
    with open(p, "wb") as f:
        pickle.dump({"params": unflatten(flat), "config": tiny.config.explicit_dict()}, f)
    with pytest.raises(CheckpointError, match=r"'decoder/layers/DecoderBlock_0/self_attn/v_proj/kernel': "
                                              r"expected shape \(2, 32, 16\), got \(3, 32, 16\)"):
        load_needle_pickle(p)


def test_deep_nesting_and_garbage(tmp_path):
    p = tmp_path / "deep.pkl"
    deep = {}
    node = deep
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    p.write_bytes(pickle.dumps({"params": deep, "config": {}}))
    with pytest.raises(CheckpointError, match="deeper"):
        load_needle_pickle(p)
    p.write_bytes(b"this is not a pickle at all")
    with pytest.raises(CheckpointError):
        load_needle_pickle(p)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_needle_pickle(tmp_path / "absent.pkl")


def test_shared_references_are_not_exponential(tmp_path):
    # 2**60 paths through 61 lists: converted once each, not once per path
    node = [np.zeros(1, np.float32)]
    for _ in range(60):
        node = [node, node]
    p = tmp_path / "dag.pkl"
    p.write_bytes(pickle.dumps({"params": {}, "config": {}, "x": node}, protocol=4))
    assert p.stat().st_size < 10_000
    out = read_pickle(p)["x"]
    assert out[0] is out[1]


def test_bfloat16_arrays_as_jax_saves_them(tmp_path):
    x = np.array([[1.0, -2.5], [3.140625, 0.0]], np.float32)
    u = (x.view(np.uint32) >> 16).astype(np.uint16)
    blob = pickle.dumps({"w": u}, protocol=2)
    code = b"X\x02\x00\x00\x00u2"
    assert blob.count(code) == 1
    # what pickle writes for an ml_dtypes.bfloat16 array: numpy.dtype(ml_dtypes.bfloat16, False, True)
    p = tmp_path / "bf16.pkl"
    p.write_bytes(blob.replace(code, b"cml_dtypes\nbfloat16\n"))
    out = read_pickle(p)["w"]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)
