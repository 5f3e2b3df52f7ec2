"""CQ, the weight code of Needle 2's `.cact` (needle-v2.md section 2), in
plain numpy: the float meaning of the bytes, nothing faster.

A matrix [out, in] is cut along `in` into groups of `group` values (in
padded with zeros to a whole group). Each group is rotated by the
normalised Walsh-Hadamard matrix H (symmetric, H @ H = I), its L2 norm kept
as fp16, and each coordinate of the unit vector replaced by the index of
the nearest codebook level. The float weights are

    w_group = (codebook[idx] * norm) @ H

Indices sit in one LSB-first bitstream per row (index k in bits
[k * bits, (k + 1) * bits)); ternary (record bits 5) stores 2-bit crumbs
3, 0, 1 for the levels -c, 0, +c, so a signed 2-bit field is the level's
sign, and crumb 2 means nothing. A blob is every row's packed indices, then
every row's fp16 norms ([out, in_pad / group])."""
import math

import numpy as np

BITS = (2, 3, 4)
TERNARY = 5                      # the record's bits for ternary ("1.58")
TERNARY_LEVEL = 1.2240064        # +-c: the 3-level Lloyd-Max quantizer of N(0, 1)
_TERNARY_FROM_CRUMB = np.array([1, 2, 255, 0], np.uint8)   # crumb -> level index (255: invalid)
_CRUMB_FROM_TERNARY = np.array([3, 0, 1], np.uint8)


def stored_bits(bits):
    """Bits per index in the stream: ternary's crumbs are 2."""
    return 2 if bits == TERNARY else bits


def levels(bits):
    return 3 if bits == TERNARY else 1 << bits


def padded(in_dim, group):
    return -(-in_dim // group) * group


def row_bytes(in_dim, bits, group):
    return padded(in_dim, group) * stored_bits(bits) // 8


def blob_bytes(out, in_dim, bits, group):
    """Bytes of a CQ blob: packed indices then fp16 norms."""
    return out * row_bytes(in_dim, bits, group) + out * (padded(in_dim, group) // group) * 2


def hadamard(n):
    """The normalised Sylvester Walsh-Hadamard matrix [n, n] (float64)."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / math.sqrt(n)


def _phi(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2)))


def lloyd_max_gaussian(bits, iters=500):
    """The 2**bits-level Lloyd-Max quantizer of N(0, 1), from the density
    itself (the original samples 400,000 normals; its levels differ in the
    fourth digit, and a file carries its own codebook in the header)."""
    n = 1 << bits
    c = [-2.5 + 5.0 * (k + 0.5) / n for k in range(n)]
    for _ in range(iters):
        edges = [-math.inf] + [(c[k] + c[k + 1]) / 2 for k in range(n - 1)] + [math.inf]
        for k in range(n):
            a, b = edges[k], edges[k + 1]
            mass = _cdf(b) - _cdf(a)
            pa = 0.0 if a == -math.inf else _phi(a)
            pb = 0.0 if b == math.inf else _phi(b)
            if mass > 0:
                c[k] = (pa - pb) / mass
    return np.array(c)


def codebook(bits, group, table=None):
    """Levels of one width, scaled to a unit vector's coordinates (/ sqrt(group)).
    table: the file's 28 header floats (cb2[4] | cb3[8] | cb4[16]), already scaled."""
    if bits == TERNARY:
        return np.array([-TERNARY_LEVEL, 0.0, TERNARY_LEVEL]) / math.sqrt(group)
    if table is not None:
        start = {2: 0, 3: 4, 4: 12}[bits]
        return np.asarray(table[start:start + (1 << bits)], np.float64)
    return lloyd_max_gaussian(bits) / math.sqrt(group)


def header_codebooks(group):
    """The 28 floats a writer puts in the header for this group size."""
    return np.concatenate([codebook(b, group) for b in BITS]).astype(np.float32)


def pack_rows(idx, nbits):
    """idx [rows, n] (n * nbits a multiple of 8) -> [rows, n * nbits / 8] uint8, LSB first."""
    rows, n = idx.shape
    bitplanes = ((idx[:, :, None].astype(np.uint16) >> np.arange(nbits)) & 1).astype(np.uint8)
    return np.packbits(bitplanes.reshape(rows, n * nbits), axis=1, bitorder="little")


def unpack_rows(packed, nbits, n):
    """The inverse of pack_rows: [rows, n] uint8 indices."""
    rows = packed.shape[0]
    bitplanes = np.unpackbits(packed, axis=1, count=n * nbits, bitorder="little").reshape(rows, n, nbits)
    return (bitplanes.astype(np.uint8) << np.arange(nbits, dtype=np.uint8)).sum(axis=2, dtype=np.uint8)


def quantize(w, bits, group, table=None):
    """w [out, in] -> (packed indices [out, row_bytes] uint8, norms [out, groups] fp16)."""
    w = np.asarray(w, np.float64)
    out, in_dim = w.shape
    in_pad = padded(in_dim, group)
    wp = np.zeros((out, in_pad))
    wp[:, :in_dim] = w
    rot = wp.reshape(out, in_pad // group, group) @ hadamard(group)
    norm = np.sqrt((rot ** 2).sum(-1, keepdims=True))
    unit = rot / np.maximum(norm, 1e-12)
    cb = codebook(bits, group, table)
    idx = np.abs(unit[..., None] - cb).argmin(-1).astype(np.uint8).reshape(out, in_pad)
    if bits == TERNARY:
        idx = _CRUMB_FROM_TERNARY[idx]
    return pack_rows(idx, stored_bits(bits)), norm[..., 0].astype(np.float16)


def indices(packed, bits, in_dim, group):
    """Level indices [out, in_pad] of packed rows; ValueError on a crumb that
    is no ternary level."""
    in_pad = padded(in_dim, group)
    idx = unpack_rows(packed, stored_bits(bits), in_pad)
    if bits == TERNARY:
        idx = _TERNARY_FROM_CRUMB[idx]
        if (idx == 255).any():
            r, k = map(int, np.argwhere(idx == 255)[0])
            raise ValueError(f"row {r}, index {k}: crumb 2 is not a ternary level")
    return idx


def dequantize(packed, norms, bits, in_dim, group, table=None):
    """The float matrix [out, in_dim] (float64) a CQ blob stands for."""
    out = packed.shape[0]
    in_pad = padded(in_dim, group)
    unit = codebook(bits, group, table)[indices(packed, bits, in_dim, group)]
    rot = unit.reshape(out, in_pad // group, group) * norms.astype(np.float64)[..., None]
    return (rot @ hadamard(group)).reshape(out, in_pad)[:, :in_dim]
