"""Needle 2's shape: the decoder-only Simple Attention Network (Cactus,
needle 2.0.8; ../shared/reference/needle-v2.md section 1).

One dataclass, the presets of the original code, and the checks every
loader runs before it sizes anything from a file's numbers: a `.cact`
header is untrusted input, and each bound below keeps the products the
readers compute (rows x groups x bits, layers x lanes x width) far inside
64 bits and inside what a board could ever hold."""
import dataclasses
import math

from ..model.params import CheckpointError

ENGRAM_SUB_DIM = 128        # the original's sub-table width target (engram_geometry)
ENGRAM_CONV_TAPS = 4

# upper bounds for numbers read from a file (the released `base` is far inside each)
MAX_VOCAB = 1 << 20
MAX_D_MODEL = 8192
MAX_HEADS = 256
MAX_LAYERS = 256
MAX_SEQ = 1 << 20
MAX_LANES = 16
MAX_SLOTS = 1 << 24
MAX_ORDER = 8
MAX_SITES = 4
MAX_TAPS = 16


@dataclasses.dataclass(frozen=True)
class Needle2Config:
    vocab_size: int = 8192
    d_model: int = 512
    num_heads: int = 8
    num_kv_heads: int = 4
    num_layers: int = 12
    max_seq_len: int = 2048
    rope_theta: float = 100000.0
    engram_orders: tuple = (2, 3)
    engram_heads: int = 0            # 0: max(1, d / (orders * 128)), as the original derives it
    engram_slots: int = 8192
    engram_layers: tuple = (2, 15)
    mhc_lanes: int = 4
    kv_window: int = 0               # 0: no window (the original sizes one from a KV budget)
    kv_bits: int = 8

    @property
    def head_dim(self):
        return self.d_model // self.num_heads

    @property
    def kv_dim(self):
        return self.num_kv_heads * self.head_dim

    @property
    def hada_n(self):
        """The Hadamard MLP's width: the next power of two >= d_model."""
        return 1 << (self.d_model - 1).bit_length()

    @property
    def engram_hash_heads(self):
        return self.engram_heads or max(1, self.d_model // (len(self.engram_orders) * ENGRAM_SUB_DIM))

    @property
    def engram_tables(self):
        return len(self.engram_orders) * self.engram_hash_heads

    @property
    def engram_sub_dim(self):
        return self.d_model // self.engram_tables

    @property
    def engram_dilation(self):
        return max(self.engram_orders)


PRESETS = {
    "base": dict(d_model=512, num_heads=8, num_kv_heads=4, num_layers=27, engram_layers=(2, 15)),
    "needle": dict(d_model=768, num_heads=12, num_kv_heads=6, num_layers=27, engram_layers=(2, 15)),
}


def preset(name, **overrides):
    if name not in PRESETS:
        raise ValueError(f"no Needle 2 preset {name!r} (have {', '.join(sorted(PRESETS))})")
    return validate(Needle2Config(**{**PRESETS[name], **overrides}))


def _int(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise CheckpointError(f"Needle 2 config: {name} = {v!r} is outside {lo}..{hi}")
    return v


def validate(c):
    """c if every field is in range and the fields agree; else CheckpointError naming the field."""
    _int("vocab_size", c.vocab_size, 16, MAX_VOCAB)
    _int("d_model", c.d_model, 8, MAX_D_MODEL)
    _int("num_heads", c.num_heads, 1, MAX_HEADS)
    _int("num_kv_heads", c.num_kv_heads, 1, c.num_heads)
    _int("num_layers", c.num_layers, 1, MAX_LAYERS)
    _int("max_seq_len", c.max_seq_len, 1, MAX_SEQ)
    _int("engram_slots", c.engram_slots, 1, MAX_SLOTS)
    _int("mhc_lanes", c.mhc_lanes, 1, MAX_LANES)
    _int("kv_window", c.kv_window, 0, MAX_SEQ)       # the exporter may write one past max_seq_len
    if c.kv_bits not in (2, 3, 4, 8):
        raise CheckpointError(f"Needle 2 config: kv_bits = {c.kv_bits!r} is not 2, 3, 4 or 8")
    if c.d_model % c.num_heads or c.head_dim % 2:
        raise CheckpointError(f"Needle 2 config: d_model {c.d_model} does not split into {c.num_heads} "
                              f"heads of an even size")
    if c.num_heads % c.num_kv_heads:
        raise CheckpointError(f"Needle 2 config: {c.num_heads} heads do not share {c.num_kv_heads} K/V heads")
    theta = c.rope_theta
    if not isinstance(theta, (int, float)) or not math.isfinite(theta) or not 1.0 < theta < 1e12:
        raise CheckpointError(f"Needle 2 config: rope_theta = {theta!r} is not a finite number above 1")
    if not isinstance(c.engram_orders, tuple) or not 1 <= len(c.engram_orders) <= 4:
        raise CheckpointError(f"Needle 2 config: engram_orders {c.engram_orders!r} is not 1 to 4 orders")
    for o in c.engram_orders:
        _int("an engram order", o, 1, MAX_ORDER)
    if not isinstance(c.engram_layers, tuple) or len(c.engram_layers) > MAX_SITES:
        raise CheckpointError(f"Needle 2 config: engram_layers {c.engram_layers!r} is more than {MAX_SITES}")
    for s in c.engram_layers:
        _int("an engram layer", s, 0, c.num_layers - 1)
    if len(set(c.engram_layers)) != len(c.engram_layers):
        raise CheckpointError(f"Needle 2 config: engram_layers {c.engram_layers!r} repeats a layer")
    _int("engram_heads", c.engram_heads, 0, MAX_HEADS)
    if c.engram_layers and c.engram_sub_dim * c.engram_tables != c.d_model:
        raise CheckpointError(f"Needle 2 config: {c.engram_tables} engram tables do not split d_model "
                              f"{c.d_model} evenly")
    return c
