"""The Cactus `.weights` export: byte layout checked against the formulas read
in the Cactus source (independently of our reader), folder round trips at
INT8 / INT4 / FP16, and hostile files."""
import os
import shutil
import struct

import numpy as np
import pytest

from thimble.model import CheckpointError, load_cactus_folder, load_checkpoint, read_weights_file
from thimble.model.cactus_weights import encode_weights, file_layout
from thimble.model.synth import random_model, save_cactus_folder, tiny_config

FMT = "<4sIII4QIQQIIQ"       # magic flags alignment ndim dims[4] precision data scales group ngroups original_N
HAS_SCALES, PAGE_ALIGNED, TRANSPOSED, INTERLEAVED = 1, 2, 4, 8


def _header(blob):
    v = struct.unpack_from(FMT, blob)
    return dict(magic=v[0], flags=v[1], alignment=v[2], ndim=v[3], dims=v[4:8], precision=v[8],
                data_bytes=v[9], scale_bytes=v[10], group=v[11], num_groups=v[12], original_n=v[13])


def _expected_q(w, qmax):
    """Symmetric per-row, per-32 quantisation, as tensor_io.py does it."""
    n, k = w.shape
    wp = np.pad(w, ((0, 0), (0, -k % 32)))
    g = wp.reshape(n, -1, 32)
    s = np.maximum((np.abs(g).max(axis=2) / qmax).astype(np.float32), np.float32(1e-10))
    q = np.clip(np.round(g / s[:, :, None]), -qmax - 1, qmax).astype(np.int64).reshape(n, -1)
    return q, s


