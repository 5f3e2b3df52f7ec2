"""The one writer of .thm images. Every layout fact comes from format.py; the
readers (reader.py here, thm_image.c on the device) mirror this file."""
import hashlib
import struct

import numpy as np

from . import format as fmt

_DTYPE_CODES = {name: code for code, (name, _) in fmt.DTYPES.items()}
_LAYOUT_CODES = {name: code for code, name in fmt.LAYOUTS.items()}
_NUMPY = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16}
_PACKED = ("int4", "cq2", "cq3", "cq4")     # data given as the packed uint8 bytes


class ImageError(ValueError):
    """An image that cannot be written or read, with the reason."""


def _align(n, a):
    return (n + a - 1) // a * a


def _pack(fields, values):
    missing = [n for n, _, _ in fields
               if n not in values and not n.startswith("reserved") and n != "flags"]
    if missing:
        raise ImageError(f"missing fields: {', '.join(missing)}")
    out = []
    for name, code, _ in fields:
        v = values.get(name, b"" if code.endswith("s") else 0)
        if code.endswith("I") and code[:-1].isdigit():
            out.extend(v)
        else:
            out.append(v)
    return struct.pack(fmt.struct_format(fields), *out)


def element_bytes(dtype, dims):
    """Bytes of a row-major tensor: int4 packs two elements a byte along each
    row, every row starting on a byte (format.dtype_bytes)."""
    return fmt.dtype_bytes(_DTYPE_CODES[dtype], dims)


def data_bytes(dtype, dims, layout):
    """Bytes a tensor's data must have, or None when the layout cannot hold
    it: a packed layout holds int8 [N, K] matmul weights only."""
    if layout == "row_major":
        return element_bytes(dtype, dims)
    if dtype != "int8" or len(dims) != 2:
        return None
    return fmt.packed_bytes(_LAYOUT_CODES[layout], dims[0], dims[1])


class Tensor:
    """A tensor to write. data: a numpy array of the dtype (or, for int4 and cqB, packed uint8 bytes;
    for a packed layout, the uint8 bytes runtime/thimble/kernels/layouts.py pack wrote);
    dims: the logical shape (defaults to data.shape; [N, K] for a packed layout)."""

    def __init__(self, name, data, dtype=None, dims=None, layout="row_major"):
        self.name = name
        self.dtype = dtype or np.dtype(data.dtype).name
        self.dims = tuple(int(d) for d in (dims if dims is not None else data.shape))
        self.layout = layout
        self.data = np.ascontiguousarray(data)
        name_bytes = name.encode("utf-8")
        if not 1 <= len(name_bytes) <= fmt.MAX_NAME or any(b not in fmt.NAME_CHARS for b in name_bytes):
            raise ImageError(f"tensor name {name!r}: 1 to {fmt.MAX_NAME} printable ASCII characters, no spaces")
        if self.dtype not in _DTYPE_CODES:
            raise ImageError(f"tensor {name}: dtype {self.dtype} is not one of {sorted(_DTYPE_CODES)}")
        if self.layout not in _LAYOUT_CODES:
            raise ImageError(f"tensor {name}: layout {self.layout} is not one of {sorted(_LAYOUT_CODES)}")
        if not 1 <= len(self.dims) <= fmt.MAX_DIMS or min(self.dims) < 1:
            raise ImageError(f"tensor {name}: dims {self.dims} must be 1..{fmt.MAX_DIMS} positive sizes")
        want = data_bytes(self.dtype, self.dims, self.layout)
        if want is None:
            raise ImageError(f"tensor {name}: layout {self.layout} holds int8 [N, K] weights, "
                             f"not {self.dtype} {self.dims}")
        if self.layout != "row_major" and self.data.dtype != np.uint8:
            raise ImageError(f"tensor {name}: data is {self.data.dtype}; in layout {self.layout} "
                             f"pass the packed bytes as uint8")
        if self.dtype in _PACKED and self.data.dtype != np.uint8:
            raise ImageError(f"tensor {name}: pass {self.dtype} data as its packed uint8 bytes")
        if self.dtype.startswith("cq") and (len(self.dims) != 2 or self.dims[1] % fmt.CQ_GROUP):
            raise ImageError(f"tensor {name}: {self.dtype} is [N, K] with K a multiple of {fmt.CQ_GROUP}, "
                             f"not {self.dims}")
        if self.layout == "row_major" and self.dtype not in _PACKED and self.data.dtype != _NUMPY[self.dtype]:
            raise ImageError(f"tensor {name}: data is {self.data.dtype}, declared {self.dtype}")
        if self.data.nbytes != want:
            raise ImageError(f"tensor {name}: {self.data.nbytes} bytes of data for dims {self.dims} "
                             f"of {self.dtype} in layout {self.layout} ({want} expected)")


