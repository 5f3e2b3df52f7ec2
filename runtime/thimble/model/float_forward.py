"""The float reference forward of Needle v1 in numpy: the accuracy yardstick
for the integer path.

It follows needle/model/architecture.py (cactus-compute/needle 1c6fa93) op
for op:

    x = E[tokens] * sqrt(d)
    encoder layer:  x = x + sigmoid(s) * SelfAttn(ZCRMSNorm(x))       bidirectional, padding mask
    decoder layer:  x = x + sigmoid(s1) * SelfAttn(ZCRMSNorm(x))      causal
                    x = x + sigmoid(s2) * CrossAttn(ZCRMSNorm(x), enc) encoder padding mask
    (feed-forward blocks only when the config has them: x = x + sigmoid(s3) * FFN(ZCRMSNorm(x)))
    each stack ends with ZCRMSNorm; logits = ZCRMSNorm(x_dec) @ E^T
    ZCRMSNorm(x) = (1 + g) * x / sqrt(mean(x^2) + 1e-6)
    attention: q = x Wq^T, k = kv Wk^T, v = kv Wv^T split into heads; ZCRMSNorm on each
               q and k head (one scale vector shared by the heads); RoPE (half split) on q
               and k in self-attention only; kv head j serves query heads
               j*G .. j*G+G-1 (jnp.repeat); softmax(q k^T / sqrt(hd)) with masked
               scores set to the dtype's most negative finite value (a fully masked
               row becomes uniform, as in the original); out = concat heads @ Wo^T

The original runs in bfloat16 with float32 norm statistics and logits.
This reference runs in float32 (default) or float64: float32 is the width
the quantizer calibrates in and matches the original's own float32 mode;
float64 measures how much float32 rounding itself moves the result.

Shapes: tokens [B, T] int (a 1-D [T] is taken as B = 1; outputs always
keep the batch axis); hidden states [B, T, d]; logits [B, T, V].
"""
import dataclasses
import math

import numpy as np

from .config import NORM_EPS


@dataclasses.dataclass
class EncoderOutput:
    hidden: np.ndarray            # [B, T, d] final-normed encoder output (what cross-attention reads)
    mask: np.ndarray              # [B, T] bool, True where the token is not padding
    layers: list = None           # return_layers: [B, T, d] x after embedding, after each layer


@dataclasses.dataclass
class DecoderCache:
    cross_k: list                 # per decoder layer [B, KV, T_enc, hd], k-normed, no RoPE
    cross_v: list                 # per decoder layer [B, KV, T_enc, hd]
    cross_mask: np.ndarray        # [B, T_enc] bool
    self_k: list                  # per decoder layer [B, KV, t, hd], k-normed and rotated
    self_v: list                  # per decoder layer [B, KV, t, hd]
    length: int = 0               # decoder tokens consumed so far (the next RoPE position)


