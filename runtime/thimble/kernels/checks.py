"""Argument checks shared by every backend, so that a bad call raises the same
clear Python error everywhere and never reaches C with a wrong buffer."""
import numpy as np

MAX_K = 65536
MAX_NORM_DIM = 4096
MAX_HEAD_DIM = 256


def array(name, a, dtype, ndim=None):
    """Return a as a C-contiguous ndarray of exactly dtype, or raise."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array of {np.dtype(dtype).name}, got {type(a).__name__}")
    if a.dtype != np.dtype(dtype):
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype).name}, got {a.dtype.name}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous (use np.ascontiguousarray)")
    return a


def shape(name, a, expected):
    if tuple(a.shape) != tuple(expected):
        raise ValueError(f"{name}: expected shape {tuple(expected)}, got {tuple(a.shape)}")


def int_range(name, value, lo, hi):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    value = int(value)
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value} is outside [{lo}, {hi}]")
    return value


def shifts(name, a):
    if a.size and (a.min() < -31 or a.max() > 30):
        raise ValueError(f"{name}: every shift must be in [-31, 30]")


def matmul(x, w, bias, mult=None, shift=None):
    x = array("x", x, np.int8, 2)
    w = array("w", w, np.int8, 2)
    M, K = x.shape
    N = w.shape[0]
    if w.shape[1] != K:
        raise ValueError(f"x is [M={M}, K={K}] but w is {tuple(w.shape)}: w must be [N, K={K}]")
    if not 1 <= K <= MAX_K:
        raise ValueError(f"K={K} is outside [1, {MAX_K}]")
    return (x, w) + _per_channel(N, bias, mult, shift)


def _per_channel(N, bias, mult, shift):
    """A matmul's bias [N] (or None) and requantization mult/shift [N] (or None)."""
    if bias is not None:
        bias = array("bias", bias, np.int32, 1)
        shape("bias", bias, (N,))
    if mult is not None:
        mult = array("mult", mult, np.int32, 1)
        shift = array("shift", shift, np.int32, 1)
        shape("mult", mult, (N,))
        shape("shift", shift, (N,))
        shifts("shift", shift)
    return bias, mult, shift


def matmul_s4(x, w4, bias, mult=None, shift=None):
    """int8 x [M, K], int4 weights packed two a byte: w4 uint8 [N, (K + 1) // 2];
    mult/shift None for the int32-out form."""
    x = array("x", x, np.int8, 2)
    w4 = array("w4", w4, np.uint8, 2)
    M, K = x.shape
    if not 1 <= K <= MAX_K:
        raise ValueError(f"K={K} is outside [1, {MAX_K}]")
    if w4.shape[1] != (K + 1) // 2:
        raise ValueError(f"x is [M={M}, K={K}] but w4 is {tuple(w4.shape)}: packed int4 rows of "
                         f"K={K} are {(K + 1) // 2} bytes")
    return (x, w4) + _per_channel(w4.shape[0], bias, mult, shift)


CQ_GROUP, CQ_SHIFT_MAX = 128, 7


def cq_rotate(x):
    x = array("x", x, np.int8, 2)
    if not 1 <= x.shape[1] <= MAX_K:
        raise ValueError(f"K={x.shape[1]} is outside [1, {MAX_K}]")
    return x


