"""NeedleConfig: the hyperparameters of a Needle v1 model, validated.

Every field of the original `TransformerConfig` (needle/model/architecture.py
at cactus-compute/needle 1c6fa93) is here with the original default. A Needle
checkpoint stores only the fields its trainer passed explicitly (the original
writes `config.__dict__`, and its constructor sets only the keys it is
given), so the defaults below fill the rest, exactly as the original loader
does. Keys the original does not know are ignored by it, and reported by us.

Derived sizes (the original derives them the same way):
    head_dim = d_model // num_heads        (q is d_model wide)
    kv_dim   = num_kv_heads * head_dim     (k and v)
"""
import dataclasses
import math
import reprlib

NORM_EPS = 1e-6            # ZCRMSNorm epsilon: a constant of the architecture, not a config field
DTYPES = ("float32", "bfloat16", "float16")      # the original's DTYPE_MAP keys
ACTIVATIONS = ("drelu", "swiglu", "geglu")       # FeedForward; unused when no_feedforward


class ConfigError(ValueError):
    """A config value the Needle architecture cannot have."""


@dataclasses.dataclass(frozen=True)
class NeedleConfig:
    vocab_size: int = 8192
    d_model: int = 128
    num_heads: int = 4
    num_kv_heads: int = 2
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    d_ff: int = 512
    max_seq_len: int = 128
    pad_token_id: int = 0
    rope_theta: float = 10000.0
    dtype: str = "bfloat16"
    activation: str = "drelu"
    num_memory_slots: int = 64
    dropout_rate: float = 0.1
    contrastive_dim: int = 128
    no_feedforward: bool = True

    def __post_init__(self):
        _validate(self)

    # --- derived sizes -----------------------------------------------------
    @property
    def head_dim(self):
        return self.d_model // self.num_heads

    @property
    def q_dim(self):
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self):
        return self.num_kv_heads * self.head_dim

    @property
    def kv_groups(self):
        """Query heads per key/value head: query head h reads kv head h // kv_groups."""
        return self.num_heads // self.num_kv_heads

    @property
    def total_layers(self):
        return self.num_encoder_layers + self.num_decoder_layers

    # --- conversion --------------------------------------------------------
    @classmethod
    def from_dict(cls, d):
        """Build from a checkpoint's config dict: missing fields take the
        original defaults. Returns (config, ignored_keys)."""
        if not isinstance(d, dict):
            raise ConfigError(f"config must be a dict, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        for k in d:
            if not isinstance(k, str):
                raise ConfigError(f"config key {k!r} is not a string")
        kwargs = {k: _coerce(k, v) for k, v in d.items() if k in names}
        ignored = sorted(k for k in d if k not in names)
        return cls(**kwargs), ignored

    def to_dict(self):
        """Every field, JSON-ready."""
        return dataclasses.asdict(self)

    def explicit_dict(self, keys=None):
        """What a checkpoint's config holds: the given keys, or by default
        the fields the original trainer passes explicitly plus every field
        that differs from its default (so the dict rebuilds this config)."""
        if keys is None:
            default = NeedleConfig()
            keys = [k for k in self.to_dict() if k in TRAINER_KEYS or getattr(self, k) != getattr(default, k)]
        return {k: getattr(self, k) for k in keys}


# The keys needle/training/train.py passes to TransformerConfig (so the keys a
# released checkpoint's config holds).
TRAINER_KEYS = ("d_model", "num_heads", "num_kv_heads", "num_encoder_layers", "num_decoder_layers",
                "d_ff", "max_seq_len", "dtype", "num_memory_slots", "contrastive_dim")


def _field_types():
    return {f.name: f.type for f in dataclasses.fields(NeedleConfig)}


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel = 3


def _shown(v):
    """v for an error line: a hostile config's value may be a megabyte string,
    a list nested thousands deep, or an int whose decimal digits Python refuses
    to write (ValueError past 4300), none of which belongs in the message."""
    if isinstance(v, int) and v.bit_length() > 64:
        return f"an integer of {v.bit_length()} bits"
    try:
        return _REPR.repr(v)
    except (ValueError, RecursionError):
        return f"a {type(v).__name__}"


def _coerce(name, v):
    """Accept the value types a pickle or JSON may hold (numpy scalars
    included); refuse anything else with the field's name."""
    want = _field_types()[name]
    if want in (int, "int"):
        if isinstance(v, bool) or not hasattr(v, "__index__"):
            raise ConfigError(f"config {name}: expected an integer, got {_shown(v)}")
        v = int(v.__index__())
        if v.bit_length() > 63:     # refused before any message or range check formats it
            raise ConfigError(f"config {name}: {_shown(v)} is out of range")
        return v
    if want in (float, "float"):
        if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
            raise ConfigError(f"config {name}: expected a number, got {_shown(v)}")
        try:
            return float(v)
        except (TypeError, ValueError, OverflowError) as e:
            raise ConfigError(f"config {name}: expected a number, got {_shown(v)}") from e
    if want in (bool, "bool"):
        if type(v).__name__ not in ("bool", "bool_"):
            raise ConfigError(f"config {name}: expected true or false, got {_shown(v)}")
        return bool(v)
    if want in (str, "str"):
        if not isinstance(v, str):
            raise ConfigError(f"config {name}: expected a string, got {_shown(v)}")
        return v
    raise AssertionError(name)


MAX_HEAD_DIM = 256
UPPER_BOUNDS = {"vocab_size": 1 << 24, "d_model": 4096, "num_heads": 2048, "num_kv_heads": 2048,
                "num_encoder_layers": 32, "num_decoder_layers": 32, "d_ff": 1 << 16, "max_seq_len": 1 << 20,
                "contrastive_dim": 1 << 16, "num_memory_slots": 1 << 16}


def _validate(c):
    for name, want in _field_types().items():
        v = getattr(c, name)
        ok = {"int": isinstance(v, int) and not isinstance(v, bool),
              "float": isinstance(v, (int, float)) and not isinstance(v, bool),
              "bool": isinstance(v, bool), "str": isinstance(v, str)}[getattr(want, "__name__", want)]
        if not ok:
            raise ConfigError(f"config {name}: {_shown(v)} is not of type {getattr(want, '__name__', want)}")
    for name in ("vocab_size", "d_model", "num_heads", "num_kv_heads", "num_encoder_layers",
                 "num_decoder_layers", "d_ff", "max_seq_len", "contrastive_dim"):
        if getattr(c, name) < 1:
            raise ConfigError(f"config {name} = {getattr(c, name)}: must be at least 1")
    # upper bounds before anything is allocated from these (RoPE tables, the
    # quantizer's and the float model's buffers): the C runtime's own limits
    # (config_ok in thm_model_bind.c, THM_MODEL_MAX_LAYERS) or, where the
    # runtime has none, far beyond any Needle (the released one is 8192 x 512)
    for name, hi in UPPER_BOUNDS.items():
        if getattr(c, name) > hi:
            raise ConfigError(f"config {name} = {getattr(c, name)}: at most {hi} (what the runtime takes)")
    if c.num_memory_slots < 0:
        raise ConfigError(f"config num_memory_slots = {c.num_memory_slots}: must not be negative")
    if c.d_model % c.num_heads:
        raise ConfigError(f"config d_model = {c.d_model} is not divisible by num_heads = {c.num_heads}")
    if c.num_heads % c.num_kv_heads:
        raise ConfigError(f"config num_heads = {c.num_heads} is not divisible by "
                          f"num_kv_heads = {c.num_kv_heads}")
    if c.head_dim % 2:
        raise ConfigError(f"config head_dim = d_model / num_heads = {c.head_dim} is odd: "
                          f"RoPE rotates the two halves of each head")
    if c.head_dim > MAX_HEAD_DIM:       # config_ok in thm_model_bind.c
        raise ConfigError(f"config head_dim = d_model / num_heads = {c.head_dim}: at most {MAX_HEAD_DIM} "
                          f"(what the runtime takes)")
    if not 0 <= c.pad_token_id < c.vocab_size:
        raise ConfigError(f"config pad_token_id = {c.pad_token_id} is outside the vocabulary "
                          f"(vocab_size = {c.vocab_size})")
    if not (math.isfinite(c.rope_theta) and c.rope_theta > 0.0):
        raise ConfigError(f"config rope_theta = {c.rope_theta}: must be finite and positive")
    if c.dtype not in DTYPES:
        raise ConfigError(f"config dtype = {_shown(c.dtype)}: must be one of {', '.join(DTYPES)}")
    # The original runs any other activation name as drelu; a typo is more
    # likely than intent, so we refuse it.
    if c.activation not in ACTIVATIONS:
        raise ConfigError(f"config activation = {_shown(c.activation)}: must be one of {', '.join(ACTIVATIONS)}")
    if not (math.isfinite(c.dropout_rate) and 0.0 <= c.dropout_rate < 1.0):
        raise ConfigError(f"config dropout_rate = {c.dropout_rate}: must be in [0, 1)")


# The released 26M model (Cactus-Compute checkpoints needle_12_512_*): the
# trainer's defaults in needle/cli.py and needle/dataset/tokenizer.py
# (d_ff = 4 * d_model is stored but unused: no feed-forward blocks).
RELEASED = NeedleConfig(vocab_size=8192, d_model=512, num_heads=8, num_kv_heads=4,
                        num_encoder_layers=12, num_decoder_layers=8, d_ff=2048,
                        max_seq_len=1024, rope_theta=10000.0, dtype="bfloat16",
                        num_memory_slots=64, contrastive_dim=128, no_feedforward=True)
