"""int4 tensors in the .thm image: rows of (K + 1) // 2 bytes, low nibble
first, every row on a byte (format.dtype_bytes). The Python writer and both
readers agree on them, and hostile int4 entries (an odd nibble count, a
truncated pack, a pack one row long, int4 in a packed layout) are refused by
both readers, the C one (ASan + UBSan) with its own THM_IMG_E_INT4 code."""
import numpy as np
import pytest

from test_image import CONFIG, checker, fnv1a, refused_by_both, run_checker  # noqa: F401 (a fixture)
from test_image_packed import patch, tensor_entry
from thimble.image import ImageError, Tensor, build_image, parse_image
from thimble.image import format as fmt
from thimble.kernels.reference import pack_s4, unpack_s4

SHAPES = [(3, 5), (4, 64), (1, 1), (7, 129)]


def int4_image(seed=0):
    rng = np.random.default_rng(seed)
    ws = {f"w{i}": rng.integers(-8, 8, s) for i, s in enumerate(SHAPES)}
    ts = [Tensor(n, pack_s4(w), "int4", w.shape) for n, w in ws.items()]
    ts.append(Tensor("plain", rng.integers(-128, 128, (6, 10), dtype=np.int8)))
    return build_image(dict(CONFIG, weight_bits=4), ts), ws


def test_int4_round_trip_python_and_c(checker, tmp_path):  # noqa: F811
    buf, ws = int4_image()
    img = parse_image(buf)
    code = {n: c for c, (n, _) in fmt.DTYPES.items()}["int4"]
    parts = []
    for name, info in img.tensor_info.items():
        raw = bytes(img.tensors[name].tobytes())
        if name in ws:
            N, K = ws[name].shape
            assert info["dtype"] == "int4" and info["dims"] == (N, K) and info["size"] == N * ((K + 1) // 2)
            assert img.tensors[name].shape == (N, (K + 1) // 2)
            np.testing.assert_array_equal(unpack_s4(img.tensors[name], K), ws[name])
            parts.append(f"{name}:{code}:0:{N}x{K}:{fnv1a(raw):08x}")
        else:
            parts.append(f"{name}:1:0:6x10:{fnv1a(raw):08x}")
    path = tmp_path / "i4.thm"
    path.write_bytes(buf)
    assert run_checker(checker, [path]) == [f"OK 1 {len(parts)} " + " ".join(parts) + " tok=0"]


def test_hostile_int4_entries_refused_by_both(checker, tmp_path):  # noqa: F811
    buf, _ = int4_image()
    e0, e3 = tensor_entry(buf, "w0"), tensor_entry(buf, "w3")     # [3, 5] and [7, 129]
    cases = {
        # 3 x 5 nibbles as if packed end to end: ceil(15 / 2) = 8 bytes, not 3 rows of 3
        "odd nibble count packed across rows": ("E_INT4", patch(buf, e0 + 40, "Q", 8)),
        "pack truncated by a byte": ("E_INT4", patch(buf, e3 + 40, "Q", 7 * 65 - 1)),
        "pack one row long": ("E_INT4", patch(buf, e3 + 40, "Q", 8 * 65)),
        "pack as if int8": ("E_INT4", patch(buf, e3 + 40, "Q", 7 * 129)),
        "K one more than the pack holds": ("E_INT4", patch(buf, e0 + 16, "I", 7)),
        "int4 in a packed layout": ("E_TENSOR", patch(patch(buf, e0 + 7, "B", 1), 80, "I", 1)),
    }
    refused_by_both(checker, tmp_path, cases)


def test_writer_refuses_bad_int4_data():
    with pytest.raises(ImageError, match="6 expected"):
        Tensor("a", np.zeros(5, np.uint8), "int4", (3, 3))
    with pytest.raises(ImageError, match="holds int8"):
        Tensor("a", np.zeros(64, np.uint8), "int4", (8, 16), "s8_r8k64")
