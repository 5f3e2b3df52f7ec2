"""The in-memory Needle model: a config and a flat dict of float32 tensors
under canonical names, every shape checked against the config.

Canonical names and shapes (d = d_model, hd = head_dim, H = num_heads,
KV = num_kv_heads, V = vocab_size, F = d_ff). Projection weights are
[out, in] (y = x @ W.T), the layout of the int8 kernels (w[N, K], one row
per output channel) and of the Cactus export; the flax checkpoints store
kernels [in, out] and the loaders transpose them.

    embed                              [V, d]        token table; also the tied output head
    enc.{i}.attn_norm                  [d]           ZCRMSNorm scale g, applied as (1 + g)
    enc.{i}.attn_gate                  []            residual gate logit s: x += sigmoid(s) * attn
    enc.{i}.attn.{q,k,v,o}             [H*hd, d] [KV*hd, d] [KV*hd, d] [d, H*hd]
    enc.{i}.attn.{q_norm,k_norm}       [hd]          per-head ZCRMSNorm, shared by all heads
    enc.final_norm                     [d]
    dec.{i}.self_norm, dec.{i}.self_gate, dec.{i}.self_attn.*      causal self-attention
    dec.{i}.cross_norm, dec.{i}.cross_gate, dec.{i}.cross_attn.*   cross-attention
    dec.final_norm                     [d]
  only when config.no_feedforward is False (the released model has none):
    {enc,dec}.{i}.ffn_norm [d], {enc,dec}.{i}.ffn_gate [], {enc,dec}.{i}.ffn.{gate,up} [F, d], .ffn.down [d, F]
  optional (the tool-retrieval head; not used for tool calls):
    contrastive.hidden.w [d/4, d], contrastive.hidden.b [d/4],
    contrastive.proj.w [contrastive_dim, d/4], contrastive.log_temp []
"""
import dataclasses

import numpy as np

from .config import NeedleConfig


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: malformed, hostile, or not a Needle model."""


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple
    kind: str          # "embedding" | "linear" ([out, in]) | "norm" | "gate" | "bias" | "scalar"
    required: bool = True


def _attn_specs(prefix, c):
    d, hd = c.d_model, c.head_dim
    return [TensorSpec(f"{prefix}.q", (c.q_dim, d), "linear"),
            TensorSpec(f"{prefix}.k", (c.kv_dim, d), "linear"),
            TensorSpec(f"{prefix}.v", (c.kv_dim, d), "linear"),
            TensorSpec(f"{prefix}.o", (d, c.q_dim), "linear"),
            TensorSpec(f"{prefix}.q_norm", (hd,), "norm"),
            TensorSpec(f"{prefix}.k_norm", (hd,), "norm")]


def _ffn_specs(prefix, c):
    if c.no_feedforward:
        return []
    d, f = c.d_model, c.d_ff
    return [TensorSpec(f"{prefix}.ffn_norm", (d,), "norm"),
            TensorSpec(f"{prefix}.ffn_gate", (), "gate"),
            TensorSpec(f"{prefix}.ffn.gate", (f, d), "linear"),
            TensorSpec(f"{prefix}.ffn.up", (f, d), "linear"),
            TensorSpec(f"{prefix}.ffn.down", (d, f), "linear")]


def tensor_specs(config):
    """Every tensor a model of this config has, in a fixed order (embedding,
    encoder layers, encoder final norm, decoder layers, decoder final norm,
    optional heads). Returns {name: TensorSpec}."""
    c = config
    d = c.d_model
    specs = [TensorSpec("embed", (c.vocab_size, d), "embedding")]
    for i in range(c.num_encoder_layers):
        p = f"enc.{i}"
        specs += [TensorSpec(f"{p}.attn_norm", (d,), "norm"), TensorSpec(f"{p}.attn_gate", (), "gate")]
        specs += _attn_specs(f"{p}.attn", c) + _ffn_specs(p, c)
    specs.append(TensorSpec("enc.final_norm", (d,), "norm"))
    for i in range(c.num_decoder_layers):
        p = f"dec.{i}"
        specs += [TensorSpec(f"{p}.self_norm", (d,), "norm"), TensorSpec(f"{p}.self_gate", (), "gate")]
        specs += _attn_specs(f"{p}.self_attn", c)
        specs += [TensorSpec(f"{p}.cross_norm", (d,), "norm"), TensorSpec(f"{p}.cross_gate", (), "gate")]
        specs += _attn_specs(f"{p}.cross_attn", c) + _ffn_specs(p, c)
    specs.append(TensorSpec("dec.final_norm", (d,), "norm"))
    h = d // 4
    specs += [TensorSpec("contrastive.hidden.w", (h, d), "linear", False),
              TensorSpec("contrastive.hidden.b", (h,), "bias", False),
              TensorSpec("contrastive.proj.w", (c.contrastive_dim, h), "linear", False),
              TensorSpec("contrastive.log_temp", (), "scalar", False)]
    return {s.name: s for s in specs}


def parameter_count(config, *, optional=True):
    """Parameters of a model of this config (optional heads included unless
    optional=False)."""
    return sum(int(np.prod(s.shape, dtype=np.int64)) for s in tensor_specs(config).values()
               if s.required or optional)


@dataclasses.dataclass(frozen=True)
class NeedleModel:
    """config + {canonical name: float32 ndarray}. Build it with
    NeedleModel.build (or a loader), which checks every tensor."""
    config: NeedleConfig
    tensors: dict
    notes: tuple = ()       # what a loader ignored or filled in, one line each
    source: str = ""

    def __getitem__(self, name):
        return self.tensors[name]

    def __contains__(self, name):
        return name in self.tensors

    @property
    def specs(self):
        return tensor_specs(self.config)

    def parameter_count(self):
        return sum(int(t.size) for t in self.tensors.values())

    @classmethod
    def build(cls, config, tensors, *, notes=(), source="", strict=False):
        """Check tensors against config: every required tensor present with
        its exact shape and finite values; optional ones checked if present;
        names the config does not have are reported in notes (or refused when
        strict). Arrays are converted to contiguous float32."""
        if not isinstance(config, NeedleConfig):
            raise TypeError("config must be a NeedleConfig")
        specs = tensor_specs(config)
        problems, out, notes = [], {}, list(notes)
        for name, spec in specs.items():
            if name not in tensors:
                if spec.required:
                    problems.append(f"tensor {name!r} is missing (expected shape {spec.shape})")
                continue
            arr = np.asarray(tensors[name])
            if arr.dtype.kind != "f":
                problems.append(f"tensor {name!r}: dtype {arr.dtype} is not a float type")
                continue
            if tuple(arr.shape) != spec.shape:
                problems.append(f"tensor {name!r}: expected shape {spec.shape}, got {tuple(arr.shape)}")
                continue
            arr = np.array(arr, dtype=np.float32, order="C")   # (ascontiguousarray would make 0-d 1-d)
            if not np.all(np.isfinite(arr)):
                problems.append(f"tensor {name!r}: holds NaN or infinite values")
                continue
            out[name] = arr
        unexpected = sorted(n for n in tensors if n not in specs)
        if unexpected:
            msg = f"unexpected tensors not used by this config: {', '.join(unexpected)}"
            if strict:
                problems.append(msg)
            else:
                notes.append(msg)
        if problems:
            head = f"{source}: " if source else ""
            more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
            raise CheckpointError(head + "; ".join(problems[:20]) + more)
        return cls(config, out, tuple(notes), source)
