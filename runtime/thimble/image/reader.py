"""The Python reader of .thm images (tests, tools, the host simulator's
metadata). It mirrors writer.py and checks everything thm_image.c checks:
the image is untrusted input."""
import hashlib
import mmap
import struct

import numpy as np

from . import format as fmt
from .writer import ImageError, data_bytes

_NUMPY = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "uint8": np.uint8, "int4": np.uint8,
          "uint16": np.uint16, "cq2": np.uint8, "cq3": np.uint8, "cq4": np.uint8}


def _unpack(fields, buf, off):
    values = struct.unpack_from(fmt.struct_format(fields), buf, off)
    out, i = {}, 0
    for name, code, _ in fields:
        if code.endswith("I") and code[:-1].isdigit():
            n = int(code[:-1])
            out[name] = list(values[i:i + n])
            i += n
        else:
            out[name] = values[i]
            i += 1
    return out


class Image:
    """A parsed image: header, family ("needle" or "needle2"), config (dict of that
    family's config fields), tensors (name -> read-only numpy view
    into the image bytes; a packed tensor is its raw uint8 bytes, to be read with
    thimble.kernels.layouts.unpack), tensor_info (name -> dict), tokenizer (bytes
    or None), weight_layout (the layout name of its packed tensors, "row_major" if none)."""

    def __init__(self, buf):
        self.buf = buf
        self.header = None
        self.config = None
        self.family = None
        self.tensors = {}
        self.tensor_info = {}
        self.tokenizer = None

    @property
    def sha256(self):
        return bytes(self.header["sha256"]).hex()

    @property
    def size(self):
        return len(self.buf)

    @property
    def weight_layout(self):
        return fmt.LAYOUTS[self.header["weight_layout"]]


def image_digest(buf):
    h = hashlib.sha256()
    h.update(buf[:fmt.SHA256_OFFSET])
    h.update(bytes(32))
    h.update(buf[fmt.SHA256_OFFSET + 32:])
    return h.digest()


