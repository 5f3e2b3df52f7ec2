"""Seeded inputs for every kernel, one builder per op.

Each builder returns a dict of keyword arguments for the op and depends only
on its own arguments, so a failure message that names the call
(`kernel_cases.matmul(seed=3, M=7, K=17, N=5, x='corners', ...)`) rebuilds the
exact failing inputs in a Python shell. `kind` strings pick value families:
the quantizer's typical ranges, the int8/int16 corners, and the ends of every
parameter range the checks accept.
"""
import numpy as np

from thimble.kernels.reference import pack_s4, quantize_multiplier, rope_tables

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def ints(rng, shape, dtype, kind):
    """An integer array of `dtype`: random, min, max, zero, corners (both ends, 0, +-1),
    small or unit."""
    info = np.iinfo(dtype)
    if kind == "random":
        return rng.integers(info.min, info.max, shape, dtype=np.int64, endpoint=True).astype(dtype)
    if kind == "min":
        return np.full(shape, info.min, dtype)
    if kind == "max":
        return np.full(shape, info.max, dtype)
    if kind == "zero":
        return np.zeros(shape, dtype)
    if kind == "corners":
        return rng.choice(np.array([info.min, info.max, info.min + 1, 0, 1, -1], dtype), shape)
    if kind == "small":       # the quantizer's usual spread: a few bits, both signs
        return rng.integers(-9, 10, shape).astype(dtype)
    if kind == "unit":        # -1, 0, +1, half of them 0: rows whose rms is under 1
        return rng.choice(np.array([-1, 0, 0, 1], dtype), shape)
    raise ValueError(f"unknown value kind {kind!r}")


def requant(rng, n, kind):
    """(mult, shift) int32 [n]. typical: the quantizer's [2^30, 2^31) with right
    shifts; extreme: 0, 1, +-2^31 ends, shifts -31 and 30; wrap: left shifts
    that wrap int32; zero: mult 0."""
    mult = rng.integers(1 << 30, 1 << 31, n, dtype=np.int64)
    shift = rng.integers(-20, 3, n)
    if kind == "extreme":
        mult = np.where(rng.integers(0, 3, n) == 0, rng.integers(I32_MIN, I32_MAX, n, endpoint=True),
                        rng.choice([0, 1, -1, I32_MIN, I32_MAX, 1 << 30], n))
        shift = rng.choice([-31, 30, -30, 29, 0, -1, 1], n)
    elif kind == "wrap":
        shift = rng.integers(20, 31, n)
    elif kind == "zero":
        mult = np.zeros(n, np.int64)
    elif kind != "typical":
        raise ValueError(f"unknown requantization kind {kind!r}")
    return mult.astype(np.int32), shift.astype(np.int32)


def requantize(seed, shape, kind="extreme"):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    acc = ints(rng, n, np.int32, "random")
    acc[::5] = rng.choice([I32_MIN, I32_MAX, 0, -1, 1, 1 << 30, -(1 << 30)], acc[::5].size)
    mult, shift = requant(rng, n, kind)
    return dict(acc=acc.reshape(shape), mult=mult.reshape(shape), shift=shift.reshape(shape))


def matmul(seed, M, K, N, x="random", w="random", bias="random", rq="typical"):
    """x int8 [M, K], w int8 [N, K], bias int32 [N] (random, extreme or none), mult/shift [N]."""
    rng = np.random.default_rng(seed)
    a = dict(x=ints(rng, (M, K), np.int8, x), w=ints(rng, (N, K), np.int8, w))
    if bias == "random":
        a["bias"] = rng.integers(-(1 << 20), 1 << 20, N).astype(np.int32)
    elif bias == "extreme":
        a["bias"] = rng.choice(np.array([I32_MIN, I32_MAX, 0, -1], np.int32), N)
    elif bias != "none":
        raise ValueError(f"unknown bias kind {bias!r}")
    a["mult"], a["shift"] = requant(rng, N, rq)
    return a


