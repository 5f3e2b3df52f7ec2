"""The integer model's tensors: every name, dtype and shape an image of a
given config holds, in one table. The quantizer writes exactly these, the
simulator and the device runtime read exactly these (by name), and
`check_tensors` holds an image against the table.

Attention blocks are named p = enc.{i}.attn, dec.{i}.self_attn,
dec.{i}.cross_attn. Each block (d = d_model, hd = head_dim, Q = heads * hd,
KV = kv_heads * hd):

    {p}.norm.mult, .shift      int32 [d]      pre-norm gains (1 + g) / (s_h 2^15)
    {p}.q, .k, .v, .o          int8 [Q, d] [KV, d] [KV, d] [d, Q]   row = output channel;
                               or int4, held as uint8 [rows, (cols + 1) // 2] (two a byte,
                               kernels/reference.py pack_s4) and written as int4 [rows, cols]
    {p}.{q,k,v,o}.mult, .shift int32 [rows]   per-output-channel requantization
    {p}.q_norm.mult, .shift    int32 [hd]     QK-norm gains (shared by the heads)
    {p}.k_norm.mult, .shift    int32 [hd]
    {p}.consts                 int32 [len(BLOCK_CONSTS)]

and for the model:

    embed                      int8 [V, d]    per-row scale; also the tied head (or int4, as the projections)
    enc.embed.mult, .shift     int32 [V]      row scale * sqrt(d) / s_enc_stream
    dec.embed.mult, .shift     int32 [V]      row scale * sqrt(d) / s_dec_stream
    enc.final_norm.mult/.shift int32 [d]
    dec.final_norm.mult/.shift int32 [d]
    logits.mult, .shift        int32 [V]      row scale / max row scale: comparable logits
    rope.cos, rope.sin         int16 [P, hd/2] Q14
    model.consts               int32 [len(MODEL_CONSTS)]
"""
import numpy as np

# The int32 constants of one attention block, in order ({p}.consts).
# eps values are int64 (up to 2^40) and are stored as two int32 words.
BLOCK_CONSTS = (
    "norm_eps_lo", "norm_eps_hi",      # pre-norm eps / s_stream^2, Q16
    "q_norm_eps_lo", "q_norm_eps_hi",  # QK-norm eps / s_q^2, Q16
    "k_norm_eps_lo", "k_norm_eps_hi",
    "score_mult", "score_shift",       # s_qn * s_kn / sqrt(hd) * 256
    "diff_max",                        # score differences past exp(-16) give 0
    "mix_mult", "mix_shift",           # s_v / (s_mix 2^15): P(Q15) . V -> int8
    "gate_mult", "gate_shift",         # sigmoid(gate) * s_o / s_stream
)
MODEL_CONSTS = (
    "enc_final_eps_lo", "enc_final_eps_hi",
    "dec_final_eps_lo", "dec_final_eps_hi",
)
BLOCK = {name: i for i, name in enumerate(BLOCK_CONSTS)}
MODEL = {name: i for i, name in enumerate(MODEL_CONSTS)}


def block_names(config):
    """[(block prefix, kind)] in execution order: kind is enc, self or cross."""
    out = [(f"enc.{i}.attn", "enc") for i in range(config.num_encoder_layers)]
    for i in range(config.num_decoder_layers):
        out += [(f"dec.{i}.self_attn", "self"), (f"dec.{i}.cross_attn", "cross")]
    return out


def projections(config):
    """Every block's q, k, v, o weight: the tensors that may be int4."""
    return [f"{p}.{j}" for p, _ in block_names(config) for j in "qkvo"]


def int4_names(tensors):
    """The weights a tensor dict holds as int4 (packed uint8 arrays): projections
    and the embedding."""
    return {n for n, a in tensors.items() if (n == "embed" or n.rsplit(".", 1)[-1] in ("q", "k", "v", "o"))
            and a.dtype == np.uint8}


def tensor_table(config, rope_n_pos, int4=()):
    """{name: (dtype, shape)} of every tensor of an image of this config; the
    weights named in int4 (projections, "embed") as uint8 [rows, (cols + 1) // 2]
    (packed int4)."""
    d, hd, V = config.d_model, config.head_dim, config.vocab_size
    Q, KV = config.q_dim, config.kv_dim
    t = {"embed": (np.uint8, (V, (d + 1) // 2)) if "embed" in int4 else (np.int8, (V, d))}
    for stack in ("enc", "dec"):
        t[f"{stack}.embed.mult"] = t[f"{stack}.embed.shift"] = (np.int32, (V,))
    for p, _ in block_names(config):
        t[f"{p}.norm.mult"] = t[f"{p}.norm.shift"] = (np.int32, (d,))
        for proj, rows, cols in (("q", Q, d), ("k", KV, d), ("v", KV, d), ("o", d, Q)):
            t[f"{p}.{proj}"] = (np.uint8, (rows, (cols + 1) // 2)) if f"{p}.{proj}" in int4 \
                else (np.int8, (rows, cols))
            t[f"{p}.{proj}.mult"] = t[f"{p}.{proj}.shift"] = (np.int32, (rows,))
        for n in ("q_norm", "k_norm"):
            t[f"{p}.{n}.mult"] = t[f"{p}.{n}.shift"] = (np.int32, (hd,))
        t[f"{p}.consts"] = (np.int32, (len(BLOCK_CONSTS),))
    for stack in ("enc", "dec"):
        t[f"{stack}.final_norm.mult"] = t[f"{stack}.final_norm.shift"] = (np.int32, (d,))
    t["logits.mult"] = t["logits.shift"] = (np.int32, (V,))
    t["rope.cos"] = t["rope.sin"] = (np.int16, (rope_n_pos, hd // 2))
    t["model.consts"] = (np.int32, (len(MODEL_CONSTS),))
    return t


def check_tensors(config, rope_n_pos, tensors):
    """Raise ValueError naming the first tensor that is missing, extra or of
    the wrong dtype or shape."""
    table = tensor_table(config, rope_n_pos, int4_names(tensors))
    for name, (dtype, shape) in table.items():
        if name not in tensors:
            raise ValueError(f"tensor {name} is missing")
        a = tensors[name]
        if a.dtype != np.dtype(dtype) or tuple(a.shape) != shape:
            raise ValueError(f"tensor {name}: expected {np.dtype(dtype).name} {shape}, "
                             f"found {a.dtype.name} {tuple(a.shape)}")
    extra = sorted(set(tensors) - set(table))
    if extra:
        raise ValueError(f"unexpected tensor {extra[0]}" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


def split_i64(v):
    """int64 -> (lo, hi) int32 words (two's complement)."""
    v = int(v) & 0xFFFFFFFFFFFFFFFF
    lo, hi = v & 0xFFFFFFFF, v >> 32
    return (lo - (1 << 32) if lo >= 1 << 31 else lo), (hi - (1 << 32) if hi >= 1 << 31 else hi)


def join_i64(lo, hi):
    return ((int(hi) & 0xFFFFFFFF) << 32 | (int(lo) & 0xFFFFFFFF)) - ((1 << 64) if int(hi) < 0 else 0)
