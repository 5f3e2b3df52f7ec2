"""Numba twins of the reference kernels (reference.py is the specification).

Every public function here has the reference's name, signature and return
dtype, and returns exactly its bits. Arguments arrive already checked by
checks.py (through kernels.Backend); these functions only shape the call for
one compiled kernel each.

Why the code looks the way it does (docs/kernels-numba.md has the figures):
  * @njit(cache=True): compiled on the first call, once per machine (the
    cache lives in __pycache__ beside this file); importing compiles nothing.
  * Optional arguments (bias, masks) are replaced by neutral arrays in Python
    (zeros, ones), so each kernel has one compiled signature, not one per
    combination of None.
  * The exp tables (and their bit count) are passed as arguments, never
    read as globals: Numba freezes globals into its cache, which is keyed
    on this file only and would go stale silently if tools/gen_tables.py
    ever changed them.
  * The matmul inner loop is a plain dot product whose sum is truncated to
    int32 right away; LLVM then knows 32 bits are enough and vectorises it
    into vpmaddwd (AVX2 / AVX-512), which is the whole speed. From 8 rows of
    x on, x and each weight panel are widened to int16 once per call, which
    takes the sign extensions out of the inner loop. int32 wrap-around gives
    the reference's _wrap32 for free.
"""
import numpy as np
from numba import njit

from . import tables

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

# Everything from tables.py reaches the kernels as arguments (see above).
_EXP_HI = np.array(tables.EXP_HI, dtype=np.int64)        # [EXP_HI_LEN] Q15
_EXP_LO = np.array(tables.EXP_LO, dtype=np.int64)        # [EXP_LO_LEN] Q15
_EXP_FRAC_BITS = tables.EXP_FRAC_BITS
_EXP_FINE = np.array(tables.EXP_FINE, dtype=np.int64)     # Sinkhorn: Q12 exp's low bits
_LN_Q16 = np.array(tables.LN_Q16, dtype=np.int64)
_LN2_Q16 = tables.LN2_Q16

# Weight rows per matmul panel: the panel (rows x K elements) stays in L1/L2
# while every x row passes over it.
_PANEL_BYTES = 32 * 1024
# From this many rows of x on, x and each weight panel are widened to int16
# once per call (cheaper inner loop); below it the int8 loop wins.
_WIDEN_MIN_ROWS = 8


# --- scalar helpers (inlined by LLVM) -------------------------------------------

@njit(cache=True)
def _rq(acc, mult, shift):
    """requantize for one int64 value; int64 out (int32 values). Branch-free
    where it matters so the loops around it can vectorise."""
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    x = np.int64(np.int32(acc << left))                 # wraps like uint32 in C
    ab = x * mult
    # nudge + truncating division == floor((ab + 2^30) / 2^31) for both signs
    high = (ab + (1 << 30)) >> 31
    if high > INT32_MAX:                                # only INT32_MIN * INT32_MIN
        high = INT32_MAX
    mask = (np.int64(1) << right) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if (high & mask) > threshold else 0)


@njit(cache=True)
def _sat(v, lo, hi):
    return lo if v < lo else (hi if v > hi else v)


@njit(cache=True)
def _dot(a, b, k):
    """int8/int16 [k] . int8/int16 [k] as int32 (exact: |sum| <= 2^30 for k <= 65536)."""
    s = 0
    for i in range(k):
        s += np.int32(a[i]) * np.int32(b[i])
    return np.int32(s)                                  # the truncation lets LLVM use 32-bit lanes


@njit(cache=True)
def _exp_q15(z, exp_hi, exp_lo, frac_bits):
    """exp(-z / 256) in Q15, as reference.exp_q15 computes it for any z.
    exp_hi [EXP_HI_LEN], exp_lo [EXP_LO_LEN = 2^frac_bits]: tables.py.

    A negative z only arises when a softmax shift > 0 wraps the difference;
    the reference then indexes its table Python-style (z >> 8 in [-16, -1]
    wraps around), and fails for anything lower. Both are mirrored."""
    hi_len = exp_hi.shape[0]
    if z >= (hi_len << frac_bits):
        return np.int64(0)
    hi = z >> frac_bits
    if hi < 0:
        if hi < -hi_len:
            raise ValueError("softmax: the shifted score difference wrapped below the exp "
                             "table (reference.exp_q15 raises IndexError here)")
        hi += hi_len
    return (exp_hi[hi] * exp_lo[z & (exp_lo.shape[0] - 1)] + (1 << 14)) >> 15


