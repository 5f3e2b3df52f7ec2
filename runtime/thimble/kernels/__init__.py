"""thimble's kernels, one interface over several backends.

    from thimble.kernels import get_backend
    k = get_backend("c")          # or "reference", "numba", "c:portable", "c:avx2", ...
    y = k.matmul_s8(x, w, mult, shift)

"reference" (numpy) is the specification; every other backend is tested bit
for bit against it. Every call is checked first (checks.py), so a wrong dtype,
shape or layout raises TypeError/ValueError instead of reaching C.
THIMBLE_ISA=portable|avx2|avxvnni|avx512vnni|amx pins what "c" means (the host ISAs of
isa.py, the one table of instruction sets).
"""
import os

import numpy as np

from . import checks, isa

OPS = ("requantize", "matmul_s8", "matmul_s8_s32", "matmul_s4", "matmul_s4_s32", "embed_s16_s4", "gemv_s8", "gemv_s8_s32", "softmax_q15", "softmax_q15_rows", "attention_s8",
       "pv_rows_s8", "pv_combine_s8", "rmsnorm_s8", "rope_s8", "residual_gated_s16", "embed_s16",
       "cq_rotate_s8", "matmul_cq", "matmul_cq_s32", "sinkhorn_q12",
       "engram_hash", "sigmoid_q15", "fwht_s8_s32", "cq_gather")


class BackendUnavailable(RuntimeError):
    pass


