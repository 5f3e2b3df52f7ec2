"""The C reader's table of dtype facts (runtime/device/image/thm_image.c
thm_dtype_bits, which the binders ask through thm_image_dtype_bits) is the image format's (runtime/thimble/image/format.py
DTYPES), int4 included: bits per element by code, and the packed byte count."""
import pathlib
import re

from thimble.image import format as fmt

ROOT = pathlib.Path(__file__).resolve().parents[2]
READER = (ROOT / "runtime" / "device" / "image" / "thm_image.c").read_text()
IMAGE_H = (ROOT / "runtime" / "device" / "include" / "thm_image_format.h").read_text()


def test_c_dtype_bits_are_the_format_table():
    codes = {m.group(1): int(m.group(2)) for m in re.finditer(r"#define\s+THM_DTYPE_(\w+)\s+(\d+)", IMAGE_H)}
    assert codes.pop("MAX") == max(fmt.DTYPES)
    table = re.search(r"thm_dtype_bits\[THM_DTYPE_MAX \+ 1\]\s*=\s*\{(.*?)\};", READER, re.S).group(1)
    c_bits = {codes[name]: int(bits) for name, bits in re.findall(r"\[THM_DTYPE_(\w+)\]\s*=\s*(\d+)", table)}
    assert c_bits == {code: bits for code, (_, bits) in fmt.DTYPES.items()}


def test_packed_bytes_of_sub_byte_types():
    int4 = next(c for c, (n, _) in fmt.DTYPES.items() if n == "int4")
    int16 = next(c for c, (n, _) in fmt.DTYPES.items() if n == "int16")
    assert [fmt.dtype_bytes(int4, (n,)) for n in (0, 1, 2, 3, 64)] == [0, 1, 1, 2, 32]
    # every row (run of the last dimension) starts on a byte
    assert fmt.dtype_bytes(int4, (3, 5)) == 9 and fmt.dtype_bytes(int4, (2, 3, 4)) == 12
    assert fmt.dtype_bytes(int16, (5,)) == 10 and fmt.dtype_bytes(int16, (2, 5)) == 20
