"""What Needle 2 costs a board (`thimble plan FILE.cact`): the weights read in
place from flash, and every RAM buffer of the integer model
(needle2/int_forward.py) for a KV window, pinned sinks and a prefill chunk.

The KV cache dominates: int8 K and V of every layer for each cached position
(window + sinks), 2 * layers * kv_dim bytes a position (27,648 at `base`).
Everything else is per token of the chunk being run, plus one query row's
scores at a time and the logits. The largest window a RAM budget allows is
solved from the same sum (it is linear in the window)."""
import dataclasses

from . import cact_format as F
from . import cq

ENGRAM_HISTORY = 12          # token ids the engram reads back (4 taps x dilation 3)


@dataclasses.dataclass
class Plan:
    window: int
    sinks: int
    chunk: int
    weights_bytes: int
    buffers: list            # [(name, bytes)]

    @property
    def ram_bytes(self):
        return sum(b for _, b in self.buffers)


def weights_bytes(cfg, bits=2, group=128):
    """Flash bytes of the model's tensors: CQ blobs at `bits` (int or name -> bits), fp16 vectors."""
    total = 0
    for name, shape, kind in F.tensor_order(cfg):
        b = bits(name) if callable(bits) else bits
        if kind == "matrix" and b:
            total += cq.blob_bytes(shape[0], shape[1], b, group)
        else:
            n = 1
            for s in shape:
                n *= s
            total += 2 * n
    return total


def buffers(cfg, window, sinks=0, chunk=1):
    """[(name, bytes)] of the integer model's RAM for `window` cached positions plus `sinks`."""
    d, L, n, kv = cfg.d_model, cfg.num_layers, cfg.mhc_lanes, cfg.kv_dim
    q, hn, V, S = cfg.num_heads * cfg.head_dim, cfg.hada_n, cfg.vocab_size, len(cfg.engram_layers)
    P, C = window + sinks, chunk
    groups = lambda k: -(-k // 128)      # noqa: E731 - rotated rows' shifts, one byte a group
    return [
        (f"KV cache int8 [{L} layers, {P} positions, K and V of {kv}]", L * P * 2 * kv),
        (f"lanes int16 [{C}, {n}, {d}]", C * n * d * 2),
        (f"block stream int16 u, b [{C}, {d}] x 2", 2 * C * d * 2),
        (f"mHC input int8 [{C}, {n * d}] and its rotation", C * n * d * 2 + C * groups(n * d)),
        (f"mHC pre-activations and mixing int32 [{C}, {2 * n + n * n}]", C * (2 * n + n * n) * 4),
        (f"normed input int8 [{C}, {d}] and its rotation", C * d * 2 + C * groups(d)),
        (f"q, k, v, gate int8 [{C}, {2 * q + 2 * kv}]", C * (2 * q + 2 * kv)),
        (f"attention out, o, post int8 [{C}, {d}] x 3", 3 * C * d),
        (f"one query row's scores int32 and Q15 [{P}]", P * 6),
        (f"Hadamard MLP int32 [{C}, {hn}]", C * hn * 4),
        (f"engram: token history int32 [{P + ENGRAM_HISTORY}], v rows int8 [{S}, {9 + C}, {d}], "
         f"rows int8 [{C}, {d}]", (P + ENGRAM_HISTORY) * 4 + S * (9 + C) * d + C * d),
        (f"logits int32 [{V}]", V * 4),
    ]


def make_plan(cfg, window, sinks=0, chunk=1, bits=2):
    return Plan(window, sinks, chunk, weights_bytes(cfg, bits), buffers(cfg, window, sinks, chunk))


def largest_window(cfg, ram_budget, sinks=0, chunk=1):
    """The most cached positions whose buffers fit ram_budget (0 if none)."""
    base = sum(b for _, b in buffers(cfg, 0, sinks, chunk))
    per = sum(b for _, b in buffers(cfg, 1, sinks, chunk)) - base
    return max(0, (ram_budget - base) // per) if ram_budget >= base else 0
