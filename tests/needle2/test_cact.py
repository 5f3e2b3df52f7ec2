"""The .cact reader and writer (tag 0x05E12A83): a round trip of every dtype
and width, and hostile files, each refused with one CheckpointError line
that says what is wrong; nothing read past the bytes given."""
import struct

import numpy as np
import pytest

from thimble.model.params import CheckpointError
from thimble.needle2 import cact_format as F
from thimble.needle2 import cq, parse_cact, read_cact

from needle2_models import mixed_bits

DIR = F.HEADER.size + 4 * F.CODEBOOK_LEN


def record(blob, i):
    return list(F.RECORD.unpack_from(blob, DIR + i * F.RECORD.size))


def with_record(blob, i, **fields):
    names = ("dtype", "ndim", "pad", "s0", "s1", "s2", "s3", "offset", "nbytes", "group", "bits")
    rec = record(blob, i)
    for k, v in fields.items():
        rec[names.index(k)] = v
    out = bytearray(blob)
    F.RECORD.pack_into(out, DIR + i * F.RECORD.size, *rec)
    return bytes(out)


def with_header(blob, **fields):
    vals = list(F.HEADER.unpack_from(blob, 0))
    for k, v in fields.items():
        vals[F.HEADER_FIELDS.index(k)] = v
    out = bytearray(blob)
    F.HEADER.pack_into(out, 0, *vals)
    return bytes(out)


def index_of(cfg, name):
    return [n for n, _, _ in F.tensor_order(cfg)].index(name)


def test_round_trip_every_dtype_and_width(tiny_cfg, tiny_params, tiny_blob, tmp_path):
    path = tmp_path / "tiny.cact"
    path.write_bytes(tiny_blob)
    c = read_cact(path)
    assert [getattr(c.config, f) for f in ("d_model", "num_layers", "engram_layers", "engram_tables")] == \
        [64, 4, (1, 3), 2]
    widths = {t.name: (F.DTYPE_NAMES[t.dtype], t.bits) for t in c.tensors.values()}
    assert widths["layer00.q_proj"] == ("CQ", 4) and widths["layer00.k_proj"] == ("CQ", 3)
    assert widths["layer00.gate_proj"] == ("CQ", cq.TERNARY) and widths["layer00.out_proj"] == ("CQ", 2)
    assert widths["engram0.value_proj"] == ("fp16", 0) and widths["final_norm"] == ("fp16", 0)
    for name, shape, kind in F.tensor_order(tiny_cfg):
        got, want = c.float(name), tiny_params[name]
        assert got.shape == shape
        b = mixed_bits(name) if kind == "matrix" else None
        if b is None:                      # fp16: the nearest half
            assert np.array_equal(got, want.astype(np.float16).astype(np.float64)), name
        else:                              # CQ: the writer's own quantization, read back exactly
            packed, norms = cq.quantize(want, b, 128, c.codebook)
            assert np.array_equal(c.tensors[name].packed, packed), name
            assert np.array_equal(got, cq.dequantize(packed, norms, b, shape[1], 128, c.codebook)), name
    assert c.tokenizer[4] == (b"p4", -4.0, "normal") and c.specials == (0, 1, 2, 3)


def test_blobs_are_aligned_and_in_file_order(tiny_blob):
    n = F.HEADER.unpack_from(tiny_blob, 0)[1]
    offsets = [record(tiny_blob, i)[7] for i in range(n)]
    assert all(o % 64 == 0 for o in offsets) and offsets == sorted(offsets)


def refuses(blob, match):
    with pytest.raises(CheckpointError, match=match) as e:
        parse_cact(blob, "bad.cact")
    assert "\n" not in str(e.value) and str(e.value).startswith("bad.cact: ")


def test_wrong_tag(tiny_blob):
    refuses(with_header(tiny_blob, tag=0x05E12A84), "tag 0x05E12A84 is not Needle 2")


def test_directory_past_the_end(tiny_blob):
    refuses(tiny_blob[:DIR + 10 * F.RECORD.size], "directory ends at byte")
    refuses(with_header(tiny_blob, num_tensors=4096), "directory ends at byte|tensors")


@pytest.mark.parametrize("bits", [0, 1, 6, 8, 0xFFFFFFFF])
def test_bits_outside_the_format(tiny_cfg, tiny_blob, bits):
    refuses(with_record(tiny_blob, index_of(tiny_cfg, "layer01.q_proj"), bits=bits), "CQ bits")


def test_cq_blob_of_the_wrong_size(tiny_cfg, tiny_blob):
    i = index_of(tiny_cfg, "layer01.q_proj")
    n = record(tiny_blob, i)[8]
    for nbytes in (n - 1, n + 1, n - 128, 0):
        refuses(with_record(tiny_blob, i, nbytes=nbytes), "bytes, its dtype and shape need")
    refuses(with_record(tiny_blob, i, bits=2), "bytes, its dtype and shape need")   # 4-bit rows read as 2
    refuses(with_record(tiny_blob, i, group=64), "bytes, its dtype and shape need")
    refuses(with_record(tiny_blob, i, group=100), "power of two")


