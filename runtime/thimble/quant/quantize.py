"""Float Needle + calibration -> the integer model: int8 (or int4) weights per output
channel, an int16 residual stream per stack, int8 activations per tensor,
and every multiplier, shift and eps the kernels need (tensors.py names them).

Scales (s_*) are real numbers per unit of the integer; every product of
scales the kernels need becomes a (mult, shift) pair through
quantize_multiplier, so the integer path never touches a float.
"""
import dataclasses
import math

import numpy as np

from ..kernels.reference import pack_s4, quantize_multiplier, rope_tables, unpack_s4
from ..model.config import NORM_EPS
from . import tensors as T

INT8_MAX = 127
INT4_MAX = 7
INT16_MAX = 32767
MAX_EPS_Q16 = 1 << 40


class QuantizeError(ValueError):
    """A model the integer pipeline cannot represent, with the reason."""


@dataclasses.dataclass
class Margins:
    """Headroom over the calibrated absmax: the residual stream is int16 and
    can afford a wide margin; int8 activations clip rare outliers instead."""
    stream: float = 2.0
    activation: float = 1.0


@dataclasses.dataclass
class QuantModel:
    config: object                 # NeedleConfig
    tensors: dict                  # name -> np.ndarray, exactly tensors.tensor_table
    rope_n_pos: int
    scales: dict                   # point -> real scale (for reports and eval)
    max_dec_len: int = 0           # the most decoder steps the image plans for; 0: rope_n_pos

    def block(self, p):
        return self.tensors[f"{p}.consts"]


def _mults(real, what):
    real = np.asarray(real, dtype=np.float64).ravel()
    if not np.all(np.isfinite(real)) or np.any(real < 0):
        bad = int(np.flatnonzero(~np.isfinite(real) | (real < 0))[0])
        raise QuantizeError(f"{what}: factor {real[bad]!r} at channel {bad} is negative or not finite "
                            f"(the int8 path needs 1 + g >= 0 in every norm)")
    pairs = [quantize_multiplier(float(r)) for r in real]
    return (np.array([m for m, _ in pairs], dtype=np.int32), np.array([s for _, s in pairs], dtype=np.int32))


def _mult1(real, what):
    m, s = _mults([real], what)
    return int(m[0]), int(s[0])


def _eps_q16(scale, what):
    v = int(round(NORM_EPS / (scale * scale) * 65536.0))
    if not 0 <= v <= MAX_EPS_Q16:
        raise QuantizeError(f"{what}: eps in Q16 would be {v}, outside [0, 2^40] (scale {scale:g})")
    return v


def _weights(w, what, bits=8):
    """[N, K] float -> int8 [N, K] (symmetric, [-127, 127]) and scale [N]; with
    bits=4, int4 in [-7, 7] packed two a byte (uint8 [N, (K + 1) // 2])."""
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise QuantizeError(f"{what}: weights are not finite")
    qmax = INT4_MAX if bits == 4 else INT8_MAX
    amax = np.max(np.abs(w), axis=1)
    scale = np.where(amax > 0, amax / qmax, 1.0)
    q = np.clip(np.round(w / scale[:, None]), -qmax, qmax)
    return (pack_s4(q) if bits == 4 else q.astype(np.int8)), scale


def weight_error(w, bits):
    """Relative RMS error of rounding w [N, K] to per-channel int8 or int4, the
    converter's measure of what int4 costs a tensor (mixed weights)."""
    w = np.asarray(w, dtype=np.float64)
    q, scale = _weights(w, "weights", bits)
    if bits == 4:
        q = unpack_s4(q, w.shape[1])
    norm = np.sqrt(np.mean(w * w))
    return float(np.sqrt(np.mean((q * scale[:, None] - w) ** 2)) / norm) if norm > 0 else 0.0


