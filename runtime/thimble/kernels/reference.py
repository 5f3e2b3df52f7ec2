"""The integer reference kernels: THE specification of thimble's numerics.

Every other implementation (portable C, x86 and ARM fast paths, Numba, the
device) must return exactly these bits. This file is slow on purpose: plain
numpy, int64 intermediates, one obvious line per step of the definition.
docs/numerics.md explains the choices and their measured error.

Conventions (all symmetric, zero point 0):
  activations      int8, one scale per tensor
  weights          int8, one scale per output channel, quantizer keeps [-127, 127]
                   (kernels are exact for -128 too)
  residual stream  int16, one scale per stack
  accumulators     int32
  requantization   TFLite / CMSIS-NN: multiplier in [2^30, 2^31) (or 0),
                   shift in [-31, 30]; shift > 0 is a left shift
  probabilities    Q15 in int16, [0, 32767]
"""
import numpy as np

from . import tables

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

_EXP_HI = np.array(tables.EXP_HI, dtype=np.int64)
_EXP_LO = np.array(tables.EXP_LO, dtype=np.int64)
_EXP_LIMIT = tables.EXP_HI_LEN << tables.EXP_FRAC_BITS   # z at or past this -> exp is 0


def _wrap32(v):
    """Two's-complement wrap of an int64 array to int32 values (kept as int64)."""
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def requantize(acc, mult, shift):
    """TFLite MultiplyByQuantizedMultiplier, elementwise with broadcasting.

    acc: int32 values. mult: int32 multiplier. shift: int in [-31, 30].
    Returns int64 array holding int32 values.
    """
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    # the left shift wraps like uint32 arithmetic in C; the quantizer keeps it in range
    x = _wrap32(acc << left)
    # SaturatingRoundingDoublingHighMul: round half up of x * mult / 2^31
    ab = x * mult
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    num = ab + nudge
    high = np.where(num >= 0, num >> 31, -((-num) >> 31))        # C division truncates
    high = np.where((x == INT32_MIN) & (mult == INT32_MIN), INT32_MAX, high)
    # RoundingDivideByPOT: round half away from zero of high / 2^right
    mask = (np.int64(1) << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + (remainder > threshold)


def _sat(v, dtype):
    info = np.iinfo(dtype)
    return np.clip(v, info.min, info.max).astype(dtype)


# --- matmul ---------------------------------------------------------------

def matmul_s8_s32(x, w, bias=None):
    """x int8 [M, K], w int8 [N, K] (row = output channel), bias int32 [N] or None.
    Returns int32 [M, N] = x @ w.T + bias (wrapping like int32 in C; K <= 65536
    keeps it exact)."""
    acc = x.astype(np.int64) @ w.astype(np.int64).T
    if bias is not None:
        acc = acc + bias.astype(np.int64)[None, :]
    return _wrap32(acc).astype(np.int32)


def matmul_s8(x, w, mult, shift, bias=None):
    """int8 [M, K] x int8 [N, K] -> int8 [M, N], per-output-channel requantization.
    mult, shift: int32 [N]."""
    acc = matmul_s8_s32(x, w, bias)
    return _sat(requantize(acc, mult[None, :], shift[None, :]), np.int8)


# --- int4 weights (W4A8) -------------------------------------------------------
# An int4 weight matrix [N, K] is stored row by row, two weights a byte: weight
# k of a row in byte k // 2, the low nibble for even k, two's complement
# (-8 .. 7); every row starts on a byte, so a row is (K + 1) // 2 bytes and an
# odd K leaves the last high nibble as padding (0 in an image, never read).
# The quantizer keeps [-7, 7] (symmetric); the kernels are exact for -8 too.

def pack_s4(w):
    """int [N, K] with values in [-8, 7] -> uint8 [N, (K + 1) // 2]."""
    w = np.asarray(w, dtype=np.int64)
    if w.ndim != 2 or (w.size and (w.min() < -8 or w.max() > 7)):
        raise ValueError("pack_s4 takes a 2-D array of values in [-8, 7]")
    N, K = w.shape
    nib = np.zeros((N, K + (K & 1)), dtype=np.int64)
    nib[:, :K] = w & 15
    return (nib[:, 0::2] | (nib[:, 1::2] << 4)).astype(np.uint8)


def unpack_s4(w4, K):
    """uint8 [N, (K + 1) // 2] -> int8 [N, K] (the padding nibble is dropped)."""
    b = np.asarray(w4, dtype=np.int64)
    lo, hi = b & 15, b >> 4
    nib = np.stack([lo, hi], axis=-1).reshape(b.shape[0], 2 * b.shape[1])[:, :K]
    return np.where(nib >= 8, nib - 16, nib).astype(np.int8)


def matmul_s4(x, w4, mult, shift, bias=None):
    """int8 x [M, K] times int4 w4 (packed as above, [N, (K + 1) // 2]) -> int8
    [M, N]: exactly matmul_s8 with the unpacked weights."""
    return matmul_s8(x, unpack_s4(w4, x.shape[1]), mult, shift, bias)


def matmul_s4_s32(x, w4, bias=None):
    """int8 x [M, K] times int4 w4 -> int32 [M, N] (+ bias): the tied head of an
    int4 embedding; exactly matmul_s8_s32 with the unpacked weights."""
    return matmul_s8_s32(x, unpack_s4(w4, x.shape[1]), bias)


# --- CQ weights (Needle 2's codebook code, computed in place) ----------------
# A CQ matrix [N, K] (thimble.needle2.cq) is, per row and per group of
# CQ_GROUP inputs, levels of a small codebook rotated by the normalised
# Walsh-Hadamard matrix H and scaled by the group's norm:
#     w_g = norm_g * H c_g,   so   w_g . x_g = norm_g * c_g . (H x_g).
# The integer form rotates the activations once per row instead of the
# weights: x_g -> v = H' x_g with H' the +-1 Sylvester matrix (an exact
# integer FWHT, |v| <= 128 * 128), v brought to int8 by the group's own
# power-of-two shift s (the least s in 0..7 that keeps every
# floor((v + 2^(s-1)) / 2^s) in int8), then per output and group
#     dot = sum_j lut[field_j] * xr_j                  (int32, <= 2^21)
#     acc += (dot << s) * norm_q                        (int64, <= 2^44 a group)
# with lut the width's codebook as int8 (indexed by the stored bit field)
# and norm_q the group norm as uint16; one requantize_s64 per output folds
# every scale (the row's norm scale, the codebook's, the activations',
# 1/sqrt(128), the output's). The stored fields are the `.cact` bitstream:
# bits 2, 3 or 4 per index, LSB first, one stream per row; ternary is
# 2-bit crumbs whose lut is [0, +c, 0, -c].

CQ_GROUP = 128
CQ_SHIFT_MAX = 7


def fwht_s8(x):
    """x int8 [..., CQ_GROUP] -> the unnormalised Walsh-Hadamard transform, int64:
    x times the +-1 Sylvester matrix ([[H, H], [H, -H]] from [[1]])."""
    h = np.ones((1, 1), dtype=np.int64)
    while h.shape[0] < CQ_GROUP:
        h = np.block([[h, h], [h, -h]])
    return np.asarray(x, dtype=np.int64) @ h


def cq_rotate_s8(x):
    """int8 x [M, K] -> (xr int8 [M, G * CQ_GROUP], shifts uint8 [M, G]), G =
    ceil(K / CQ_GROUP), K zero-padded to whole groups."""
    x = np.asarray(x, dtype=np.int64)
    M, K = x.shape
    G = -(-K // CQ_GROUP)
    xp = np.zeros((M, G * CQ_GROUP), dtype=np.int64)
    xp[:, :K] = x
    v = fwht_s8(xp.reshape(M, G, CQ_GROUP))
    xr = np.zeros_like(v)
    sh = np.zeros((M, G), dtype=np.int64)
    for s in range(CQ_SHIFT_MAX, -1, -1):     # the least s that fits wins (written last)
        r = (v + ((1 << s) >> 1)) >> s
        fits = ((r >= -128) & (r <= 127)).all(axis=-1)
        xr = np.where(fits[..., None], r, xr)
        sh = np.where(fits, s, sh)
    return xr.reshape(M, G * CQ_GROUP).astype(np.int8), sh.astype(np.uint8)


def cq_fields(w, bits, Kp):
    """Packed CQ rows uint8 [N, Kp * bits / 8] -> the stored fields [N, Kp] (LSB-first bitstream)."""
    w = np.asarray(w, dtype=np.uint8)
    planes = np.unpackbits(w, axis=1, count=Kp * bits, bitorder="little").reshape(w.shape[0], Kp, bits)
    return (planes.astype(np.int64) << np.arange(bits)).sum(axis=2)


def requantize_s64(acc, mult, rshift):
    """floor((acc * mult + 2^(rshift - 1)) / 2^rshift): acc int64, mult in [0, 2^31),
    rshift in [33, 94]. Computed as C does it, in 64-bit pieces (acc = hi 2^32 + lo):
    (hi * mult + 2^(rshift - 33) + ((lo * mult) >> 32)) >> (rshift - 32), which is exact."""
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    r = np.asarray(rshift, dtype=np.int64)
    hi, lo = acc >> 32, acc & 0xFFFFFFFF
    lo_part = ((lo.astype(np.uint64) * mult.astype(np.uint64)) >> np.uint64(32)).astype(np.int64)
    return (hi * mult + (np.int64(1) << (r - 33)) + lo_part) >> (r - 32)


def matmul_cq_acc(xr, sh, w, bits, lut, norm_q):
    """The int64 sums [M, N] of the CQ product (before requantize_s64):
    xr, sh from cq_rotate_s8; w packed rows [N, Kp * bits / 8]; lut int8 [2^bits];
    norm_q uint16 [N, G]."""
    xr = np.asarray(xr, dtype=np.int64)
    M, Kp = xr.shape
    G = Kp // CQ_GROUP
    levels = np.asarray(lut, dtype=np.int64)[cq_fields(w, bits, Kp)]              # [N, Kp]
    dots = np.einsum("mgj,ngj->mng", xr.reshape(M, G, CQ_GROUP), levels.reshape(-1, G, CQ_GROUP))
    t = dots << np.asarray(sh, dtype=np.int64)[:, None, :]                       # int32: <= 2^28
    return (t * np.asarray(norm_q, dtype=np.int64)[None, :, :]).sum(axis=2)


def matmul_cq(xr, sh, w, bits, lut, norm_q, mult, rshift):
    """CQ product -> int8 [M, N] (per-output mult, rshift)."""
    acc = matmul_cq_acc(xr, sh, w, bits, lut, norm_q)
    return _sat(requantize_s64(acc, np.asarray(mult)[None, :], np.asarray(rshift)[None, :]), np.int8)


def matmul_cq_s32(xr, sh, w, bits, lut, norm_q, mult, rshift):
    """CQ product -> int32 [M, N] (the tied head's logits), saturated."""
    acc = matmul_cq_acc(xr, sh, w, bits, lut, norm_q)
    return _sat(requantize_s64(acc, np.asarray(mult)[None, :], np.asarray(rshift)[None, :]), np.int32)


# --- Needle 2's lane mixing: Sinkhorn in fixed point ----------------------------
# The original: 20 times, subtract each row's logsumexp, then each column's;
# then exp (a doubly stochastic matrix, not converged). Here the logits are
# Q12 int32 and every step is integer:
#   exp_q12(z) = exp(-z / 4096) in Q15 for z >= 0: exp_q15(z >> 4) (the
#                softmax's tables) times EXP_FINE[z & 15], rounded;
#   ln_q12(s)  = ln(s / 2^15) in Q12 for a sum s >= 2^15 of Q15 terms: s =
#                mant 2^k with mant in [2^15, 2^16), ln(mant / 2^15) from LN_Q16
#                by its top 8 fraction bits, linear in the next 7, plus k ln 2;
#   a pass over an axis: m = max, s = sum exp_q12(m - L), L -= m + ln_q12(s);
#   P = exp_q12(max(-L, 0)) in Q15, at most 32767.
# Error against the float Sinkhorn (tests/kernels/test_sinkhorn.py) is about
# 2e-4 at worst on entries in [0, 1].

_EXP_FINE = np.array(tables.EXP_FINE, dtype=np.int64)
_LN_Q16 = np.array(tables.LN_Q16, dtype=np.int64)


def exp_q12(z):
    """exp(-z / 4096) in Q15 for integer z >= 0 (0 from z = 65536 on)."""
    z = np.asarray(z, dtype=np.int64)
    return (exp_q15(z >> 4) * _EXP_FINE[z & 15] + (1 << 14)) >> 15


def ln_q12(s):
    """round(ln(s / 2^15) * 4096) for integer s >= 2^15 (a sum of Q15 exps, one of them 2^15)."""
    s = np.asarray(s, dtype=np.int64)
    k = np.zeros_like(s)
    while (s >> k >= 1 << 16).any():
        k = np.where(s >> k >= 1 << 16, k + 1, k)
    f = (s >> k) - (1 << 15)
    i, frac = f >> 7, f & 127
    t = _LN_Q16[i] + (((_LN_Q16[np.minimum(i + 1, 256)] - _LN_Q16[i]) * frac + 64) >> 7)
    return (k * tables.LN2_Q16 + t + 8) >> 4


def sinkhorn_q12(logits, iters=20):
    """Q12 int32 logits [..., n, n] -> Q15 int16 [..., n, n]: iters passes of rows
    then columns, then exp."""
    L = np.asarray(logits, dtype=np.int64).copy()
    for _ in range(iters):
        for axis in (-1, -2):
            m = L.max(axis=axis, keepdims=True)
            s = exp_q12(m - L).sum(axis=axis, keepdims=True)
            L = L - (m + ln_q12(s))
    return np.minimum(exp_q12(np.maximum(-L, 0)), 32767).astype(np.int16)


# --- Needle 2's integer model: gates, the MLP's transform, CQ rows ------------------

def sigmoid_q15(z):
    """sigmoid(z / 4096) in Q15 (0 .. 32768) for Q12 int32 z: 2^30 / (2^15 + exp_q12(|z|))
    rounded (one integer division), mirrored for z < 0; |z| past 65535 reads as 65535."""
    z = np.asarray(z, dtype=np.int64)
    e = exp_q12(np.minimum(np.abs(z), 65535))
    pos = ((1 << 30) + ((32768 + e) >> 1)) // (32768 + e)
    return np.where(z >= 0, pos, 32768 - pos).astype(np.int32)


def fwht_s8_s32(x):
    """int8 x [rows, n] (n a power of two, <= 4096) -> int32 [rows, n]: x times the +-1
    Sylvester matrix of size n (|v| <= n * 128), the Hadamard MLP's transform."""
    x = np.asarray(x, dtype=np.int64)
    h = np.ones((1, 1), dtype=np.int64)
    while h.shape[0] < x.shape[-1]:
        h = np.block([[h, h], [h, -h]])
    return (x @ h).astype(np.int32)


def cq_gather(w, bits, lut, norm_q, rows, mult, rshift, K, bound):
    """Rows of a CQ matrix as integers (the embedding and the engram tables): for row r,
    each group's levels lut[field] through the FWHT-128, times its norm_q (int64, <= 2^30),
    then requantize_s64(., mult[i], rshift[i]) saturated to +-bound (127 or 32767);
    the first K of the row's Kp values. w [N, Kp * bits / 8]; rows [P] in [0, N)."""
    rows = np.asarray(rows, dtype=np.int64)
    Kp = np.asarray(w).shape[1] * 8 // bits
    lev = np.asarray(lut, dtype=np.int64)[cq_fields(np.asarray(w)[rows], bits, Kp)]
    v = fwht_s8(lev.reshape(rows.size, Kp // CQ_GROUP, CQ_GROUP))
    acc = (v * np.asarray(norm_q, dtype=np.int64)[rows][:, :, None]).reshape(rows.size, Kp)[:, :K]
    q = requantize_s64(acc, np.asarray(mult)[:, None], np.asarray(rshift)[:, None])
    return np.clip(q, -bound - 1, bound).astype(np.int16 if bound > 127 else np.int8)


# --- Needle 2's engram hash ---------------------------------------------------
# Table ti = order_index * heads + head of a site; for position t its slot is
# a multiply-xor hash of the last `order` token ids (uint32, wrapping):
#     acc = 0x9E3779B9 * (ti + 1); for j < order: acc = (acc ^ tok[t - j]) * 0x01000193
#     acc ^= acc >> 15; slot = acc % slots
# and -1 where the n-gram reaches before the sequence (t < order - 1), which
# the model reads as a zero row.

ENGRAM_SEED, ENGRAM_PRIME = 0x9E3779B9, 0x01000193


def engram_hash(history, positions, orders, heads, slots):
    """history int32 [T] token ids; positions [P] -> slots int32 [P, len(orders) * heads] (-1: none)."""
    hist = np.asarray(history, dtype=np.uint64)
    pos = np.asarray(positions, dtype=np.int64)
    out = np.empty((pos.size, len(orders) * heads), dtype=np.int64)
    for oi, order in enumerate(orders):
        for h in range(heads):
            ti = oi * heads + h
            acc = np.full(pos.size, (ENGRAM_SEED * (ti + 1)) & 0xFFFFFFFF, dtype=np.uint64)
            for j in range(order):
                tok = np.where(pos - j >= 0, hist[np.maximum(pos - j, 0)], 0).astype(np.uint64)
                acc = ((acc ^ tok) * np.uint64(ENGRAM_PRIME)) & np.uint64(0xFFFFFFFF)
            acc ^= acc >> np.uint64(15)
            out[:, ti] = np.where(pos >= order - 1, (acc % np.uint64(slots)).astype(np.int64), -1)
    return out.astype(np.int32)


# --- softmax and attention --------------------------------------------------

def exp_q15(z):
    """exp(-z / 256) in Q15 for integer z >= 0, from the two tables."""
    z = np.asarray(z, dtype=np.int64)
    inside = z < _EXP_LIMIT
    zc = np.where(inside, z, 0)
    e = (_EXP_HI[zc >> tables.EXP_FRAC_BITS] * _EXP_LO[zc & (tables.EXP_LO_LEN - 1)]
         + (1 << 14)) >> 15
    return np.where(inside, e, 0)


def softmax_q15(scores, mult, shift, diff_max, mask=None):
    """Integer softmax of one row of int32 scores -> int16 probabilities in Q15.

    The real score is scores * c; (mult, shift) encode c * 256 so that
    z = requantize(max - s) is the real difference in Q8. Differences above
    diff_max (the quantizer sets it to about 16 / c) give exactly 0.
    mask: bool/uint8 [n] (True = attend) or None. A row with nothing to attend
    gives all zeros.
    """
    s = np.asarray(scores, dtype=np.int64)
    valid = np.ones(s.shape, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    if not valid.any():
        return np.zeros(s.shape, dtype=np.int16)
    diff = s[valid].max() - s
    keep = valid & (diff <= diff_max)
    z = requantize(np.where(keep, diff, 0), mult, shift)
    e = np.where(keep, exp_q15(z), 0)
    total = int(e.sum())                       # >= 32768: the max itself contributes exp(0)
    inv = (1 << 46) // total                   # Q46 / total, <= 2^31
    p = (e * inv + (1 << 30)) >> 31
    return np.minimum(p, 32767).astype(np.int16)


def softmax_q15_rows(scores, mult, shift, diff_max):
    """softmax_q15 of each row of scores int32 [rows, n], no mask -> int16 [rows, n]."""
    out = np.zeros(np.shape(scores), dtype=np.int16)
    for r in range(out.shape[0]):
        out[r] = softmax_q15(scores[r], mult, shift, diff_max)
    return out


def pv_rows_s8(p, vt, mult, shift):
    """Attention's P.V for a block of query rows of one head: p int16 [bq, Tk]
    Q15 probabilities (0..32767), vt int8 [D, Tk] (V transposed) -> int8
    [bq, D] = sat8(requantize(p . vt^T)); the sum wraps like int32 in C (a
    softmax row's p sums to about 2^15, so it never does in the model)."""
    acc = _wrap32(np.asarray(p, dtype=np.int64) @ np.asarray(vt, dtype=np.int64).T)
    return _sat(requantize(acc, mult, shift), np.int8)


def pv_combine_s8(s0, s1, s2, mult, shift):
    """P.V from the sums of p's int8 digits, int32 [n] each: acc = s2 2^14 +
    s1 2^7 + s0 (three digits) or, with s2 None, s1 2^8 + s0 (two), wrapping
    like uint32 in C -> int8 [n] = sat8(requantize(acc))."""
    s0, s1 = np.asarray(s0, dtype=np.int64), np.asarray(s1, dtype=np.int64)
    hi = (s1 << 8) if s2 is None else (np.asarray(s2, dtype=np.int64) << 14) + (s1 << 7)
    return _sat(requantize(_wrap32(hi + s0), mult, shift), np.int8)


def attention_s8(q, k, v, n_heads, n_kv_heads, score_mult, score_shift, diff_max,
                 out_mult, out_shift, causal=False, q_pos0=0, kv_mask=None):
    """Grouped-query attention, one query row and head at a time (never a [T, T]
    matrix for all heads).

    q: int8 [Tq, n_heads * D]; k, v: int8 [Tk, n_kv_heads * D].
    Query head h reads key/value head h // (n_heads // n_kv_heads).
    Query row i sits at absolute position q_pos0 + i; with causal it sees keys
    0 .. q_pos0 + i. kv_mask: [Tk] (nonzero = attend) or None.
    Scores are int32 dot products; softmax_q15 turns them into Q15 weights;
    out = sat8(requantize(sum_j p_j * v_j, out_mult, out_shift)).
    """
    Tq, Tk = q.shape[0], k.shape[0]
    D = q.shape[1] // n_heads
    group = n_heads // n_kv_heads
    out = np.zeros((Tq, n_heads * D), dtype=np.int8)
    base_mask = np.ones(Tk, dtype=bool) if kv_mask is None else np.asarray(kv_mask).astype(bool)
    for i in range(Tq):
        mask = base_mask.copy()
        if causal:
            mask[np.arange(Tk) > q_pos0 + i] = False
        for h in range(n_heads):
            kvh = h // group
            qh = q[i, h * D:(h + 1) * D].astype(np.int64)
            kh = k[:, kvh * D:(kvh + 1) * D].astype(np.int64)
            vh = v[:, kvh * D:(kvh + 1) * D].astype(np.int64)
            scores = kh @ qh
            p = softmax_q15(scores, score_mult, score_shift, diff_max, mask).astype(np.int64)
            acc = p @ vh
            out[i, h * D:(h + 1) * D] = _sat(requantize(acc, out_mult, out_shift), np.int8)
    return out


# --- normalisation ----------------------------------------------------------

def isqrt_u64(v):
    """floor(sqrt(v)) for non-negative integers below 2^63, elementwise."""
    from math import isqrt
    flat = [isqrt(int(x)) for x in np.asarray(v, dtype=np.int64).ravel()]
    return np.array(flat, dtype=np.int64).reshape(np.shape(v))


def rmsnorm_s8(x, gain_mult, gain_shift, eps_q16):
    """ZCRMSNorm of each row: y = (1 + g) * x / sqrt(mean(x^2) + eps), to int8.

    x: int8 or int16 [rows, D], D <= 4096. The ratio x / rms does not depend on
    x's scale, so it is formed in Q15 as n; (gain_mult, gain_shift) [D] encode
    (1 + g_i) / (out_scale * 2^15). eps_q16 = eps / x_scale^2 in Q16, in
    [0, 2^40].
    """
    x64 = x.astype(np.int64)
    D = x.shape[-1]
    ss = (x64 * x64).sum(axis=-1, keepdims=True)           # <= 2^42
    ms = (ss << 16) // D + eps_q16                            # mean square, Q16
    rms = np.maximum(isqrt_u64(ms << 16), 1)                  # sqrt(mean square) * 2^16
    inv = (np.int64(1) << 46) // rms                          # 2^30 / rms
    n = (x64 * inv + (1 << 14)) >> 15                         # x / rms in Q15
    n = np.clip(n, INT32_MIN, INT32_MAX)
    return _sat(requantize(n, gain_mult[None, :], gain_shift[None, :]), np.int8)


# --- positions --------------------------------------------------------------

def rope_s8(x, n_heads, cos_q14, sin_q14, pos0=0):
    """RoPE, half-split (Needle's layout): for each head, pairs (i, i + D/2).

    x: int8 [T, n_heads * D]; cos_q14, sin_q14: int16 [P, D/2] tables in Q14;
    row t is at position pos0 + t < P.
    """
    T = x.shape[0]
    D = x.shape[1] // n_heads
    half = D // 2
    xs = x.astype(np.int64).reshape(T, n_heads, D)
    c = cos_q14[pos0:pos0 + T].astype(np.int64)[:, None, :]
    s = sin_q14[pos0:pos0 + T].astype(np.int64)[:, None, :]
    x1, x2 = xs[..., :half], xs[..., half:]
    o1 = (x1 * c - x2 * s + (1 << 13)) >> 14
    o2 = (x2 * c + x1 * s + (1 << 13)) >> 14
    return _sat(np.concatenate([o1, o2], axis=-1), np.int8).reshape(T, n_heads * D)


def rope_tables(head_dim, n_pos, theta=10000.0):
    """Q14 cos/sin tables [n_pos, head_dim/2] (made once, on the host, stored in the image)."""
    half = head_dim // 2
    inv_freq = 1.0 / (theta ** (np.arange(half, dtype=np.float64) * 2.0 / head_dim))
    ang = np.arange(n_pos, dtype=np.float64)[:, None] * inv_freq[None, :]
    return (np.round(np.cos(ang) * (1 << 14)).astype(np.int16),
            np.round(np.sin(ang) * (1 << 14)).astype(np.int16))


# --- residual stream ----------------------------------------------------------

def residual_gated_s16(r, y, mult, shift):
    """r + sigmoid(s) * y on the int16 residual stream. sigmoid(s) is a constant
    per sublayer, so it lives inside (mult, shift) with the scale ratio y/r."""
    return _sat(r.astype(np.int64) + requantize(y.astype(np.int64), mult, shift), np.int16)


def embed_s16(tokens, table, mult, shift):
    """Embedding lookup into the int16 residual stream.
    table int8 [V, D] with a scale per row (the tied head's output channels);
    (mult, shift) [V] encode row_scale * sqrt(d) / residual_scale."""
    rows = table[tokens].astype(np.int64)
    return _sat(requantize(rows, mult[tokens][:, None], shift[tokens][:, None]), np.int16)


def embed_s16_s4(tokens, table4, D, mult, shift):
    """embed_s16 from an int4 table (packed as pack_s4, [V, (D + 1) // 2])."""
    return embed_s16(tokens, unpack_s4(table4, D), mult, shift)


def quantize_multiplier(real):
    """Split a positive real factor into (mult, shift) for requantize, as
    TFLite's QuantizeMultiplier does (frexp, round, carry)."""
    if real == 0.0:
        return 0, 0
    mant, exp = np.frexp(real)
    q = int(round(mant * (1 << 31)))
    if q == 1 << 31:
        q //= 2
        exp += 1
    if exp < -31:
        return 0, 0
    if exp > 30:
        raise ValueError(f"requantization factor {real!r} is too large (2^{exp})")
    return q, int(exp)
