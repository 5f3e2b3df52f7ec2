"""The .thm image format: every fact about its layout, in one table.

The Python writer (writer.py), the Python reader (reader.py) and the C reader
(runtime/device/image/thm_image.c, through the generated header
runtime/device/include/thm_image_format.h) all take their sizes, offsets and
codes from here. tools/gen_image_format.py renders the C header; a test checks
that the committed header is current.

Layout (all integers little-endian, all offsets from the start of the image):

    header            HEADER (128 bytes)
    section table     SECTION x section_count
    sections          each starting on a SECTION_ALIGN boundary
      CONFIG          CONFIG struct
      STRINGS         tensor names: printable ASCII (0x21-0x7E), not NUL-terminated
      TENSORS         TENSOR x tensor_count
      TOKENIZER       the tokenizer blob (its own format, docs/tokenizer.md)
      DATA            tensor data, every tensor on a DATA_ALIGN boundary

The image is executed in place from flash: nothing in it needs fixing up, and
the device reads tensors where they lie.

A tensor's layout is row-major (0) or one of the packed matmul-weight
layouts (PACKED_LAYOUTS): an image converted for a board carries its
projection weights in that board's fast-path order, and the header's
weight_layout says which (every packed tensor must have that layout).

Integrity: `sha256` in the header is SHA-256 over the whole image with the 32
bytes of the field itself taken as zero. A reader checks structure first (cheap,
bounded), then the hash when it is asked to (the device does before commit).
"""
import struct

from ..kernels import isa as _isa

MAGIC = b"THMB"
VERSION_MAJOR = 1        # a reader refuses another major version
VERSION_MINOR = 3        # a reader accepts newer minors (only appended fields); 1.1: weight_layout;
                         # 1.2: int4 tensors (weight_bits 4), rows packed as DTYPES says;
                         # 1.3: Needle 2 images (CONFIG_NEEDLE2 in place of CONFIG), uint16 and CQ tensors
SECTION_ALIGN = 64
DATA_ALIGN = 64          # covers 16-byte MVE/NEON loads and 64-byte cache lines
MAX_DIMS = 4
MAX_NAME = 96
NAME_CHARS = range(0x21, 0x7F)   # printable ASCII, no space: names are generated, never user text
MAX_SECTIONS = 16
MAX_TENSORS = 4096

# name, struct code, comment. One table per fixed structure.
HEADER = [
    ("magic", "4s", "b'THMB'"),
    ("version_major", "H", "VERSION_MAJOR"),
    ("version_minor", "H", "VERSION_MINOR"),
    ("header_size", "I", "bytes in this header (128)"),
    ("flags", "I", "reserved, 0"),
    ("image_size", "Q", "bytes in the whole image"),
    ("section_count", "I", "entries in the section table"),
    ("section_table", "I", "offset of the section table"),
    ("sha256", "32s", "SHA-256 of the image with this field zeroed"),
    ("model_id", "16s", "first 16 bytes of the hash of the source checkpoint, for display"),
    ("weight_layout", "I", "LAYOUTS code every packed tensor has (0: none; 1.0 images: 0)"),
    ("reserved", "44s", "zero"),
]

SECTION = [
    ("kind", "I", "SECTION_KINDS"),
    ("flags", "I", "reserved, 0"),
    ("offset", "Q", "from the start of the image, SECTION_ALIGN aligned"),
    ("size", "Q", "bytes"),
]

SECTION_KINDS = {"CONFIG": 1, "STRINGS": 2, "TENSORS": 3, "TOKENIZER": 4, "DATA": 5, "CONFIG_NEEDLE2": 6}
REQUIRED_SECTIONS = ("STRINGS", "TENSORS", "DATA")
# Exactly one config section, and it names the model family: CONFIG is Needle
# v1 (encoder-decoder), CONFIG_NEEDLE2 Needle 2 (decoder-only). A reader older
# than 1.3 finds no CONFIG in a Needle 2 image and refuses it.
CONFIG_SECTIONS = {"CONFIG": "needle", "CONFIG_NEEDLE2": "needle2"}

# The model's hyperparameters and the special token ids. Integer constants of
# the quantised model (multipliers, shifts, eps) are tensors, not config.
CONFIG = [
    ("vocab_size", "I", ""),
    ("d_model", "I", ""),
    ("n_enc_layers", "I", ""),
    ("n_dec_layers", "I", ""),
    ("n_heads", "I", "query heads"),
    ("n_kv_heads", "I", "key/value heads"),
    ("head_dim", "I", ""),
    ("max_enc_len", "I", "encoder tokens the image's tables support"),
    ("max_dec_len", "I", "decoder tokens the image's tables support"),
    ("rope_n_pos", "I", "rows of the RoPE tables"),
    ("pad_id", "I", ""),
    ("eos_id", "I", ""),
    ("bos_id", "I", ""),
    ("unk_id", "I", ""),
    ("tool_call_id", "I", ""),
    ("tools_id", "I", ""),
    ("weight_bits", "I", "8 or 4"),
    ("reserved", "60s", "zero"),
]