@njit(cache=True)
def _isqrt(v):
    """floor(sqrt(v)) for 0 <= v < 2^63, digit by digit (exact, no float)."""
    res = np.int64(0)
    bit = np.int64(1) << 62
    while bit > v:
        bit >>= 2
    while bit != 0:
        if v >= res + bit:
            v -= res + bit
            res = (res >> 1) + bit
        else:
            res >>= 1
        bit >>= 2
    return res


# --- requantize -----------------------------------------------------------------

@njit(cache=True)
def _requantize(acc, mult, shift, out):
    # acc, mult, shift int32 [n]; out int64 [n]
    for i in range(acc.shape[0]):
        out[i] = _rq(np.int64(acc[i]), np.int64(mult[i]), np.int64(shift[i]))


def requantize(acc, mult, shift):
    """acc, mult, shift: int32 arrays of one shape -> int64 array of it (int32 values)."""
    out = np.empty(acc.size, dtype=np.int64)
    _requantize(acc.ravel(), mult.ravel(), shift.ravel(), out)
    return out.reshape(acc.shape)


# --- matmul ---------------------------------------------------------------------

@njit(cache=True)
def _widen(w, out):
    # w int8 [rows, K] -> out int16 [>= rows, K]
    for r in range(w.shape[0]):
        for i in range(w.shape[1]):
            out[r, i] = w[r, i]


@njit(cache=True)
def _panel(xs, wp, n0, bias, mult, shift, requant, acc, y):
    """y[:, n0:n0 + rows] for one panel of weight rows wp [rows, K] (int8, or
    int16 when xs is int16 too); requant picks int8 (per-channel requantized)
    or int32 out. acc: int32 [>= rows] scratch. The dot products and the
    requantization are separate loops so that each vectorises."""
    K = xs.shape[1]
    rows = wp.shape[0]
    for m in range(xs.shape[0]):
        xr = xs[m]
        for j in range(rows):
            acc[j] = np.int32(_dot(xr, wp[j], K) + bias[n0 + j])    # wraps like _wrap32
        if requant:
            for j in range(rows):
                y[m, n0 + j] = _sat(_rq(np.int64(acc[j]), np.int64(mult[n0 + j]),
                                        np.int64(shift[n0 + j])), -128, 127)
        else:
            for j in range(rows):
                y[m, n0 + j] = acc[j]