class Backend:
    """Checks arguments once, then calls the implementation module `impl`."""

    def __init__(self, name, impl, before=None):
        self.name = name
        self._impl = impl
        self._before = before or (lambda: None)

    def __repr__(self):
        return f"<thimble kernel backend {self.name}>"

    def requantize(self, acc, mult, shift):
        acc, mult, shift = checks.requantize(acc, mult, shift)
        self._before()
        return np.asarray(self._impl.requantize(acc, mult, shift)).astype(np.int32)

    def matmul_s8(self, x, w, mult, shift, bias=None):
        x, w, bias, mult, shift = checks.matmul(x, w, bias, mult, shift)
        self._before()
        return self._impl.matmul_s8(x, w, mult, shift, bias)

    def matmul_s8_s32(self, x, w, bias=None):
        x, w, bias, _, _ = checks.matmul(x, w, bias)
        self._before()
        return self._impl.matmul_s8_s32(x, w, bias)

    def matmul_s4(self, x, w4, mult, shift, bias=None):
        """int8 x [M, K] times int4 weights packed two a byte (reference.pack_s4) -> int8 [M, N]."""
        x, w4, bias, mult, shift = checks.matmul_s4(x, w4, bias, mult, shift)
        self._before()
        return self._impl.matmul_s4(x, w4, mult, shift, bias)

    def matmul_s4_s32(self, x, w4, bias=None):
        """int8 x [M, K] times int4 weights -> int32 [M, N] (+ bias): the int4 tied head."""
        x, w4, bias, _, _ = checks.matmul_s4(x, w4, bias)
        self._before()
        return self._impl.matmul_s4_s32(x, w4, bias)

    def cq_rotate_s8(self, x):
        """int8 x [M, K] -> (xr int8 [M, G * 128], sh uint8 [M, G]): each group of 128
        through the integer Walsh-Hadamard transform and its own shift (reference.py, CQ)."""
        x = checks.cq_rotate(x)
        self._before()
        return self._impl.cq_rotate_s8(x)

    def matmul_cq(self, xr, sh, w, bits, lut, norm_q, mult, rshift):
        """CQ weights (bitstream rows, an int8 codebook, uint16 group norms) times rotated
        activations -> int8 [M, N]."""
        args = checks.matmul_cq(xr, sh, w, bits, lut, norm_q, mult, rshift)
        self._before()
        return self._impl.matmul_cq(*args)

    def matmul_cq_s32(self, xr, sh, w, bits, lut, norm_q, mult, rshift):
        """matmul_cq with int32 out (saturated): the tied head's logits."""
        args = checks.matmul_cq(xr, sh, w, bits, lut, norm_q, mult, rshift)
        self._before()
        return self._impl.matmul_cq_s32(*args)

    def sinkhorn_q12(self, logits, iters=20):
        """Q12 logits [..., n, n] -> Q15 int16 doubly-stochastic matrices (Needle 2's lane mixing)."""
        logits, iters = checks.sinkhorn(logits, iters)
        self._before()
        return self._impl.sinkhorn_q12(logits, iters)

    def engram_hash(self, history, positions, orders, heads, slots):
        """Needle 2's engram slots [P, len(orders) * heads] of positions in a token history (-1: none)."""
        args = checks.engram_hash(history, positions, orders, heads, slots)
        self._before()
        return self._impl.engram_hash(*args)

    def sigmoid_q15(self, z):
        """Q12 int32 -> sigmoid in Q15 (0 .. 32768), int32, elementwise."""
        z = checks.sigmoid_q15(z)
        self._before()
        return self._impl.sigmoid_q15(z)

    def fwht_s8_s32(self, x):
        """int8 rows [rows, n] (n a power of two) -> their unnormalised Walsh-Hadamard transform, int32."""
        x = checks.fwht(x)
        self._before()
        return self._impl.fwht_s8_s32(x)

    def cq_gather(self, w, bits, lut, norm_q, rows, mult, rshift, K, bound):
        """Rows of a CQ matrix as int8 (bound 127) or int16 (32767) [len(rows), K]."""
        args = checks.cq_gather(w, bits, lut, norm_q, rows, mult, rshift, K, bound)
        self._before()
        return self._impl.cq_gather(*args)

    def gemv_s8(self, x, w, mult, shift, bias=None):
        """The one-row matmul (a decode step): x [K] -> y [N], the bits of matmul_s8 with M = 1."""
        x, w, bias, mult, shift = checks.matmul(np.asarray(x)[None], w, bias, mult, shift)
        self._before()
        gemv = getattr(self._impl, "gemv_s8", None)
        return gemv(x[0], w, mult, shift, bias) if gemv else self._impl.matmul_s8(x, w, mult, shift, bias)[0]

    def gemv_s8_s32(self, x, w, bias=None):
        x, w, bias, _, _ = checks.matmul(np.asarray(x)[None], w, bias)
        self._before()
        gemv = getattr(self._impl, "gemv_s8_s32", None)
        return gemv(x[0], w, bias) if gemv else self._impl.matmul_s8_s32(x, w, bias)[0]

    def softmax_q15(self, scores, mult, shift, diff_max, mask=None):
        scores, mask = checks.softmax(scores, mask, mult, shift, diff_max)
        self._before()
        return self._impl.softmax_q15(scores, int(mult), int(shift), int(diff_max), mask)

    def softmax_q15_rows(self, scores, mult, shift, diff_max):
        scores = checks.softmax_rows(scores, mult, shift, diff_max)
        self._before()
        return self._impl.softmax_q15_rows(scores, int(mult), int(shift), int(diff_max))

    def pv_rows_s8(self, p, vt, mult, shift):
        p, vt = checks.pv_rows(p, vt, mult, shift)
        self._before()
        return self._impl.pv_rows_s8(p, vt, int(mult), int(shift))

    def pv_combine_s8(self, s0, s1, s2, mult, shift):
        s0, s1, s2 = checks.pv_combine(s0, s1, s2, mult, shift)
        self._before()
        return self._impl.pv_combine_s8(s0, s1, s2, int(mult), int(shift))

    def attention_s8(self, q, k, v, n_heads, n_kv_heads, score_mult, score_shift, diff_max,
                     out_mult, out_shift, causal=False, q_pos0=0, kv_mask=None):
        prm = dict(score_mult=score_mult, score_shift=score_shift, diff_max=diff_max,
                   out_mult=out_mult, out_shift=out_shift, q_pos0=q_pos0)
        q, k, v, kv_mask, _ = checks.attention(q, k, v, n_heads, n_kv_heads, kv_mask, prm)
        self._before()
        return self._impl.attention_s8(q, k, v, int(n_heads), int(n_kv_heads), int(score_mult),
                                       int(score_shift), int(diff_max), int(out_mult),
                                       int(out_shift), bool(causal), int(q_pos0), kv_mask)

    def rmsnorm_s8(self, x, gain_mult, gain_shift, eps_q16):
        x, gain_mult, gain_shift = checks.rmsnorm(x, gain_mult, gain_shift, eps_q16)
        self._before()
        return self._impl.rmsnorm_s8(x, gain_mult, gain_shift, int(eps_q16))

    def rope_s8(self, x, n_heads, cos_q14, sin_q14, pos0=0):
        x, cos_q14, sin_q14, _ = checks.rope(x, n_heads, cos_q14, sin_q14, pos0)
        self._before()
        return self._impl.rope_s8(x, int(n_heads), cos_q14, sin_q14, int(pos0))

    def residual_gated_s16(self, r, y, mult, shift):
        r, y = checks.residual(r, y, mult, shift)
        self._before()
        return self._impl.residual_gated_s16(r, y, int(mult), int(shift))

    def embed_s16_s4(self, tokens, table4, D, mult, shift):
        """embed_s16 from an int4 table (reference.pack_s4 rows of D)."""
        tokens, table4, D, mult, shift = checks.embed_s4(tokens, table4, D, mult, shift)
        self._before()
        return self._impl.embed_s16_s4(tokens, table4, D, mult, shift)

    def embed_s16(self, tokens, table, mult, shift):
        tokens, table, mult, shift = checks.embed(tokens, table, mult, shift)
        self._before()
        return self._impl.embed_s16(tokens, table, mult, shift)


def _c_backend(isa):
    from . import c_backend
    if isa is None:
        isa = os.environ.get("THIMBLE_ISA") or c_backend.best_isa()
    if isa not in c_backend.ISAS:
        raise BackendUnavailable(f"unknown instruction set {isa!r}; known: {', '.join(c_backend.ISAS)}")
    if not c_backend.isa_available(isa):
        raise BackendUnavailable(c_backend.unavailable_reason(isa))
    return Backend(f"c:{isa}", c_backend, before=lambda: c_backend.select_isa(isa))


def get_backend(name="c"):
    """Return a Backend by name: reference, numba, c, or c:<host ISA> (isa.HOST_ISAS)."""
    if name == "reference":
        from . import reference
        return Backend("reference", reference)
    if name == "numba":
        try:
            from . import numba_backend
        except ImportError as e:
            raise BackendUnavailable(f"numba backend unavailable: {e}") from e
        return Backend("numba", numba_backend)
    if name == "c":
        return _c_backend(None)
    if name.startswith("c:"):
        return _c_backend(name[2:])
    raise BackendUnavailable(f"unknown backend {name!r}; choose from {', '.join(backend_names())}")


def backend_names():
    return ["reference", "numba", "c"] + [f"c:{name}" for name in isa.HOST_ISAS]