def test_blob_past_the_end_misaligned_or_overlapping(tiny_cfg, tiny_blob):
    i = index_of(tiny_cfg, "final_norm")
    refuses(with_record(tiny_blob, i, offset=len(tiny_blob) - 64), "aligned range")
    refuses(with_record(tiny_blob, i, offset=2**64 - 64), "aligned range")
    refuses(with_record(tiny_blob, i, offset=record(tiny_blob, i)[7] + 2), "aligned range")
    refuses(with_record(tiny_blob, i, offset=64), "aligned range")          # inside the directory
    refuses(with_record(tiny_blob, i, offset=record(tiny_blob, 0)[7]), "overlaps embedding")


def test_shapes_and_dtypes_the_geometry_does_not_have(tiny_cfg, tiny_blob):
    i = index_of(tiny_cfg, "layer02.k_proj")
    refuses(with_record(tiny_blob, i, s0=64), r"shape .* expected \(32, 64\)")
    refuses(with_record(tiny_blob, i, ndim=3), "shape")
    refuses(with_record(tiny_blob, i, ndim=200), "shape")
    refuses(with_record(tiny_blob, i, dtype=9), "dtype 9")
    refuses(with_record(tiny_blob, index_of(tiny_cfg, "layer02.d1"), dtype=F.CQ, group=128, bits=2),
            "CQ blob where the format has a vector")
    refuses(with_record(tiny_blob, index_of(tiny_cfg, "layer02.d1"), bits=2), "group/bits")


def test_header_geometry_that_disagrees(tiny_blob):
    refuses(with_header(tiny_blob, head_dim=32), "head_dim = 32, the geometry gives 16")
    refuses(with_header(tiny_blob, hada_n=128), "hada_n")
    refuses(with_header(tiny_blob, d_model=2**31), "d_model")
    refuses(with_header(tiny_blob, num_heads=0), "num_heads")
    refuses(with_header(tiny_blob, site1=9), "engram layer")
    refuses(with_header(tiny_blob, num_engram_orders=0), "engram orders")
    refuses(with_header(tiny_blob, rope_theta=float("nan")), "rope_theta")
    refuses(with_header(tiny_blob, codebook_len=27), "codebook_len")
    refuses(with_header(tiny_blob, num_tensors=5), "tensors, this geometry has")


def test_values_that_are_not_numbers(tiny_cfg, tiny_blob):
    i = index_of(tiny_cfg, "final_norm")
    off = record(tiny_blob, i)[7]
    refuses(tiny_blob[:off] + b"\x00\x7e" + tiny_blob[off + 2:], "not finite")      # fp16 NaN
    j = index_of(tiny_cfg, "layer00.out_proj")
    rec = record(tiny_blob, j)
    norms_at = rec[7] + rec[3] * cq.row_bytes(rec[4], rec[10], rec[9])
    refuses(tiny_blob[:norms_at] + b"\x00\xbc" + tiny_blob[norms_at + 2:], "negative or not finite")
    bad = bytearray(tiny_blob)
    bad[F.HEADER.size:F.HEADER.size + 4] = struct.pack("<f", 5.0)                    # cb2 not increasing
    refuses(bytes(bad), "codebook")


def test_ternary_crumb_that_is_no_level(tiny_cfg, tiny_blob):
    off = record(tiny_blob, index_of(tiny_cfg, "layer00.gate_proj"))[7]
    refuses(tiny_blob[:off] + b"\x02" + tiny_blob[off + 1:], "crumb 2 is not a ternary level")


def test_tokenizer_blob(tiny_blob):
    n = F.HEADER.unpack_from(tiny_blob, 0)[1]
    rec = record(tiny_blob, n - 1)
    assert rec[0] == F.RAW
    refuses(with_record(tiny_blob, n - 1, nbytes=rec[8] - 1), "tokenizer")
    at = rec[7]
    refuses(tiny_blob[:at] + struct.pack("<I", 301) + tiny_blob[at + 4:], "301 pieces")
    refuses(tiny_blob[:at + 4] + struct.pack("<I", 999) + tiny_blob[at + 8:], "special id")
    first = at + F.TOKENIZER_HEADER.size
    refuses(tiny_blob[:first + 4] + b"\x09" + tiny_blob[first + 5:], "type 9")
    refuses(tiny_blob[:first + 7] + b"\xff" + tiny_blob[first + 8:], "not UTF-8")


def test_every_truncation_is_one_line(tiny_blob):
    for cut in list(range(0, 400, 7)) + list(range(400, len(tiny_blob), 997)) + [len(tiny_blob) - 1]:
        with pytest.raises(CheckpointError):
            parse_cact(tiny_blob[:cut], "cut.cact")


def test_a_file_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from thimble.needle2 import cact
    monkeypatch.setattr(cact, "MAX_FILE_BYTES", 100)
    p = tmp_path / "big.cact"
    p.write_bytes(bytes(200))
    with pytest.raises(CheckpointError, match="more than a .cact may be"):
        read_cact(p)
