"""The C binder's table of dtype facts (runtime/device/model/thm_model_bind.c
thm_dtype_bits) is the image format's (runtime/thimble/image/format.py
DTYPES), int4 included: bits per element by code, and the packed byte count."""
import pathlib
import re

from thimble.image import format as fmt

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIND = (ROOT / "runtime" / "device" / "model" / "thm_model_bind.c").read_text()
IMAGE_H = (ROOT / "runtime" / "device" / "include" / "thm_image_format.h").read_text()


def test_c_dtype_bits_are_the_format_table():
    codes = {m.group(1): int(m.group(2)) for m in re.finditer(r"#define\s+THM_DTYPE_(\w+)\s+(\d+)", IMAGE_H)}
    table = re.search(r"thm_dtype_bits\[\]\s*=\s*\{(.*?)\};", BIND, re.S).group(1)
    c_bits = {codes[name]: int(bits) for name, bits in re.findall(r"\[THM_DTYPE_(\w+)\]\s*=\s*(\d+)", table)}
    assert c_bits == {code: bits for code, (_, bits) in fmt.DTYPES.items()}


def test_packed_bytes_of_sub_byte_types():
    int4 = next(c for c, (n, _) in fmt.DTYPES.items() if n == "int4")
    int16 = next(c for c, (n, _) in fmt.DTYPES.items() if n == "int16")
    assert [fmt.dtype_bytes(int4, (n,)) for n in (0, 1, 2, 3, 64)] == [0, 1, 1, 2, 32]
    # every row (run of the last dimension) starts on a byte
    assert fmt.dtype_bytes(int4, (3, 5)) == 9 and fmt.dtype_bytes(int4, (2, 3, 4)) == 12
    assert fmt.dtype_bytes(int16, (5,)) == 10 and fmt.dtype_bytes(int16, (2, 5)) == 20
