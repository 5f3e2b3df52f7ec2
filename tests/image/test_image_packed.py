"""Packed weight layouts in the .thm image: the Python writer, the Python
reader and the C reader (ASan + UBSan, the checker of test_image.py) agree on
packed tensors, and both readers refuse the same hostile packed entries with
the same verdict; the format table's tile geometry is the kernels'."""
import struct

import numpy as np
import pytest

from test_image import CONFIG, checker, fnv1a, refused_by_both, run_checker  # noqa: F401 (a fixture)
from thimble.image import ImageError, Tensor, build_image, parse_image
from thimble.image import format as fmt
from thimble.kernels import layouts
from thimble.sim.c_model import lib

SHAPES = [(13, 70), (8, 64), (1, 1), (40, 17), (5, 129)]   # [N, K]: padded and exact tiles


def packed_tensor(name, w, layout):
    code = {v: k for k, v in fmt.LAYOUTS.items()}[layout]
    return Tensor(name, np.frombuffer(layouts.pack(w, code), np.uint8), "int8", w.shape, layout)


def packed_image(layout, seed=0):
    rng = np.random.default_rng(seed)
    ws = {f"w{i}": rng.integers(-128, 128, s, dtype=np.int8) for i, s in enumerate(SHAPES)}
    ts = [Tensor("plain", rng.integers(-128, 128, (6, 10), dtype=np.int8))]
    ts += [packed_tensor(n, w, layout) for n, w in ws.items()]
    ts += [Tensor("w0.shift", np.full(13, -3, np.int32))]
    return build_image(CONFIG, ts), ws


def tensor_entry(buf, name):
    """Offset of the tensor table entry of `name`."""
    img = parse_image(buf, verify_hash=False)
    sec = {struct.unpack_from("<I", buf, img.header["section_table"] + i * fmt.SECTION_SIZE)[0]:
           struct.unpack_from("<IIQQ", buf, img.header["section_table"] + i * fmt.SECTION_SIZE)[2]
           for i in range(img.header["section_count"])}
    return sec[fmt.SECTION_KINDS["TENSORS"]] + list(img.tensor_info).index(name) * fmt.TENSOR_SIZE


def patch(buf, off, code, value):
    b = bytearray(buf)
    struct.pack_into("<" + code, b, off, value)
    return bytes(b)


def test_geometry_is_the_kernels():
    """format.py's table, layouts.py and the C thm_matmul_s8_packed_size give the same bytes."""
    assert {c: n for c, n in fmt.LAYOUTS.items() if c} == layouts.NAMES
    for code in fmt.PACKED_LAYOUTS:
        for N, K in SHAPES + [(512, 512), (8192, 512), (3, 4101)]:
            want = layouts.packed_size(code, K, N)
            assert fmt.packed_bytes(code, N, K) == want == lib.thm_matmul_s8_packed_size(code, K, N), (code, N, K)


@pytest.mark.parametrize("layout", ["s8_r8k64", "s16_r4k16"])
def test_packed_round_trip_python_and_c(checker, tmp_path, layout):  # noqa: F811
    buf, ws = packed_image(layout)
    img = parse_image(buf)
    assert img.weight_layout == layout and img.header["weight_layout"] in fmt.PACKED_LAYOUTS
    code = img.header["weight_layout"]
    parts = []
    for name, info in img.tensor_info.items():
        raw = bytes(img.tensors[name].tobytes())
        if name in ws:
            assert info["layout"] == layout and info["dims"] == ws[name].shape
            assert raw == layouts.pack(ws[name], code)
            np.testing.assert_array_equal(layouts.unpack(raw, code, *ws[name].shape), ws[name])
        else:
            assert info["layout"] == "row_major"
        dcode = {n: c for c, (n, _) in fmt.DTYPES.items()}[info["dtype"]]
        lcode = {n: c for c, n in fmt.LAYOUTS.items()}[info["layout"]]
        parts.append(f"{name}:{dcode}:{lcode}:{'x'.join(map(str, info['dims']))}:{fnv1a(raw):08x}")
    path = tmp_path / "p.thm"
    path.write_bytes(buf)
    assert run_checker(checker, [path]) == [f"OK 1 {len(parts)} " + " ".join(parts) + " tok=0"]


def test_hostile_packed_entries_refused_by_both(checker, tmp_path):  # noqa: F811
    buf, _ = packed_image("s8_r8k64")
    e0, ep = tensor_entry(buf, "w0"), tensor_entry(buf, "plain")
    size0 = parse_image(buf).tensor_info["w0"]["size"]
    cases = {
        "packed size one row short": ("E_TENSOR", patch(buf, e0 + 40, "Q", size0 - 70)),
        "packed size as if row-major": ("E_TENSOR", patch(buf, e0 + 40, "Q", 13 * 70)),
        "packed size one tile more": ("E_TENSOR", patch(buf, e0 + 40, "Q", size0 + 8 * 128)),
        "unknown layout": ("E_TENSOR", patch(buf, e0 + 7, "B", 3)),
        "layout the header does not name": ("E_TENSOR", patch(buf, e0 + 7, "B", 2)),
        "packed int16": ("E_TENSOR", patch(buf, e0 + 6, "B", 2)),
        "packed 3-D": ("E_TENSOR", patch(patch(buf, e0 + 8, "B", 3), e0 + 20, "I", 1)),
        "packed dims wrap 64 bits": ("E_TENSOR", patch(patch(buf, e0 + 12, "I", 0xFFFFFFFF), e0 + 16, "I",
                                                      0xFFFFFFFF)),
        "row-major tensor marked packed": ("E_TENSOR", patch(buf, ep + 7, "B", 1)),
        "header weight_layout unknown": ("E_HEADER", patch(buf, 80, "I", 3)),
        "header weight_layout huge": ("E_HEADER", patch(buf, 80, "I", 0xFFFFFFFF)),
        "header says plain, tensors packed": ("E_TENSOR", patch(buf, 80, "I", 0)),
    }
    refused_by_both(checker, tmp_path, cases)


def test_writer_refuses_bad_packed_tensors():
    w = np.ones((8, 64), np.int8)
    with pytest.raises(ImageError, match="several packed layouts"):
        build_image(CONFIG, [packed_tensor("a", w, "s8_r8k64"), packed_tensor("b", w, "s16_r4k16")])
    with pytest.raises(ImageError, match="bytes of data"):
        Tensor("a", np.zeros(100, np.uint8), "int8", (8, 64), "s8_r8k64")
    with pytest.raises(ImageError, match="uint8"):
        Tensor("a", w, "int8", (8, 64), "s8_r8k64")
    with pytest.raises(ImageError, match="holds int8"):
        Tensor("a", np.zeros(1024, np.uint8), "int16", (8, 64), "s16_r4k16")
    with pytest.raises(ImageError, match="layout"):
        Tensor("a", np.zeros(512, np.uint8), "int8", (8, 64), "s4_tiles")