# Needle 2 (runtime/thimble/needle2/image.py writes it, thm_n2_bind reads it).
# As for CONFIG, the integer constants are tensors.
CONFIG_NEEDLE2 = [
    ("vocab_size", "I", ""),
    ("d_model", "I", ""),
    ("n_layers", "I", ""),
    ("n_heads", "I", "query heads"),
    ("n_kv_heads", "I", "key/value heads"),
    ("head_dim", "I", ""),
    ("rope_n_pos", "I", "rows of the RoPE tables: positions the image supports"),
    ("lanes", "I", "hyper-connection lanes"),
    ("hada_n", "I", "the Hadamard MLP's width (a power of two >= d_model)"),
    ("sinkhorn_iters", "I", "row + column passes of the lane-mixing Sinkhorn"),
    ("kv_window", "I", "keys a query sees besides the sinks (0: all)"),
    ("kv_sinks", "I", "first positions every query sees"),
    ("engram_sites", "I", "layers with an engram (0 .. 4)"),
    ("engram_layers", "4I", "the sites' layers, ascending; unused are 0"),
    ("engram_orders", "I", "n-gram orders (1 .. 4)"),
    ("engram_order", "4I", "each order; unused are 0"),
    ("engram_heads", "I", "hash heads per order"),
    ("engram_slots", "I", "rows per table"),
    ("engram_taps", "I", "taps of the dilated conv"),
    ("engram_dilation", "I", "its dilation"),
    ("reserved", "24s", "zero"),
]

TENSOR = [
    ("name_offset", "I", "into STRINGS"),
    ("name_len", "H", "bytes, 1 .. MAX_NAME"),
    ("dtype", "B", "DTYPES"),
    ("layout", "B", "LAYOUTS"),
    ("ndim", "B", "1 .. MAX_DIMS"),
    ("reserved", "3s", "zero"),
    ("dims", f"{MAX_DIMS}I", "unused dims are 1"),
    ("reserved2", "I", "zero (keeps data_offset 8-byte aligned in C)"),
    ("data_offset", "Q", "from the start of the image, DATA_ALIGN aligned, inside DATA"),
    ("data_size", "Q", "bytes: element count x element size, or packed_bytes for a packed layout"),
]

# code: (name, bits per element). Sub-byte types pack 8 // bits elements a
# byte along the last dimension, low bits first, and every row (a run of the
# last dimension) starts on a byte: int4 [N, K] is N rows of (K + 1) // 2
# bytes, an odd K's last high nibble zero. Rows on bytes let a matmul start
# any weight row without shifting; the cost is half a byte per odd row. The
# C binder's table (runtime/device/model/thm_model_bind.c thm_dtype_bits) is
# checked against this one, and the C reader's byte count against dtype_bytes.
#
# CQ (Needle 2, 1.3): cqB [N, Kp] is a CQ matrix's codebook indices, B bits a
# field in one LSB-first bitstream per row (ternary is cq2 with its own
# codebook), Kp a multiple of the 128-value group; the tensor NAME.lut (int8
# [2^B]) holds the integer codebook and NAME.norms (uint16 [N, Kp / 128]) the
# group norms (kernels/include/thimble_kernels.h thm_matmul_cq_s8).
DTYPES = {1: ("int8", 8), 2: ("int16", 16), 3: ("int32", 32), 4: ("uint8", 8), 5: ("int4", 4),
          6: ("uint16", 16), 7: ("cq2", 2), 8: ("cq3", 3), 9: ("cq4", 4)}
CQ_GROUP = 128


def dtype_bytes(code, dims):
    """Bytes of a row-major tensor of dtype `code` and shape `dims`."""
    rows, last = 1, 1
    for d in dims[:-1]:
        rows *= int(d)
    if dims:
        last = int(dims[-1])
    return rows * -(-last * DTYPES[code][1] // 8)


# 0 is plain row-major. The others are the packed matmul weights of the board
# fast paths (runtime/thimble/kernels/isa.py is their table, layouts.py writes
# them, the kernels' thm_matmul_s8_packed reads them; docs/kernels-arm.md gives
# the byte orders).
LAYOUTS = dict(_isa.LAYOUT_NAMES)
# A packed tensor is int8 [N, K] (dtype and dims are the logical weights);
# its data is N rounded up to whole tiles of rows, times K rounded up to whole
# k blocks, times the stored element's bytes (zero padding):
# code: (rows per tile, k per block, bytes per stored element)
PACKED_LAYOUTS = {lay.code: (lay.rows, lay.k_block, lay.elem_bytes) for lay in _isa.LAYOUTS}


def packed_bytes(layout, N, K):
    """Data bytes of int8 [N, K] in a packed layout (thm_matmul_s8_packed_size)."""
    rows, kb, eb = PACKED_LAYOUTS[layout]
    return -(-N // rows) * rows * (-(-K // kb) * kb) * eb


def struct_format(fields):
    return "<" + "".join(code for _, code, _ in fields)


def struct_size(fields):
    return struct.calcsize(struct_format(fields))


HEADER_SIZE = struct_size(HEADER)
SECTION_SIZE = struct_size(SECTION)
CONFIG_SIZE = struct_size(CONFIG)
CONFIG_NEEDLE2_SIZE = struct_size(CONFIG_NEEDLE2)
TENSOR_SIZE = struct_size(TENSOR)
SHA256_OFFSET = struct.calcsize("<" + "".join(c for n, c, _ in HEADER[:HEADER.index(
    next(f for f in HEADER if f[0] == "sha256"))]))

assert HEADER_SIZE == 128, HEADER_SIZE
assert SECTION_SIZE == 24, SECTION_SIZE
assert CONFIG_SIZE == 128, CONFIG_SIZE
assert CONFIG_NEEDLE2_SIZE == 128, CONFIG_NEEDLE2_SIZE
assert TENSOR_SIZE == 48, TENSOR_SIZE
assert SHA256_OFFSET == 32, SHA256_OFFSET