def matmul_cq(xr, sh, w, bits, lut, norm_q, mult, rshift):
    """xr int8 [M, Kp] and sh uint8 [M, Kp / 128] (cq_rotate_s8); w uint8 [N, Kp * bits / 8];
    lut int8 [2^bits]; norm_q uint16 [N, Kp / 128]; mult [N] in [0, 2^31), rshift [N] in [33, 94]."""
    xr = array("xr", xr, np.int8, 2)
    M, Kp = xr.shape
    if Kp % CQ_GROUP or not CQ_GROUP <= Kp <= MAX_K:
        raise ValueError(f"xr is [M={M}, {Kp}]: rotated rows are whole groups of {CQ_GROUP}, at most {MAX_K}")
    G = Kp // CQ_GROUP
    sh = array("sh", sh, np.uint8, 2)
    shape("sh", sh, (M, G))
    if sh.size and int(sh.max()) > CQ_SHIFT_MAX:
        raise ValueError(f"sh holds {int(sh.max())}: group shifts are 0..{CQ_SHIFT_MAX}")
    if bits not in (2, 3, 4):
        raise ValueError(f"bits={bits}: CQ fields are 2, 3 or 4 bits")
    w = array("w", w, np.uint8, 2)
    N = w.shape[0]
    shape("w", w, (N, Kp * bits // 8))
    lut = array("lut", lut, np.int8, 1)
    shape("lut", lut, (1 << bits,))
    norm_q = array("norm_q", norm_q, np.uint16, 2)
    shape("norm_q", norm_q, (N, G))
    mult = array("mult", mult, np.int32, 1)
    rshift = array("rshift", rshift, np.int32, 1)
    shape("mult", mult, (N,))
    shape("rshift", rshift, (N,))
    if N and (int(mult.min()) < 0 or int(rshift.min()) < 33 or int(rshift.max()) > 94):
        raise ValueError("mult must be in [0, 2^31) and rshift in [33, 94]")
    return xr, sh, w, int(bits), lut, norm_q, mult, rshift


SINKHORN_MAX_N, SINKHORN_MAX_LOGIT = 16, 1 << 24


def sinkhorn(logits, iters):
    """Q12 int32 logits [..., n, n], 1 <= n <= 16, |logit| <= 2^24; 0 <= iters <= 1000."""
    logits = np.asarray(logits)
    if logits.ndim < 2 or logits.shape[-1] != logits.shape[-2]:
        raise ValueError(f"logits of shape {logits.shape}: square matrices [..., n, n] expected")
    logits = array("logits", logits, np.int32, logits.ndim)
    n = logits.shape[-1]
    if not 1 <= n <= SINKHORN_MAX_N:
        raise ValueError(f"n={n} is outside [1, {SINKHORN_MAX_N}]")
    if logits.size and int(np.abs(logits.astype(np.int64)).max()) > SINKHORN_MAX_LOGIT:
        raise ValueError(f"a logit is beyond +-{SINKHORN_MAX_LOGIT} (Q12)")
    if not 0 <= int(iters) <= 1000:
        raise ValueError(f"iters={iters} is outside [0, 1000]")
    return logits, int(iters)


def engram_hash(history, positions, orders, heads, slots):
    """token ids [T] (non-negative int32), positions in [0, T), 1..8 orders of 1..16,
    1..64 heads, 1..2^24 slots."""
    history = array("history", history, np.int32, 1)
    positions = array("positions", positions, np.int32, 1)
    if history.size and int(history.min()) < 0:
        raise ValueError("history holds a negative token id")
    if positions.size and (int(positions.min()) < 0 or int(positions.max()) >= history.size):
        raise ValueError(f"a position is outside [0, {history.size})")
    orders = tuple(int(o) for o in orders)
    if not 1 <= len(orders) <= 8 or any(not 1 <= o <= 16 for o in orders):
        raise ValueError(f"orders {orders}: 1 to 8 orders of 1..16")
    if not 1 <= int(heads) <= 64 or not 1 <= int(slots) <= 1 << 24:
        raise ValueError(f"heads={heads} (1..64), slots={slots} (1..2^24)")
    return history, positions, orders, int(heads), int(slots)


def sigmoid_q15(z):
    return array("z", z, np.int32, np.asarray(z).ndim)


def fwht(x):
    x = array("x", x, np.int8, 2)
    n = x.shape[1]
    if n < 1 or n > 4096 or n & (n - 1):
        raise ValueError(f"rows of {n}: a power of two up to 4096")
    return x


def cq_gather(w, bits, lut, norm_q, rows, mult, rshift, K, bound):
    if bits not in (2, 3, 4):
        raise ValueError(f"bits={bits}: CQ fields are 2, 3 or 4 bits")
    w = array("w", w, np.uint8, 2)
    N, Kp = w.shape[0], w.shape[1] * 8 // bits
    if Kp % CQ_GROUP or not CQ_GROUP <= Kp <= MAX_K or w.shape[1] * 8 % bits:
        raise ValueError(f"w rows of {w.shape[1]} bytes are not whole groups of {CQ_GROUP} {bits}-bit fields")
    lut = array("lut", lut, np.int8, 1)
    shape("lut", lut, (1 << bits,))
    norm_q = array("norm_q", norm_q, np.uint16, 2)
    shape("norm_q", norm_q, (N, Kp // CQ_GROUP))
    rows = array("rows", rows, np.int32, 1)
    mult = array("mult", mult, np.int32, 1)
    rshift = array("rshift", rshift, np.int32, 1)
    shape("mult", mult, rows.shape)
    shape("rshift", rshift, rows.shape)
    if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= N):
        raise ValueError(f"a row is outside [0, {N})")
    if rows.size and (int(mult.min()) < 0 or int(rshift.min()) < 33 or int(rshift.max()) > 94):
        raise ValueError("mult must be in [0, 2^31) and rshift in [33, 94]")
    if not 1 <= int(K) <= Kp or int(bound) not in (127, 32767):
        raise ValueError(f"K={K} (1..{Kp}), bound={bound} (127 or 32767)")
    return w, int(bits), lut, norm_q, rows, mult, rshift, int(K), int(bound)


def diff_range(diff_max, shift, name="diff_max"):
    """A left shift of a score difference must not wrap: the kernels require
    diff_max << shift < 2^31 (the quantizer's diff_max keeps it near 2^13)."""
    if shift > 0 and diff_max > (2**31 - 1) >> shift:
        raise ValueError(f"{name}={diff_max} with shift {shift} > 0 would overflow int32: "
                         f"at most {(2**31 - 1) >> shift}")


def softmax(scores, mask, mult, shift, diff_max):
    scores = array("scores", scores, np.int32, 1)
    if mask is not None:
        mask = array("mask", mask, np.uint8, 1)
        shape("mask", mask, scores.shape)
    int_range("mult", mult, 0, 2**31 - 1)
    int_range("shift", shift, -31, 30)
    int_range("diff_max", diff_max, 0, 2**31 - 1)
    diff_range(int(diff_max), int(shift))
    return scores, mask


def softmax_rows(scores, mult, shift, diff_max):
    scores = array("scores", scores, np.int32, 2)
    int_range("mult", mult, 0, 2**31 - 1)
    int_range("shift", shift, -31, 30)
    int_range("diff_max", diff_max, 0, 2**31 - 1)
    diff_range(int(diff_max), int(shift))
    return scores


def pv_rows(p, vt, mult, shift):
    p = array("p", p, np.int16, 2)
    vt = array("vt", vt, np.int8, 2)
    if not 1 <= p.shape[1] <= MAX_K:
        raise ValueError(f"key count Tk={p.shape[1]} is outside [1, {MAX_K}]")
    if not 1 <= vt.shape[0] <= MAX_HEAD_DIM:
        raise ValueError(f"head_dim D={vt.shape[0]} is outside [1, {MAX_HEAD_DIM}]")
    shape("vt", vt, (vt.shape[0], p.shape[1]))
    if p.size and (p.min() < 0):
        raise ValueError("p: Q15 probabilities must be in [0, 32767]")
    int_range("mult", mult, -2**31, 2**31 - 1)
    int_range("shift", shift, -31, 30)
    return p, vt


def pv_combine(s0, s1, s2, mult, shift):
    s0 = array("s0", s0, np.int32, 1)
    s1 = array("s1", s1, np.int32, 1)
    shape("s1", s1, s0.shape)
    if s2 is not None:
        s2 = array("s2", s2, np.int32, 1)
        shape("s2", s2, s0.shape)
    int_range("mult", mult, -2**31, 2**31 - 1)
    int_range("shift", shift, -31, 30)
    return s0, s1, s2


def attention(q, k, v, n_heads, n_kv_heads, kv_mask, prm):
    q = array("q", q, np.int8, 2)
    k = array("k", k, np.int8, 2)
    v = array("v", v, np.int8, 2)
    n_heads = int_range("n_heads", n_heads, 1, 1 << 16)
    n_kv_heads = int_range("n_kv_heads", n_kv_heads, 1, n_heads)
    if n_heads % n_kv_heads:
        raise ValueError(f"n_heads={n_heads} is not a multiple of n_kv_heads={n_kv_heads}")
    if q.shape[1] % n_heads:
        raise ValueError(f"q width {q.shape[1]} is not a multiple of n_heads={n_heads}")
    D = q.shape[1] // n_heads
    if not 1 <= D <= MAX_HEAD_DIM:
        raise ValueError(f"head_dim={D} is outside [1, {MAX_HEAD_DIM}]")
    if k.shape[0] < 1:
        raise ValueError("k: attention needs at least one key")
    shape("k", k, (k.shape[0], n_kv_heads * D))
    shape("v", v, k.shape)
    if kv_mask is not None:
        kv_mask = array("kv_mask", kv_mask, np.uint8, 1)
        shape("kv_mask", kv_mask, (k.shape[0],))
    int_range("score_mult", prm["score_mult"], 0, 2**31 - 1)
    int_range("score_shift", prm["score_shift"], -31, 30)
    int_range("diff_max", prm["diff_max"], 0, 2**31 - 1)
    diff_range(int(prm["diff_max"]), int(prm["score_shift"]))
    int_range("out_mult", prm["out_mult"], -2**31, 2**31 - 1)
    int_range("out_shift", prm["out_shift"], -31, 30)
    int_range("q_pos0", prm["q_pos0"], 0, 2**31 - 1)
    return q, k, v, kv_mask, D


def rmsnorm(x, gain_mult, gain_shift, eps_q16):
    if not isinstance(x, np.ndarray) or x.dtype not in (np.int8, np.int16):
        raise TypeError(f"x: expected an int8 or int16 numpy array, got "
                        f"{getattr(x, 'dtype', type(x).__name__)}")
    x = array("x", x, x.dtype, 2)
    D = x.shape[1]
    if not 1 <= D <= MAX_NORM_DIM:
        raise ValueError(f"row length D={D} is outside [1, {MAX_NORM_DIM}]")
    gain_mult = array("gain_mult", gain_mult, np.int32, 1)
    gain_shift = array("gain_shift", gain_shift, np.int32, 1)
    shape("gain_mult", gain_mult, (D,))
    shape("gain_shift", gain_shift, (D,))
    shifts("gain_shift", gain_shift)
    int_range("eps_q16", eps_q16, 0, 1 << 40)
    return x, gain_mult, gain_shift


def rope(x, n_heads, cos_q14, sin_q14, pos0):
    x = array("x", x, np.int8, 2)
    n_heads = int_range("n_heads", n_heads, 1, 1 << 16)
    if x.shape[1] % n_heads:
        raise ValueError(f"x width {x.shape[1]} is not a multiple of n_heads={n_heads}")
    D = x.shape[1] // n_heads
    if D % 2 or not 2 <= D <= MAX_HEAD_DIM:
        raise ValueError(f"head_dim={D} must be even and in [2, {MAX_HEAD_DIM}]")
    cos_q14 = array("cos_q14", cos_q14, np.int16, 2)
    sin_q14 = array("sin_q14", sin_q14, np.int16, 2)
    shape("cos_q14", cos_q14, (cos_q14.shape[0], D // 2))
    shape("sin_q14", sin_q14, cos_q14.shape)
    pos0 = int_range("pos0", pos0, 0, 2**31 - 1)
    if pos0 + x.shape[0] > cos_q14.shape[0]:
        raise ValueError(f"positions {pos0}..{pos0 + x.shape[0] - 1} exceed the "
                         f"{cos_q14.shape[0]}-row RoPE table")
    return x, cos_q14, sin_q14, D


def residual(r, y, mult, shift):
    r = array("r", r, np.int16)
    y = array("y", y, np.int8)
    shape("y", y, r.shape)
    int_range("mult", mult, -2**31, 2**31 - 1)
    int_range("shift", shift, -31, 30)
    return r, y


def embed(tokens, table, mult, shift):
    tokens = array("tokens", tokens, np.int32, 1)
    table = array("table", table, np.int8, 2)
    V = table.shape[0]
    if V < 1 or table.shape[1] < 1:
        raise ValueError(f"table: expected a non-empty [V, D] array, got {table.shape}")
    mult = array("mult", mult, np.int32, 1)
    shift = array("shift", shift, np.int32, 1)
    shape("mult", mult, (V,))
    shape("shift", shift, (V,))
    shifts("shift", shift)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= V):
        bad = tokens[(tokens < 0) | (tokens >= V)][0]
        raise ValueError(f"token id {int(bad)} is outside the table [0, {V})")
    return tokens, table, mult, shift


def embed_s4(tokens, table4, D, mult, shift):
    """embed's checks for an int4 table uint8 [V, (D + 1) // 2]."""
    D = int_range("D", D, 1, 1 << 20)
    table4 = array("table4", table4, np.uint8, 2)
    if table4.shape[1] != (D + 1) // 2:
        raise ValueError(f"table4 is {tuple(table4.shape)}: int4 rows of D={D} are {(D + 1) // 2} bytes")
    tokens, _, mult, shift = embed(tokens, np.zeros((table4.shape[0], 1), np.int8), mult, shift)
    return tokens, table4, D, mult, shift


def requantize(acc, mult, shift):
    acc = array("acc", acc, np.int32)
    mult = array("mult", mult, np.int32)
    shift = array("shift", shift, np.int32)
    shape("mult", mult, acc.shape)
    shape("shift", shift, acc.shape)
    shifts("shift", shift)
    return acc, mult, shift
