"""Kernel cases with their numpy-reference answers, for the board conformance
tests and the device benchmark. Every builder takes a numpy Generator and
returns a job.Case whose `expect` is reference.py's output."""
import numpy as np

from ..kernels import layouts
from ..kernels import reference as ref
from . import job as J

I8 = np.int8
MATMUL_S8_PACKED = J.MATMUL_S8_PACKED
PV_ROWS = J.PV_ROWS


def _i8(rng, shape, edge=False):
    a = rng.integers(-128, 128, size=shape, dtype=np.int64)
    if edge and a.size:                       # the extremes, where saturation and -128*-128 live
        flat = a.reshape(-1)
        flat[: max(1, flat.size // 8)] = -128
        flat[-max(1, flat.size // 16):] = 127
    return a.astype(I8)


def _mults(rng, n, lo=-12, hi=-6):
    """Per-channel (mult, shift) of random real factors 2^lo .. 2^hi."""
    pairs = [ref.quantize_multiplier(float(r)) for r in 2.0 ** rng.uniform(lo, hi, size=n)]
    return (np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32))


def matmul_s8(rng, M, K, N, bias=True, edge=False, name=None):
    x, w = _i8(rng, (M, K), edge), _i8(rng, (N, K), edge)
    b = rng.integers(-(1 << 20), 1 << 20, size=N).astype(np.int32) if bias else None
    mult, shift = _mults(rng, N)
    return J.Case(name or f"matmul_s8 {M}x{K}x{N}{' edge' if edge else ''}", J.MATMUL_S8, [M, K, N],
                  [x, w, b, mult, shift], np.int8, (M, N), ref.matmul_s8(x, w, mult, shift, b),
                  macs=M * K * N, meta={"M": M, "K": K, "N": N})


def matmul_s4(rng, M, K, N, bias=True, edge=False, name=None):
    """thm_matmul_s4: int4 weights packed two a byte (reference.pack_s4), values
    in [-8, 7] (edge: the first rows -8, the last 7, x at its extremes); an odd
    K's padding nibble is filled with garbage, which the kernels never read."""
    x = _i8(rng, (M, K), edge)
    w = rng.integers(-8, 8, size=(N, K))
    if edge and w.size:
        w[: max(1, N // 4)] = -8
        w[-max(1, N // 4):] = 7
    w4 = ref.pack_s4(w)
    if K % 2:
        w4[:, -1] |= (rng.integers(0, 16, size=N) << 4).astype(np.uint8)
    b = rng.integers(-(1 << 20), 1 << 20, size=N).astype(np.int32) if bias else None
    mult, shift = _mults(rng, N, -20, 8) if edge else _mults(rng, N, -10, -4)
    return J.Case(name or f"matmul_s4 {M}x{K}x{N}{' edge' if edge else ''}", J.MATMUL_S4, [M, K, N],
                  [x, w4, b, mult, shift], np.int8, (M, N), ref.matmul_s4(x, w4, mult, shift, b),
                  macs=M * K * N, meta={"M": M, "K": K, "N": N})


def matmul_s4_s32(rng, M, K, N, bias=True, edge=False):
    """thm_matmul_s4_s32 (the int4 tied head) on matmul_s4's inputs; the bias may wrap int32."""
    c = matmul_s4(rng, M, K, N, bias=bias, edge=edge)
    x, w4, b = c.inputs[:3]
    if edge and b is not None:
        b = rng.choice(np.array([-(1 << 31), (1 << 31) - 1, 0], np.int64), size=N).astype(np.int32)
    return J.Case(f"matmul_s4_s32 {M}x{K}x{N}{' edge' if edge else ''}", J.MATMUL_S4_S32, [M, K, N], [x, w4, b],
                  np.int32, (M, N), ref.matmul_s4_s32(x, w4, b), macs=M * K * N, meta={"M": M, "K": K, "N": N})


def matmul_s4_extremes(rng, M, K, N, s32=False):
    """thm_matmul_s4 (s32: _s32, no bias) where the sums reach their bounds: rows of x all -128,
    all 127, then alternating; rows of w all -8, all 7, then random. A whole row at -128
    against one at -8 is the largest sum, 1024 K; 127 against -8 the smallest, -1016 K."""
    x = rng.integers(-128, 128, size=(M, K))
    x[0::3], x[1::3] = -128, 127
    x[2::3, 0::2] = -128
    w = rng.integers(-8, 8, size=(N, K))
    w[0::3], w[1::3] = -8, 7
    w4 = ref.pack_s4(w)
    if K % 2:
        w4[:, -1] |= (rng.integers(0, 16, size=N) << 4).astype(np.uint8)
    x = x.astype(I8)
    name = f"matmul_s4{'_s32' if s32 else ''} {M}x{K}x{N} extremes"
    if s32:
        return J.Case(name, J.MATMUL_S4_S32, [M, K, N], [x, w4, None], np.int32, (M, N),
                      ref.matmul_s4_s32(x, w4, None), macs=M * K * N, meta={"M": M, "K": K, "N": N})
    mult, shift = _mults(rng, N, -20, -8)
    return J.Case(name, J.MATMUL_S4, [M, K, N], [x, w4, None, mult, shift], np.int8, (M, N),
                  ref.matmul_s4(x, w4, mult, shift, None), macs=M * K * N, meta={"M": M, "K": K, "N": N})


def embed_s16_s4(rng, T, V, D):
    """thm_embed_s16_s4: rows of an int4 table at the -8 / 7 ends, odd D's padding nibble garbage."""
    tokens = rng.integers(0, V, size=T).astype(np.int32)
    w = rng.choice(np.array([-8, 7, -7, 0, 1, -1, 5]), size=(V, D))
    t4 = ref.pack_s4(w)
    if D % 2:
        t4[:, -1] |= (rng.integers(0, 16, size=V) << 4).astype(np.uint8)
    mult, shift = _mults(rng, V, 4, 9)
    return J.Case(f"embed_s16_s4 T={T} V={V} D={D}", J.EMBED_S16_S4, [T, V, D], [tokens, t4, mult, shift],
                  np.int16, (T, D), ref.embed_s16_s4(tokens, t4, D, mult, shift))


def cq_rotate_s8(rng, M, K, edge=False):
    """thm_cq_rotate_s8: one output buffer, xr [M, G * 128] then sh [M, G]."""
    x = _i8(rng, (M, K), edge)
    if edge and M:
        x[0] = -128                           # the largest shift (7)
    xr, sh = ref.cq_rotate_s8(x)
    out = np.concatenate([xr.view(np.uint8).reshape(-1), sh.reshape(-1)])
    return J.Case(f"cq_rotate_s8 {M}x{K}{' edge' if edge else ''}", J.CQ_ROTATE_S8, [M, K], [x], np.uint8,
                  out.shape, out)


def matmul_cq(rng, M, K, N, bits, s32=False, edge=False, name=None):
    """thm_matmul_cq_s8 / _s32 on rotated activations: random bitstream rows, an
    int8 codebook (at its ends with edge), uint16 group norms, requantize_s64."""
    Kp = -(-K // ref.CQ_GROUP) * ref.CQ_GROUP
    G = Kp // ref.CQ_GROUP
    xr, sh = ref.cq_rotate_s8(_i8(rng, (M, K), edge))
    w = rng.integers(0, 256, (N, Kp * bits // 8), dtype=np.int64).astype(np.uint8)
    lut = (np.where(rng.integers(0, 2, 1 << bits) > 0, 127, -128) if edge
           else rng.integers(-128, 128, 1 << bits)).astype(I8)
    norm_q = (np.full((N, G), 65535) if edge else rng.integers(0, 65536, (N, G))).astype(np.uint16)
    mult = rng.integers(1 << 30, 1 << 31, N, dtype=np.int64).astype(np.int32)
    rshift = rng.integers(44, 56, N).astype(np.int32)
    op = ref.matmul_cq_s32 if s32 else ref.matmul_cq
    kind = J.MATMUL_CQ_S32 if s32 else J.MATMUL_CQ_S8
    label = name or f"matmul_cq{'_s32' if s32 else ''} {M}x{K}x{N} {bits}-bit{' edge' if edge else ''}"
    return J.Case(label, kind, [M, Kp, N, bits], [xr, sh, w, lut, norm_q, mult, rshift],
                  np.int32 if s32 else I8, (M, N), op(xr, sh, w, bits, lut, norm_q, mult, rshift),
                  macs=M * Kp * N, meta={"M": M, "K": Kp, "N": N, "bits": bits})


def sinkhorn_q12(rng, count, n, iters=20, spread=2.0):
    """thm_sinkhorn_q12 on Q12 logits 4 I + noise (Needle 2's lane mixing; b_res starts at 4 I)."""
    x = np.clip(np.round((4 * np.eye(n) + rng.normal(0, spread, (count, n, n))) * 4096), -(1 << 24), 1 << 24)
    x = x.astype(np.int32)
    return J.Case(f"sinkhorn_q12 {count}x{n}x{n} iters={iters}", J.SINKHORN_Q12, [count, n, iters], [x],
                  np.int16, (count, n, n), ref.sinkhorn_q12(x, iters))


def engram_hash(rng, n_hist, pos, orders=(2, 3), heads=2, slots=8192):
    """thm_engram_hash at one position (ids up to 2^31 - 1: the uint32 products wrap)."""
    hist = rng.integers(0, 1 << 31, n_hist).astype(np.int32)
    o = np.asarray(orders, np.int32)
    want = ref.engram_hash(hist, np.array([pos]), tuple(orders), heads, slots)[0]
    return J.Case(f"engram_hash pos={pos} orders={tuple(orders)} heads={heads}", J.ENGRAM_HASH,
                  [n_hist, pos, len(orders), heads, slots], [hist, o], np.int32, (len(orders) * heads,), want)


def sigmoid_q15(rng, n):
    """thm_sigmoid_q15 over Q12 inputs past its +-65535 clamp and at int32's ends."""
    z = np.concatenate([rng.integers(-70000, 70000, n), [-(2**31), 2**31 - 1, 0, -1, 65535, -65536]]).astype(np.int32)
    return J.Case(f"sigmoid_q15 n={z.size}", J.SIGMOID_Q15, [z.size], [z], np.int32, z.shape, ref.sigmoid_q15(z))


def fwht_s8(rng, rows, n):
    """thm_fwht_s8_s32: a row of -128 reaches n * 128."""
    x = _i8(rng, (rows, n), edge=True)
    x[0] = -128
    return J.Case(f"fwht_s8_s32 {rows}x{n}", J.FWHT_S8, [rows, n], [x], np.int32, (rows, n), ref.fwht_s8_s32(x))


def cq_gather(rng, N, K, bits, P, bound):
    """thm_cq_gather: P rows (repeats allowed) of a random CQ matrix, int8 or int16 out."""
    Kp = -(-K // 128) * 128
    w = rng.integers(0, 256, (N, Kp * bits // 8), dtype=np.int64).astype(np.uint8)
    lut = rng.integers(-128, 128, 1 << bits).astype(I8)
    nq = rng.integers(0, 65536, (N, Kp // 128)).astype(np.uint16)
    rows = rng.integers(0, N, P).astype(np.int32)
    mult = rng.integers(1 << 30, 1 << 31, P, dtype=np.int64).astype(np.int32)
    rshift = rng.integers(33, 60, P).astype(np.int32)
    return J.Case(f"cq_gather {P} of {N}x{K} {bits}-bit -> {'int8' if bound == 127 else 'int16'}", J.CQ_GATHER,
                  [N, Kp, bits, P, K, bound], [w, lut, nq, rows, mult, rshift], I8 if bound == 127 else np.int16,
                  (P, K), ref.cq_gather(w, bits, lut, nq, rows, mult, rshift, K, bound))


def matmul_s8_packed(rng, M, K, N, layout, bias=True, edge=False, name=None):
    """thm_matmul_s8_packed on w packed by layouts.py; expect is the reference on
    the plain w (the packing's equivalence is what the case checks)."""
    x, w = _i8(rng, (M, K), edge), _i8(rng, (N, K), edge)
    if bias == "wrap":                        # int32 wrap of acc + bias, both ways
        b = rng.choice(np.array([-(1 << 31), (1 << 31) - 1], np.int64), size=N).astype(np.int32)
    else:
        b = rng.integers(-(1 << 20), 1 << 20, size=N).astype(np.int32) if bias else None
    mult, shift = _mults(rng, N, -20, 8) if edge else _mults(rng, N)
    wp = np.frombuffer(layouts.pack(w, layout), np.uint8)
    label = name or (f"matmul_s8_packed {layouts.NAMES[layout]} {M}x{K}x{N}"
                     f"{' edge' if edge else ''}{' wrap' if bias == 'wrap' else ''}")
    return J.Case(label, MATMUL_S8_PACKED, [M, K, N, layout], [x, wp, b, mult, shift], np.int8, (M, N),
                  ref.matmul_s8(x, w, mult, shift, b), macs=M * K * N,
                  meta={"M": M, "K": K, "N": N, "layout": layouts.NAMES[layout]})


def matmul_s8_packed_extremes(rng, layout, K=40, N=62):
    """Every requantize corner the packed paths must match: each shift from -31
    to 30, mult INT32_MIN / INT32_MAX / negative / 0 / 1, biases at INT32_MIN
    and INT32_MAX (with a zero row of x, acc + bias is the bias itself, so
    x = mult = INT32_MIN, the one saturating product, occurs)."""
    i32min, i32max = -(1 << 31), (1 << 31) - 1
    x = _i8(rng, (3, K), edge=True)
    x[1] = 0
    w = _i8(rng, (N, K), edge=True)
    shift = (np.arange(N) % 62 - 31).astype(np.int32)
    mult = rng.choice(np.array([i32min, i32max, -(1 << 30), 0, 1, 1 << 30, 1518500250], np.int64),
                      size=N).astype(np.int32)
    mult[:4] = i32min
    b = rng.choice(np.array([i32min, i32max, 0, -1, 12345], np.int64), size=N).astype(np.int32)
    b[:4] = i32min
    shift[:4] = [0, -1, 1, -31]
    wp = np.frombuffer(layouts.pack(w, layout), np.uint8)
    return J.Case(f"matmul_s8_packed {layouts.NAMES[layout]} 3x{K}x{N} requantize extremes",
                  MATMUL_S8_PACKED, [3, K, N, layout], [x, wp, b, mult, shift], np.int8, (3, N),
                  ref.matmul_s8(x, w, mult, shift, b), macs=3 * K * N,
                  meta={"M": 3, "K": K, "N": N, "layout": layouts.NAMES[layout]})


def matmul_s8_s32(rng, M, K, N, bias=True, edge=False, name=None):
    x, w = _i8(rng, (M, K), edge), _i8(rng, (N, K), edge)
    b = rng.integers(-(1 << 20), 1 << 20, size=N).astype(np.int32) if bias else None
    return J.Case(name or f"matmul_s8_s32 {M}x{K}x{N}{' edge' if edge else ''}", J.MATMUL_S8_S32,
                  [M, K, N], [x, w, b], np.int32, (M, N), ref.matmul_s8_s32(x, w, b),
                  macs=M * K * N, meta={"M": M, "K": K, "N": N})


def softmax_q15(rng, n, masked=False, spread=4000):
    scores = rng.integers(-spread, spread, size=n).astype(np.int32)
    mask = (rng.random(n) > 0.3).astype(np.uint8) if masked else None
    mult, shift = ref.quantize_multiplier(256.0 / 1000)
    diff_max = 16000
    return J.Case(f"softmax_q15 n={n}{' masked' if masked else ''}", J.SOFTMAX_Q15,
                  [n, mult, shift, diff_max], [scores, mask], np.int16, (n,),
                  ref.softmax_q15(scores, mult, shift, diff_max, mask))


def softmax_q15_rows(rng):
    """Unmasked rows at odd lengths and at the edges of what the kernel accepts
    (the boards' vector rows take these: the ops tables' softmax_q15_rows): shift -31 and
    30, mult 0 and 2^31 - 1, diff_max 0 and the largest a left shift allows,
    scores at INT32_MIN / INT32_MAX, ties, and rows the exp table cuts off."""
    i32 = np.iinfo(np.int32)
    big = lambda n: rng.choice(np.array([i32.min, i32.max, 0, -1, 1], np.int64), size=n)  # noqa: E731
    rows = [  # (label, scores, mult, shift, diff_max)
        ("n=1", np.array([7]), *ref.quantize_multiplier(0.3), 16000),
        ("n=2 tie", np.array([5, 5]), *ref.quantize_multiplier(0.3), 16000),
        ("n=5", rng.integers(-900, 900, 5), *ref.quantize_multiplier(0.7), 4000),
        ("n=7 shift -31", rng.integers(-(1 << 30), 1 << 30, 7), i32.max, -31, i32.max),
        ("n=17 shift 30", rng.integers(-1, 2, 17), (1 << 30) + 12345, 30, 1),
        ("n=33 mult 0", rng.integers(-99, 99, 33), 0, 0, i32.max),
        ("n=19 diff_max 0", rng.integers(-3, 3, 19), *ref.quantize_multiplier(2.0), 0),
        ("n=23 int32 extremes", big(23), i32.max, -20, i32.max),
        ("n=255 cut off", rng.integers(-40000, 40000, 255), *ref.quantize_multiplier(4.0), 1 << 20),
        ("n=1001", rng.integers(-3000, 3000, 1001), *ref.quantize_multiplier(256.0 / 1000), 16000),
    ]
    out = []
    for label, scores, mult, shift, diff_max in rows:
        scores = np.asarray(scores).astype(np.int32)
        out.append(J.Case(f"softmax_q15 row {label}", J.SOFTMAX_Q15, [len(scores), int(mult), int(shift), int(diff_max)],
                          [scores, None], np.int16, (len(scores),),
                          ref.softmax_q15(scores, int(mult), int(shift), int(diff_max), None)))
    return out


def pv_rows(rng, bq, Tk, D, one_hot=False, edge=False):
    """thm_pv_rows_s8, the fast attention's P.V: sat8(requantize(p . vt^T)) for
    Q15 probabilities p [bq, Tk] and one head's V^T [D, Tk]."""
    if one_hot:                                 # p = 32767 on one key: the largest products, three digits
        p = np.zeros((bq, Tk), np.int64)
        p[np.arange(bq), rng.integers(0, Tk, bq)] = 32767
    else:
        p = rng.integers(0, 32768, size=(bq, Tk)) // Tk
        p[:, :1] = 32767 if edge else p[:, :1]
    vt = _i8(rng, (D, Tk), edge=edge)
    mult, shift = ref.quantize_multiplier(1.0 / (1 << 15) * (2.0 if edge else 1.0))
    p = p.astype(np.int16)
    return J.Case(f"pv_rows bq={bq} Tk={Tk} D={D}{' one-hot' if one_hot else ''}{' edge' if edge else ''}",
                  PV_ROWS, [bq, Tk, D, int(mult), int(shift)], [p, vt], np.int8, (bq, D),
                  ref.pv_rows_s8(p, vt, mult, shift), macs=bq * Tk * D)


def pv_combine(rng, n, digits=3, rq="edge"):
    """thm_pv_combine_s8: the digit sums recombined (wrapping at the int32
    ends) and requantized; two digits pass an empty s2 (NULL)."""
    i32 = np.iinfo(np.int32)
    s = [rng.integers(i32.min, i32.max, size=n, endpoint=True).astype(np.int32) for _ in range(3)]
    s[0][::3], s[1][1::4], s[2][2::4] = i32.max, i32.min, i32.min
    if rq == "edge":
        mult, shift = int(rng.choice([i32.min, i32.max, 1 << 30, 0, -1])), int(rng.choice([-31, 30, 0, -1, 7]))
    else:
        mult, shift = ref.quantize_multiplier(1.0 / (1 << 15))
    s2 = s[2] if digits == 3 else None
    return J.Case(f"pv_combine n={n} {digits} digits {rq}", J.PV_COMBINE_S8, [n, mult, shift], [s[0], s[1], s2],
                  np.int8, (n,), ref.pv_combine_s8(s[0], s[1], s2, mult, shift))


def softmax_q15_rows_block(rng, rows, n, rq="typical"):
    """thm_softmax_q15_rows: rows unmasked rows in one call, an all-equal first
    row and a row of int32 ends among them."""
    i32 = np.iinfo(np.int32)
    scores = rng.integers(-4000, 4000, size=(rows, n)).astype(np.int32)
    scores[0] = 17
    if rows > 2:
        scores[1] = rng.choice(np.array([i32.min, i32.max, 0, -1], np.int64), size=n)
    if rq == "typical":
        (mult, shift), diff_max = ref.quantize_multiplier(256.0 / 1000), 16000
    else:
        mult, shift, diff_max = i32.max, -31, i32.max
    return J.Case(f"softmax_q15_rows {rows}x{n} {rq}", J.SOFTMAX_Q15_ROWS, [rows, n, int(mult), int(shift), diff_max],
                  [scores], np.int16, (rows, n), ref.softmax_q15_rows(scores, int(mult), int(shift), diff_max))


def row_kernels(rng):
    """Every public row kernel at odd sizes and its edge values, for every ISA
    a board has (portable and fast path each): softmax rows, P.V rows and the
    digit recombination, RMSNorm rows, RoPE, the gated residual (per element
    and table form), requantize, and the one-row matmul (a decode step)."""
    return [
        softmax_q15_rows_block(rng, 1, 1), softmax_q15_rows_block(rng, 3, 17),
        softmax_q15_rows_block(rng, 8, 33, rq="edge"), softmax_q15_rows_block(rng, 5, 101),
        *softmax_q15_rows(rng),
        pv_rows(rng, 1, 1, 1), pv_rows(rng, 2, 8, 3), pv_rows(rng, 3, 17, 5, edge=True),
        pv_rows(rng, 7, 33, 64, one_hot=True), pv_rows(rng, 1, 15, 2), pv_rows(rng, 5, 9, 256, edge=True),
        pv_rows(rng, 8, 67, 16),
        pv_combine(rng, 1), pv_combine(rng, 17, digits=2), pv_combine(rng, 33), pv_combine(rng, 64, 2, rq="typical"),
        *rmsnorm_rows(rng),
        rope_s8(rng, 1, 1, 2, 0, 1), rope_s8(rng, 3, 3, 34, 2, 9), rope_s8(rng, 2, 1, 256, 1, 4),
        residual_s16(rng, 1), residual_s16(rng, 17), residual_s16(rng, 511), residual_s16(rng, 512, edge=True),
        residual_s16(rng, 1031, edge=True),
        requantize_s32(rng, 2), requantize_s32(rng, 37),
        matmul_s8(rng, 1, 1, 3, edge=True), matmul_s8(rng, 1, 65, 17, edge=True),
        matmul_s8_s32(rng, 1, 63, 5, edge=True), matmul_s8_s32(rng, 1, 130, 9, bias=False),
    ]


def attention_s8(rng, Tq, Tk, heads, kv_heads, D, causal=False, q_pos0=0, masked=False):
    q, k, v = _i8(rng, (Tq, heads * D)), _i8(rng, (Tk, kv_heads * D)), _i8(rng, (Tk, kv_heads * D))
    kv_mask = (rng.random(Tk) > 0.25).astype(np.uint8) if masked else None
    sm, ss = ref.quantize_multiplier(256.0 * 0.02 * 0.02 / np.sqrt(D))
    om, osh = ref.quantize_multiplier(0.02 / (0.02 * 32768))
    diff_max = int(16 / (0.02 * 0.02 / np.sqrt(D)))
    exp = ref.attention_s8(q, k, v, heads, kv_heads, sm, ss, diff_max, om, osh,
                           causal=causal, q_pos0=q_pos0, kv_mask=kv_mask)
    return J.Case(f"attention_s8 Tq={Tq} Tk={Tk} h={heads}/{kv_heads} D={D}"
                  f"{' causal' if causal else ''}{' masked' if masked else ''}", J.ATTENTION_S8,
                  [Tq, Tk, heads, kv_heads, D, int(causal), q_pos0, sm, ss, diff_max, om, osh],
                  [q, k, v, kv_mask], np.int8, (Tq, heads * D), exp,
                  macs=2 * Tq * Tk * heads * D)


def rmsnorm(rng, rows, D, s16=True):
    x = (rng.integers(-20000, 20000, size=(rows, D)) if s16 else _i8(rng, (rows, D), edge=True))
    x = x.astype(np.int16 if s16 else np.int8)
    gm, gs = _mults(rng, D, -9, -7)
    eps = 5
    return J.Case(f"rmsnorm_{'s16' if s16 else 's8'} {rows}x{D}", J.RMSNORM_S16 if s16 else J.RMSNORM_S8,
                  [rows, D, eps & 0xFFFFFFFF, eps >> 32], [x, gm, gs], np.int8, (rows, D),
                  ref.rmsnorm_s8(x, gm, gs, eps))


def rmsnorm_rows(rng):
    """Rows where a vector RMSNorm (the ops tables' rmsnorm entries: Helium on the M55)
    could go wrong: odd D, int16 at +-32767 / -32768, rows so small (or eps
    so large) that 2^46 / rms passes 2^31 (the scalar fallback), gains with
    shifts from -31 to 30 and multipliers up to 2^31 - 1."""
    i32 = np.iinfo(np.int32)
    out = []
    for label, s16, rows, D, lo, hi, eps in [
            ("odd D", True, 3, 33, -20000, 20000, 5), ("extremes", True, 2, 17, -32768, 32768, 0),
            ("tiny rows", True, 3, 9, -1, 2, 0), ("eps 2^40", True, 1, 63, -300, 300, 1 << 40),
            ("D=1", False, 4, 1, -128, 128, 0), ("odd D", False, 3, 21, -128, 128, 7),
            ("tiny rows", False, 2, 64, -1, 2, 1)]:
        x = rng.integers(lo, hi, size=(rows, D)).astype(np.int16 if s16 else np.int8)
        if label == "extremes":
            x[0, ::2], x[1, 1::3] = -32768, 32767
        if label == "tiny rows":                # rms < 0.5, and one all-zero row
            x[:] = 0
            x[1:, 0], x[-1, -1] = 1, -1
        gm, gs = _mults(rng, D, -9, -7)
        gs[::5], gs[1::7], gm[2::4] = -31, 30, i32.max
        out.append(J.Case(f"rmsnorm_{'s16' if s16 else 's8'} {label} {rows}x{D}", J.RMSNORM_S16 if s16 else J.RMSNORM_S8,
                          [rows, D, eps & 0xFFFFFFFF, eps >> 32], [x, gm, gs], np.int8, (rows, D),
                          ref.rmsnorm_s8(x, gm, gs, eps)))
    return out


def rope_s8(rng, T, heads, D, pos0, n_pos):
    x = _i8(rng, (T, heads * D), edge=True)
    cos, sin = ref.rope_tables(D, n_pos)
    return J.Case(f"rope_s8 T={T} h={heads} D={D} pos0={pos0}", J.ROPE_S8, [T, heads, D, pos0, n_pos],
                  [x, cos, sin], np.int8, (T, heads * D), ref.rope_s8(x, heads, cos, sin, pos0))


def residual_s16(rng, n, edge=False):
    """edge: r at the int16 ends and a gate that saturates (mult 2^31 - 1,
    shift 30: g clamps to +-2^16); n >= 512 takes the kernels' table form."""
    r = rng.integers(-32768, 32768, size=n).astype(np.int16)
    y = _i8(rng, (n,), edge=True)
    mult, shift = ref.quantize_multiplier(37.5)
    if edge:
        r[::3], r[1::3] = -32768, 32767
        mult, shift = (1 << 31) - 1, int(rng.choice([30, 12, -31]))
    return J.Case(f"residual_gated_s16 n={n}{' edge' if edge else ''}", J.RESIDUAL_S16, [n, mult, shift], [r, y],
                  np.int16, (n,), ref.residual_gated_s16(r, y, mult, shift))


def embed_s16(rng, T, V, D, bad_token=False):
    tokens = rng.integers(0, V, size=T).astype(np.int32)
    table = _i8(rng, (V, D), edge=True)
    mult, shift = _mults(rng, V, 4, 9)
    if bad_token:                               # the kernel must refuse it, not read past the table
        tokens[-1] = V
        return J.Case("embed_s16 bad token", J.EMBED_S16, [T, V, D], [tokens, table, mult, shift],
                      np.int16, (T, D), None, status=-2)
    return J.Case(f"embed_s16 T={T} V={V} D={D}", J.EMBED_S16, [T, V, D], [tokens, table, mult, shift],
                  np.int16, (T, D), ref.embed_s16(tokens, table, mult, shift))


def requantize_s32(rng, n):
    acc = rng.integers(-(1 << 31), 1 << 31, size=n).astype(np.int32)
    acc[:2] = [-(1 << 31), (1 << 31) - 1]
    mult, shift = _mults(rng, n, -20, 10)
    return J.Case(f"requantize_s32 n={n}", J.REQUANTIZE_S32, [n], [acc, mult, shift], np.int32, (n,),
                  ref.requantize(acc.astype(np.int64), mult.astype(np.int64), shift.astype(np.int64)).astype(np.int32))


def check(case, record):
    """'' if the record matches the case bit for bit, else why not."""
    if record.status != case.status:
        return f"status {record.status}, expected {case.status}"
    if case.expect is None:
        return ""
    got = np.frombuffer(record.out, dtype=case.out_dtype)
    want = np.asarray(case.expect, dtype=case.out_dtype).reshape(-1)
    if got.size != want.size:
        return f"{got.size} outputs, expected {want.size}"
    bad = np.flatnonzero(got != want)
    if bad.size:
        i = int(bad[0])
        return f"{bad.size} of {want.size} outputs differ; first at {i}: {int(got[i])} != {int(want[i])}"
    return ""
