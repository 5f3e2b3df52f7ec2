""".safetensors: our reader against the reference writer (the safetensors
package, when installed), our writer against the reference reader, and
hostile headers."""
import json
import struct

import numpy as np
import pytest

from thimble.model import CheckpointError, load_checkpoint, load_safetensors, save_safetensors
from thimble.model.flax_tree import tensors_to_tree
from thimble.model.safetensors import read_safetensors, write_safetensors
from toolchain import need_module


def _assert_same(m, m2, dtype=np.float32):
    assert m2.config == m.config and set(m2.tensors) == set(m.tensors)
    for n in m.tensors:
        np.testing.assert_array_equal(m2[n], m[n].astype(dtype).astype(np.float32), err_msg=n)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_round_trip(tiny, tmp_path, dtype):
    p = tmp_path / "needle.safetensors"
    save_safetensors(tiny, p, dtype=dtype)
    _assert_same(tiny, load_checkpoint(p), dtype)


def test_reads_what_the_reference_writer_writes(tiny, tmp_path):
    st = need_module("safetensors.numpy")
    p = tmp_path / "ref.safetensors"
    flat = {k: v.astype(np.float16) for k, v in tensors_to_tree(tiny).items()}
    st.save_file(flat, str(p), metadata={"config": json.dumps(tiny.config.explicit_dict())})
    _assert_same(tiny, load_safetensors(p), np.float16)


def test_reference_reader_reads_what_we_write(tiny, tmp_path):
    st = need_module("safetensors.numpy")
    p = tmp_path / "ours.safetensors"
    save_safetensors(tiny, p)
    back = st.load_file(str(p))
    flat = tensors_to_tree(tiny)
    assert set(back) == set(flat)
    for k in flat:
        np.testing.assert_array_equal(back[k], flat[k])


def test_bfloat16_is_decoded(tmp_path):
    x = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)
    bf = (x.view(np.uint32) >> 16).astype("<u2")
    _write_raw(tmp_path / "bf.safetensors", {"x": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}},
               bf.tobytes())
    out, _ = read_safetensors(tmp_path / "bf.safetensors")
    np.testing.assert_array_equal(out["x"], x)


def _write_raw(path, header, data, n=None):
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head) if n is None else n) + head + data)


@pytest.mark.parametrize("header, data, match", [
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}, b"\0" * 8, "outside"),
    ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "needs 12 bytes"),
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [4, 0]}}, b"\0" * 8, "outside"),
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}, b"\0" * 8, "outside"),
    ({"x": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8, "bad shape"),
    ({"x": {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}}, b"\0" * 8, "bad shape"),
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, b"\0" * 8, "data_offsets"),
    ({"x": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, "dtype"),
    ({"x": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, "exactly"),
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, "overlap"),
    ({"__metadata__": {"config": 5}}, b"", "strings"),
    ([1, 2], b"", "not a JSON object"),
    ({"": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}, b"", "empty name"),
])
def test_hostile_headers(tmp_path, header, data, match):
    p = tmp_path / "bad.safetensors"
    _write_raw(p, header, data)
    with pytest.raises(CheckpointError, match=match):
        read_safetensors(p)


def test_header_length_and_encoding(tmp_path):
    p = tmp_path / "bad.safetensors"
    _write_raw(p, {}, b"", n=10 ** 12)
    with pytest.raises(CheckpointError, match="header length"):
        read_safetensors(p)
    p.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{}")
    with pytest.raises(CheckpointError, match="UTF-8 JSON"):
        read_safetensors(p)
    p.write_bytes(struct.pack("<Q", 2) + b"{x")
    with pytest.raises(CheckpointError, match="JSON"):
        read_safetensors(p)
    p.write_bytes(b"\1\0\0")
    with pytest.raises(CheckpointError, match="too short"):
        read_safetensors(p)
    head = b'{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'
    p.write_bytes(struct.pack("<Q", len(head)) + head)
    with pytest.raises(CheckpointError, match="more than once"):
        read_safetensors(p)


def test_truncations_are_refused(tiny, tmp_path):
    p = tmp_path / "needle.safetensors"
    save_safetensors(tiny, p, dtype=np.float16)
    blob = p.read_bytes()
    (n,) = struct.unpack_from("<Q", blob)
    q = tmp_path / "cut.safetensors"
    for cut in list(range(0, 9)) + [20, n // 2, n + 7, n + 8, n + 9, len(blob) // 2, len(blob) - 1]:
        q.write_bytes(blob[:cut])
        with pytest.raises(CheckpointError):
            load_safetensors(q)


def test_needle_config_must_be_in_the_metadata(tiny, tmp_path):
    p = tmp_path / "noconfig.safetensors"
    write_safetensors(p, tensors_to_tree(tiny))
    with pytest.raises(CheckpointError, match="'config'"):
        load_safetensors(p)
    write_safetensors(p, tensors_to_tree(tiny), {"config": "{not json"})
    with pytest.raises(CheckpointError, match="metadata config"):
        load_safetensors(p)
    write_safetensors(p, tensors_to_tree(tiny), {"config": json.dumps({"d_model": 33})})
    with pytest.raises(CheckpointError, match="divisible"):
        load_safetensors(p)


def test_missing_and_unexpected_tensors(tiny, tmp_path):
    flat = tensors_to_tree(tiny)
    del flat["encoder/final_norm/scale"]
    flat["encoder/extra/kernel"] = np.zeros(3, np.float32)
    p = tmp_path / "m.safetensors"
    write_safetensors(p, flat, {"config": json.dumps(tiny.config.to_dict())})
    with pytest.raises(CheckpointError, match=r"'encoder/final_norm/scale' is missing \(expected shape \(32,\)\)"):
        load_safetensors(p)
    flat["encoder/final_norm/scale"] = np.zeros(32, np.float32)
    write_safetensors(p, flat, {"config": json.dumps(tiny.config.to_dict())})
    m = load_safetensors(p)
    assert any("encoder/extra/kernel" in n for n in m.notes)