@njit(cache=True)
def _matmul(x, w, bias, mult, shift, requant, y):
    # x int8 [M, K]; w int8 [N, K]; bias int32 [N]; mult, shift int32 [N] (read
    # only with requant); y int8 (requant) or int32 [M, N]
    M, K = x.shape
    N = w.shape[0]
    if M < _WIDEN_MIN_ROWS:
        # few rows: widening the weights would cost more than it saves
        rows = max(1, _PANEL_BYTES // K)
        acc = np.empty(rows, dtype=np.int32)                        # [rows]
        for n0 in range(0, N, rows):
            _panel(x, w[n0:n0 + rows], n0, bias, mult, shift, requant, acc, y)
    else:
        # int16 on both sides: the inner loop is two loads, vpmaddwd, vpaddd
        x16 = x.astype(np.int16)                                     # [M, K]
        rows = max(1, _PANEL_BYTES // (2 * K))
        wp = np.empty((rows, K), dtype=np.int16)                    # [rows, K] panel
        acc = np.empty(rows, dtype=np.int32)                        # [rows]
        for n0 in range(0, N, rows):
            r = min(rows, N - n0)
            _widen(w[n0:n0 + r], wp)
            _panel(x16, wp[:r], n0, bias, mult, shift, requant, acc, y)


_NO_REQUANT = np.zeros(0, dtype=np.int32)      # mult/shift of the int32-out matmul: never read


def _bias_or_zeros(bias, n):
    return np.zeros(n, dtype=np.int32) if bias is None else bias   # + 0 is the identity


def matmul_s8_s32(x, w, bias=None):
    """x int8 [M, K], w int8 [N, K], bias int32 [N] or None -> int32 [M, N]."""
    y = np.empty((x.shape[0], w.shape[0]), dtype=np.int32)
    _matmul(x, w, _bias_or_zeros(bias, w.shape[0]), _NO_REQUANT, _NO_REQUANT, False, y)
    return y


def matmul_s8(x, w, mult, shift, bias=None):
    """x int8 [M, K], w int8 [N, K], mult/shift int32 [N], bias int32 [N] or None
    -> int8 [M, N]."""
    y = np.empty((x.shape[0], w.shape[0]), dtype=np.int8)
    _matmul(x, w, _bias_or_zeros(bias, w.shape[0]), mult, shift, True, y)
    return y


@njit(cache=True)
def _unpack_s4(w4, K, w8):
    # w4 uint8 [N, (K + 1) // 2] -> w8 int8 [N, K]: weight k in byte k // 2, low
    # nibble for even k, two's complement; an odd K's last high nibble is padding
    for n in range(w4.shape[0]):
        for k in range(K):
            b = np.int32(w4[n, k >> 1])
            v = (b >> 4) if k & 1 else (b & 15)
            w8[n, k] = v - 16 if v >= 8 else v


def matmul_s4(x, w4, mult, shift, bias=None):
    """x int8 [M, K], int4 weights w4 uint8 [N, (K + 1) // 2] -> int8 [M, N]:
    the weights unpacked once, then the int8 matmul."""
    return matmul_s8(x, _unpacked(w4, x.shape[1]), mult, shift, bias)


def matmul_s4_s32(x, w4, bias=None):
    return matmul_s8_s32(x, _unpacked(w4, x.shape[1]), bias)


def embed_s16_s4(tokens, table4, D, mult, shift):
    return embed_s16(tokens, _unpacked(table4, D), mult, shift)


def _unpacked(w4, K):
    w8 = np.empty((w4.shape[0], K), dtype=np.int8)
    _unpack_s4(w4, K, w8)
    return w8


# --- softmax and attention --------------------------------------------------------

@njit(cache=True)
def _softmax_row(s, mask, n, mult, shift, diff_max, exp_hi, exp_lo, frac_bits, e, p):
    """One row: s int32 [>= n] scores, mask uint8 [>= n] (nonzero = attend),
    e int64 [>= n] scratch, p int16 [>= n] out (Q15)."""
    top = np.int64(0)
    found = False
    for j in range(n):
        if mask[j] != 0 and (not found or np.int64(s[j]) > top):
            top = np.int64(s[j])
            found = True
    if not found:
        for j in range(n):
            p[j] = 0
        return
    total = np.int64(0)                   # >= 32768: the maximum contributes exp(0)
    for j in range(n):
        ej = np.int64(0)
        if mask[j] != 0:
            diff = top - np.int64(s[j])
            if diff <= diff_max:
                ej = _exp_q15(_rq(diff, mult, shift), exp_hi, exp_lo, frac_bits)
        e[j] = ej
        total += ej
    inv = (np.int64(1) << 46) // total    # Q46 / total, <= 2^31
    for j in range(n):
        p[j] = min((e[j] * inv + (1 << 30)) >> 31, 32767)


@njit(cache=True)
def _softmax(scores, mask, mult, shift, diff_max, exp_hi, exp_lo, frac_bits, p):
    n = scores.shape[0]
    e = np.empty(n, dtype=np.int64)
    _softmax_row(scores, mask, n, mult, shift, diff_max, exp_hi, exp_lo, frac_bits, e, p)


def softmax_q15(scores, mult, shift, diff_max, mask=None):
    """scores int32 [n], mask uint8 [n] or None -> int16 [n] in Q15."""
    n = scores.shape[0]
    p = np.empty(n, dtype=np.int16)
    if mask is None:
        mask = np.ones(n, dtype=np.uint8)
    _softmax(scores, mask, mult, shift, diff_max, _EXP_HI, _EXP_LO, _EXP_FRAC_BITS, p)
    return p


def softmax_q15_rows(scores, mult, shift, diff_max):
    """scores int32 [rows, n] (no mask) -> int16 [rows, n] in Q15."""
    p = np.empty(scores.shape, dtype=np.int16)
    _softmax_rows(scores, mult, shift, diff_max, _EXP_HI, _EXP_LO, _EXP_FRAC_BITS, p)
    return p


@njit(cache=True)
def _softmax_rows(scores, mult, shift, diff_max, exp_hi, exp_lo, frac_bits, p):
    n = scores.shape[1]
    e = np.empty(n, dtype=np.int64)
    mask = np.ones(n, dtype=np.uint8)
    for r in range(scores.shape[0]):
        _softmax_row(scores[r], mask, n, mult, shift, diff_max, exp_hi, exp_lo, frac_bits, e, p[r])


@njit(cache=True)
def _pv_rows(p, vt, mult, shift, out):
    # p int16 [bq, Tk]; vt int8 [D, Tk]; out int8 [bq, D]; the sum wraps like int32
    for r in range(p.shape[0]):
        for d in range(vt.shape[0]):
            acc = np.int32(0)
            for j in range(p.shape[1]):
                acc += np.int32(p[r, j]) * np.int32(vt[d, j])
            out[r, d] = _sat(_rq(np.int64(acc), mult, shift), -128, 127)


def pv_rows_s8(p, vt, mult, shift):
    """p int16 [bq, Tk] Q15, vt int8 [D, Tk] -> int8 [bq, D]."""
    out = np.empty((p.shape[0], vt.shape[0]), dtype=np.int8)
    _pv_rows(p, vt, np.int64(mult), np.int64(shift), out)
    return out


@njit(cache=True)
def _pv_combine(s0, s1, s2, three, mult, shift, out):
    for i in range(s0.shape[0]):
        if three:
            acc = (np.int64(s2[i]) << 14) + (np.int64(s1[i]) << 7) + np.int64(s0[i])
        else:
            acc = (np.int64(s1[i]) << 8) + np.int64(s0[i])
        out[i] = _sat(_rq(np.int64(np.int32(acc & 0xFFFFFFFF)), mult, shift), -128, 127)


def pv_combine_s8(s0, s1, s2, mult, shift):
    """int32 [n] digit sums (s2 None: two digits) -> int8 [n]."""
    out = np.empty(s0.shape[0], dtype=np.int8)
    three = s2 is not None
    _pv_combine(s0, s1, s2 if three else s0, three, np.int64(mult), np.int64(shift), out)
    return out


@njit(cache=True)
def _attention(q, k, v, n_heads, n_kv_heads, score_mult, score_shift, diff_max,
               out_mult, out_shift, causal, q_pos0, kv_mask, exp_hi, exp_lo, frac_bits, out):
    # q int8 [Tq, H * D]; k, v int8 [Tk, Hkv * D]; kv_mask uint8 [Tk]; out int8 [Tq, H * D]
    Tq = q.shape[0]
    Tk = k.shape[0]
    D = q.shape[1] // n_heads
    group = n_heads // n_kv_heads
    scores = np.empty(Tk, dtype=np.int32)     # [Tk]
    e = np.empty(Tk, dtype=np.int64)          # [Tk] exp terms
    p = np.empty(Tk, dtype=np.int16)          # [Tk] Q15 weights
    acc = np.empty(D, dtype=np.int32)         # [D]; wraps like the reference's _wrap32
    for i in range(Tq):
        n = Tk
        if causal and q_pos0 + i + 1 < Tk:    # later keys are masked: leave them out
            n = q_pos0 + i + 1
        for h in range(n_heads):
            qh = q[i, h * D:(h + 1) * D]
            off = (h // group) * D
            for j in range(n):
                scores[j] = _dot(qh, k[j, off:off + D], D)
            _softmax_row(scores, kv_mask, n, score_mult, score_shift, diff_max,
                         exp_hi, exp_lo, frac_bits, e, p)
            acc[:] = 0
            for j in range(n):
                pj = np.int32(p[j])
                if pj != 0:
                    vj = v[j, off:off + D]
                    for d in range(D):
                        acc[d] += pj * np.int32(vj[d])
            for d in range(D):
                out[i, h * D + d] = _sat(_rq(np.int64(acc[d]), out_mult, out_shift), -128, 127)


def attention_s8(q, k, v, n_heads, n_kv_heads, score_mult, score_shift, diff_max,
                 out_mult, out_shift, causal=False, q_pos0=0, kv_mask=None):
    """q int8 [Tq, n_heads * D]; k, v int8 [Tk, n_kv_heads * D]; kv_mask uint8
    [Tk] or None -> int8 [Tq, n_heads * D]. See reference.attention_s8."""
    out = np.empty(q.shape, dtype=np.int8)
    if kv_mask is None:
        kv_mask = np.ones(k.shape[0], dtype=np.uint8)
    _attention(q, k, v, n_heads, n_kv_heads, score_mult, score_shift, diff_max,
               out_mult, out_shift, bool(causal), q_pos0, kv_mask, _EXP_HI, _EXP_LO,
               _EXP_FRAC_BITS, out)
    return out


# --- normalisation ------------------------------------------------------------------

@njit(cache=True)
def _rmsnorm(x, gain_mult, gain_shift, eps_q16, y):
    # x int8 or int16 [rows, D]; gain_mult, gain_shift int32 [D]; y int8 [rows, D]
    rows, D = x.shape
    for r in range(rows):
        ss = np.int64(0)                                  # <= 2^42
        for i in range(D):
            xi = np.int64(x[r, i])
            ss += xi * xi
        ms = (ss << 16) // D + eps_q16                    # mean square, Q16
        rms = max(_isqrt(ms << 16), 1)                    # sqrt(mean square) * 2^16
        inv = (np.int64(1) << 46) // rms                  # 2^30 / rms
        for i in range(D):
            n = (np.int64(x[r, i]) * inv + (1 << 14)) >> 15   # x / rms in Q15
            n = _sat(n, INT32_MIN, INT32_MAX)
            y[r, i] = _sat(_rq(n, np.int64(gain_mult[i]), np.int64(gain_shift[i])), -128, 127)


def rmsnorm_s8(x, gain_mult, gain_shift, eps_q16):
    """x int8 or int16 [rows, D]; gain_mult, gain_shift int32 [D]; eps_q16 in
    [0, 2^40] -> int8 [rows, D]."""
    y = np.empty(x.shape, dtype=np.int8)
    _rmsnorm(x, gain_mult, gain_shift, eps_q16, y)
    return y


# --- positions ----------------------------------------------------------------------

@njit(cache=True)
def _rope(x, n_heads, cos_q14, sin_q14, pos0, y):
    # x, y int8 [T, n_heads * D]; cos_q14, sin_q14 int16 [P, D / 2], pos0 + T <= P
    T = x.shape[0]
    D = x.shape[1] // n_heads
    half = D // 2
    for t in range(T):
        c = cos_q14[pos0 + t]
        s = sin_q14[pos0 + t]
        for h in range(n_heads):
            b = h * D
            for i in range(half):
                x1 = np.int64(x[t, b + i])
                x2 = np.int64(x[t, b + half + i])
                ci = np.int64(c[i])
                si = np.int64(s[i])
                y[t, b + i] = _sat((x1 * ci - x2 * si + (1 << 13)) >> 14, -128, 127)
                y[t, b + half + i] = _sat((x2 * ci + x1 * si + (1 << 13)) >> 14, -128, 127)


def rope_s8(x, n_heads, cos_q14, sin_q14, pos0=0):
    """x int8 [T, n_heads * D]; cos_q14, sin_q14 int16 [P, D/2] -> int8 [T, n_heads * D]."""
    y = np.empty(x.shape, dtype=np.int8)
    _rope(x, n_heads, cos_q14, sin_q14, pos0, y)
    return y


# --- residual stream ------------------------------------------------------------------

@njit(cache=True)
def _residual(r, y, mult, shift, out):
    # r int16 [n]; y int8 [n]; out int16 [n]
    for i in range(r.shape[0]):
        out[i] = _sat(np.int64(r[i]) + _rq(np.int64(y[i]), mult, shift), -32768, 32767)


def residual_gated_s16(r, y, mult, shift):
    """r int16, y int8 of one shape -> int16 of that shape."""
    out = np.empty(r.size, dtype=np.int16)
    _residual(r.ravel(), y.ravel(), mult, shift, out)
    return out.reshape(r.shape)


@njit(cache=True)
def _embed(tokens, table, mult, shift, out):
    # tokens int32 [T] in [0, V); table int8 [V, D]; mult, shift int32 [V]; out int16 [T, D]
    D = table.shape[1]
    for t in range(tokens.shape[0]):
        tok = tokens[t]
        m = np.int64(mult[tok])
        s = np.int64(shift[tok])
        for d in range(D):
            out[t, d] = _sat(_rq(np.int64(table[tok, d]), m, s), -32768, 32767)


def embed_s16(tokens, table, mult, shift):
    """tokens int32 [T] (ids < V), table int8 [V, D], mult/shift int32 [V] -> int16 [T, D]."""
    out = np.empty((tokens.shape[0], table.shape[1]), dtype=np.int16)
    _embed(tokens, table, mult, shift, out)
    return out


# --- CQ weights (reference.py "CQ weights") ------------------------------------

@njit(cache=True)
def _cq_rotate(x, xr, sh):
    # x int8 [M, K]; xr int8 [M, G * 128]; sh uint8 [M, G]
    M, K = x.shape
    G = sh.shape[1]
    v = np.zeros(128, dtype=np.int64)
    for m in range(M):
        for g in range(G):
            for j in range(128):
                k = g * 128 + j
                v[j] = x[m, k] if k < K else 0
            h = 1
            while h < 128:
                for i in range(0, 128, 2 * h):
                    for j in range(i, i + h):
                        a, b = v[j], v[j + h]
                        v[j] = a + b
                        v[j + h] = a - b
                h *= 2
            s = 0
            while s < 7:
                half = (1 << s) >> 1
                fits = True
                for j in range(128):
                    r = (v[j] + half) >> s
                    if r > 127 or r < -128:
                        fits = False
                        break
                if fits:
                    break
                s += 1
            half = (1 << s) >> 1
            for j in range(128):
                xr[m, g * 128 + j] = (v[j] + half) >> s
            sh[m, g] = s


def cq_rotate_s8(x):
    M, K = x.shape
    G = -(-K // 128)
    xr = np.empty((M, G * 128), dtype=np.int8)
    sh = np.empty((M, G), dtype=np.uint8)
    _cq_rotate(x, xr, sh)
    return xr, sh


@njit(cache=True)
def _rq64(acc, mult, rshift):
    # reference.requantize_s64 in its 64-bit pieces
    hi = acc >> 32
    lo = np.uint64(acc & 0xFFFFFFFF)
    lo_part = np.int64((lo * np.uint64(mult)) >> np.uint64(32))
    return (hi * mult + (np.int64(1) << (rshift - 33)) + lo_part) >> (rshift - 32)


@njit(cache=True)
def _matmul_cq(xr, sh, w, bits, lut, norm_q, mult, rshift, lo, hi, y):
    # y [M, N] int8 or int32 (lo, hi its range)
    M, Kp = xr.shape
    N = w.shape[0]
    G = Kp // 128
    mask = (1 << bits) - 1
    lev = np.empty(Kp, dtype=np.int64)
    for n in range(N):
        for k in range(Kp):                       # the row's levels, once per row
            at = k * bits
            b, o = at >> 3, at & 7
            f = np.int64(w[n, b]) >> o
            if o + bits > 8:
                f |= np.int64(w[n, b + 1]) << (8 - o)
            lev[k] = lut[f & mask]
        for m in range(M):
            acc = np.int64(0)
            for g in range(G):
                dot = np.int64(0)
                for j in range(128):
                    dot += lev[g * 128 + j] * np.int64(xr[m, g * 128 + j])
                acc += (dot << np.int64(sh[m, g])) * np.int64(norm_q[n, g])
            q = _rq64(acc, np.int64(mult[n]), np.int64(rshift[n]))
            y[m, n] = min(max(q, lo), hi)


def matmul_cq(xr, sh, w, bits, lut, norm_q, mult, rshift):
    y = np.empty((xr.shape[0], w.shape[0]), dtype=np.int8)
    _matmul_cq(xr, sh, w, bits, lut, norm_q, mult, rshift, -128, 127, y)
    return y


def matmul_cq_s32(xr, sh, w, bits, lut, norm_q, mult, rshift):
    y = np.empty((xr.shape[0], w.shape[0]), dtype=np.int32)
    _matmul_cq(xr, sh, w, bits, lut, norm_q, mult, rshift, INT32_MIN, INT32_MAX, y)
    return y


# --- Needle 2's Sinkhorn (reference.py sinkhorn_q12) -----------------------------

@njit(cache=True)
def _exp_q12(z, exp_hi, exp_lo, frac_bits, fine):
    c = z >> 4
    if c >= exp_hi.shape[0] << frac_bits:
        return np.int64(0)
    e = (exp_hi[c >> frac_bits] * exp_lo[c & (exp_lo.shape[0] - 1)] + (1 << 14)) >> 15
    return (e * fine[z & 15] + (1 << 14)) >> 15


@njit(cache=True)
def _ln_q12(s, ln, ln2):
    k = 0
    while (s >> k) >= (1 << 16):
        k += 1
    f = (s >> k) - (1 << 15)
    i, frac = f >> 7, f & 127
    hi = ln[min(i + 1, ln.shape[0] - 1)]
    t = ln[i] + (((hi - ln[i]) * frac + 64) >> 7)
    return (k * ln2 + t + 8) >> 4


@njit(cache=True)
def _lse_rows(V, exp_hi, exp_lo, frac_bits, fine, ln, ln2):
    # each row of V (a view: L for rows, L.T for columns) minus its logsumexp
    n = V.shape[1]
    for i in range(V.shape[0]):
        m = V[i, 0]
        for j in range(1, n):
            m = max(m, V[i, j])
        s = np.int64(0)
        for j in range(n):
            s += _exp_q12(m - V[i, j], exp_hi, exp_lo, frac_bits, fine)
        lse = m + _ln_q12(s, ln, ln2)
        for j in range(n):
            V[i, j] -= lse


@njit(cache=True)
def _sinkhorn(logits, iters, exp_hi, exp_lo, frac_bits, fine, ln, ln2, p):
    # logits int32 [C, n, n]; p int16 [C, n, n]
    C, n = logits.shape[0], logits.shape[1]
    L = np.empty((n, n), dtype=np.int64)
    for c in range(C):
        for i in range(n):
            for j in range(n):
                L[i, j] = logits[c, i, j]
        for _ in range(iters):
            _lse_rows(L, exp_hi, exp_lo, frac_bits, fine, ln, ln2)
            _lse_rows(L.T, exp_hi, exp_lo, frac_bits, fine, ln, ln2)
        for i in range(n):
            for j in range(n):
                p[c, i, j] = min(_exp_q12(max(-L[i, j], 0), exp_hi, exp_lo, frac_bits, fine), 32767)


def sinkhorn_q12(logits, iters):
    n = logits.shape[-1]
    flat = np.ascontiguousarray(logits.reshape(-1, n, n))
    p = np.empty(flat.shape, dtype=np.int16)
    _sinkhorn(flat, iters, _EXP_HI, _EXP_LO, _EXP_FRAC_BITS, _EXP_FINE, _LN_Q16, _LN2_Q16, p)
    return p.reshape(logits.shape)


# --- Needle 2's engram hash (reference.py engram_hash) ------------------------------

@njit(cache=True)
def _engram_hash(history, positions, orders, heads, slots, out):
    for i in range(positions.shape[0]):
        pos = positions[i]
        for oi in range(orders.shape[0]):
            order = orders[oi]
            for h in range(heads):
                ti = oi * heads + h
                if pos < order - 1:
                    out[i, ti] = -1
                    continue
                acc = (np.uint64(0x9E3779B9) * np.uint64(ti + 1)) & np.uint64(0xFFFFFFFF)
                for j in range(order):
                    acc = ((acc ^ np.uint64(history[pos - j])) * np.uint64(0x01000193)) & np.uint64(0xFFFFFFFF)
                acc ^= acc >> np.uint64(15)
                out[i, ti] = np.int32(acc % np.uint64(slots))


def engram_hash(history, positions, orders, heads, slots):
    out = np.empty((positions.size, len(orders) * heads), dtype=np.int32)
    _engram_hash(history, positions, np.asarray(orders, dtype=np.int64), heads, slots, out)
    return out


# --- Needle 2's integer model: gates, the MLP's transform, CQ rows -------------------

@njit(cache=True)
def _sigmoid(z, exp_hi, exp_lo, frac_bits, fine, out):
    for i in range(z.shape[0]):
        a = min(abs(np.int64(z[i])), 65535)
        d = 32768 + _exp_q12(a, exp_hi, exp_lo, frac_bits, fine)
        pos = ((1 << 30) + (d >> 1)) // d
        out[i] = pos if z[i] >= 0 else 32768 - pos


def sigmoid_q15(z):
    flat = np.ascontiguousarray(z.reshape(-1))
    out = np.empty(flat.shape, dtype=np.int32)
    _sigmoid(flat, _EXP_HI, _EXP_LO, _EXP_FRAC_BITS, _EXP_FINE, out)
    return out.reshape(z.shape)


@njit(cache=True)
def _fwht_row(v):
    n, h = v.shape[0], 1
    while h < n:
        for i in range(0, n, 2 * h):
            for j in range(i, i + h):
                a, b = v[j], v[j + h]
                v[j] = a + b
                v[j + h] = a - b
        h *= 2


@njit(cache=True)
def _fwht(x, out):
    v = np.empty(x.shape[1], dtype=np.int64)
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            v[j] = x[r, j]
        _fwht_row(v)
        for j in range(x.shape[1]):
            out[r, j] = v[j]


def fwht_s8_s32(x):
    out = np.empty(x.shape, dtype=np.int32)
    _fwht(x, out)
    return out


@njit(cache=True)
def _cq_gather(w, bits, lut, norm_q, rows, mult, rshift, K, bound, out):
    G = norm_q.shape[1]
    mask = (1 << bits) - 1
    v = np.empty(128, dtype=np.int64)
    for i in range(rows.shape[0]):
        r = rows[i]
        for g in range(G):
            if g * 128 >= K:
                break
            for j in range(128):
                at = (g * 128 + j) * bits
                b, o = at >> 3, at & 7
                f = np.int64(w[r, b]) >> o
                if o + bits > 8:
                    f |= np.int64(w[r, b + 1]) << (8 - o)
                v[j] = lut[f & mask]
            _fwht_row(v)
            for j in range(128):
                k = g * 128 + j
                if k >= K:
                    break
                q = _rq64(v[j] * np.int64(norm_q[r, g]), np.int64(mult[i]), np.int64(rshift[i]))
                out[i, k] = min(max(q, -bound - 1), bound)


def cq_gather(w, bits, lut, norm_q, rows, mult, rshift, K, bound):
    out = np.empty((rows.size, K), dtype=np.int16 if bound > 127 else np.int8)
    _cq_gather(w, bits, lut, norm_q, rows, mult, rshift, K, bound, out)
    return out
