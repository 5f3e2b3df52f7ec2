"""Needle params in .safetensors: the flax tree's paths joined by "/" as
tensor names (layers stacked, kernels [in, out], as in the pickle) and the
config as JSON under the metadata key "config".

The format (huggingface/safetensors, docs "Format"): an unsigned 64-bit
little-endian header length N, N bytes of UTF-8 JSON mapping each name to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
byte after the header) plus an optional "__metadata__" of string to string,
then the raw little-endian data. Our reader needs no package: it checks the
header length against the file, every offset against the data, every size
against its shape and dtype, and refuses overlaps before reading a byte of
tensor data.
"""
import collections
import json
import math
import os
import struct

import numpy as np

from . import bounded_json
from .files import read_bounded
from .config import ConfigError, NeedleConfig
from .flax_tree import tensors_to_tree, tree_to_tensors
from .params import CheckpointError, NeedleModel

MAX_HEADER_BYTES = 100 << 20      # the reference implementation's own limit
MAX_FILE_BYTES = 4 << 30
MAX_DIMS = 8
MAX_ELEMENTS = 1 << 40        # product of the non-zero dims: far past any file this reader takes
# safetensors dtype -> numpy dtype (BF16 is decoded by hand: numpy has none)
DTYPES = {"F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "BF16": np.dtype("<u2")}
METADATA_CONFIG_KEY = "config"


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        # counted once each: keys.count per key made a 200,000-entry header with
        # one name twice cost 4e10 comparisons before the refusal
        dup = sorted(k for k, n in collections.Counter(keys).items() if n > 1)
        raise CheckpointError(f"header names {', '.join(map(repr, dup))} more than once")
    return dict(pairs)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def parse_header(head, data_len):
    """JSON header bytes -> ({name: (dtype, shape, begin, end)}, metadata).
    Every entry is checked against data_len (the bytes after the header)."""
    try:
        obj = bounded_json.loads(head.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"header is not UTF-8 JSON: {e}") from None
    if not isinstance(obj, dict):
        raise CheckpointError("header is not a JSON object")
    meta = obj.pop("__metadata__", None)
    if meta is None:
        meta = {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise CheckpointError("__metadata__ must map strings to strings")
    entries = {}
    for name, e in obj.items():
        if not name:
            raise CheckpointError("a tensor has an empty name")
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(f"tensor {name!r}: entry must have exactly dtype, shape and data_offsets")
        dtype, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if dtype not in DTYPES:
            raise CheckpointError(f"tensor {name!r}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(_is_int(s) and s >= 0 for s in shape):
            raise CheckpointError(f"tensor {name!r}: bad shape {shape!r}")
        if math.prod(s for s in shape if s) > MAX_ELEMENTS:     # numpy refuses such a shape even when empty
            raise CheckpointError(f"tensor {name!r}: shape {shape} is larger than any array can be")
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_int(o) for o in offs)):
            raise CheckpointError(f"tensor {name!r}: bad data_offsets {offs!r}")
        begin, end = offs
        if not 0 <= begin <= end <= data_len:
            raise CheckpointError(f"tensor {name!r}: data_offsets [{begin}, {end}] outside the "
                                  f"{data_len} data bytes of the file")
        need = DTYPES[dtype].itemsize
        for s in shape:
            need *= s
        if end - begin != need:
            raise CheckpointError(f"tensor {name!r}: shape {shape} of {dtype} needs {need} bytes, "
                                  f"data_offsets give {end - begin}")
        entries[name] = (dtype, tuple(shape), begin, end)
    spans = sorted((b, e, n) for n, (_, _, b, e) in entries.items() if e > b)
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise CheckpointError(f"tensors {n0!r} and {n1!r} overlap in the data")
    return entries, meta


def read_safetensors(path):
    """-> ({name: ndarray (native float)}, metadata). Raises CheckpointError."""
    source = os.fspath(path)
    blob = read_bounded(source, MAX_FILE_BYTES)
    if len(blob) < 8:
        raise CheckpointError(f"{source}: {len(blob)} bytes is too short for a safetensors file")
    (n,) = struct.unpack_from("<Q", blob, 0)
    if n > len(blob) - 8 or n > MAX_HEADER_BYTES:
        raise CheckpointError(f"{source}: header length {n} is more than the {len(blob) - 8} bytes "
                              f"after the length field")
    try:
        entries, meta = parse_header(blob[8:8 + n], len(blob) - 8 - n)
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None
    base = 8 + n
    out = {}
    for name, (dtype, shape, begin, end) in entries.items():
        arr = np.frombuffer(blob, dtype=DTYPES[dtype], count=(end - begin) // DTYPES[dtype].itemsize,
                            offset=base + begin)
        if dtype == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr.astype(arr.dtype.newbyteorder("="), copy=True).reshape(shape)
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """{name: float ndarray (float16, float32 or float64)} -> a .safetensors
    file (the reference implementation's layout: header padded with spaces
    to a multiple of 8, data in the order given)."""
    codes = {np.dtype("float16"): "F16", np.dtype("float32"): "F32", np.dtype("float64"): "F64"}
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        if arr.dtype not in codes:
            raise ValueError(f"tensor {name!r}: dtype {arr.dtype} cannot be written")
        raw = np.array(arr, dtype=arr.dtype.newbyteorder("<"), order="C").tobytes()
        header[name] = {"dtype": codes[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def load_safetensors(path, *, strict=False):
    """A Needle .safetensors checkpoint -> NeedleModel."""
    source = os.fspath(path)
    flat, meta = read_safetensors(path)
    if METADATA_CONFIG_KEY not in meta:
        raise CheckpointError(f"{source}: no {METADATA_CONFIG_KEY!r} entry in the metadata: "
                              f"the Needle config cannot be known")
    try:
        cfg_dict = bounded_json.loads(meta[METADATA_CONFIG_KEY])
        config, ignored = NeedleConfig.from_dict(cfg_dict)
    except ValueError as e:  # JSONDecodeError and ConfigError
        raise CheckpointError(f"{source}: metadata config: {e}") from None
    notes = []
    if ignored:
        notes.append(f"config keys the architecture does not have, ignored: {', '.join(ignored)}")
    missing = [k for k in config.to_dict() if k not in cfg_dict]
    if missing:
        notes.append(f"config fields not in the checkpoint, original defaults used: {', '.join(missing)}")
    try:
        tensors, tree_notes = tree_to_tensors(flat, config)
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None
    return NeedleModel.build(config, tensors, notes=notes + tree_notes, source=source, strict=strict)


def save_safetensors(model, path, *, dtype=np.float32):
    """NeedleModel -> a Needle .safetensors checkpoint (every config field in
    the metadata)."""
    flat = tensors_to_tree(model, dtype=dtype)
    write_safetensors(path, flat, {METADATA_CONFIG_KEY: json.dumps(model.config.to_dict())})