def parse_image(buf, verify_hash=True):
    """Parse bytes (or any buffer) into an Image, or raise ImageError saying what is wrong."""
    mv = memoryview(buf)
    n = len(mv)
    if n < fmt.HEADER_SIZE:
        raise ImageError(f"image is {n} bytes, shorter than its {fmt.HEADER_SIZE}-byte header")
    img = Image(mv)
    h = img.header = _unpack(fmt.HEADER, mv, 0)
    if h["magic"] != fmt.MAGIC:
        raise ImageError(f"not a thimble image (magic {h['magic']!r}, expected {fmt.MAGIC!r})")
    if h["version_major"] != fmt.VERSION_MAJOR:
        raise ImageError(f"image format version {h['version_major']}.{h['version_minor']}; "
                         f"this reader reads {fmt.VERSION_MAJOR}.x")
    if h["header_size"] != fmt.HEADER_SIZE:
        raise ImageError(f"header_size {h['header_size']}, expected {fmt.HEADER_SIZE}")
    if h["image_size"] != n:
        raise ImageError(f"image declares {h['image_size']} bytes but has {n} (truncated or padded)")
    if h["weight_layout"] not in fmt.LAYOUTS:
        raise ImageError(f"header weight_layout {h['weight_layout']} is not a known layout {sorted(fmt.LAYOUTS)}")
    if not 1 <= h["section_count"] <= fmt.MAX_SECTIONS:
        raise ImageError(f"section_count {h['section_count']} outside 1..{fmt.MAX_SECTIONS}")
    table_end = h["section_table"] + h["section_count"] * fmt.SECTION_SIZE
    if h["section_table"] < fmt.HEADER_SIZE or table_end > n or h["section_table"] % 8:
        raise ImageError("section table lies outside the image or is misaligned")
    if verify_hash and image_digest(mv) != bytes(h["sha256"]):
        raise ImageError("SHA-256 of the image does not match its header (corrupt or altered)")

    sections = {}
    for i in range(h["section_count"]):
        s = _unpack(fmt.SECTION, mv, h["section_table"] + i * fmt.SECTION_SIZE)
        kind = {v: k for k, v in fmt.SECTION_KINDS.items()}.get(s["kind"])
        if kind is None:
            raise ImageError(f"section {i}: unknown kind {s['kind']}")
        if kind in sections:
            raise ImageError(f"section {kind} appears twice")
        if s["offset"] % fmt.SECTION_ALIGN or s["offset"] < table_end or s["offset"] + s["size"] > n:
            raise ImageError(f"section {kind}: [{s['offset']}, +{s['size']}) outside the image or misaligned")
        sections[kind] = s
    for kind in fmt.REQUIRED_SECTIONS:
        if kind not in sections:
            raise ImageError(f"required section {kind} is missing")
    configs = [k for k in fmt.CONFIG_SECTIONS if k in sections]
    if len(configs) != 1:
        raise ImageError(f"an image has exactly one config section ({' or '.join(fmt.CONFIG_SECTIONS)}), "
                         f"this one {len(configs)}")
    kind = configs[0]
    fields = getattr(fmt, kind)
    if sections[kind]["size"] < fmt.struct_size(fields):
        raise ImageError(f"{kind} section is {sections[kind]['size']} bytes, needs {fmt.struct_size(fields)}")
    img.family = fmt.CONFIG_SECTIONS[kind]
    img.config = {k: v for k, v in _unpack(fields, mv, sections[kind]["offset"]).items()
                  if not k.startswith("reserved")}

    strings, tens, data = sections["STRINGS"], sections["TENSORS"], sections["DATA"]
    if tens["size"] % fmt.TENSOR_SIZE or tens["size"] // fmt.TENSOR_SIZE > fmt.MAX_TENSORS:
        raise ImageError(f"TENSORS section size {tens['size']} is not a whole number of entries "
                         f"(at most {fmt.MAX_TENSORS})")
    data_lo, data_hi = data["offset"], data["offset"] + data["size"]
    for i in range(tens["size"] // fmt.TENSOR_SIZE):
        t = _unpack(fmt.TENSOR, mv, tens["offset"] + i * fmt.TENSOR_SIZE)
        if not 1 <= t["name_len"] <= fmt.MAX_NAME or t["name_offset"] + t["name_len"] > strings["size"]:
            raise ImageError(f"tensor {i}: name outside the STRINGS section")
        raw = bytes(mv[strings["offset"] + t["name_offset"]:
                       strings["offset"] + t["name_offset"] + t["name_len"]])
        if any(b not in fmt.NAME_CHARS for b in raw):
            raise ImageError(f"tensor {i}: name {raw!r} is not printable ASCII")
        name = raw.decode("ascii")
        if name in img.tensors:
            raise ImageError(f"tensor {i}: name {name!r} repeats")
        if t["dtype"] not in fmt.DTYPES:
            raise ImageError(f"tensor {name}: unknown dtype code {t['dtype']}")
        if t["layout"] not in fmt.LAYOUTS:
            raise ImageError(f"tensor {name}: unknown layout code {t['layout']}")
        if t["layout"] not in (0, h["weight_layout"]):
            raise ImageError(f"tensor {name}: layout {fmt.LAYOUTS[t['layout']]}, but the header says the "
                             f"image's packed layout is {fmt.LAYOUTS[h['weight_layout']]}")
        if not 1 <= t["ndim"] <= fmt.MAX_DIMS:
            raise ImageError(f"tensor {name}: ndim {t['ndim']} outside 1..{fmt.MAX_DIMS}")
        dims = tuple(t["dims"][:t["ndim"]])
        if min(dims) < 1 or any(d != 1 for d in t["dims"][t["ndim"]:]):
            raise ImageError(f"tensor {name}: bad dims {t['dims']}")
        dtype, layout = fmt.DTYPES[t["dtype"]][0], fmt.LAYOUTS[t["layout"]]
        if dtype.startswith("cq") and (len(dims) != 2 or dims[1] % fmt.CQ_GROUP):
            raise ImageError(f"tensor {name}: {dtype} is [N, K] with K a multiple of {fmt.CQ_GROUP}, not {dims}")
        want = data_bytes(dtype, dims, layout)
        if want is None:
            raise ImageError(f"tensor {name}: layout {layout} holds int8 [N, K] weights, not {dtype} {dims}")
        if want != t["data_size"]:
            raise ImageError(f"tensor {name}: data_size {t['data_size']} does not match dims {dims} of {dtype} "
                             f"in layout {layout} ({want})")
        lo, hi = t["data_offset"], t["data_offset"] + t["data_size"]
        if lo % fmt.DATA_ALIGN or lo < data_lo or hi > data_hi:
            raise ImageError(f"tensor {name}: data [{lo}, {hi}) outside the DATA section or misaligned")
        raw = layout != "row_major"
        arr = np.frombuffer(mv[lo:hi], dtype=np.uint8 if raw else _NUMPY[dtype])
        # int4 and cqB: uint8 rows of their packed bytes, the kernels' form
        bits = fmt.DTYPES[t["dtype"]][1]
        shape = dims[:-1] + (-(-dims[-1] * bits // 8),) if dtype in ("int4", "cq2", "cq3", "cq4") else dims
        img.tensors[name] = arr if raw else arr.reshape(shape)
        img.tensor_info[name] = dict(dtype=dtype, dims=dims, layout=layout, offset=lo, size=t["data_size"])
    if "TOKENIZER" in sections:
        k = sections["TOKENIZER"]
        img.tokenizer = bytes(mv[k["offset"]:k["offset"] + k["size"]])
    return img


def read_image(path, verify_hash=True):
    """Map an image file read-only and parse it (tensors are views into the mapping)."""
    with open(path, "rb") as f:
        try:
            m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:
            raise ImageError(f"{path}: empty file, not a thimble image") from None
    return parse_image(m, verify_hash=verify_hash)
