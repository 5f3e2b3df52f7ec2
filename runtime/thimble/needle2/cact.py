"""Needle 2's `.cact`: the reader and the writer, side by side, both from
the tables in cact_format.py.

The reader treats the file as hostile: every number it sizes anything by
is bounded first (the config's ranges, the tensor count, each record's
shape against what the header's geometry requires at that position),
every blob must lie inside the file, on its 64-byte boundary, after the
directory and apart from every other blob, and its byte count must be
exactly what its dtype, shape, width and group give. Any failure is one
CheckpointError line naming the tensor. Nothing is read out of bounds:
numpy views are taken only over ranges checked against len(data)."""
import dataclasses
import math
import os

import numpy as np

from ..model.files import read_bounded
from ..model.params import CheckpointError
from . import cact_format as F
from . import cq
from .config import Needle2Config, validate

MAX_FILE_BYTES = 1 << 30


@dataclasses.dataclass
class Tensor:
    """One directory entry: float data (fp16 / fp32), or a CQ blob kept packed."""
    name: str
    dtype: int
    shape: tuple
    data: np.ndarray = None          # fp16 / fp32 values
    packed: np.ndarray = None        # CQ: [out, row_bytes] uint8
    norms: np.ndarray = None         # CQ: [out, groups] fp16
    bits: int = 0
    group: int = 0


@dataclasses.dataclass
class Cact:
    config: Needle2Config
    codebook: np.ndarray             # the header's 28 levels
    tensors: dict                    # name -> Tensor, in file order
    tokenizer: list = None           # [(piece bytes, score, type)] or None
    specials: tuple = None           # (pad, eos, bos, unk) ids of the tokenizer
    heads: tuple = ()                # head codes of the manifest

    def float(self, name):
        """The tensor's float64 values (a CQ blob dequantized with the header's codebook)."""
        t = self.tensors[name]
        if t.dtype == F.CQ:
            return cq.dequantize(t.packed, t.norms, t.bits, t.shape[1], t.group, self.codebook)
        return t.data.astype(np.float64)

    def params(self):
        """Every model tensor by name as float64 (heads and tokenizer left out)."""
        return {name: self.float(name) for name, _, _ in F.tensor_order(self.config)}

    def head_params(self):
        """The probe heads' tensors the file has (heads.py names them), as float64."""
        return {name: self.float(name) for name in self.tensors
                if name.split(".")[0] in F.HEAD_CODES.values()}


# --- reader ------------------------------------------------------------------

def _config(h, where):
    n_orders, n_sites = h["num_engram_orders"], h["num_engram_sites"]
    if not 1 <= n_orders <= 4 or n_sites > 4:
        raise CheckpointError(f"{where}: {n_orders} engram orders / {n_sites} sites (1..4 / 0..4)")
    orders = tuple(h[f"order{i}"] for i in range(n_orders))
    tables = h["num_engram_tables"]
    if not 1 <= tables <= 64 or tables % n_orders:
        raise CheckpointError(f"{where}: {tables} engram tables for {n_orders} orders")
    theta = h["rope_theta"]
    try:
        cfg = _validated(h, orders, tables, n_orders, n_sites, theta)
    except CheckpointError as e:
        raise CheckpointError(f"{where}: {e}") from None
    derived = {"head_dim": cfg.head_dim, "hada_n": cfg.hada_n, "engram_sub_dim": cfg.engram_sub_dim,
               "engram_conv_taps": 4, "engram_conv_dilation": cfg.engram_dilation}
    for field, want in derived.items():
        if h[field] != want:
            raise CheckpointError(f"{where}: header {field} = {h[field]}, the geometry gives {want}")
    return cfg


def _validated(h, orders, tables, n_orders, n_sites, theta):
    return validate(Needle2Config(
        vocab_size=h["vocab_size"], d_model=h["d_model"], num_heads=h["num_heads"],
        num_kv_heads=h["num_kv_heads"], num_layers=h["num_layers"], max_seq_len=h["max_seq_len"],
        rope_theta=float(theta), engram_orders=orders, engram_heads=tables // n_orders,
        engram_slots=h["engram_slots"], engram_layers=tuple(h[f"site{i}"] for i in range(n_sites)),
        mhc_lanes=h["mhc_lanes"], kv_window=h["kv_window"], kv_bits=h["kv_bits"]))