def test_int8_layout_matches_the_engine_formulas():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.05, (6, 40)).astype(np.float32)     # N % 4 != 0, K % 32 != 0: both padded
    blob = encode_weights(w, "INT8", transposed=True)
    h = _header(blob)
    assert h["magic"] == b"CACT" and h["alignment"] == 32 and h["precision"] == 0
    assert h["flags"] == HAS_SCALES | INTERLEAVED | TRANSPOSED
    assert (h["ndim"], h["dims"], h["original_n"]) == (2, (8, 64, 0, 0), 6)
    assert (h["group"], h["num_groups"], h["scale_bytes"], h["data_bytes"]) == (32, 2, 8 * 2 * 2, 8 * 64)
    assert blob[84:96] == b"\0" * 12                        # header padded to 96
    scales = np.frombuffer(blob, "<f2", count=16, offset=96)
    data = np.frombuffer(blob, np.int8, offset=96 + 32)     # scales end on a 32-byte boundary here
    assert len(blob) == 128 + 8 * 64
    q_ref, s_ref = _expected_q(w, 127)
    K = 64
    for n in range(8):
        for k in range(K):
            # cactus graph_ops: data[((block * (K/4) + k4) * 4 + lane) * 4 + kk], scales[(block*G + g)*4 + lane]
            q = data[((n // 4) * (K // 4) + k // 4) * 16 + (n % 4) * 4 + k % 4]
            s = scales[((n // 4) * 2 + k // 32) * 4 + n % 4]
            if n < 6:
                assert q == q_ref[n, k], (n, k)
                assert s == np.float16(s_ref[n, k // 32])
            else:
                assert q == 0
    got = read_weights_file_bytes(blob)
    np.testing.assert_array_equal(got.q, q_ref)
    np.testing.assert_array_equal(got.values, q_ref * s_ref.astype(np.float16).astype(np.float32).repeat(32, 1))


def test_int4_planar_nibble_order():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.05, (10, 70)).astype(np.float32)   # 3 interleave blocks (N padded to 12), 3 groups
    blob = encode_weights(w, "INT4")
    h = _header(blob)
    N, K, G = 12, 96, 3
    assert h["precision"] == 3 and h["flags"] == HAS_SCALES | INTERLEAVED
    assert (h["dims"], h["original_n"], h["num_groups"]) == ((N, K, 0, 0), 10, G)
    assert (h["scale_bytes"], h["data_bytes"]) == (N * G * 2, N * K // 2)
    scales = np.frombuffer(blob, "<f2", count=N * G, offset=96)
    data_off = 96 + (-(-N * G * 2 // 32)) * 32               # scales padded to the next 32 bytes
    data = np.frombuffer(blob, np.uint8, offset=data_off)
    assert len(data) == N * K // 2
    q_ref, s_ref = _expected_q(w, 7)
    for n in range(N):
        for k in range(K):
            i = ((n // 4) * (K // 4) + k // 4) * 16 + (n % 4) * 4 + k % 4   # index in the interleaved stream
            byte = int(data[(i // 32) * 16 + i % 16])                       # 32 values per 16 bytes
            nib = byte & 0x0F if i % 32 < 16 else byte >> 4                 # first 16 low, next 16 high
            s = scales[((n // 4) * G + k // 32) * 4 + n % 4]
            if n < 10:
                assert (nib - 16 if nib > 7 else nib) == q_ref[n, k], (n, k)
                assert s == np.float16(s_ref[n, k // 32]), (n, k)
            else:
                assert nib == 0 and s == 0, (n, k)                          # padding rows
    got = read_weights_file_bytes(blob)
    assert got.values.shape == (10, K)
    np.testing.assert_array_equal(got.q, q_ref)
    np.testing.assert_array_equal(got.scales, s_ref.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(got.values, q_ref * got.scales.repeat(32, 1))


def _pack_header(flags, alignment, dims, precision, data_bytes, scale_bytes=0, group=0, ngroups=0, original_n=0):
    d = list(dims) + [0] * (4 - len(dims))
    return struct.pack(FMT, b"CACT", flags, alignment, len(dims), *d, precision, data_bytes, scale_bytes,
                       group, ngroups, original_n)


def _up(n, a):
    return -(-n // a) * a


def test_fp32_tensor_is_read_exactly(odd, tmp_path):
    """The writer never emits FP32 (graph.h code 2), but the engine maps it; a
    hand-built file is read bit for bit, in a folder as well."""
    w = odd["dec.0.self_attn.k"]                              # [24, 48], values fp16 cannot hold
    assert np.any(w != w.astype(np.float16).astype(np.float32))
    body = w.astype("<f4").tobytes()
    blob = _pack_header(TRANSPOSED, 32, w.shape, 2, len(body), original_n=w.shape[0])
    blob += b"\0" * (96 - len(blob)) + body
    got = read_weights_file_bytes(blob)
    assert (got.precision, got.shape, got.q) == ("FP32", (24, 48), None)
    np.testing.assert_array_equal(got.values, w)
    folder = _export(odd, tmp_path / "x", precision="FP16")
    (folder / "layer_0_attn_k.weights").write_bytes(blob)
    np.testing.assert_array_equal(load_cactus_folder(folder)["dec.0.self_attn.k"], w)
    short = _pack_header(0, 32, w.shape, 2, len(body) // 2) + b"\0" * 12 + body[:len(body) // 2]
    with pytest.raises(CheckpointError, match="FP32 dims"):
        read_weights_file_bytes(short)                        # data_bytes sized for fp16, not fp32


@pytest.mark.parametrize("alignment, flags", [(4096, PAGE_ALIGNED), (0, 0), (64, 0)])
def test_other_alignments_move_scales_and_data(alignment, flags):
    """graph_io.cpp places scales at align(84, alignment) and data at
    align(scales end, alignment), reading alignment 0 as 1; PAGE_ALIGNED is
    only a hint to the engine. Files laid out by hand at other alignments
    must decode like the exporter's 32-byte one."""
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.05, (6, 40)).astype(np.float32)
    ref_blob = encode_weights(w, "INT8", transposed=True)
    h = _header(ref_blob)
    scales = ref_blob[96:96 + h["scale_bytes"]]
    data = ref_blob[_up(96 + h["scale_bytes"], 32):]
    a = alignment or 1
    head = _pack_header(h["flags"] | flags, alignment, h["dims"][:2], 0, h["data_bytes"], h["scale_bytes"],
                        32, h["num_groups"], h["original_n"])
    blob = head + b"\0" * (_up(84, a) - 84) + scales
    blob += b"\0" * (_up(len(blob), a) - len(blob)) + data
    if alignment == 4096:
        assert len(blob) == 8192 + len(data)                  # scales at 4096, data at 8192
    ref, got = read_weights_file_bytes(ref_blob), read_weights_file_bytes(blob)
    assert got.flags == h["flags"] | flags and np.any(ref.values)
    np.testing.assert_array_equal(got.q, ref.q)
    np.testing.assert_array_equal(got.values, ref.values)
    fp = np.linspace(-2, 2, 7).astype(np.float16)            # no scales: data right after the header
    blob = _pack_header(flags, alignment, (7,), 1, 14, original_n=7)
    blob += b"\0" * (_up(84, a) - 84) + fp.tobytes()
    np.testing.assert_array_equal(read_weights_file_bytes(blob).values, fp.astype(np.float32))


def test_fp16_scalars_and_int8_vectors():
    blob = encode_weights(np.float32(0.75), "INT8")          # a gate: 0-d, always FP16
    h = _header(blob)
    assert (h["precision"], h["ndim"], h["dims"], h["data_bytes"], h["flags"]) == (1, 0, (0, 0, 0, 0), 2, 0)
    assert len(blob) == 98 and read_weights_file_bytes(blob).values.shape == ()
    v = np.linspace(-1, 1, 40).astype(np.float32)
    blob = encode_weights(v, "INT8")                         # 1-D: grouped, not interleaved
    h = _header(blob)
    assert (h["flags"], h["dims"][0], h["original_n"], h["num_groups"]) == (HAS_SCALES, 64, 64, 2)
    got = read_weights_file_bytes(blob).values
    assert got.shape == (64,) and np.abs(got[:40] - v).max() < 1 / 127 and not got[40:].any()


def read_weights_file_bytes(blob, _dir=[]):
    import tempfile
    if not _dir:
        _dir.append(tempfile.mkdtemp())
    p = os.path.join(_dir[0], "t.weights")
    with open(p, "wb") as f:
        f.write(blob)
    return read_weights_file(p)


ODD = dict(vocab_size=97, d_model=48, num_heads=4, num_kv_heads=2)   # K = 48 and N = 97 both get padded


@pytest.fixture(scope="module")
def odd():
    return random_model(tiny_config(**ODD), seed=4)


@pytest.mark.parametrize("precision, qmax", [("INT8", 127), ("INT4", 7), ("FP16", None)])
def test_folder_round_trip(odd, tmp_path, precision, qmax):
    folder = tmp_path / precision
    save_cactus_folder(odd, folder, precision=precision)
    m2 = load_checkpoint(folder)
    assert m2.config == odd.config
    assert set(m2.tensors) == set(odd.tensors) - {"contrastive.hidden.w", "contrastive.hidden.b"}
    for name, a in m2.tensors.items():
        ref = odd[name]
        quantised = qmax is not None and ref.ndim == 2
        if quantised:
            q = qmax if not (precision == "INT4" and name == "embed") else 127   # the embedding stays INT8
            bound = 0.6 * np.abs(np.pad(ref, ((0, 0), (0, -ref.shape[1] % 32)))).reshape(
                ref.shape[0], -1, 32).max(axis=2).repeat(32, 1)[:, :ref.shape[1]] / q
            assert np.all(np.abs(a - ref) <= bound + 1e-12), name
        else:
            np.testing.assert_array_equal(a, ref.astype(np.float16).astype(np.float32), err_msg=name)


def test_files_and_config_as_the_exporter_names_them(odd, tmp_path):
    save_cactus_folder(odd, tmp_path, precision="INT8")
    names = set(os.listdir(tmp_path))
    for stem in ("token_embeddings", "output_weight", "encoder_layer_norm_weight", "output_norm",
                 "encoder_layer_1_attn_q", "encoder_layer_0_attn_gate", "encoder_layer_0_input_norm",
                 "layer_1_encoder_attn_k_norm", "layer_0_post_attn_norm", "layer_0_self_attn_gate",
                 "layer_1_cross_attn_gate", "contrastive_proj", "log_temp"):
        assert stem + ".weights" in names, stem
    text = (tmp_path / "config.txt").read_text()
    for line in ("model_type=needle", "hidden_dim=48", "attention_heads=4", "attention_kv_heads=2",
                 "attention_head_dim=12", "num_encoder_layers=2", "num_decoder_layers=2", "vocab_size=97",
                 "tie_word_embeddings=true", "no_feedforward=false"):
        assert line in text.splitlines(), line
    assert _header((tmp_path / "layer_0_post_attn_norm.weights").read_bytes())["precision"] == 1
    assert _header((tmp_path / "token_embeddings.weights").read_bytes())["original_n"] == 97
    assert len(file_layout(odd.config)) == 5 + 2 * 8 + 2 * 16


def _export(model, folder, precision="INT8"):
    save_cactus_folder(model, folder, precision=precision)
    return folder


def _patch(path, offset, fmt, value):
    b = bytearray(path.read_bytes())
    struct.pack_into(fmt, b, offset, value)
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("offset, fmt, value, match", [
    (0, "4s", b"CACX", "magic"),
    (4, "<I", 0x10 | 9, "ternary"),
    (4, "<I", 0x200 | 9, "unknown flags"),
    (8, "<I", 1 << 20, "alignment"),
    (12, "<I", 5, "ndim"),
    (16, "<Q", 2 ** 40, "more elements|need|fit"),
    (24, "<Q", 0, "zero"),
    (48, "<I", 7, "precision code"),
    (52, "<Q", 2 ** 63, "after the end"),
    (60, "<Q", 2 ** 40, "after the end"),
    (60, "<Q", 16, "scale_bytes"),
    (68, "<I", 0, "without group scales"),
    (72, "<I", 3, "num_groups"),
    (76, "<Q", 3, "original_N"),
    (76, "<Q", 10 ** 6, "original_N"),
])
def test_hostile_headers(odd, tmp_path, offset, fmt, value, match):
    folder = _export(odd, tmp_path / "x")
    f = folder / "encoder_layer_0_attn_q.weights"
    _patch(f, offset, fmt, value)
    with pytest.raises(CheckpointError, match=match) as e:
        load_cactus_folder(folder)
    assert "encoder_layer_0_attn_q.weights" in str(e.value)


def test_every_truncation_of_a_file_is_refused(odd, tmp_path):
    folder = _export(odd, tmp_path / "x", precision="INT4")
    f = folder / "layer_0_attn_v.weights"
    blob = f.read_bytes()
    for n in list(range(0, 100)) + list(range(100, len(blob), 13)):
        f.write_bytes(blob[:n])
        with pytest.raises(CheckpointError):
            read_weights_file(f)


def test_missing_and_misshaped_files(odd, tmp_path):
    folder = _export(odd, tmp_path / "x")
    os.remove(folder / "layer_1_encoder_attn_v.weights")
    with pytest.raises(CheckpointError, match=r"layer_1_encoder_attn_v.weights is missing \(tensor "
                                              r"dec.1.cross_attn.v, shape \(24, 48\)\)"):
        load_cactus_folder(folder)
    folder = _export(odd, tmp_path / "y")
    (folder / "layer_0_attn_k.weights").write_bytes(encode_weights(np.ones((48, 24), np.float32), "INT8"))
    with pytest.raises(CheckpointError, match=r"dec.0.self_attn.k expects shape \(24, 48\), the file holds "
                                              r"\(48, 32\)"):
        load_cactus_folder(folder)


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace("hidden_dim=48\n", ""), "lacks hidden_dim"),
    (lambda t: t.replace("hidden_dim=48", "hidden_dim=forty"), "not a int"),
    (lambda t: t.replace("model_type=needle", "model_type=qwen"), "model_type"),
    (lambda t: t.replace("tie_word_embeddings=true", "tie_word_embeddings=false"), "tie_word_embeddings"),
    (lambda t: t.replace("layer_norm_eps=1e-06", "layer_norm_eps=1e-05"), "layer_norm_eps"),
    (lambda t: t.replace("attention_head_dim=12", "attention_head_dim=16"), "attention_head_dim"),
    (lambda t: t.replace("attention_heads=4", "attention_heads=5"), "divisible"),
    (lambda t: t + "garbage line\n", "not key=value"),
    (lambda t: t + "hidden_dim=48\n", "twice"),
])
def test_bad_config_txt(odd, tmp_path, edit, match):
    folder = _export(odd, tmp_path / "x")
    p = folder / "config.txt"
    p.write_text(edit(p.read_text()))
    with pytest.raises(CheckpointError, match=match):
        load_cactus_folder(folder)


def test_no_config_and_feed_forward_exports_are_refused(odd, tmp_path):
    folder = _export(odd, tmp_path / "x")
    shutil.copy(folder / "layer_0_attn_q.weights", folder / "layer_0_ffn_up.weights")
    with pytest.raises(CheckpointError, match="feed-forward"):
        load_cactus_folder(folder)
    os.remove(folder / "config.txt")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_cactus_folder(folder)
    with pytest.raises(ValueError, match="feed-forward"):
        save_cactus_folder(random_model(tiny_config(no_feedforward=False), seed=0), tmp_path / "ffn")


def test_nonzero_padding_columns_are_refused(odd, tmp_path):
    folder = _export(odd, tmp_path / "x", precision="FP16")
    # an FP16 [24, 64] where the model expects [24, 48]: only zero padding may be stripped
    (folder / "layer_0_attn_k.weights").write_bytes(encode_weights(np.ones((24, 64), np.float32), "FP16"))
    with pytest.raises(CheckpointError, match="expects shape"):
        load_cactus_folder(folder)


def test_extra_files_are_reported(odd, tmp_path):
    folder = _export(odd, tmp_path / "x")
    shutil.copy(folder / "layer_0_attn_q.weights", folder / "layer_9_attn_q.weights")
    (folder / "vocab.txt").write_text("0\t<pad>\t0\n")
    m = load_cactus_folder(folder)
    assert any("layer_9_attn_q.weights" in n for n in m.notes)
