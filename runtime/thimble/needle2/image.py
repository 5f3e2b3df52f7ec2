"""Needle 2 as a thimble image: the integer model of int_forward.IntNeedle2,
every scale already turned into the integers the C model
(runtime/device/needle2/) multiplies by, so a board does no float.

Each constant below is computed with the expression IntNeedle2 uses at the
same point (the C model is tested bit-exact against IntNeedle2, not against
this file). Names: a CQ matrix NAME (dtype cqB) has NAME.lut and
NAME.norms beside it; a product with it NAME.mult / NAME.rshift (and
NAME.neg where the factor may be negative: the kernels' multipliers are
not); a norm P.mult / P.shift / P.neg [D] and P.eps (int32 [2]: low, high
word of the Q16 epsilon); a scalar requantize P (int32 [2]: mult, shift).

The logits come out as int32 of one scale for the image, s_logit =
calibrated |logits| / 2^24 (the host turns them back to floats with it)."""
import math

import numpy as np

from ..image import format as fmt
from ..image.writer import Tensor, build_image
from ..kernels import reference as R
from .int_forward import I8, I16, Q12, IntNeedle2, m32, m64

LOGIT_BITS = 24
SINKHORN_ITERS = 20          # reference.sinkhorn_q12's default, which IntNeedle2 runs
CQ_DTYPES = {2: "cq2", 3: "cq3", 4: "cq4"}


def _i32(a):
    a = np.asarray(a, np.int64)
    if (a < -(1 << 31)).any() or (a >= 1 << 31).any():
        raise ValueError("a constant does not fit int32")
    return a.astype(np.int32)


class _Out:
    def __init__(self):
        self.tensors = []

    def add(self, name, data, dtype=None, dims=None):
        self.tensors.append(Tensor(name, np.ascontiguousarray(data), dtype=dtype, dims=dims))

    def matrix(self, name, m):
        """A CQMatrix: packed indices, codebook, norms."""
        kp = m.w.shape[1] * 8 // m.bits
        self.add(name, m.w.astype(np.uint8), CQ_DTYPES[m.bits], (m.w.shape[0], kp))
        self.add(name + ".lut", m.lut.astype(np.int8))
        self.add(name + ".norms", m.nq.astype(np.uint16))

    def m64(self, name, real, signed=False):
        real = np.asarray(real, np.float64)
        mult, r = m64(np.abs(real))
        self.add(name + ".mult", _i32(mult))
        self.add(name + ".rshift", _i32(r))
        if signed:
            self.add(name + ".neg", (real < 0).astype(np.uint8))

    def m32(self, name, real):
        """Per-channel requantize of either sign (IntNeedle2.rq)."""
        real = np.asarray(real, np.float64)
        mult, shift = m32(np.abs(real))
        self.add(name + ".mult", _i32(mult))
        self.add(name + ".shift", _i32(shift))
        self.add(name + ".neg", (real < 0).astype(np.uint8))

    def norm(self, name, s_in, gain, s_out):
        """IntNeedle2.norm's constants."""
        real = (1.0 + np.asarray(gain, np.float64)) / (s_out * 32768.0)
        self.m32(name, real)
        eps = min(int(round(1e-6 / (s_in * s_in) * 65536)), 1 << 40)
        self.add(name + ".eps", np.array([eps & 0xFFFFFFFF, eps >> 32], np.uint32).view(np.int32))

    def scalar(self, name, real):
        self.add(name, _i32(R.quantize_multiplier(float(real))))