def _check_record(rec, name, shape, kind, where):
    dtype, ndim, _, *rest = rec
    dims, offset, nbytes, group, bits = rest[:4], rest[4], rest[5], rest[6], rest[7]
    got = tuple(dims[:ndim]) if ndim <= 4 else None
    if got != shape or any(dims[ndim:] if ndim <= 4 else ()):
        raise CheckpointError(f"{where}: tensor {name}: shape {tuple(dims)} (ndim {ndim}), expected {shape}")
    if dtype == F.CQ:
        if kind != "matrix":
            raise CheckpointError(f"{where}: tensor {name}: a CQ blob where the format has a vector")
        if bits not in (*cq.BITS, cq.TERNARY):
            raise CheckpointError(f"{where}: tensor {name}: CQ bits {bits} (2, 3, 4 or 5 for ternary)")
        if not 8 <= group <= 4096 or group & (group - 1):
            raise CheckpointError(f"{where}: tensor {name}: CQ group {group} is not a power of two in 8..4096")
        want = cq.blob_bytes(shape[0], shape[1], bits, group)
    elif dtype in F.ELEMENT_BYTES:
        if group or bits:
            raise CheckpointError(f"{where}: tensor {name}: group/bits {group}/{bits} on a "
                                  f"{F.DTYPE_NAMES[dtype]} tensor")
        want = math.prod(shape) * F.ELEMENT_BYTES[dtype]
    else:
        raise CheckpointError(f"{where}: tensor {name}: dtype {dtype} where the format has fp16, fp32 or CQ")
    if nbytes != want:
        raise CheckpointError(f"{where}: tensor {name}: {nbytes} bytes, its dtype and shape need {want}")
    return dtype, offset, nbytes, group, bits