def matmul_s4(seed, M, K, N, x="random", w="random", bias="random", rq="typical", pad="garbage"):
    """x int8 [M, K], int4 weights packed two a byte (w4 uint8 [N, (K + 1) // 2]):
    w random in [-8, 7], min (-8), max (7) or corners (-8, 7, -7, 0, +-1); an odd
    K's padding nibble garbage (never read) or zero; bias and mult/shift as matmul."""
    a = matmul(seed, M, K, N, x=x, w="zero", bias=bias, rq=rq)
    rng = np.random.default_rng(seed + 1)
    del a["w"]
    kinds = {"random": lambda: rng.integers(-8, 8, (N, K)), "min": lambda: np.full((N, K), -8),
             "max": lambda: np.full((N, K), 7),
             "corners": lambda: rng.choice(np.array([-8, 7, -7, 0, 1, -1]), (N, K))}
    w4 = pack_s4(kinds[w]())
    if K % 2 and pad == "garbage":
        w4[:, -1] |= (rng.integers(0, 16, N) << 4).astype(np.uint8)
    a["w4"] = w4
    return a


def _score_params(rng, scale_lo, scale_hi, kind):
    """(mult, shift, diff_max) for softmax: typical encodes a real score scale c
    as c * 256 with diff_max = 16 / c, as the quantizer does; extreme takes the
    ends of every accepted range (diff_max as large as the shift allows)."""
    if kind == "typical":
        c = 10.0 ** rng.uniform(scale_lo, scale_hi)
        mult, shift = quantize_multiplier(c * 256)
        return mult, shift, min(int(16 / c), I32_MAX >> max(shift, 0))
    if kind == "extreme":
        mult = int(rng.choice([0, 1, I32_MAX, 1 << 30]))
        shift = int(rng.choice([-31, -1, 0, 1, 30, int(rng.integers(-31, 31))]))
        limit = I32_MAX >> max(shift, 0)
        return mult, shift, int(rng.choice([0, 1, limit, int(rng.integers(0, limit, endpoint=True))]))
    raise ValueError(f"unknown score parameter kind {kind!r}")


def _mask(rng, n, kind):
    if kind == "none":
        return None
    if kind == "random":
        return (rng.random(n) < 0.6).astype(np.uint8)
    if kind == "empty":
        return np.zeros(n, np.uint8)
    if kind == "one":
        m = np.zeros(n, np.uint8)
        m[rng.integers(0, n)] = 1
        return m
    if kind == "values":      # any nonzero byte attends, not just 1
        return rng.choice(np.array([0, 1, 2, 255], np.uint8), n)
    raise ValueError(f"unknown mask kind {kind!r}")


def softmax(seed, n, scores="random", mask="none", rq="typical"):
    """scores int32 [n]: random (spread around diff_max), equal, or extreme (int32 ends)."""
    rng = np.random.default_rng(seed)
    mult, shift, diff_max = _score_params(rng, -4, -1, rq)
    if scores == "random":
        spread = max(1, min(2 * diff_max, 1 << 30))
        s = rng.integers(-spread, spread, n, endpoint=True).astype(np.int32)
    elif scores == "equal":
        s = np.full(n, int(rng.integers(-1000, 1000)), np.int32)
    elif scores == "extreme":
        s = rng.choice(np.array([I32_MIN, I32_MAX, I32_MAX - 1, 0, -1, I32_MIN + 1], np.int32), n)
    else:
        raise ValueError(f"unknown scores kind {scores!r}")
    return dict(scores=s, mult=mult, shift=shift, diff_max=diff_max, mask=_mask(rng, n, mask))