def build_image(config, tensors, tokenizer_blob=None, model_id=b"", family="needle"):
    """Return the bytes of an image. config: dict of the family's config fields
    (CONFIG for "needle", CONFIG_NEEDLE2 for "needle2"); tensors: list of Tensor (names unique)."""
    config_kind = {v: k for k, v in fmt.CONFIG_SECTIONS.items()}.get(family)
    if config_kind is None:
        raise ImageError(f"model family {family!r} is not one of {sorted(fmt.CONFIG_SECTIONS.values())}")
    config_fields = getattr(fmt, config_kind)
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ImageError(f"duplicate tensor names: {', '.join(dup)}")
    if len(tensors) > fmt.MAX_TENSORS:
        raise ImageError(f"{len(tensors)} tensors, at most {fmt.MAX_TENSORS}")
    # the header names the one packed layout an image is built for
    packed = sorted({t.layout for t in tensors if t.layout != "row_major"})
    if len(packed) > 1:
        raise ImageError(f"tensors in several packed layouts ({', '.join(packed)}): an image has one")
    weight_layout = _LAYOUT_CODES[packed[0]] if packed else 0

    strings = b"".join(t.name.encode("utf-8") for t in tensors)
    kinds = [config_kind, "STRINGS", "TENSORS"] + (["TOKENIZER"] if tokenizer_blob else []) + ["DATA"]
    table_off = fmt.HEADER_SIZE
    off = _align(table_off + fmt.SECTION_SIZE * len(kinds), fmt.SECTION_ALIGN)

    sizes = {config_kind: fmt.struct_size(config_fields), "STRINGS": len(strings),
             "TENSORS": fmt.TENSOR_SIZE * len(tensors),
             "TOKENIZER": len(tokenizer_blob or b"")}
    layout = {}
    for kind in kinds[:-1]:
        layout[kind] = (off, sizes[kind])
        off = _align(off + sizes[kind], fmt.SECTION_ALIGN)
    data_start = off
    data_offsets = []
    for t in tensors:
        off = _align(off, fmt.DATA_ALIGN)
        data_offsets.append(off)
        off += t.data.nbytes
    layout["DATA"] = (data_start, off - data_start)
    image_size = _align(off, fmt.SECTION_ALIGN)

    buf = bytearray(image_size)
    sections = b"".join(_pack(fmt.SECTION, dict(kind=fmt.SECTION_KINDS[k], offset=layout[k][0],
                                                size=layout[k][1])) for k in kinds)
    buf[table_off:table_off + len(sections)] = sections
    co, csize = layout[config_kind]
    buf[co:co + csize] = _pack(config_fields, config)
    so, _ = layout["STRINGS"]
    buf[so:so + len(strings)] = strings
    to, _ = layout["TENSORS"]
    name_off = 0
    for i, t in enumerate(tensors):
        dims = list(t.dims) + [1] * (fmt.MAX_DIMS - len(t.dims))
        n = len(t.name.encode("utf-8"))
        entry = _pack(fmt.TENSOR, dict(name_offset=name_off, name_len=n, dtype=_DTYPE_CODES[t.dtype],
                                       layout=_LAYOUT_CODES[t.layout], ndim=len(t.dims), dims=dims,
                                       data_offset=data_offsets[i], data_size=t.data.nbytes))
        buf[to + i * fmt.TENSOR_SIZE:to + (i + 1) * fmt.TENSOR_SIZE] = entry
        buf[data_offsets[i]:data_offsets[i] + t.data.nbytes] = t.data.tobytes()
        name_off += n
    if tokenizer_blob:
        ko, _ = layout["TOKENIZER"]
        buf[ko:ko + len(tokenizer_blob)] = tokenizer_blob

    header = dict(magic=fmt.MAGIC, version_major=fmt.VERSION_MAJOR, version_minor=fmt.VERSION_MINOR,
                  header_size=fmt.HEADER_SIZE, image_size=image_size, section_count=len(kinds),
                  section_table=table_off, sha256=bytes(32), model_id=bytes(model_id[:16]),
                  weight_layout=weight_layout)
    buf[0:fmt.HEADER_SIZE] = _pack(fmt.HEADER, header)
    digest = hashlib.sha256(buf).digest()            # hash field is zero here
    buf[fmt.SHA256_OFFSET:fmt.SHA256_OFFSET + 32] = digest
    return bytes(buf)


def write_image(path, config, tensors, tokenizer_blob=None, model_id=b"", family="needle"):
    """Write an image to path (atomically: a temporary file, then rename). Returns its SHA-256 hex."""
    import os
    data = build_image(config, tensors, tokenizer_blob, model_id, family)
    tmp = f"{path}.partial"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return data[fmt.SHA256_OFFSET:fmt.SHA256_OFFSET + 32].hex()
