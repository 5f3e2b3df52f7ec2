"""Needle 2 in integers: the numpy specification of the pipeline the boards
will run (docs/needle2.md, "The integer model"), built on the reference
kernels (thimble.kernels.reference) and measured against the float forward
on the same CQ weights.

Formats: the 4 lanes are int16 with one scale for the whole stack; every
other activation is int8 with a calibrated scale (absmax over calibration
prompts); gates and mixing weights are Q15, their pre-activations Q12.
Every matrix is CQ, computed in place (cq_rotate_s8 once per input vector,
matmul_cq per matrix). Norm gains (1 + g), the MLP's diagonals and the mHC's
scalars are folded into per-channel multipliers; a negative one keeps its
sign apart (requantize multipliers are non-negative).

Its C twin is runtime/device/needle2/ (one token a step), bound from the
image needle2/image.py writes. Not yet here: the probe heads."""
import dataclasses
import math

import numpy as np

from ..kernels import reference as R
from . import cq
from .forward import Needle2Float

I8, I16 = 127, 32767
Q12 = 4096


sigmoid_q15 = R.sigmoid_q15


def m32(real):
    """(mult, shift) arrays for requantize of positive reals (0 -> 0)."""
    pairs = [R.quantize_multiplier(float(r)) for r in np.ravel(real)]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


def m64(real):
    """(mult, rshift) arrays for requantize_s64 of positive reals < 2^-3."""
    real = np.asarray(real, np.float64)
    e = np.floor(np.log2(real))
    mult = np.round(real * 2.0 ** (30 - e))
    carry = mult >= 2 ** 31
    mult, e = np.where(carry, mult / 2, mult), np.where(carry, e + 1, e)
    r = (30 - e).astype(np.int64)
    if (r < 33).any() or (r > 94).any():
        raise ValueError(f"a CQ output factor {real.max():g} is outside requantize_s64's range")
    return mult.astype(np.int64), r


def rq(acc, real):
    """requantize int32 values by per-channel reals of either sign (the sign kept apart)."""
    mult, shift = m32(np.abs(real))
    return np.sign(real).astype(np.int64) * R.requantize(acc, mult, shift)


def sat(v, bound):
    return np.clip(v, -bound - 1, bound)


