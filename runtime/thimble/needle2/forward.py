"""Needle 2's float forward in numpy (float64): the reference the integer
pipeline is measured against, held to the original JAX code by golden
logits (tests/needle2). Tensors are the `.cact` names and orientations
(cact_format.tensor_order): matrices [out, in].

One pass serves prefill and decode: `run(tokens)` appends tokens to the
sequence, keeps each layer's K (normed, RoPE'd) and V, and returns the
new positions' logits; a full forward is one run over the whole prompt.

Per layer (the 4 lanes X [T, n, d] are the residual state):
    nx    = X flattened to n * d and RMS-normalised (no scale)
    hpre  = sigmoid(a_pre * nx . phi_pre + b_pre + pre_off)        [T, n]
    u     = sum_n hpre_n X_n                                        [T, d]
    b     = u (+ alpha * engram_v at an engram site)
    b    += sigmoid(attn_gate) * post_norm(gated attention(norm_in(b)))
    b    += HadamardMLP(pre_hada(b))
    hpost = 2 sigmoid(a_post * nx . phi_post + b_post + post_off)
    X     = Sinkhorn(a_res * nx . phi_res + b_res) X + hpost (b - u)
then the lanes' mean, final_norm, and the tied head (. embedding^T)."""
import math

import numpy as np

from . import cq

EPS = 1e-6
SINKHORN_ITERS = 20
ENGRAM_SEED = 0x9E3779B9
ENGRAM_PRIME = 0x01000193


def zc_rms(x, g):
    """ZCRMSNorm: (1 + g) x / rms(x) over the last axis."""
    return (1.0 + g) * x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS)


def rms_unit(x):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def sinkhorn(logits, iters=SINKHORN_ITERS):
    """[..., n, n] logits -> a doubly-stochastic matrix: rows then columns
    normalised in the log domain, iters times, then exp."""
    k = np.asarray(logits, np.float64)
    for _ in range(iters):
        m = k.max(-1, keepdims=True)
        k = k - (m + np.log(np.exp(k - m).sum(-1, keepdims=True)))
        m = k.max(-2, keepdims=True)
        k = k - (m + np.log(np.exp(k - m).sum(-2, keepdims=True)))
    return np.exp(k)


def engram_indices(history, t, cfg):
    """Slot index per table [tables] for position t of history (uint32 hash,
    tokens before the start read as 0) and whether each n-gram fits."""
    idx, ok = [], []
    for oi, order in enumerate(cfg.engram_orders):
        for h in range(cfg.engram_hash_heads):
            acc = (ENGRAM_SEED * (oi * cfg.engram_hash_heads + h + 1)) & 0xFFFFFFFF
            for j in range(order):
                tok = int(history[t - j]) if t - j >= 0 else 0
                acc = ((acc ^ tok) * ENGRAM_PRIME) & 0xFFFFFFFF
            acc ^= acc >> 15
            idx.append(acc % cfg.engram_slots)
            ok.append(t >= order - 1)
    return idx, ok


def rope_tables(head_dim, positions, theta):
    freqs = 1.0 / theta ** (np.arange(0, head_dim, 2) / head_dim)
    ang = np.outer(positions, freqs)
    return np.cos(ang), np.sin(ang)