def attention(seed, Tq, Tk, H, Hkv, D, causal=False, q_pos0=0, mask="none", values="random",
              rq="typical"):
    """q int8 [Tq, H*D], k/v int8 [Tk, Hkv*D]; query row i at position q_pos0 + i."""
    rng = np.random.default_rng(seed)
    a = dict(q=ints(rng, (Tq, H * D), np.int8, values), k=ints(rng, (Tk, Hkv * D), np.int8, values),
             v=ints(rng, (Tk, Hkv * D), np.int8, values), n_heads=H, n_kv_heads=Hkv,
             causal=causal, q_pos0=q_pos0, kv_mask=_mask(rng, Tk, mask))
    # scores reach ~ D * 2^14: scales 1e-6 .. 1e-3 go from flat to one-hot softmax
    a["score_mult"], a["score_shift"], a["diff_max"] = _score_params(rng, -6, -3, rq)
    if rq == "typical":       # sum_j p_j v_j is v in Q15: bring it back near int8
        a["out_mult"], a["out_shift"] = int(rng.integers(1 << 30, 1 << 31)), int(rng.integers(-17, -12))
    else:
        a["out_mult"] = int(rng.choice([I32_MIN, -1, 0, 1, I32_MAX, int(rng.integers(I32_MIN, I32_MAX))]))
        a["out_shift"] = int(rng.choice([-31, -15, 0, 30]))
    return a


def rmsnorm(seed, rows, D, dtype="int16", x="random", rq="typical", eps="random"):
    """x int8 or int16 [rows, D]; gain (mult, shift) [D]; eps_q16 random, 0 or 2^40."""
    rng = np.random.default_rng(seed)
    a = dict(x=ints(rng, (rows, D), np.dtype(dtype), x))
    a["gain_mult"], a["gain_shift"] = requant(rng, D, rq)
    if rq == "typical":       # n is x / rms in Q15: bring it back near int8
        a["gain_shift"] = rng.integers(-14, -7, D).astype(np.int32)
    a["eps_q16"] = {"random": int(rng.integers(0, 1 << 24)), "zero": 0, "max": 1 << 40}[eps]
    return a