def _as_batch(tokens, vocab_size):
    t = np.asarray(tokens)
    if t.ndim == 1:
        t = t[None, :]
    if t.ndim != 2 or t.dtype.kind not in "iu":
        raise ValueError(f"tokens must be a [T] or [B, T] integer array, got {t.dtype} {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= vocab_size):
        raise ValueError(f"token ids must be in [0, {vocab_size})")
    return t.astype(np.int64)


class FloatNeedle:
    """Float forward of a NeedleModel. dtype: np.float32 or np.float64."""

    def __init__(self, model, dtype=np.float32):
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError("dtype must be float32 or float64")
        self.config = model.config
        self.dtype = dtype
        self.w = {k: v.astype(dtype) for k, v in model.tensors.items()}
        c = self.config
        self._neg = np.finfo(dtype).min
        self._embed_scale = dtype.type(math.sqrt(c.d_model))
        hd = c.head_dim
        # precompute_rope_freqs: 1 / theta ** (arange(0, hd, 2) / hd), in float32 there
        # observe(point, array): called at every point the quantizer calibrates
        # (thimble.quant.calibrate); None costs nothing.
        self.observe = None
        self._freqs = (1.0 / (dtype.type(c.rope_theta) ** (np.arange(0, hd, 2, dtype=dtype) / dtype.type(hd))))

    # --- pieces ------------------------------------------------------------
    def _seen(self, point, a):
        if self.observe is not None:
            self.observe(point, a)
        return a

    def _norm(self, x, name):
        """ZCRMSNorm with the scale tensor `name`; observed under that name."""
        return self._seen(name, self.norm(x, self.w[name]))

    def norm(self, x, g):
        """ZCRMSNorm over the last axis: (1 + g) * x / sqrt(mean(x^2) + eps)."""
        rms = np.sqrt(np.mean(np.square(x), axis=-1, keepdims=True) + self.dtype.type(NORM_EPS))
        return (1 + g) * x / rms

    def rope(self, x, positions):
        """Half-split RoPE of x [B, heads, T, hd] at integer positions [T]."""
        angles = np.asarray(positions, dtype=self.dtype)[:, None] * self._freqs[None, :]
        cos, sin = np.cos(angles), np.sin(angles)
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)

    def embed(self, tokens):
        return self.w["embed"][tokens] * self._embed_scale

    def _heads(self, y, n):
        b, t, _ = y.shape
        return y.reshape(b, t, n, self.config.head_dim).transpose(0, 2, 1, 3)

    def _q(self, x, p, positions):
        q = self._heads(self._seen(f"{p}.q", x @ self.w[f"{p}.q"].T), self.config.num_heads)
        q = self.norm(q, self.w[f"{p}.q_norm"])
        return self._seen(f"{p}.q_norm", q if positions is None else self.rope(q, positions))

    def _kv(self, x, p, positions):
        c = self.config
        k = self._heads(self._seen(f"{p}.k", x @ self.w[f"{p}.k"].T), c.num_kv_heads)
        k = self.norm(k, self.w[f"{p}.k_norm"])
        v = self._heads(self._seen(f"{p}.v", x @ self.w[f"{p}.v"].T), c.num_kv_heads)
        return self._seen(f"{p}.k_norm", k if positions is None else self.rope(k, positions)), v

    def _attend(self, q, k, v, mask, p):
        """q [B, H, Tq, hd], k/v [B, KV, Tk, hd], mask broadcastable to [B, H, Tq, Tk]."""
        c = self.config
        k = np.repeat(k, c.kv_groups, axis=1)
        v = np.repeat(v, c.kv_groups, axis=1)
        s = (q @ k.transpose(0, 1, 3, 2)) / self.dtype.type(math.sqrt(c.head_dim))
        s = np.where(mask, s, self._neg)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s = s / s.sum(axis=-1, keepdims=True)
        o = (s @ v).transpose(0, 2, 1, 3)
        o = self._seen(f"{p}.mix", o.reshape(o.shape[0], o.shape[1], c.q_dim))
        return self._seen(f"{p}.o", o @ self.w[f"{p}.o"].T)

    def _gate(self, name):
        return self.dtype.type(1.0) / (1 + np.exp(-self.w[name]))

    def _ffn(self, x, p):
        c = self.config
        h = self._norm(x, f"{p}.ffn_norm")
        g, u = h @ self.w[f"{p}.ffn.gate"].T, h @ self.w[f"{p}.ffn.up"].T
        if c.activation == "swiglu":
            a = g / (1 + np.exp(-g)) * u
        elif c.activation == "geglu":   # flax nn.gelu: the tanh approximation
            a = 0.5 * g * (1 + np.tanh(self.dtype.type(math.sqrt(2 / math.pi)) * (g + 0.044715 * g ** 3))) * u
        else:                           # drelu
            a = np.maximum(g, 0) * np.maximum(u, 0)
        return self._seen(p.split(".")[0] + ".stream", x + self._gate(f"{p}.ffn_gate") * (a @ self.w[f"{p}.ffn.down"].T))

    # --- encoder -----------------------------------------------------------
    def encode(self, tokens, *, return_layers=False):
        """tokens [B, T] -> EncoderOutput (hidden [B, T, d], mask [B, T])."""
        c = self.config
        tokens = _as_batch(tokens, c.vocab_size)
        mask = tokens != c.pad_token_id
        key_mask = mask[:, None, None, :]
        pos = np.arange(tokens.shape[1])
        x = self._seen("enc.stream", self.embed(tokens))
        layers = [x] if return_layers else None
        for i in range(c.num_encoder_layers):
            p = f"enc.{i}"
            h = self._norm(x, f"{p}.attn_norm")
            k, v = self._kv(h, f"{p}.attn", pos)
            x = self._seen("enc.stream", x + self._gate(f"{p}.attn_gate") * self._attend(self._q(h, f"{p}.attn", pos), k, v, key_mask,
                                                                                    f"{p}.attn"))
            if not c.no_feedforward:
                x = self._ffn(x, p)
            if return_layers:
                layers.append(x)
        return EncoderOutput(self._norm(x, "enc.final_norm"), mask, layers)

    # --- decoder -----------------------------------------------------------
    def start_decoder(self, enc):
        """Cross-attention K/V of every decoder layer, computed once per prompt."""
        c = self.config
        ks, vs = [], []
        for i in range(c.num_decoder_layers):
            k, v = self._kv(enc.hidden, f"dec.{i}.cross_attn", None)
            ks.append(k)
            vs.append(v)
        e = [np.zeros((enc.hidden.shape[0], c.num_kv_heads, 0, c.head_dim), self.dtype)] * c.num_decoder_layers
        return DecoderCache(ks, vs, enc.mask, list(e), list(e), 0)

    def decode_step(self, cache, tokens, *, return_layers=False):
        """Feed tokens [B, n] (n >= 1) at positions cache.length .. +n-1;
        updates cache; returns logits [B, n, V] (and the layers' x when asked)."""
        c = self.config
        tokens = _as_batch(tokens, c.vocab_size)
        n = tokens.shape[1]
        pos = cache.length + np.arange(n)
        key_pos = np.arange(cache.length + n)
        causal = (key_pos[None, :] <= pos[:, None])[None, None]          # [1, 1, n, t]
        cross_mask = cache.cross_mask[:, None, None, :]
        x = self._seen("dec.stream", self.embed(tokens))
        layers = [x] if return_layers else None
        for i in range(c.num_decoder_layers):
            p = f"dec.{i}"
            h = self._norm(x, f"{p}.self_norm")
            k, v = self._kv(h, f"{p}.self_attn", pos)
            cache.self_k[i] = np.concatenate([cache.self_k[i], k], axis=2)
            cache.self_v[i] = np.concatenate([cache.self_v[i], v], axis=2)
            a = self._attend(self._q(h, f"{p}.self_attn", pos), cache.self_k[i], cache.self_v[i], causal,
                             f"{p}.self_attn")
            x = self._seen("dec.stream", x + self._gate(f"{p}.self_gate") * a)
            h = self._norm(x, f"{p}.cross_norm")
            a = self._attend(self._q(h, f"{p}.cross_attn", None), cache.cross_k[i], cache.cross_v[i], cross_mask,
                             f"{p}.cross_attn")
            x = self._seen("dec.stream", x + self._gate(f"{p}.cross_gate") * a)
            if not c.no_feedforward:
                x = self._ffn(x, p)
            if return_layers:
                layers.append(x)
        cache.length += n
        logits = self.logits(self._norm(x, "dec.final_norm"))
        return (logits, layers) if return_layers else logits

    def decode(self, enc, tokens, *, return_layers=False):
        """Full recompute: decoder tokens [B, T] against an EncoderOutput ->
        logits [B, T, V] (what the original's decode returns)."""
        return self.decode_step(self.start_decoder(enc), tokens, return_layers=return_layers)

    def logits(self, h):
        """Tied head: final-normed decoder states [B, T, d] -> [B, T, V]."""
        return h @ self.w["embed"].T

    def forward(self, src, tgt):
        """The original __call__: encoder tokens and decoder tokens -> logits."""
        return self.decode(self.encode(src), tgt)

    def greedy(self, src, *, max_new_tokens=32, start_id=1, stop_id=1):
        """Greedy decoding from [start_id] (Needle starts from eos) for one
        prompt [T]; stops at stop_id. Returns the generated ids (stop excluded)."""
        cache = self.start_decoder(self.encode(np.asarray(src)[None, :] if np.ndim(src) == 1 else src))
        if cache.cross_mask.shape[0] != 1:
            raise ValueError("greedy decodes one prompt")
        out, tok = [], start_id
        for _ in range(max_new_tokens):
            tok = int(np.argmax(self.decode_step(cache, [[tok]])[0, -1]))
            if tok == stop_id:
                break
            out.append(tok)
        return out