def rope(x, cos, sin):
    """Half-split RoPE on [T, heads, hd]: (x1, x2) -> (x1 c - x2 s, x2 c + x1 s)."""
    half = x.shape[-1] // 2
    c, s = cos[:, None, :], sin[:, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


class Needle2Float:
    def __init__(self, cfg, params, *, window=None, sinks=0):
        """window: keys with q_pos - k_pos < window stay visible (default: the
        config's kv_window, 0 = all); sinks: the first `sinks` positions stay
        visible whatever the window (tools pinned as KV sinks)."""
        self.cfg, self.p = cfg, params
        self.window = cfg.kv_window if window is None else window
        self.sinks = sinks
        self.hada = cq.hadamard(cfg.hada_n)
        self.probe = None        # probe(name, layer, values): what calibration records
        self.reset()

    def _rec(self, name, layer, v):
        if self.probe is not None:
            self.probe(name, layer, v)

    def reset(self):
        self.history = []
        self.k = [None] * self.cfg.num_layers
        self.v = [None] * self.cfg.num_layers

    # --- pieces ---------------------------------------------------------
    def _engram(self, s, start, end):
        """Engram k, v [end - start, d] of site s for positions start..end-1."""
        cfg, p = self.cfg, self.p
        dil, taps = cfg.engram_dilation, p[f"engram{s}.taps"]
        lo = max(0, start - dil * (taps.shape[0] - 1))
        tables, sub = p[f"engram{s}.tables"], cfg.engram_sub_dim
        e = np.zeros((end - lo, cfg.d_model))
        for t in range(lo, end):
            idx, ok = engram_indices(self.history, t, cfg)
            for ti, (i, good) in enumerate(zip(idx, ok)):
                if good:
                    e[t - lo, ti * sub:(ti + 1) * sub] = tables[ti * cfg.engram_slots + i]
        k = e @ p[f"engram{s}.key_proj"].T
        v = e @ p[f"engram{s}.value_proj"].T
        self._rec("engram.e", s, e)
        self._rec("engram.k", s, k)
        self._rec("engram.v", s, v)
        vc = np.zeros((end - start, cfg.d_model))
        for t in range(start, end):
            for j in range(taps.shape[0]):
                if t - j * dil >= 0:
                    vc[t - start] += taps[j] * v[t - j * dil - lo]
        self._rec("engram.vc", s, vc)
        return k[start - lo:], vc

    def _attention(self, i, h, pos0):
        cfg, p, L = self.cfg, self.p, f"layer{i:02d}."
        T, H, KV, hd = h.shape[0], cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        qp, kp = h @ p[L + "q_proj"].T, h @ p[L + "k_proj"].T
        q = zc_rms(qp.reshape(T, H, hd), p[L + "q_norm"])
        k = zc_rms(kp.reshape(T, KV, hd), p[L + "k_norm"])
        v = (h @ p[L + "v_proj"].T).reshape(T, KV, hd)
        for name, val in (("q", qp), ("k", kp), ("v", v), ("qn", q), ("kn", k)):
            self._rec(name, i, val)
        cos, sin = rope_tables(hd, np.arange(pos0, pos0 + T), cfg.rope_theta)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        self.k[i] = k if self.k[i] is None else np.concatenate([self.k[i], k])
        self.v[i] = v if self.v[i] is None else np.concatenate([self.v[i], v])
        K, V = self.k[i], self.v[i]
        qpos, kpos = np.arange(pos0, pos0 + T)[:, None], np.arange(K.shape[0])[None, :]
        keep = kpos <= qpos
        if self.window:
            keep &= ((qpos - kpos) < self.window) | (kpos < self.sinks)
        rep = H // KV
        out = np.empty((T, H, hd))
        for hh in range(H):
            s = q[:, hh] @ K[:, hh // rep].T / math.sqrt(hd)
            s = np.where(keep, s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            out[:, hh] = (s / s.sum(-1, keepdims=True)) @ V[:, hh // rep]
        gate = h @ p[L + "gate_proj"].T
        self._rec("attn", i, out)
        self._rec("gate", i, gate)
        out = out.reshape(T, H * hd) * sigmoid(gate)
        self._rec("gated", i, out)
        o = out @ p[L + "out_proj"].T
        self._rec("o", i, o)
        return o

    def _hadamard_mlp(self, i, x):
        p, L, n, d = self.p, f"layer{i:02d}.", self.cfg.hada_n, self.cfg.d_model
        z = np.zeros((x.shape[0], n))
        z[:, :d] = x
        self._rec("m", i, p[L + "d1"] * z)
        z = (p[L + "d1"] * z) @ self.hada
        z = p[L + "d2"] * z
        self._rec("z", i, z)
        z = z * sigmoid(z)
        self._rec("silu", i, z)
        z = z @ self.hada
        out = (p[L + "d3"] * z)[:, :d]
        self._rec("mlp", i, out)
        return out

    def _block(self, i, b, pos0):
        p, L = self.p, f"layer{i:02d}."
        h = zc_rms(b, p[L + "norm_in"])
        self._rec("h", i, h)
        a = zc_rms(self._attention(i, h, pos0), p[L + "post_norm"])
        self._rec("post", i, a)
        b = b + sigmoid(p[L + "attn_gate"][0]) * a
        self._rec("blk", i, b)
        b = b + self._hadamard_mlp(i, zc_rms(b, p[L + "pre_hada"]))
        self._rec("blk", i, b)
        return b

    # --- the pass -------------------------------------------------------
    def run(self, tokens):
        """Append tokens; -> their logits [len(tokens), vocab]."""
        cfg, p = self.cfg, self.p
        n, d, T = cfg.mhc_lanes, cfg.d_model, len(tokens)
        pos0 = len(self.history)
        self.history.extend(int(t) for t in tokens)
        emb = p["embedding"]
        X = np.repeat((emb[np.asarray(tokens)] * math.sqrt(d))[:, None, :], n, axis=1)
        ekv = [self._engram(s, pos0, pos0 + T) for s in range(len(cfg.engram_layers))]
        for i in range(cfg.num_layers):
            lane = np.eye(n)[i % n]
            self._rec("lanes", i, X)
            nx = rms_unit(X.reshape(T, n * d))
            self._rec("nx", i, nx)
            rows = slice(i * n, (i + 1) * n)
            hpre = sigmoid(p["mhc_a_pre"][i] * (nx @ p["mhc_phi_pre"][rows].T) + p["mhc_b_pre"][i] + 8 * lane - 4)
            u = np.einsum("tn,tnc->tc", hpre, X)
            b = u
            self._rec("blk", i, u)
            if i in cfg.engram_layers:
                ek, ev = ekv[cfg.engram_layers.index(i)]
                self._rec("u_unit", i, rms_unit(u))
                self._rec("ek_unit", i, rms_unit(ek))
                alpha = sigmoid(np.sum(rms_unit(u) * rms_unit(ek), -1) / math.sqrt(d))
                b = u + alpha[:, None] * ev
            y = self._block(i, b, pos0) - u
            hpost = 2 * sigmoid(p["mhc_a_post"][i] * (nx @ p["mhc_phi_post"][rows].T) + p["mhc_b_post"][i]
                                - 4 * (1 - lane))
            res = nx @ p["mhc_phi_res"][i * n * n:(i + 1) * n * n].T
            hres = sinkhorn(p["mhc_a_res"][i] * res.reshape(T, n, n) + p["mhc_b_res"][i])
            self._rec("y", i, y)
            X = np.einsum("tij,tjc->tic", hres, X) + hpost[:, :, None] * y[:, None, :]
        self._rec("lanes", cfg.num_layers, X)
        x = zc_rms(X.mean(axis=1), p["final_norm"])
        self._rec("final", 0, x)
        return x @ emb.T