def _tensor(data, name, shape, dtype, offset, nbytes, group, bits, where):
    if dtype == F.CQ:
        out, in_dim = shape
        rb = cq.row_bytes(in_dim, bits, group)
        packed = np.frombuffer(data, np.uint8, out * rb, offset).reshape(out, rb)
        norms = np.frombuffer(data, "<f2", out * (cq.padded(in_dim, group) // group), offset + out * rb)
        norms = norms.reshape(out, -1)
        if not np.isfinite(norms).all() or (norms < 0).any():
            raise CheckpointError(f"{where}: tensor {name}: a group norm is negative or not finite")
        if bits == cq.TERNARY:
            try:
                cq.indices(packed, bits, in_dim, group)
            except ValueError as e:
                raise CheckpointError(f"{where}: tensor {name}: {e}") from None
        return Tensor(name, dtype, shape, packed=packed, norms=norms, bits=bits, group=group)
    vals = np.frombuffer(data, "<f2" if dtype == F.FP16 else "<f4", math.prod(shape), offset).reshape(shape)
    if not np.isfinite(vals).all():
        raise CheckpointError(f"{where}: tensor {name}: a value is not finite")
    return Tensor(name, dtype, shape, data=vals)


def _tokenizer(blob, vocab, where):
    if len(blob) < F.TOKENIZER_HEADER.size:
        raise CheckpointError(f"{where}: tokenizer: {len(blob)} bytes, shorter than its header")
    n, pad, eos, bos, unk, _, _, _ = F.TOKENIZER_HEADER.unpack_from(blob, 0)
    if n != vocab:
        raise CheckpointError(f"{where}: tokenizer: {n} pieces for a vocabulary of {vocab}")
    if max(pad, eos, bos, unk) >= n:
        raise CheckpointError(f"{where}: tokenizer: a special id is past its {n} pieces")
    at, pieces = F.TOKENIZER_HEADER.size, []
    for i in range(n):
        if at + F.TOKENIZER_PIECE.size > len(blob):
            raise CheckpointError(f"{where}: tokenizer: piece {i} runs past the blob")
        score, kind, length = F.TOKENIZER_PIECE.unpack_from(blob, at)
        at += F.TOKENIZER_PIECE.size
        if kind not in F.PIECE_TYPES or at + length > len(blob) or not math.isfinite(score):
            raise CheckpointError(f"{where}: tokenizer: piece {i} has type {kind}, {length} bytes at "
                                  f"{at} of {len(blob)}, score {score}")
        surface = bytes(blob[at:at + length])
        try:
            surface.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError(f"{where}: tokenizer: piece {i} is not UTF-8") from None
        pieces.append((surface, score, F.PIECE_TYPES[kind]))
        at += length
    if at != len(blob):
        raise CheckpointError(f"{where}: tokenizer: {len(blob) - at} bytes after the last piece")
    return pieces, (pad, eos, bos, unk)


def parse_cact(data, where="<bytes>"):
    """bytes of a .cact -> Cact, or CheckpointError (one line) naming what is wrong."""
    data = memoryview(data).cast("B")
    if len(data) < F.HEADER.size:
        raise CheckpointError(f"{where}: {len(data)} bytes, shorter than the {F.HEADER.size}-byte .cact header")
    h = dict(zip(F.HEADER_FIELDS, F.HEADER.unpack_from(data, 0)))
    if h["tag"] != F.TAG:
        raise CheckpointError(f"{where}: tag 0x{h['tag']:08X} is not Needle 2's .cact (0x{F.TAG:08X})")
    if h["codebook_len"] != F.CODEBOOK_LEN:
        raise CheckpointError(f"{where}: codebook_len {h['codebook_len']}, the format has {F.CODEBOOK_LEN}")
    if not 1 <= h["num_tensors"] <= F.MAX_TENSORS:
        raise CheckpointError(f"{where}: {h['num_tensors']} tensors (1..{F.MAX_TENSORS})")
    cfg = _config(h, where)
    cb_end = F.HEADER.size + 4 * F.CODEBOOK_LEN
    dir_end = cb_end + h["num_tensors"] * F.RECORD.size
    if dir_end > len(data):
        raise CheckpointError(f"{where}: the directory ends at byte {dir_end}, past the file's {len(data)}")
    codebook = np.frombuffer(data, "<f4", F.CODEBOOK_LEN, F.HEADER.size).astype(np.float64)
    if not np.isfinite(codebook).all() or any((np.diff(codebook[a:b]) <= 0).any()
                                              for a, b in ((0, 4), (4, 12), (12, 28))):
        raise CheckpointError(f"{where}: the header's codebook is not finite and increasing per width")
    records = [F.RECORD.unpack_from(data, cb_end + i * F.RECORD.size) for i in range(h["num_tensors"])]

    order = F.tensor_order(cfg)
    tok_rec = records[-1] if records[-1][0] == F.RAW else None
    extra = len(records) - len(order) - (tok_rec is not None)
    if extra < 0:
        raise CheckpointError(f"{where}: {len(records)} tensors, this geometry has {len(order)}")
    codes = ()
    if extra:
        codes = _manifest(data, records[len(order)], extra, where)
        order = order + F.head_order(cfg, codes)

    spans, tensors = [], {}
    for (name, shape, kind), rec in zip(order, records):
        dtype, offset, nbytes, group, bits = _check_record(rec, name, shape, kind, where)
        _span(spans, name, offset, nbytes, dir_end, len(data), where)
        tensors[name] = _tensor(data, name, shape, dtype, offset, nbytes, group, bits, where)
    pieces = specials = None
    if tok_rec is not None:
        dtype, ndim, _, *rest = tok_rec
        offset, nbytes = rest[4], rest[5]
        if ndim or any(rest[:4]) or rest[6] or rest[7] or nbytes > F.MAX_TOKENIZER_BYTES:
            raise CheckpointError(f"{where}: tokenizer record: ndim {ndim}, {nbytes} bytes "
                                  f"(a raw blob of at most {F.MAX_TOKENIZER_BYTES})")
        _span(spans, "tokenizer", offset, nbytes, dir_end, len(data), where)
        pieces, specials = _tokenizer(data[offset:offset + nbytes], cfg.vocab_size, where)
    return Cact(cfg, codebook, tensors, pieces, specials, codes)


def _manifest(data, rec, extra, where):
    if (extra - 1) % 3 or not 1 <= (extra - 1) // 3 <= len(F.HEAD_CODES):
        raise CheckpointError(f"{where}: {extra} tensors after final_norm are not a head manifest and "
                              f"1 or 2 heads")
    n = (extra - 1) // 3
    dtype, offset, nbytes = rec[0], rec[7], rec[8]
    if dtype != F.FP16 or rec[1] != 1 or rec[3] != n or nbytes != 2 * n or offset + nbytes > len(data):
        raise CheckpointError(f"{where}: heads.manifest: not {n} fp16 codes inside the file")
    codes = tuple(int(c) for c in np.frombuffer(data, "<f2", n, offset) if math.isfinite(c))
    if len(codes) != n or not set(codes) <= set(F.HEAD_CODES) or len(set(codes)) != n or list(codes) != sorted(codes):
        raise CheckpointError(f"{where}: heads.manifest codes {codes} (1 contrastive, 2 confidence, once each)")
    return codes


def _span(spans, name, offset, nbytes, dir_end, size, where):
    if offset % F.ALIGN or offset < dir_end or offset + nbytes > size:
        raise CheckpointError(f"{where}: tensor {name}: bytes {offset}..{offset + nbytes} are not a "
                              f"{F.ALIGN}-aligned range between the directory ({dir_end}) and the end ({size})")
    for (a, b, other) in spans:
        if offset < b and a < offset + nbytes:
            raise CheckpointError(f"{where}: tensor {name} overlaps {other}")
    spans.append((offset, offset + nbytes, name))


def read_cact(path):
    """A .cact file -> Cact (CheckpointError on anything malformed)."""
    where = os.fspath(path)
    return parse_cact(read_bounded(path, MAX_FILE_BYTES, "a .cact may be"), where)


# --- writer ------------------------------------------------------------------

def _bits_for(name, bits):
    return bits(name) if callable(bits) else bits


def build_cact(cfg, params, *, bits=2, group=128, tokenizer=None, specials=(0, 1, 2, 3), codebook=None,
               heads=None):
    """params: name -> float array in file order names (cact_format.tensor_order);
    bits: 2, 3, 4, 5 (ternary), or a function name -> one of those or None (fp16).
    tokenizer: [(piece bytes, score, type name)] or None. heads: the probe heads'
    tensors by name (heads.py; fp16 in the file, after a manifest), or None. -> bytes."""
    validate(cfg)
    table = cq.header_codebooks(group) if codebook is None else np.asarray(codebook, np.float32)
    recs, blobs = [], []
    for name, shape, kind in F.tensor_order(cfg):
        a = np.asarray(params[name], np.float64).reshape(shape)
        b = _bits_for(name, bits) if kind == "matrix" else None
        if b is None:
            recs.append((F.FP16, shape, 0, 0))
            blobs.append(a.astype("<f2").tobytes())
        else:
            packed, norms = cq.quantize(a, b, group, table)
            recs.append((F.CQ, shape, group, b))
            blobs.append(packed.tobytes() + norms.astype("<f2").tobytes())
    if heads:
        codes = [c for c, name in sorted(F.HEAD_CODES.items()) if f"{name}.probes" in heads]
        for name, shape, _ in F.head_order(cfg, codes):
            a = np.asarray(codes, np.float64) if name == "heads.manifest" else np.asarray(heads[name], np.float64)
            recs.append((F.FP16, shape, 0, 0))
            blobs.append(a.reshape(shape).astype("<f2").tobytes())
    if tokenizer is not None:
        kinds = {v: k for k, v in F.PIECE_TYPES.items()}
        out = bytearray(F.TOKENIZER_HEADER.pack(len(tokenizer), *specials, 1, 1, 0))
        for surface, score, kind in tokenizer:
            out += F.TOKENIZER_PIECE.pack(score, kinds[kind], len(surface)) + surface
        recs.append((F.RAW, (), 0, 0))
        blobs.append(bytes(out))
    orders4 = (list(cfg.engram_orders) + [0] * 4)[:4]
    sites4 = (list(cfg.engram_layers) + [0] * 4)[:4]
    header = F.HEADER.pack(F.TAG, len(recs), F.CODEBOOK_LEN, cfg.kv_window, cfg.kv_bits, cfg.vocab_size,
                           cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.num_layers, cfg.head_dim,
                           cfg.max_seq_len, cfg.hada_n, cfg.mhc_lanes, cfg.engram_slots, cfg.engram_sub_dim,
                           cfg.engram_tables, 4, cfg.engram_dilation, len(cfg.engram_orders), *orders4,
                           len(cfg.engram_layers), *sites4, float(cfg.rope_theta))
    at = len(header) + 4 * F.CODEBOOK_LEN + len(recs) * F.RECORD.size
    directory, offsets = bytearray(), []
    for (dtype, shape, g, b), blob in zip(recs, blobs):
        at = -(-at // F.ALIGN) * F.ALIGN
        offsets.append(at)
        dims = (list(shape) + [0] * 4)[:4]
        directory += F.RECORD.pack(dtype, len(shape), 0, *dims, at, len(blob), g, b)
        at += len(blob)
    out = bytearray(header + table.astype("<f4").tobytes() + directory)
    for off, blob in zip(offsets, blobs):
        out += bytes(off - len(out)) + blob
    return bytes(out)
