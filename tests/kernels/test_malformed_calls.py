"""Malformed calls on every backend (the reference included): a clear
TypeError or ValueError that names the argument, never a crash and never a
silent fallback. The C backends run in this process, so a crash in C fails
the whole suite."""
import numpy as np
import pytest

I32_MAX = (1 << 31) - 1


def i8(*shape):
    return np.ones(shape, np.int8)


def i16(*shape):
    return np.ones(shape, np.int16)


def i32(*shape, value=1):
    return np.full(shape, value, np.int32)


def strided(a):
    """A non-contiguous view with a's values: every other element of a twice-as-long array."""
    return np.repeat(a, 2, axis=-1)[..., ::2]


def valid(op):
    """Small well-formed arguments for op; each case below breaks one of them."""
    return {
        "requantize": lambda: dict(acc=i32(4), mult=i32(4, value=1 << 30), shift=i32(4, value=-3)),
        "matmul_s8": lambda: dict(x=i8(3, 5), w=i8(2, 5), mult=i32(2, value=1 << 30),
                                  shift=i32(2, value=-3), bias=i32(2)),
        "matmul_s8_s32": lambda: dict(x=i8(3, 5), w=i8(2, 5), bias=i32(2)),
        "softmax_q15": lambda: dict(scores=i32(6), mult=1 << 30, shift=-2, diff_max=1000,
                                    mask=np.ones(6, np.uint8)),
        "softmax_q15_rows": lambda: dict(scores=i32(3, 6), mult=1 << 30, shift=-2, diff_max=1000),
        "pv_rows_s8": lambda: dict(p=i16(3, 6), vt=i8(4, 6), mult=1 << 30, shift=-15),
        "pv_combine_s8": lambda: dict(s0=i32(5), s1=i32(5), s2=i32(5), mult=1 << 30, shift=-3),
        "attention_s8": lambda: dict(q=i8(2, 16), k=i8(3, 8), v=i8(3, 8), n_heads=4, n_kv_heads=2,
                                     score_mult=1 << 30, score_shift=-8, diff_max=1000,
                                     out_mult=1 << 30, out_shift=-15, causal=True, q_pos0=1,
                                     kv_mask=np.ones(3, np.uint8)),
        "rmsnorm_s8": lambda: dict(x=i16(2, 5), gain_mult=i32(5, value=1 << 30),
                                   gain_shift=i32(5, value=-10), eps_q16=10),
        "rope_s8": lambda: dict(x=i8(2, 8), n_heads=2, cos_q14=i16(6, 2), sin_q14=i16(6, 2), pos0=4),
        "residual_gated_s16": lambda: dict(r=i16(5), y=i8(5), mult=1 << 30, shift=-1),
        "embed_s16": lambda: dict(tokens=i32(3, value=6), table=i8(7, 4), mult=i32(7, value=1 << 30),
                                  shift=i32(7, value=2)),
    }[op]()