def quantize(model, cal, *, margins=None, rope_n_pos=None, int4=(), embed_int4=False):
    """NeedleModel + Calibration -> QuantModel. int4: the projections (names
    of tensors.projections) quantized to int4 per output channel; "all" for every one.
    embed_int4: the embedding (also the tied head) int4 per row too."""
    c = model.config
    if not c.no_feedforward:
        raise QuantizeError("the integer pipeline runs the released attention-only family "
                            "(no_feedforward = true); this checkpoint has feed-forward blocks")
    margins = margins or Margins()
    int4 = set(T.projections(c)) if int4 == "all" else set(int4)
    unknown = sorted(int4 - set(T.projections(c)))
    if unknown:
        raise QuantizeError(f"int4 weights: {unknown[0]} is not a projection of this model")
    n_pos = int(rope_n_pos or c.max_seq_len)
    w = {k: np.asarray(v, dtype=np.float64) for k, v in model.tensors.items()}
    t, scales = {}, {}

    def act(point):
        s = cal.get(point) * margins.activation / INT8_MAX
        scales[point] = s if s > 0 else 1.0 / INT8_MAX
        return scales[point]

    def stream(stack):
        s = cal.get(f"{stack}.stream") * margins.stream / INT16_MAX
        scales[f"{stack}.stream"] = s if s > 0 else 1.0 / INT16_MAX
        return scales[f"{stack}.stream"]

    def gains(name, g, out_scale):
        t[f"{name}.mult"], t[f"{name}.shift"] = _mults((1.0 + g) / (out_scale * 32768.0), name)

    s_stream = {"enc": stream("enc"), "dec": stream("dec")}

    # Embedding, per row; the same rows (and scales) are the tied output head.
    emb, s_emb = _weights(w["embed"], "embed", 4 if embed_int4 else 8)
    t["embed"] = emb
    for stack in ("enc", "dec"):
        t[f"{stack}.embed.mult"], t[f"{stack}.embed.shift"] = _mults(
            s_emb * math.sqrt(c.d_model) / s_stream[stack], f"{stack}.embed")

    # Final norms: the encoder's output feeds every cross-attention k and v.
    s_enc_out = act("enc.final_norm")
    gains("enc.final_norm", w["enc.final_norm"], s_enc_out)
    s_dec_out = act("dec.final_norm")
    gains("dec.final_norm", w["dec.final_norm"], s_dec_out)
    mc = np.zeros(len(T.MODEL_CONSTS), dtype=np.int32)
    mc[[T.MODEL["enc_final_eps_lo"], T.MODEL["enc_final_eps_hi"]]] = T.split_i64(
        _eps_q16(s_stream["enc"], "enc.final_norm"))
    mc[[T.MODEL["dec_final_eps_lo"], T.MODEL["dec_final_eps_hi"]]] = T.split_i64(
        _eps_q16(s_stream["dec"], "dec.final_norm"))
    t["model.consts"] = mc
    t["logits.mult"], t["logits.shift"] = _mults(s_emb / s_emb.max(), "logits")

    norm_of = {"enc": "attn_norm", "self": "self_norm", "cross": "cross_norm"}
    gate_of = {"enc": "attn_gate", "self": "self_gate", "cross": "cross_gate"}
    for p, kind in T.block_names(c):
        layer = p.rsplit(".", 1)[0]
        stack = "enc" if kind == "enc" else "dec"
        s_r = s_stream[stack]
        norm_name = f"{layer}.{norm_of[kind]}"
        s_h = act(norm_name)
        gains(f"{p}.norm", w[norm_name], s_h)
        s_kv_in = s_enc_out if kind == "cross" else s_h
        s_proj = {}
        for proj, s_in in (("q", s_h), ("k", s_kv_in), ("v", s_kv_in)):
            q, s_w = _weights(w[f"{p}.{proj}"], f"{p}.{proj}", 4 if f"{p}.{proj}" in int4 else 8)
            s_proj[proj] = act(f"{p}.{proj}")
            t[f"{p}.{proj}"] = q
            t[f"{p}.{proj}.mult"], t[f"{p}.{proj}.shift"] = _mults(s_in * s_w / s_proj[proj], f"{p}.{proj}")
        s_qn, s_kn = act(f"{p}.q_norm"), act(f"{p}.k_norm")
        gains(f"{p}.q_norm", w[f"{p}.q_norm"], s_qn)
        gains(f"{p}.k_norm", w[f"{p}.k_norm"], s_kn)
        s_mix, s_o = act(f"{p}.mix"), act(f"{p}.o")
        q, s_w = _weights(w[f"{p}.o"], f"{p}.o", 4 if f"{p}.o" in int4 else 8)
        t[f"{p}.o"] = q
        t[f"{p}.o.mult"], t[f"{p}.o.shift"] = _mults(s_mix * s_w / s_o, f"{p}.o")

        score = s_qn * s_kn / math.sqrt(c.head_dim)      # real value of one unit of q.k
        gate = 1.0 / (1.0 + math.exp(-float(w[f"{layer}.{gate_of[kind]}"])))
        k = np.zeros(len(T.BLOCK_CONSTS), dtype=np.int32)
        for name, v in (("norm_eps", _eps_q16(s_r, norm_name)),
                        ("q_norm_eps", _eps_q16(s_proj["q"], f"{p}.q_norm")),
                        ("k_norm_eps", _eps_q16(s_proj["k"], f"{p}.k_norm"))):
            k[[T.BLOCK[name + "_lo"], T.BLOCK[name + "_hi"]]] = T.split_i64(v)
        k[T.BLOCK["score_mult"]], k[T.BLOCK["score_shift"]] = _mult1(score * 256.0, f"{p} scores")
        k[T.BLOCK["diff_max"]] = min(int(16.0 / score), (1 << 31) - 1)
        k[T.BLOCK["mix_mult"]], k[T.BLOCK["mix_shift"]] = _mult1(s_proj["v"] / (s_mix * 32768.0), f"{p} P.V")
        k[T.BLOCK["gate_mult"]], k[T.BLOCK["gate_shift"]] = _mult1(gate * s_o / s_r, f"{p} gate")
        t[f"{p}.consts"] = k

    cos, sin = rope_tables(c.head_dim, n_pos, c.rope_theta)
    t["rope.cos"], t["rope.sin"] = cos, sin
    T.check_tensors(c, n_pos, t)
    return QuantModel(c, t, n_pos, scales)