def rope(seed, T, H, D, n_pos, pos0, x="random", table="real"):
    """x int8 [T, H*D]; cos/sin int16 [n_pos, D/2]: real Q14 tables or random int16."""
    rng = np.random.default_rng(seed)
    if table == "real":
        cos, sin = rope_tables(D, n_pos)
    elif table == "random":
        cos, sin = (ints(rng, (n_pos, D // 2), np.int16, "random") for _ in range(2))
    elif table == "corners":
        cos, sin = (ints(rng, (n_pos, D // 2), np.int16, "corners") for _ in range(2))
    else:
        raise ValueError(f"unknown table kind {table!r}")
    return dict(x=ints(rng, (T, H * D), np.int8, x), n_heads=H, cos_q14=cos, sin_q14=sin, pos0=pos0)


def residual(seed, shape, r="random", y="random", rq="typical"):
    """r int16, y int8 of one shape; one (mult, shift) scalar pair (the gate)."""
    rng = np.random.default_rng(seed)
    mult, shift = requant(rng, 1, rq)
    if rq == "typical":
        shift = rng.integers(-8, 5, 1)
    return dict(r=ints(rng, shape, np.int16, r), y=ints(rng, shape, np.int8, y),
                mult=int(mult[0]), shift=int(shift[0]))


def embed(seed, T, V, D, tokens="random", table="random", rq="typical"):
    """tokens int32 [T] in [0, V) (random or only the ends 0 and V-1); table int8 [V, D]."""
    rng = np.random.default_rng(seed)
    tok = rng.integers(0, V, T) if tokens == "random" else rng.choice([0, V - 1], T)
    mult, shift = requant(rng, V, rq)
    if rq == "typical":
        shift = rng.integers(-2, 9, V).astype(np.int32)
    return dict(tokens=tok.astype(np.int32), table=ints(rng, (V, D), np.int8, table),
                mult=mult, shift=shift)


def embed_s4(seed, T, V, D, tokens="random", rq="typical"):
    """embed's tokens and requantization, the table int4 [V, D] packed (table4) with
    the -8 / 7 ends and, for odd D, garbage in each row's padding nibble."""
    a = embed(seed, T, V, D, tokens=tokens, rq=rq)
    rng = np.random.default_rng(seed + 2)
    t4 = pack_s4(rng.choice(np.array([-8, 7, -7, 0, 1, -1, 3]), (V, D)))
    if D % 2:
        t4[:, -1] |= (rng.integers(0, 16, V) << 4).astype(np.uint8)
    return dict(tokens=a["tokens"], table4=t4, D=D, mult=a["mult"], shift=a["shift"])


def softmax_rows(seed, rows, n, scores="random", rq="typical"):
    """scores int32 [rows, n] (no mask): random rows, plus an all-equal first
    row (every p alike) when rows > 1; one (mult, shift, diff_max). spread:
    row r's scores span diff_max / 2^(r mod 32), so the rows' exp totals
    (and the reciprocals that scale them) run from one-hot (row 0: one key
    within diff_max of the top) to flat."""
    a = softmax(seed, rows * n, scores="random" if scores == "spread" else scores, rq=rq)
    s = a["scores"].reshape(rows, n)
    if scores == "spread":
        rng = np.random.default_rng(seed + 1)
        for r in range(rows):
            span = max(1, min(a["diff_max"], 1 << 30) >> (r % 32))
            s[r] = rng.integers(-span, span, n, endpoint=True)
        if rows and n:       # one-hot: every other key past diff_max, total 2^15, reciprocal 2^31
            s[0] = -(a["diff_max"] + 1)
            s[0, rng.integers(0, n)] = 0
        return dict(scores=s, mult=a["mult"], shift=a["shift"], diff_max=a["diff_max"])
    if rows > 1 and n:
        s[0] = s[0].max()
    return dict(scores=s, mult=a["mult"], shift=a["shift"], diff_max=a["diff_max"])


def pv_rows(seed, bq, Tk, D, p="random", v="random", rq="typical"):
    """p int16 [bq, Tk] Q15 in [0, 32767]: random (rows summing near 2^15, as
    a softmax leaves them), one_hot (32767 on one key: three digits), max (every
    p 32767), zero; vt int8 [D, Tk]; one (mult, shift)."""
    rng = np.random.default_rng(seed)
    if p == "random":
        pv = rng.integers(0, 32768, (bq, Tk)) // max(Tk // 2, 1)
        pv = np.minimum(pv, 32767)
    elif p == "one_hot":
        pv = np.zeros((bq, Tk), np.int64)
        if Tk:
            pv[np.arange(bq), rng.integers(0, Tk, bq)] = 32767
    elif p == "max":
        pv = np.full((bq, Tk), 32767)
    elif p == "zero":
        pv = np.zeros((bq, Tk), np.int64)
    elif p == "two_digit_edge":        # just below and at the two-digit limit (32640)
        pv = rng.choice(np.array([32639, 32640, 32767, 0, 127, 128, 255, 256]), (bq, Tk))
    else:
        raise ValueError(f"unknown p kind {p!r}")
    mult, shift = requant(rng, 1, rq)
    if rq == "typical":               # sum_j p_j v_j is v in Q15: bring it back near int8
        shift = rng.integers(-17, -12, 1)
    return dict(p=pv.astype(np.int16), vt=ints(rng, (D, Tk), np.int8, v), mult=int(mult[0]), shift=int(shift[0]))


def pv_combine(seed, n, digits=3, rq="extreme"):
    """Digit sums s0, s1, s2 int32 [n] (s2 None: two digits) with int32 ends,
    so the recombination wraps; one (mult, shift)."""
    rng = np.random.default_rng(seed)
    s = [ints(rng, n, np.int32, "random") for _ in range(3)]
    s[0][::3] = I32_MAX
    s[1][1::4] = I32_MIN
    s[2][2::4] = I32_MIN
    mult, shift = requant(rng, 1, rq)
    return dict(s0=s[0], s1=s[1], s2=s[2] if digits == 3 else None, mult=int(mult[0]), shift=int(shift[0]))