def image_tensors(model: IntNeedle2):
    """[Tensor] of the integer model (its calibration, window and sinks as they are)."""
    cfg, p, mats, o = model.cfg, model.p, model.m, _Out()
    n, d, hd, sX = cfg.mhc_lanes, cfg.d_model, cfg.head_dim, model.s_X
    s = model.s
    emb = mats["embedding"]
    o.matrix("embedding", emb)
    o.m64("embedding.in", emb.ns * emb.cs / math.sqrt(128) * (math.sqrt(d) / sX))
    s_f = s("final", 0)
    o.m64("logits", emb.unit(s_f) / (model.cal[("logits", 0)] / 2.0 ** LOGIT_BITS))
    o.norm("final_norm", sX, p["final_norm"], s_f)
    cos, sin = model.cos, model.sin
    o.add("rope.cos", cos.astype(np.int16))
    o.add("rope.sin", sin.astype(np.int16))

    L = cfg.num_layers
    phi = {"pre": [], "post": [], "res": []}
    bias = {"pre": [], "post": [], "res": []}
    for i in range(L):
        lane = np.eye(n)[i % n]
        s_nx = s("nx", i)
        for kind, rows, a, b in (
                ("pre", slice(i * n, (i + 1) * n), p["mhc_a_pre"][i], p["mhc_b_pre"][i] + 8 * lane - 4),
                ("post", slice(i * n, (i + 1) * n), p["mhc_a_post"][i], p["mhc_b_post"][i] - 4 * (1 - lane)),
                ("res", slice(i * n * n, (i + 1) * n * n), p["mhc_a_res"][i], p["mhc_b_res"][i].reshape(-1))):
            m = mats["mhc_phi_" + kind]
            phi[kind].append(m.unit(s_nx)[rows] * Q12 * float(a))
            bias[kind].append(np.round(np.asarray(b) * Q12).astype(np.int64))
    for kind in phi:
        o.matrix("mhc_phi_" + kind, mats["mhc_phi_" + kind])
        o.m64("mhc_phi_" + kind, np.concatenate(phi[kind]), signed=True)
        o.add("mhc_bias_" + kind, _i32(np.concatenate(bias[kind])))

    for i in range(L):
        P, s_h = f"layer{i:02d}.", s("h", i)
        o.norm(P + "nx", sX, np.zeros(n * d), s("nx", i))
        if i in cfg.engram_layers:
            site = cfg.engram_layers.index(i)
            s_uu, s_eu = s("u_unit", i), s("ek_unit", i)
            o.norm(P + "uu", sX, np.zeros(d), s_uu)
            o.norm(P + "eu", s("engram.k", site), np.zeros(d), s_eu)
            o.scalar(P + "alpha", s_uu * s_eu / math.sqrt(d) * Q12)
        o.norm(P + "norm_in", sX, p[P + "norm_in"], s_h)
        s_q, s_k, s_v = s("q", i), s("k", i), s("v", i)
        for name, s_out in (("q_proj", s_q), ("k_proj", s_k), ("v_proj", s_v)):
            o.matrix(P + name, mats[P + name])
            o.m64(P + name, mats[P + name].unit(s_h) / s_out)
        s_qn, s_kn = s("qn", i), s("kn", i)
        o.norm(P + "q_norm", s_q, p[P + "q_norm"], s_qn)
        o.norm(P + "k_norm", s_k, p[P + "k_norm"], s_kn)
        score = s_qn * s_kn / math.sqrt(hd)
        sm, ss = R.quantize_multiplier(score * 256.0)
        s_a = s("attn", i)
        om, osh = R.quantize_multiplier(s_v / (s_a * 32768.0))
        dmax = min(int(16.0 / score), 2**31 - 1)
        o.add(P + "attn", _i32([sm, ss, dmax, om, osh]))
        o.matrix(P + "gate_proj", mats[P + "gate_proj"])
        o.m64(P + "gate_proj", mats[P + "gate_proj"].unit(s_h) * Q12 * np.ones(cfg.num_heads * hd))
        s_o = s("o", i)
        o.matrix(P + "out_proj", mats[P + "out_proj"])
        o.m64(P + "out_proj", mats[P + "out_proj"].unit(s_a) / s_o)
        s_post = s("post", i)
        o.norm(P + "post_norm", s_o, p[P + "post_norm"], s_post)
        gate = 1.0 / (1.0 + math.exp(-float(p[P + "attn_gate"][0])))
        o.scalar(P + "attn_res", gate * s_post / sX)
        # the Hadamard MLP (IntNeedle2._mlp)
        hn, s_m = cfg.hada_n, s("m", i)
        o.norm(P + "mlp_norm", sX, (1.0 + p[P + "pre_hada"]) * p[P + "d1"][:d] - 1.0, s_m)
        o.m32(P + "d2", p[P + "d2"] * s_m / math.sqrt(hn) * Q12)
        s_s, s_mlp = s("silu", i), s("mlp", i)
        o.scalar(P + "silu", 1.0 / (Q12 * s_s))
        o.m32(P + "d3", p[P + "d3"][:d] * s_s / math.sqrt(hn) / s_mlp)
        o.scalar(P + "mlp_res", s_mlp / sX)

    for site in range(len(cfg.engram_layers)):
        E = f"engram{site}."
        s_e, s_k, s_v = s("engram.e", site), s("engram.k", site), s("engram.v", site)
        t = mats[E + "tables"]
        o.matrix(E + "tables", t)
        o.m64(E + "tables", t.ns * t.cs / math.sqrt(128) * (1.0 / s_e))
        for name, s_out in (("key_proj", s_k), ("value_proj", s_v)):
            o.matrix(E + name, mats[E + name])
            o.m64(E + name, mats[E + name].unit(s_e) / s_out)
        taps = p[E + "taps"]
        t_scale = max(float(np.abs(taps).max()), 1e-12) / I16
        o.add(E + "taps", np.round(taps / t_scale).astype(np.int16))
        o.scalar(E + "conv", t_scale * s_v / sX)
    return o.tensors


def image_config(model: IntNeedle2):
    cfg = model.cfg
    sites, orders = list(cfg.engram_layers), list(cfg.engram_orders)
    return dict(vocab_size=cfg.vocab_size, d_model=cfg.d_model, n_layers=cfg.num_layers, n_heads=cfg.num_heads,
                n_kv_heads=cfg.num_kv_heads, head_dim=cfg.head_dim, rope_n_pos=model.cos.shape[0],
                lanes=cfg.mhc_lanes, hada_n=cfg.hada_n, sinkhorn_iters=SINKHORN_ITERS,
                kv_window=model.window, kv_sinks=model.sinks, engram_sites=len(sites),
                engram_layers=sites + [0] * (4 - len(sites)), engram_orders=len(orders),
                engram_order=orders + [0] * (4 - len(orders)), engram_heads=cfg.engram_hash_heads,
                engram_slots=cfg.engram_slots, engram_taps=4, engram_dilation=cfg.engram_dilation)


def logit_scale(model: IntNeedle2):
    """The real value of one unit of the image's int32 logits."""
    return model.cal[("logits", 0)] / 2.0 ** LOGIT_BITS


def build(model: IntNeedle2, tokenizer_blob=None, model_id=b""):
    """The bytes of a Needle 2 image of this integer model."""
    return build_image(image_config(model), image_tensors(model), tokenizer_blob, model_id, family="needle2")


assert fmt.CQ_GROUP == 128