# (op, what is broken, replacements, exception, pattern the message must match)
CASES = [
    ("requantize", "acc float", dict(acc=np.ones(4, np.float32)), TypeError, "acc: expected dtype int32"),
    ("requantize", "acc list", dict(acc=[1, 2, 3, 4]), TypeError, "acc: expected a numpy array"),
    ("requantize", "mult shape", dict(mult=i32(3)), ValueError, r"mult: expected shape \(4,\)"),
    ("requantize", "shift 31", dict(shift=i32(4, value=31)), ValueError, r"shift: .*\[-31, 30\]"),
    ("requantize", "shift -32", dict(shift=i32(4, value=-32)), ValueError, r"shift: .*\[-31, 30\]"),
    ("requantize", "acc strided", dict(acc=strided(i32(4))), ValueError, "acc: must be C-contiguous"),
    ("matmul_s8", "x int16", dict(x=i16(3, 5)), TypeError, "x: expected dtype int8"),
    ("matmul_s8", "x 1-D", dict(x=i8(5)), ValueError, "x: expected 2 dimensions"),
    ("matmul_s8", "w 3-D", dict(w=i8(2, 5, 1)), ValueError, "w: expected 2 dimensions"),
    ("matmul_s8", "x Fortran order", dict(x=np.asfortranarray(i8(3, 5))), ValueError, "x: must be C-contiguous"),
    ("matmul_s8", "w strided", dict(w=strided(i8(2, 5))), ValueError, "w: must be C-contiguous"),
    ("matmul_s8", "K mismatch", dict(w=i8(2, 6)), ValueError, r"w must be \[N, K=5\]"),
    ("matmul_s8", "K = 0", dict(x=i8(3, 0), w=i8(2, 0)), ValueError, r"K=0 is outside \[1, 65536\]"),
    ("matmul_s8", "K > THM_MAX_K", dict(x=i8(1, 65537), w=i8(2, 65537)), ValueError, "K=65537 is outside"),
    ("matmul_s8", "bias int64", dict(bias=np.ones(2, np.int64)), TypeError, "bias: expected dtype int32"),
    ("matmul_s8", "bias shape", dict(bias=i32(3)), ValueError, r"bias: expected shape \(2,\)"),
    ("matmul_s8", "mult int64", dict(mult=np.ones(2, np.int64)), TypeError, "mult: expected dtype int32"),
    ("matmul_s8", "shift shape", dict(shift=i32(1)), ValueError, r"shift: expected shape \(2,\)"),
    ("matmul_s8", "shift 31", dict(shift=i32(2, value=31)), ValueError, "shift: every shift"),
    ("matmul_s8", "shift -32", dict(shift=i32(2, value=-32)), ValueError, "shift: every shift"),
    ("matmul_s8_s32", "w uint8", dict(w=np.ones((2, 5), np.uint8)), TypeError, "w: expected dtype int8"),
    ("matmul_s8_s32", "K = 0", dict(x=i8(3, 0), w=i8(2, 0)), ValueError, "K=0 is outside"),
    ("softmax_q15", "scores int64", dict(scores=np.ones(6, np.int64)), TypeError, "scores: expected dtype int32"),
    ("softmax_q15", "scores 2-D", dict(scores=i32(2, 3)), ValueError, "scores: expected 1 dimensions"),
    ("softmax_q15", "scores strided", dict(scores=strided(i32(6))), ValueError, "scores: must be C-contiguous"),
    ("softmax_q15", "mask bool", dict(mask=np.ones(6, bool)), TypeError, "mask: expected dtype uint8"),
    ("softmax_q15", "mask length", dict(mask=np.ones(5, np.uint8)), ValueError, r"mask: expected shape \(6,\)"),
    ("softmax_q15", "mult -1", dict(mult=-1), ValueError, "mult=-1 is outside"),
    ("softmax_q15", "mult 2^31", dict(mult=1 << 31), ValueError, "mult=2147483648 is outside"),
    ("softmax_q15", "mult float", dict(mult=1.0), TypeError, "mult: expected an integer"),
    ("softmax_q15", "shift bool", dict(shift=True), TypeError, "shift: expected an integer"),
    ("softmax_q15", "shift 31", dict(shift=31), ValueError, "shift=31 is outside"),
    ("softmax_q15", "shift -32", dict(shift=-32), ValueError, "shift=-32 is outside"),
    ("softmax_q15", "diff_max -1", dict(diff_max=-1), ValueError, "diff_max=-1 is outside"),
    ("softmax_q15", "diff_max wraps", dict(shift=5, diff_max=I32_MAX >> 4), ValueError,
     "diff_max=.* would overflow int32"),
    ("softmax_q15_rows", "scores 1-D", dict(scores=i32(6)), ValueError, "scores: expected 2 dimensions"),
    ("softmax_q15_rows", "scores int16", dict(scores=i16(3, 6)), TypeError, "scores: expected dtype int32"),
    ("softmax_q15_rows", "scores strided", dict(scores=strided(i32(3, 6))), ValueError, "scores: must be C-contiguous"),
    ("softmax_q15_rows", "mult -1", dict(mult=-1), ValueError, "mult=-1 is outside"),
    ("softmax_q15_rows", "shift 31", dict(shift=31), ValueError, "shift=31 is outside"),
    ("softmax_q15_rows", "diff_max wraps", dict(shift=5, diff_max=I32_MAX >> 4), ValueError,
     "diff_max=.* would overflow int32"),
    ("pv_rows_s8", "p int32", dict(p=i32(3, 6)), TypeError, "p: expected dtype int16"),
    ("pv_rows_s8", "p negative", dict(p=-i16(3, 6)), ValueError, r"p: Q15 probabilities must be in \[0, 32767\]"),
    ("pv_rows_s8", "no keys", dict(p=i16(3, 0), vt=i8(4, 0)), ValueError, r"Tk=0 is outside"),
    ("pv_rows_s8", "vt keys", dict(vt=i8(4, 5)), ValueError, r"vt: expected shape \(4, 6\)"),
    ("pv_rows_s8", "head_dim 257", dict(vt=i8(257, 6)), ValueError, r"head_dim D=257 is outside \[1, 256\]"),
    ("pv_rows_s8", "vt strided", dict(vt=strided(i8(4, 6))), ValueError, "vt: must be C-contiguous"),
    ("pv_rows_s8", "shift -32", dict(shift=-32), ValueError, "shift=-32 is outside"),
    ("pv_rows_s8", "mult 2^31", dict(mult=1 << 31), ValueError, "mult=2147483648 is outside"),
    ("pv_combine_s8", "s1 length", dict(s1=i32(4)), ValueError, r"s1: expected shape \(5,\)"),
    ("pv_combine_s8", "s2 int16", dict(s2=i16(5)), TypeError, "s2: expected dtype int32"),
    ("pv_combine_s8", "s0 2-D", dict(s0=i32(1, 5)), ValueError, "s0: expected 1 dimensions"),
    ("pv_combine_s8", "shift 31", dict(shift=31), ValueError, "shift=31 is outside"),
    ("attention_s8", "heads not grouped", dict(n_heads=3, n_kv_heads=2, q=i8(2, 12)), ValueError,
     "n_heads=3 is not a multiple of n_kv_heads=2"),
    ("attention_s8", "n_heads 0", dict(n_heads=0), ValueError, "n_heads=0 is outside"),
    ("attention_s8", "n_kv_heads 0", dict(n_kv_heads=0), ValueError, "n_kv_heads=0 is outside"),
    ("attention_s8", "n_kv_heads > n_heads", dict(n_kv_heads=8), ValueError, "n_kv_heads=8 is outside"),
    ("attention_s8", "q width", dict(q=i8(2, 18)), ValueError, "q width 18 is not a multiple of n_heads=4"),
    ("attention_s8", "head_dim 257", dict(q=i8(1, 4 * 257), k=i8(3, 2 * 257), v=i8(3, 2 * 257)),
     ValueError, r"head_dim=257 is outside \[1, 256\]"),
    ("attention_s8", "no keys", dict(k=i8(0, 8), v=i8(0, 8), kv_mask=None), ValueError, "k: attention needs"),
    ("attention_s8", "k width", dict(k=i8(3, 9)), ValueError, r"k: expected shape \(3, 8\)"),
    ("attention_s8", "v rows", dict(v=i8(4, 8)), ValueError, r"v: expected shape \(3, 8\)"),
    ("attention_s8", "q int16", dict(q=i16(2, 16)), TypeError, "q: expected dtype int8"),
    ("attention_s8", "k strided", dict(k=strided(i8(3, 8))), ValueError, "k: must be C-contiguous"),
    ("attention_s8", "kv_mask length", dict(kv_mask=np.ones(4, np.uint8)), ValueError, "kv_mask: expected shape"),
    ("attention_s8", "kv_mask int32", dict(kv_mask=i32(3)), TypeError, "kv_mask: expected dtype uint8"),
    ("attention_s8", "score_mult -1", dict(score_mult=-1), ValueError, "score_mult=-1 is outside"),
    ("attention_s8", "score_shift 31", dict(score_shift=31), ValueError, "score_shift=31 is outside"),
    ("attention_s8", "diff_max -1", dict(diff_max=-1), ValueError, "diff_max=-1 is outside"),
    ("attention_s8", "diff_max wraps", dict(score_shift=3, diff_max=I32_MAX >> 2), ValueError,
     "diff_max=.* would overflow"),
    ("attention_s8", "out_mult 2^31", dict(out_mult=1 << 31), ValueError, "out_mult=2147483648 is outside"),
    ("attention_s8", "out_shift -32", dict(out_shift=-32), ValueError, "out_shift=-32 is outside"),
    ("attention_s8", "q_pos0 -1", dict(q_pos0=-1), ValueError, "q_pos0=-1 is outside"),
    ("rmsnorm_s8", "x int32", dict(x=i32(2, 5)), TypeError, "x: expected an int8 or int16"),
    ("rmsnorm_s8", "x float", dict(x=np.ones((2, 5))), TypeError, "x: expected an int8 or int16"),
    ("rmsnorm_s8", "x 1-D", dict(x=i16(5)), ValueError, "x: expected 2 dimensions"),
    ("rmsnorm_s8", "x strided", dict(x=strided(i8(2, 5))), ValueError, "x: must be C-contiguous"),
    ("rmsnorm_s8", "D = 0", dict(x=i16(2, 0), gain_mult=i32(0), gain_shift=i32(0)), ValueError,
     r"D=0 is outside \[1, 4096\]"),
    ("rmsnorm_s8", "D = 4097", dict(x=i8(1, 4097), gain_mult=i32(4097), gain_shift=i32(4097)), ValueError,
     r"D=4097 is outside \[1, 4096\]"),
    ("rmsnorm_s8", "gain_mult shape", dict(gain_mult=i32(4)), ValueError, r"gain_mult: expected shape \(5,\)"),
    ("rmsnorm_s8", "gain_shift 31", dict(gain_shift=i32(5, value=31)), ValueError, "gain_shift: every shift"),
    ("rmsnorm_s8", "eps -1", dict(eps_q16=-1), ValueError, "eps_q16=-1 is outside"),
    ("rmsnorm_s8", "eps 2^40 + 1", dict(eps_q16=(1 << 40) + 1), ValueError, "eps_q16=1099511627777 is outside"),
    ("rope_s8", "odd head_dim", dict(x=i8(2, 6), cos_q14=i16(6, 1), sin_q14=i16(6, 1)), ValueError,
     "head_dim=3 must be even"),
    ("rope_s8", "head_dim 258", dict(x=i8(2, 516), cos_q14=i16(6, 129), sin_q14=i16(6, 129)), ValueError,
     "head_dim=258 must be even and in"),
    ("rope_s8", "n_heads 0", dict(n_heads=0), ValueError, "n_heads=0 is outside"),
    ("rope_s8", "x width", dict(n_heads=3), ValueError, "x width 8 is not a multiple of n_heads=3"),
    ("rope_s8", "past the table end", dict(pos0=5), ValueError, "positions 5..6 exceed the 6-row RoPE table"),
    ("rope_s8", "pos0 -1", dict(pos0=-1), ValueError, "pos0=-1 is outside"),
    ("rope_s8", "cos width", dict(cos_q14=i16(6, 3)), ValueError, r"cos_q14: expected shape \(6, 2\)"),
    ("rope_s8", "sin rows", dict(sin_q14=i16(5, 2)), ValueError, r"sin_q14: expected shape \(6, 2\)"),
    ("rope_s8", "sin int32", dict(sin_q14=i32(6, 2)), TypeError, "sin_q14: expected dtype int16"),
    ("residual_gated_s16", "r int8", dict(r=i8(5)), TypeError, "r: expected dtype int16"),
    ("residual_gated_s16", "y int16", dict(y=i16(5)), TypeError, "y: expected dtype int8"),
    ("residual_gated_s16", "shape mismatch", dict(y=i8(6)), ValueError, r"y: expected shape \(5,\)"),
    ("residual_gated_s16", "r strided", dict(r=strided(i16(5))), ValueError, "r: must be C-contiguous"),
    ("residual_gated_s16", "shift 31", dict(shift=31), ValueError, "shift=31 is outside"),
    ("residual_gated_s16", "mult 2^31", dict(mult=1 << 31), ValueError, "mult=2147483648 is outside"),
    ("residual_gated_s16", "mult float", dict(mult=0.5), TypeError, "mult: expected an integer"),
    ("embed_s16", "token -1", dict(tokens=np.array([0, -1], np.int32)), ValueError,
     r"token id -1 is outside the table \[0, 7\)"),
    ("embed_s16", "token V", dict(tokens=np.array([7], np.int32)), ValueError, "token id 7 is outside"),
    ("embed_s16", "token INT32_MIN", dict(tokens=np.array([3, -(1 << 31)], np.int32)), ValueError,
     "token id -2147483648 is outside"),
    ("embed_s16", "tokens int64", dict(tokens=np.ones(3, np.int64)), TypeError, "tokens: expected dtype int32"),
    ("embed_s16", "tokens 2-D", dict(tokens=i32(1, 3)), ValueError, "tokens: expected 1 dimensions"),
    ("embed_s16", "empty table", dict(table=i8(0, 4), mult=i32(0), shift=i32(0), tokens=i32(0)), ValueError,
     "table: expected a non-empty"),
    ("embed_s16", "table uint8", dict(table=np.ones((7, 4), np.uint8)), TypeError, "table: expected dtype int8"),
    ("embed_s16", "mult shape", dict(mult=i32(6)), ValueError, r"mult: expected shape \(7,\)"),
    ("embed_s16", "shift 31", dict(shift=i32(7, value=31)), ValueError, "shift: every shift"),
]


@pytest.mark.parametrize("op", sorted({c[0] for c in CASES}))
def test_the_valid_base_call_works(any_kernel, op):
    # guards the cases below: each must fail because of its one change alone
    getattr(any_kernel, op)(**valid(op))


@pytest.mark.parametrize("op,what,change,exc,pattern", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_malformed_call_is_refused(any_kernel, op, what, change, exc, pattern):
    args = {**valid(op), **change}
    with pytest.raises(exc, match=pattern):
        getattr(any_kernel, op)(**args)