class CQMatrix:
    """One CQ matrix prepared for the integer product: int8 codebook, uint16 norms."""

    def __init__(self, packed, norms, bits, in_dim, table=None):
        levels = cq.codebook(bits, 128, table)
        lut_f = np.array([0, levels[2], 0, levels[0]]) if bits == cq.TERNARY else levels
        self.cs = float(np.abs(lut_f).max() / I8)
        self.lut = np.round(lut_f / self.cs).astype(np.int8)
        nf = norms.astype(np.float64)
        self.ns = np.where(nf.max(1) > 0, nf.max(1) / 65535, 1.0)
        self.nq = np.round(nf / self.ns[:, None]).astype(np.uint16)
        self.w, self.bits, self.K = packed, cq.stored_bits(bits), in_dim

    def unit(self, s_x):
        """Real value of one unit of the int64 sum, per output row, for inputs of scale s_x."""
        return self.ns * self.cs * s_x / math.sqrt(128)

    def acc(self, xr, sh):
        return R.matmul_cq_acc(xr, sh, self.w, self.bits, self.lut, self.nq)

    def rows(self, idx):
        """Integer rows (the embedding / engram gather): levels through the FWHT times the
        norms, int64 [len(idx), K]; one unit is unit(1) of the row (per row)."""
        fields = R.cq_fields(self.w[idx], self.bits, self.w.shape[1] * 8 // self.bits)
        lev = self.lut.astype(np.int64)[fields].reshape(len(idx), -1, 128)
        return (R.fwht_s8(lev) * self.nq[idx].astype(np.int64)[:, :, None]).reshape(len(idx), -1)[:, :self.K]

    def gather(self, idx, real, bound):
        """Rows idx as integers of scale 1 / real per unit of the row's norm (cq_gather)."""
        mult, r = m64(self.ns[idx] * self.cs / math.sqrt(128) * real)
        return R.cq_gather(self.w, self.bits, self.lut, self.nq, np.asarray(idx, np.int32), mult.astype(np.int32),
                           r.astype(np.int32), self.K, bound).astype(np.int64)

    def dequantized(self):
        """The float matrix the integer one stands for (codebook and norms as rounded here)."""
        rows = self.rows(np.arange(self.w.shape[0]))
        return rows * (self.ns * self.cs / math.sqrt(128))[:, None]


def cq_model(cfg, params, bits=2, table=None):
    """Float params -> (CQ matrices by name, float params with every matrix replaced by
    the CQ matrix's own dequantization: the float model the integer one is measured against)."""
    from .cact_format import tensor_order
    mats, floats = {}, dict(params)
    for name, shape, kind in tensor_order(cfg):
        if kind != "matrix":
            continue
        b = bits(name) if callable(bits) else bits
        packed, norms = cq.quantize(params[name], b, 128, table)
        mats[name] = CQMatrix(packed, norms, b, shape[1], table)
        floats[name] = mats[name].dequantized()
    return mats, floats


def calibrate(cfg, float_params, prompts, margin=1.1):
    """absmax of every recorded point (Needle2Float.probe) over the prompts, times margin."""
    amax = {}

    def probe(name, layer, v):
        key = (name, layer)
        amax[key] = max(amax.get(key, 0.0), float(np.abs(v).max()) if np.size(v) else 0.0)
    for p in prompts:
        m = Needle2Float(cfg, float_params, window=0)
        m.probe = probe
        logits = m.run(p)
        probe("logits", 0, logits)
    return {k: max(v * margin, 1e-6) for k, v in amax.items()}


@dataclasses.dataclass
class Trace:
    """Per-layer lane means of a run (dequantized), for the fidelity report."""
    hidden: list


class IntNeedle2:
    def __init__(self, cfg, mats, params, cal, *, window=None, sinks=0):
        """window, sinks: as Needle2Float's (key k visible from q iff k <= q and
        (q - k < window or k < sinks); window 0: all)."""
        self.cfg, self.m, self.p, self.cal = cfg, mats, params, cal
        self.window = cfg.kv_window if window is None else window
        self.sinks = sinks
        self.s_X = max(v for (n, _), v in cal.items() if n in ("lanes", "blk", "y")) / I16
        self.cos, self.sin = R.rope_tables(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
        self.reset()

    def s(self, name, layer=0, bound=I8):
        return self.cal[(name, layer)] / bound

    def reset(self):
        self.history = []
        self.k = [None] * self.cfg.num_layers
        self.v = [None] * self.cfg.num_layers
        self.trace = Trace([])

    # --- integer pieces ----------------------------------------------------
    def norm(self, x, s_in, gain, s_out):
        """ZCRMSNorm (rmsnorm_s8 on int8 or int16 rows) with (1 + g) folded; -> int8."""
        real = (1.0 + np.asarray(gain, np.float64)) / (s_out * 32768.0)
        mult, shift = m32(np.abs(real))
        eps = int(round(1e-6 / (s_in * s_in) * 65536))
        y = R.rmsnorm_s8(x, mult.astype(np.int32), shift.astype(np.int32), min(eps, 1 << 40)).astype(np.int64)
        return sat(np.sign(real).astype(np.int64) * y, I8)

    def cq(self, name, x8, s_x, s_out=None, q12=None):
        """CQ product of int8 rows: int8 out (scale s_out) or Q12 int64 out with q12 = real factor per row."""
        m = self.m[name]
        xr, sh = R.cq_rotate_s8(x8.astype(np.int8))
        acc = m.acc(xr, sh)
        if q12 is not None:
            real = m.unit(s_x) * Q12 * np.asarray(q12)
            mult, r = m64(np.abs(real))
            return np.sign(real).astype(np.int64) * R.requantize_s64(acc, mult[None, :], r[None, :])
        mult, r = m64(m.unit(s_x) / s_out)
        return sat(R.requantize_s64(acc, mult[None, :], r[None, :]), I8)

    # --- the model ----------------------------------------------------------
    def _engram(self, s, start, end):
        cfg, p, m = self.cfg, self.p, self.m[f"engram{s}.tables"]
        dil, taps = cfg.engram_dilation, p[f"engram{s}.taps"]
        lo = max(0, start - dil * (taps.shape[0] - 1))
        hist = np.asarray(self.history, np.int32)
        idx = R.engram_hash(hist, np.arange(lo, end), cfg.engram_orders, cfg.engram_hash_heads, cfg.engram_slots)
        sub, s_e = cfg.engram_sub_dim, self.s("engram.e", s)
        e = np.zeros((end - lo, cfg.d_model), np.int64)
        for ti in range(cfg.engram_tables):
            ok = idx[:, ti] >= 0
            if ok.any():
                rows = ti * cfg.engram_slots + idx[ok, ti]
                e[ok, ti * sub:(ti + 1) * sub] = m.gather(rows, 1.0 / s_e, I8)
        s_k, s_v = self.s("engram.k", s), self.s("engram.v", s)
        k = self.cq(f"engram{s}.key_proj", e, s_e, s_k)
        v = self.cq(f"engram{s}.value_proj", e, s_e, s_v)
        # the dilated conv: int16 taps, int32 sums, the stream's scale
        t_scale = max(float(np.abs(taps).max()), 1e-12) / I16
        tq = np.round(taps / t_scale).astype(np.int64)
        acc = np.zeros((end - start, cfg.d_model), np.int64)
        for t in range(start, end):
            for j in range(taps.shape[0]):
                if t - j * dil >= 0:
                    acc[t - start] += tq[j] * v[t - j * dil - lo]
        vc = sat(rq(acc, np.full(cfg.d_model, t_scale * s_v / self.s_X)), I16)
        return k[start - lo:], vc

    def _attention(self, i, h8, s_h, pos0):
        cfg, p, L = self.cfg, self.p, f"layer{i:02d}."
        T, H, KV, hd = h8.shape[0], cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        s_q, s_k, s_v = self.s("q", i), self.s("k", i), self.s("v", i)
        q = self.cq(L + "q_proj", h8, s_h, s_q)
        k = self.cq(L + "k_proj", h8, s_h, s_k)
        v = self.cq(L + "v_proj", h8, s_h, s_v)
        s_qn, s_kn = self.s("qn", i), self.s("kn", i)
        qn = self.norm(q.reshape(T * H, hd), s_q, p[L + "q_norm"], s_qn).reshape(T, H * hd)
        kn = self.norm(k.reshape(T * KV, hd), s_k, p[L + "k_norm"], s_kn).reshape(T, KV * hd)
        qn = R.rope_s8(qn.astype(np.int8), H, self.cos, self.sin, pos0)
        kn = R.rope_s8(kn.astype(np.int8), KV, self.cos, self.sin, pos0)
        self.k[i] = kn if self.k[i] is None else np.concatenate([self.k[i], kn])
        self.v[i] = v.astype(np.int8) if self.v[i] is None else np.concatenate([self.v[i], v.astype(np.int8)])
        score = s_qn * s_kn / math.sqrt(hd)
        sm, ss = R.quantize_multiplier(score * 256.0)
        s_a = self.s("attn", i)
        om, osh = R.quantize_multiplier(s_v / (s_a * 32768.0))
        dmax = min(int(16.0 / score), 2**31 - 1)
        if not self.window:
            att = R.attention_s8(qn, self.k[i], self.v[i], H, KV, sm, ss, dmax, om, osh, causal=True, q_pos0=pos0)
        else:                                  # a window: each query row its own key mask
            keys = np.arange(self.k[i].shape[0])
            att = np.concatenate([
                R.attention_s8(qn[r:r + 1], self.k[i], self.v[i], H, KV, sm, ss, dmax, om, osh, causal=True,
                               q_pos0=pos0 + r, kv_mask=((pos0 + r - keys) < self.window) | (keys < self.sinks))
                for r in range(T)])
        g = sigmoid_q15(self.cq(L + "gate_proj", h8, s_h, q12=np.ones(H * hd)))
        gated = (att.astype(np.int64) * g + (1 << 14)) >> 15               # scale s_a
        s_o = self.s("o", i)
        return self.cq(L + "out_proj", gated, s_a, s_o), s_o

    def _mlp(self, i, b16):
        cfg, p, L = self.cfg, self.p, f"layer{i:02d}."
        n, d = cfg.hada_n, cfg.d_model
        s_m = self.s("m", i)
        gain = (1.0 + p[L + "pre_hada"]) * p[L + "d1"][:d] - 1.0            # (1 + g) d1 as one gain
        m8 = self.norm(b16, self.s_X, gain, s_m)
        z = np.zeros((b16.shape[0], n), np.int64)
        z[:, :d] = m8
        v = R.fwht_s8_s32(z.astype(np.int8)).astype(np.int64)                # |v| <= n 2^7
        z12 = rq(v, p[L + "d2"] * s_m / math.sqrt(n) * Q12)
        silu12 = (z12 * sigmoid_q15(z12) + (1 << 14)) >> 15
        s_s = self.s("silu", i)
        s8 = sat(rq(silu12, np.full(n, 1.0 / (Q12 * s_s))), I8)
        w = R.fwht_s8_s32(s8.astype(np.int8)).astype(np.int64)
        s_mlp = self.s("mlp", i)
        return sat(rq(w[:, :d], p[L + "d3"][:d] * s_s / math.sqrt(n) / s_mlp), I8), s_mlp

    def run(self, tokens):
        """Append tokens; -> their logits (float, from the int32 sums) [T, vocab]."""
        cfg, p, sX = self.cfg, self.p, self.s_X
        n, d, T = cfg.mhc_lanes, cfg.d_model, len(tokens)
        pos0 = len(self.history)
        self.history.extend(int(t) for t in tokens)
        emb = self.m["embedding"]
        x0 = emb.gather(np.asarray(tokens), math.sqrt(d) / sX, I16)
        X = np.repeat(x0[:, None, :], n, axis=1)
        ekv = [self._engram(s, pos0, pos0 + T) for s in range(len(cfg.engram_layers))]
        for i in range(cfg.num_layers):
            lane = np.eye(n)[i % n]
            s_nx = self.s("nx", i)
            nx = self.norm(X.reshape(T, n * d), sX, np.zeros(n * d), s_nx)
            rows = slice(i * n, (i + 1) * n)
            z_pre = self._phi(nx, s_nx, "mhc_phi_pre", rows, p["mhc_a_pre"][i], p["mhc_b_pre"][i] + 8 * lane - 4)
            z_post = self._phi(nx, s_nx, "mhc_phi_post", rows, p["mhc_a_post"][i], p["mhc_b_post"][i] - 4 * (1 - lane))
            z_res = self._phi(nx, s_nx, "mhc_phi_res", slice(i * n * n, (i + 1) * n * n), p["mhc_a_res"][i],
                              p["mhc_b_res"][i].reshape(-1))
            hpre, hpost = sigmoid_q15(z_pre), 2 * sigmoid_q15(z_post)
            P = R.sinkhorn_q12(np.clip(z_res, -(1 << 24), 1 << 24).reshape(T, n, n).astype(np.int32)).astype(np.int64)
            u = sat((np.einsum("tn,tnc->tc", hpre, X) + (1 << 14)) >> 15, I16)
            b = u
            if i in cfg.engram_layers:
                s = cfg.engram_layers.index(i)
                ek, vc = ekv[s]
                s_uu, s_eu = self.s("u_unit", i), self.s("ek_unit", i)
                uu = self.norm(u, sX, np.zeros(d), s_uu)
                eu = self.norm(ek, self.s("engram.k", s), np.zeros(d), s_eu)
                dot = (uu * eu).sum(-1)
                alpha = sigmoid_q15(rq(dot, np.full(T, s_uu * s_eu / math.sqrt(d) * Q12)))
                b = sat(u + ((alpha[:, None] * vc + (1 << 14)) >> 15), I16)
            L = f"layer{i:02d}."
            s_h = self.s("h", i)
            h8 = self.norm(b, sX, p[L + "norm_in"], s_h)
            o8, s_o = self._attention(i, h8, s_h, pos0)
            s_post = self.s("post", i)
            post = self.norm(o8, s_o, p[L + "post_norm"], s_post)
            gate = 1.0 / (1.0 + math.exp(-float(p[L + "attn_gate"][0])))
            gm, gs = R.quantize_multiplier(gate * s_post / sX)
            b = R.residual_gated_s16(b.astype(np.int16), post.astype(np.int8), gm, gs).astype(np.int64)
            mlp8, s_mlp = self._mlp(i, b)
            mm, ms = R.quantize_multiplier(s_mlp / sX)
            b = R.residual_gated_s16(b.astype(np.int16), mlp8.astype(np.int8), mm, ms).astype(np.int64)
            y = b - u
            mixed = np.einsum("tij,tjc->tic", P, X)
            X = sat((mixed + hpost[:, :, None] * y[:, None, :] + (1 << 14)) >> 15, I16)
            self.trace.hidden.append(X.mean(axis=1) * sX)
        xm = (X.sum(axis=1) + n // 2) // n
        s_f = self.s("final", 0)
        f8 = self.norm(xm, sX, p["final_norm"], s_f)
        xr, sh = R.cq_rotate_s8(f8.astype(np.int8))
        self.last_acc = emb.acc(xr, sh)          # int64 sums; the C model requantizes them (image.py)
        return self.last_acc * emb.unit(s_f)[None, :]

    def _phi(self, nx, s_nx, name, rows, a, bias):
        """Q12 pre-activations a * (nx . phi_rows) + bias of the mHC (a folded into the factor)."""
        m = self.m[name]
        xr, sh = R.cq_rotate_s8(nx.astype(np.int8))
        acc = R.matmul_cq_acc(xr, sh, m.w[rows], m.bits, m.lut, m.nq[rows])
        real = m.unit(s_nx)[rows] * Q12 * float(a)
        mult, r = m64(np.abs(real))
        z = np.sign(real).astype(np.int64) * R.requantize_s64(acc, mult[None, :], r[None, :])
        return z + np.round(np.asarray(bias) * Q12).astype(np.int64)[None, :]
