"""The integer Needle forward: exactly the sequence of kernel calls the
device runs, over any kernel backend (reference, numba, c). This file is the
model-level specification; runtime/device runs the same steps in C.

Per attention block p (tensors.py names every constant):
    h   = rmsnorm(x_stream)                         int16 [T, d] -> int8
    q   = matmul(h, Wq); q = qk_norm(q per head); q = rope(q)   (rope: self-attention only)
    k,v = from h (self) or once from the encoder output (cross); k = qk_norm, rope
    mix = attention(q, k, v)                        int8 [T, Q]
    o   = matmul(mix, Wo)                           int8 [T, d]
    x_stream = x_stream + gate * o                  int16, saturating
"""
import dataclasses
import zlib

import numpy as np

from ..quant import tensors as T


@dataclasses.dataclass
class IntDecoderState:
    cross_k: list        # per decoder layer int8 [T_enc, KV]
    cross_v: list
    self_k: np.ndarray   # int8 [L_dec, max_dec, KV]: the decoder KV cache
    self_v: np.ndarray
    length: int = 0      # decoder positions filled
    crc: int = 0         # CRC-32 over every final-normed decoder row so far


class IntNeedle:
    def __init__(self, qm, backend):
        self.qm = qm
        self.c = qm.config
        self.k = backend
        self.t = qm.tensors
        self.max_dec = qm.rope_n_pos

    # --- pieces ----------------------------------------------------------
    def _eps(self, consts, name, table):
        return T.join_i64(consts[table[name + "_lo"]], consts[table[name + "_hi"]])

    def _norm(self, x, name, eps):
        return self.k.rmsnorm_s8(x, self.t[f"{name}.mult"], self.t[f"{name}.shift"], eps)

    def _proj(self, x, name):
        w = self.t[name]
        mm = self.k.matmul_s4 if w.dtype == np.uint8 else self.k.matmul_s8    # uint8: packed int4
        return mm(x, w, self.t[f"{name}.mult"], self.t[f"{name}.shift"])

    def _qk(self, x, p, which, n_heads, consts, pos0):
        """Projection, QK-norm per head, RoPE (pos0 None: no RoPE)."""
        c, n = self.c, x.shape[0]
        y = self._proj(x, f"{p}.{which}")
        y = self._norm(y.reshape(n * n_heads, c.head_dim), f"{p}.{which}_norm",
                       self._eps(consts, f"{which}_norm_eps", T.BLOCK)).reshape(n, n_heads * c.head_dim)
        if pos0 is not None:
            y = self.k.rope_s8(y, n_heads, self.t["rope.cos"], self.t["rope.sin"], pos0)
        return y

    def _attend(self, q, k, v, p, consts, causal, q_pos0):
        B = T.BLOCK
        mix = self.k.attention_s8(q, k, v, self.c.num_heads, self.c.num_kv_heads,
                                  int(consts[B["score_mult"]]), int(consts[B["score_shift"]]),
                                  int(consts[B["diff_max"]]), int(consts[B["mix_mult"]]),
                                  int(consts[B["mix_shift"]]), causal=causal, q_pos0=q_pos0)
        return self._proj(mix, f"{p}.o")

    def _residual(self, x, o, consts):
        return self.k.residual_gated_s16(x, o, int(consts[T.BLOCK["gate_mult"]]),
                                         int(consts[T.BLOCK["gate_shift"]]))

    def _embed(self, tokens, stack):
        """The rows of tokens into the stack's int16 stream, from an int8 or int4 (uint8) embedding."""
        e, mult, shift = self.t["embed"], self.t[f"{stack}.embed.mult"], self.t[f"{stack}.embed.shift"]
        if e.dtype == np.uint8:
            return self.k.embed_s16_s4(tokens, e, self.c.d_model, mult, shift)
        return self.k.embed_s16(tokens, e, mult, shift)

    def _pre_norm(self, x, p, consts):
        return self._norm(x, f"{p}.norm", self._eps(consts, "norm_eps", T.BLOCK))

    # --- encoder ---------------------------------------------------------
    def encode(self, tokens, *, return_layers=False):
        """tokens [T] -> final-normed encoder output int8 [T, d] (and the
        int16 stream after the embedding and each layer when asked)."""
        c = self.c
        tokens = np.ascontiguousarray(tokens, dtype=np.int32)
        if tokens.ndim != 1 or not 1 <= tokens.size <= self.qm.rope_n_pos:
            raise ValueError(f"encoder input must be 1 to {self.qm.rope_n_pos} tokens, got shape {tokens.shape}")
        x = self._embed(tokens, "enc")
        layers = [x] if return_layers else None
        for i in range(c.num_encoder_layers):
            p = f"enc.{i}.attn"
            kc = self.t[f"{p}.consts"]
            h = self._pre_norm(x, p, kc)
            q = self._qk(h, p, "q", c.num_heads, kc, 0)
            k = self._qk(h, p, "k", c.num_kv_heads, kc, 0)
            v = self._proj(h, f"{p}.v")
            x = self._residual(x, self._attend(q, k, v, p, kc, False, 0), kc)
            if return_layers:
                layers.append(x)
        mc = self.t["model.consts"]
        out = self._norm(x, "enc.final_norm", self._eps(mc, "enc_final_eps", T.MODEL))
        return (out, layers) if return_layers else out

    # --- decoder ---------------------------------------------------------
    def start_decoder(self, enc_out):
        """Cross-attention K/V of every decoder layer, once per prompt."""
        c = self.c
        ks, vs = [], []
        for i in range(c.num_decoder_layers):
            p = f"dec.{i}.cross_attn"
            kc = self.t[f"{p}.consts"]
            ks.append(self._qk(enc_out, p, "k", c.num_kv_heads, kc, None))
            vs.append(self._proj(enc_out, f"{p}.v"))
        shape = (c.num_decoder_layers, self.max_dec, c.kv_dim)
        return IntDecoderState(ks, vs, np.zeros(shape, np.int8), np.zeros(shape, np.int8))

    def decode_step(self, st, token, *, return_layers=False):
        """One decoder token at position st.length -> comparable int32 logits [V]."""
        c = self.c
        pos = st.length
        if pos >= self.max_dec:
            raise ValueError(f"decoder is full: {self.max_dec} positions")
        x = self._embed(np.array([token], np.int32), "dec")
        layers = [x] if return_layers else None
        for i in range(c.num_decoder_layers):
            p = f"dec.{i}.self_attn"
            kc = self.t[f"{p}.consts"]
            h = self._pre_norm(x, p, kc)
            q = self._qk(h, p, "q", c.num_heads, kc, pos)
            st.self_k[i, pos] = self._qk(h, p, "k", c.num_kv_heads, kc, pos)[0]
            st.self_v[i, pos] = self._proj(h, f"{p}.v")[0]
            x = self._residual(x, self._attend(q, st.self_k[i, :pos + 1], st.self_v[i, :pos + 1], p, kc,
                                               True, pos), kc)
            p = f"dec.{i}.cross_attn"
            kc = self.t[f"{p}.consts"]
            h = self._pre_norm(x, p, kc)
            q = self._qk(h, p, "q", c.num_heads, kc, None)
            x = self._residual(x, self._attend(q, st.cross_k[i], st.cross_v[i], p, kc, False, 0), kc)
            if return_layers:
                layers.append(x)
        st.length += 1
        mc = self.t["model.consts"]
        hf = self._norm(x, "dec.final_norm", self._eps(mc, "dec_final_eps", T.MODEL))
        st.crc = zlib.crc32(hf.tobytes(), st.crc)
        e = self.t["embed"]
        acc = (self.k.matmul_s4_s32(hf, e) if e.dtype == np.uint8 else self.k.matmul_s8_s32(hf, e))[0]
        logits = self.k.requantize(acc, self.t["logits.mult"], self.t["logits.shift"])
        return (logits, layers) if return_layers else logits
