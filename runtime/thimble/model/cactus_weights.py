"""The Cactus engine's Needle export: a folder of `*.weights` files (one
tensor each) and a `config.txt`.

Every fact below was read in cactus-compute/cactus (see docs/checkpoints.md
for where): python/src/tensor_io.py (the writer), cactus/graph/graph_io.cpp
(MappedFile::parse_header, the reader), cactus/graph/graph.h (Precision),
cactus/kernel/kernel_quants.cpp + kernel_utils.h (int4 unpacking),
python/src/needle.py (file names, config.txt) and
cactus/models/model_needle.cpp (which files the engine needs).

File layout, little-endian:

    0   header      84 bytes (HEADER below), zero-padded to align(84, alignment) = 96
    96  scales      scale_bytes of fp16 group scales, present when scale_bytes > 0,
                    zero-padded to the next multiple of alignment
        data        data_bytes

Quantised 2-D weights W[N, K] (N output rows, K inputs; the exporter
transposes flax kernels, FLAG_TRANSPOSED says so) are padded to K % 32 == 0
with zeros and to N % 4 == 0, quantised symmetrically per row and per group
of 32 inputs (scale = max|w| / 127 for int8, / 7 for int4, at least 1e-10,
stored as fp16), and interleaved in blocks of 4 rows:
q[n, k] lives at ((n // 4) * (K // 4) + k // 4) * 16 + (n % 4) * 4 + k % 4 and
scale[n, g] at ((n // 4) * G + g) * 4 + n % 4; dims[0] is the padded N and
original_N the real one. Int4 packs the interleaved stream in groups of 32
values into 16 bytes: value j in the low nibble of byte j, value 16 + j in
the high nibble (two's complement). 1-D int8 tensors are grouped but not
interleaved. FP16 tensors (norms, gates, any 0-d tensor) have no scales.
The exporter never writes FP32 or FLAG_PAGE_ALIGNED, but the engine takes
both: FP32 reads like FP16, and the flag is never consulted (the offsets
follow the alignment field alone), so we accept and ignore it too.
"""
import dataclasses
import math
import os
import struct

import numpy as np

from .config import ConfigError, NORM_EPS, NeedleConfig
from .files import read_bounded
from .params import CheckpointError, NeedleModel, tensor_specs

MAGIC = b"CACT"
HEADER = [  # name, struct code
    ("magic", "4s"), ("flags", "I"), ("alignment", "I"), ("ndim", "I"), ("dims", "4Q"),
    ("precision", "I"), ("data_bytes", "Q"), ("scale_bytes", "Q"), ("group_size", "I"),
    ("num_groups", "I"), ("original_n", "Q"),
]
HEADER_FORMAT = "<" + "".join(c for _, c in HEADER)
HEADER_SIZE = struct.calcsize(HEADER_FORMAT)
assert HEADER_SIZE == 84, HEADER_SIZE
ALIGNMENT = 32           # what the exporter writes
GROUP_SIZE = 32
INTERLEAVE = 4

FLAG_HAS_SCALES = 1
FLAG_PAGE_ALIGNED = 2
FLAG_TRANSPOSED = 4
FLAG_INTERLEAVED = 8
FLAG_TERNARY = 16        # later Cactus versions; bits 5-9 carry the ternary mode and storage
KNOWN_FLAGS = FLAG_HAS_SCALES | FLAG_PAGE_ALIGNED | FLAG_TRANSPOSED | FLAG_INTERLEAVED

PRECISIONS = {0: "INT8", 1: "FP16", 2: "FP32", 3: "INT4"}   # cactus/graph/graph.h enum Precision
PRECISION_CODES = {v: k for k, v in PRECISIONS.items()}
MAX_FILE_BYTES = 2 << 30
MAX_ALIGNMENT = 1 << 16


def _align(n, a):
    return (n + a - 1) // a * a


@dataclasses.dataclass
class WeightsFile:
    """One decoded .weights file. values: float32, padding rows removed
    (the K padding to a multiple of 32 is kept: the caller knows the real K).
    q and scales: the raw int values [N, K] and float32 group scales [N, G]
    (de-interleaved, padded rows removed) of a quantised tensor, else None."""
    precision: str
    flags: int
    shape: tuple          # as stored (dims[:ndim]); dims[0] is padded for interleaved tensors
    group_size: int
    values: np.ndarray
    q: np.ndarray = None
    scales: np.ndarray = None


def parse_header(blob, size):
    """Header bytes (at least HEADER_SIZE) + file size -> dict of fields and
    the derived offsets. Checks every size against the file before any read."""
    if size < HEADER_SIZE or len(blob) < HEADER_SIZE:
        raise CheckpointError(f"{size} bytes is too short for the {HEADER_SIZE}-byte header")
    vals = struct.unpack_from(HEADER_FORMAT, blob, 0)
    h = {}
    i = 0
    for name, code in HEADER:
        n = 4 if code == "4Q" else 1
        h[name] = vals[i:i + n] if n > 1 else vals[i]
        i += n
    if h["magic"] != MAGIC:
        raise CheckpointError(f"magic {h['magic']!r} is not {MAGIC!r}")
    if h["flags"] & FLAG_TERNARY:
        raise CheckpointError("ternary tensors are not supported")
    if h["flags"] & ~KNOWN_FLAGS:
        raise CheckpointError(f"unknown flags 0x{h['flags'] & ~KNOWN_FLAGS:x}")
    align = h["alignment"] or 1          # the engine reads 0 as 1
    if align > MAX_ALIGNMENT:
        raise CheckpointError(f"alignment {align} is larger than {MAX_ALIGNMENT}")
    if h["ndim"] > 4:
        raise CheckpointError(f"ndim {h['ndim']} is more than 4")
    shape = tuple(h["dims"][:h["ndim"]])
    if any(d == 0 for d in shape):
        raise CheckpointError(f"dims {shape} hold a zero")
    if h["precision"] not in PRECISIONS:
        raise CheckpointError(f"precision code {h['precision']} is not one of {sorted(PRECISIONS)}")
    count = math.prod(shape)
    if count > size * 2:  # no element takes less than half a byte
        raise CheckpointError(f"dims {shape} describe more elements than the file can hold")
    scales_off = _align(HEADER_SIZE, align)
    data_off = _align(scales_off + h["scale_bytes"], align) if h["scale_bytes"] else scales_off
    if data_off + h["data_bytes"] > size:
        raise CheckpointError(f"scales ({h['scale_bytes']} bytes) and data ({h['data_bytes']} bytes) "
                              f"end at byte {data_off + h['data_bytes']}, after the end of the "
                              f"{size}-byte file")
    h.update(shape=shape, count=count, scales_off=scales_off, data_off=data_off, align=align)
    return h


def _unpack_int4(packed):
    """Planar int4: per 16 bytes, 16 low nibbles then 16 high nibbles (signed)."""
    b = packed.reshape(-1, 16).view(np.int8)
    low = (b << 4) >> 4          # arithmetic shifts sign-extend, as the engine's vshrq_n_s8
    high = b >> 4
    return np.concatenate([low, high], axis=1).reshape(-1)


def _pack_int4(q):
    g = q.astype(np.int8).reshape(-1, 32).view(np.uint8)
    return ((g[:, :16] & 0x0F) | ((g[:, 16:] & 0x0F) << 4)).astype(np.uint8).reshape(-1)


def _deinterleave(flat, n, k):
    return flat.reshape(n // INTERLEAVE, k // 4, INTERLEAVE, 4).transpose(0, 2, 1, 3).reshape(n, k)


def _interleave(a):
    n, k = a.shape
    return a.reshape(n // INTERLEAVE, INTERLEAVE, k // 4, 4).transpose(0, 2, 1, 3).reshape(-1)


def read_weights_file(path):
    """One .weights file -> WeightsFile. Raises CheckpointError."""
    source = os.fspath(path)
    blob = read_bounded(source, MAX_FILE_BYTES)
    try:
        return _decode(blob)
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None


def _decode(blob):
    h = parse_header(blob, len(blob))
    prec, shape, count, flags = PRECISIONS[h["precision"]], h["shape"], h["count"], h["flags"]
    data = memoryview(blob)[h["data_off"]:h["data_off"] + h["data_bytes"]]
    if prec in ("FP16", "FP32"):
        if h["scale_bytes"] or flags & (FLAG_HAS_SCALES | FLAG_INTERLEAVED):
            raise CheckpointError(f"{prec} tensor with group scales or interleaving")
        itemsize = 2 if prec == "FP16" else 4
        if h["data_bytes"] != count * itemsize:
            raise CheckpointError(f"{prec} dims {shape} need {count * itemsize} bytes, data_bytes is "
                                  f"{h['data_bytes']}")
        vals = np.frombuffer(data, dtype="<f2" if prec == "FP16" else "<f4").astype(np.float32)
        return WeightsFile(prec, flags, shape, 0, vals.reshape(shape))
    # INT8 / INT4: grouped symmetric quantisation
    if not (flags & FLAG_HAS_SCALES and h["scale_bytes"] and h["group_size"]):
        raise CheckpointError(f"{prec} tensor without group scales")
    if len(shape) not in (1, 2):
        raise CheckpointError(f"{prec} tensor of {len(shape)} dims (1 or 2 supported)")
    n, k = (1, shape[0]) if len(shape) == 1 else shape
    gs, ng = h["group_size"], h["num_groups"]
    if k % gs or ng != k // gs:
        raise CheckpointError(f"K = {k} with group_size {gs} does not give num_groups = {ng}")
    if h["scale_bytes"] != n * ng * 2:
        raise CheckpointError(f"scale_bytes {h['scale_bytes']} is not {n} rows x {ng} groups x 2")
    need = count if prec == "INT8" else count // 2
    if prec == "INT4" and count % 32:
        raise CheckpointError(f"INT4 tensor of {count} values: packing needs a multiple of 32")
    if h["data_bytes"] != need:
        raise CheckpointError(f"{prec} dims {shape} need {need} bytes, data_bytes is {h['data_bytes']}")
    scales = np.frombuffer(blob, dtype="<f2", count=n * ng, offset=h["scales_off"]).astype(np.float32)
    raw = np.frombuffer(data, dtype=np.int8 if prec == "INT8" else np.uint8)
    q = raw.copy() if prec == "INT8" else _unpack_int4(raw)
    rows = n
    if flags & FLAG_INTERLEAVED:
        if len(shape) != 2 or n % INTERLEAVE or k % 4:
            raise CheckpointError(f"interleaved tensor of dims {shape}: needs 2 dims, N % 4 == 0, K % 4 == 0")
        rows = h["original_n"]
        if not n - INTERLEAVE < rows <= n:
            raise CheckpointError(f"original_N {rows} does not fit padded N {n}")
        q = _deinterleave(q, n, k)
        scales = scales.reshape(n // INTERLEAVE, ng, INTERLEAVE).transpose(0, 2, 1).reshape(n, ng)
    q = q.reshape(n, k)[:rows]
    scales = scales.reshape(n, ng)[:rows]
    # an inf or NaN fp16 scale gives inf/NaN values, which NeedleModel.build refuses by
    # name; numpy's RuntimeWarning about them would be extra lines on convert's stderr
    with np.errstate(invalid="ignore", over="ignore"):
        vals = (q.reshape(rows, ng, gs).astype(np.float32) * scales[:, :, None]).reshape(rows, k)
    if len(shape) == 1:
        vals, q = vals[0], q[0]
    return WeightsFile(prec, flags, shape, gs, vals, q, scales)


def encode_weights(array, precision, *, transposed=False):
    """float array -> the bytes of one .weights file, as the Cactus exporter
    writes them (tensor_io.save_tensor_with_header): 2-D INT8/INT4 grouped and
    interleaved, 1-D INT8 grouped, everything else FP16."""
    a = np.asarray(array, dtype=np.float32)
    if precision not in ("INT8", "INT4", "FP16"):
        raise ValueError(f"precision {precision!r}")
    if precision == "INT4" and a.ndim != 2 or a.ndim not in (1, 2):
        precision = "FP16"
    flags = FLAG_TRANSPOSED if transposed else 0
    if precision == "FP16":
        dims = list(a.shape) + [0] * (4 - a.ndim)
        head = struct.pack(HEADER_FORMAT, MAGIC, flags, ALIGNMENT, a.ndim, *dims, PRECISION_CODES["FP16"],
                           a.size * 2, 0, 0, 0, a.shape[0] if a.ndim else 0)
        return _pad(head) + a.astype("<f2").tobytes()
    two_d = a.ndim == 2
    w = a if two_d else a[None, :]
    n, k = w.shape
    w = np.pad(w, ((0, 0), (0, -k % GROUP_SIZE)))
    k = w.shape[1]
    ng = k // GROUP_SIZE
    qmax = 127.0 if precision == "INT8" else 7.0
    g = w.reshape(n, ng, GROUP_SIZE)
    scale = np.maximum((np.max(np.abs(g), axis=2) / qmax).astype(np.float32), np.float32(1e-10))
    q = np.clip(np.round(g / scale[:, :, None]), -qmax - 1, qmax).astype(np.int8).reshape(n, k)
    if two_d:
        pad_n = -n % INTERLEAVE
        q = np.pad(q, ((0, pad_n), (0, 0)))
        scale = np.pad(scale, ((0, pad_n), (0, 0)), constant_values=1e-10)
        qs = _interleave(q)
        ss = scale.reshape(-1, INTERLEAVE, ng).transpose(0, 2, 1).reshape(-1)
        flags |= FLAG_HAS_SCALES | FLAG_INTERLEAVED
        dims, original_n = [n + pad_n, k, 0, 0], n
    else:
        qs, ss = q.reshape(-1), scale.reshape(-1)
        flags |= FLAG_HAS_SCALES
        dims, original_n = [k, 0, 0, 0], k
    data = qs.tobytes() if precision == "INT8" else _pack_int4(qs).tobytes()
    sc = ss.astype("<f2").tobytes()
    head = struct.pack(HEADER_FORMAT, MAGIC, flags, ALIGNMENT, a.ndim, *dims, PRECISION_CODES[precision],
                       len(data), len(sc), GROUP_SIZE, ng, original_n)
    return _pad(_pad(head) + sc) + data


def _pad(b):
    return b + b"\0" * (-len(b) % ALIGNMENT)


# --- the Needle export: file names <-> canonical tensors ------------------

def file_layout(config):
    """(file stem, canonical name, transposed by the exporter) for every file
    the Cactus Needle export writes for this config (contrastive ones only
    when the model has them; the exporter never writes contrastive_hidden)."""
    rows = [("token_embeddings", "embed", False),
            ("encoder_layer_norm_weight", "enc.final_norm", False),
            ("output_norm", "dec.final_norm", False),
            ("contrastive_proj", "contrastive.proj.w", True),
            ("log_temp", "contrastive.log_temp", False)]
    attn = [("q", "q", True), ("k", "k", True), ("v", "v", True), ("output", "o", True),
            ("q_norm", "q_norm", False), ("k_norm", "k_norm", False)]
    for i in range(config.num_encoder_layers):
        p, c = f"encoder_layer_{i}_", f"enc.{i}."
        rows += [(p + "input_norm", c + "attn_norm", False), (p + "attn_gate", c + "attn_gate", False)]
        rows += [(p + "attn_" + f, c + "attn." + n, t) for f, n, t in attn]
    for i in range(config.num_decoder_layers):
        p, c = f"layer_{i}_", f"dec.{i}."
        rows += [(p + "input_norm", c + "self_norm", False), (p + "post_attn_norm", c + "cross_norm", False),
                 (p + "self_attn_gate", c + "self_gate", False), (p + "cross_attn_gate", c + "cross_gate", False)]
        rows += [(p + "attn_" + f, c + "self_attn." + n, t) for f, n, t in attn]
        rows += [(p + "encoder_attn_" + f, c + "cross_attn." + n, t) for f, n, t in attn]
    return rows


# config.txt key -> NeedleConfig field (python/src/needle.py build_model_config)
CONFIG_KEYS = {"vocab_size": "vocab_size", "hidden_dim": "d_model", "attention_heads": "num_heads",
               "attention_kv_heads": "num_kv_heads", "num_encoder_layers": "num_encoder_layers",
               "num_decoder_layers": "num_decoder_layers", "ffn_intermediate_dim": "d_ff",
               "context_length": "max_seq_len", "pad_token_id": "pad_token_id", "rope_theta": "rope_theta",
               "dtype": "dtype", "activation": "activation", "num_memory_slots": "num_memory_slots",
               "dropout_rate": "dropout_rate", "contrastive_dim": "contrastive_dim"}
REQUIRED_CONFIG_KEYS = ("vocab_size", "hidden_dim", "attention_heads", "attention_kv_heads",
                        "num_encoder_layers", "num_decoder_layers")
MAX_CONFIG_BYTES = 1 << 20


def parse_config_txt(text):
    """config.txt (key=value lines) -> {key: str}."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise CheckpointError(f"config.txt line {n} is not key=value: {line[:80]!r}")
        if key.strip() in out:
            raise CheckpointError(f"config.txt names {key.strip()!r} twice")
        out[key.strip()] = value.strip()
    return out


def _typed(field, text):
    kind = {f.name: f.type for f in dataclasses.fields(NeedleConfig)}[field]
    kind = getattr(kind, "__name__", kind)
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise CheckpointError(f"config.txt {field}: {text!r} is not a {kind}") from None
    return text


def config_from_txt(kv, *, has_ffn_files=False):
    """{key: str} -> (NeedleConfig, notes). The exporter writes
    no_feedforward=false for checkpoints whose config omits the flag (the
    released ones), so the flag is not trusted: the Cactus export cannot hold a
    feed-forward model (it drops the ffn_gate scalars) and the engine has no
    feed-forward path, so we require its absence."""
    missing = [k for k in REQUIRED_CONFIG_KEYS if k not in kv]
    if missing:
        raise CheckpointError(f"config.txt lacks {', '.join(missing)}")
    if kv.get("model_type", "needle") != "needle":
        raise CheckpointError(f"config.txt model_type is {kv['model_type']!r}, not 'needle'")
    if kv.get("tie_word_embeddings", "true") != "true":
        raise CheckpointError("config.txt tie_word_embeddings is not true: not a Needle model")
    if has_ffn_files:
        raise CheckpointError("the export holds feed-forward weights: the Cactus export drops their "
                              "ffn_gate scalars, so the model cannot be rebuilt from it")
    notes = []
    if "layer_norm_eps" in kv:
        try:
            eps = float(kv["layer_norm_eps"])
        except ValueError:
            raise CheckpointError(f"config.txt layer_norm_eps {kv['layer_norm_eps']!r} is not a number") from None
        if eps != NORM_EPS:
            raise CheckpointError(f"config.txt layer_norm_eps {eps} differs from Needle's {NORM_EPS}")
    d = {field: _typed(field, kv[key]) for key, field in CONFIG_KEYS.items() if key in kv}
    d["no_feedforward"] = True
    if kv.get("no_feedforward", "false") != "true":
        notes.append("config.txt says no_feedforward=false, but the export has no feed-forward "
                     "weights: loaded as an attention-only model")
    try:
        config, _ = NeedleConfig.from_dict(d)
    except ConfigError as e:
        raise CheckpointError(f"config.txt: {e}") from None
    if "attention_head_dim" in kv and kv["attention_head_dim"] != str(config.head_dim):
        raise CheckpointError(f"config.txt attention_head_dim {kv['attention_head_dim']} is not "
                              f"hidden_dim / attention_heads = {config.head_dim}")
    unknown = sorted(k for k in kv if k not in CONFIG_KEYS and k not in _INFORMATIONAL_KEYS)
    if unknown:
        notes.append(f"config.txt keys ignored: {', '.join(unknown)}")
    return config, notes


# keys the exporter writes that carry nothing the float model needs
_INFORMATIONAL_KEYS = {"model_type", "model_variant", "precision", "quantization", "num_layers",
                       "attention_head_dim", "layer_norm_eps", "tie_word_embeddings", "enc_hidden_act",
                       "dec_hidden_act", "n_mels", "conv_kernel_size", "enable_speech", "no_feedforward",
                       "architecture", "uses_tied_embeddings_for_logits", "inference_input_format",
                       "decoder_starts_with", "decoder_predicts_first", "param_count"}


def load_cactus_folder(folder, *, strict=False):
    """A Cactus Needle export folder -> NeedleModel. Quantised tensors are
    dequantised (q * fp16 scale, in float32); read_weights_file gives their
    raw int values and scales."""
    folder = os.fspath(folder)
    cfg_path = os.path.join(folder, "config.txt")
    try:
        if os.path.getsize(cfg_path) > MAX_CONFIG_BYTES:
            raise CheckpointError(f"{cfg_path}: too large for a config")
        with open(cfg_path, "rb") as f:
            text = f.read().decode("utf-8")
        names = sorted(os.listdir(folder))
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{folder}: cannot read the export: {e}") from None
    weights = {n[:-len(".weights")] for n in names if n.endswith(".weights")}
    has_ffn = any("_ffn_" in w or w.endswith("_mlp_fc2")
                  or w.startswith("encoder_layer_") and w.endswith("_post_attn_norm") for w in weights)
    try:
        config, notes = config_from_txt(parse_config_txt(text), has_ffn_files=has_ffn)
    except CheckpointError as e:
        raise CheckpointError(f"{cfg_path}: {e}") from None
    specs = tensor_specs(config)
    tensors, problems, used = {}, [], set()
    for stem, canon, _transposed in file_layout(config):
        spec = specs[canon]
        if stem not in weights:
            if spec.required:
                problems.append(f"{stem}.weights is missing (tensor {canon}, shape {spec.shape})")
            continue
        used.add(stem)
        wf = read_weights_file(os.path.join(folder, stem + ".weights"))
        vals = _fit(wf.values, spec.shape)
        if vals is None:
            problems.append(f"{stem}.weights: tensor {canon} expects shape {spec.shape}, the file holds "
                            f"{tuple(wf.values.shape)}")
            continue
        tensors[canon] = vals
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise CheckpointError(f"{folder}: " + "; ".join(problems[:20]) + more)
    extra = sorted(weights - used - {"output_weight"})
    if extra:
        notes.append(f"weights files ignored: {', '.join(e + '.weights' for e in extra)}")
    return NeedleModel.build(config, tensors, notes=notes, source=folder, strict=strict)


def _fit(vals, shape):
    """Strip the exporter's zero padding of K (to a multiple of 32) from a
    dequantised tensor; None if it cannot be the expected shape."""
    if vals.shape == shape:
        return vals
    if vals.ndim != len(shape) or vals.ndim == 0 or vals.shape[:-1] != shape[:-1]:
        return None
    k, want = vals.shape[-1], shape[-1]
    if not want < k < want + GROUP_SIZE or k % GROUP_SIZE:
        return None
    if np.any(vals[..., want:]):
        return None
    return vals[..., :want]


def save_cactus_folder(model, folder, *, precision="INT8", exporter_config=True):
    """NeedleModel -> a Cactus export folder, as python/src/needle.py writes
    it: norms (any name holding 'norm'), gates and log_temp FP16, the
    embedding INT8 when precision is INT4, weights [out, in]. The duplicate
    output_weight (tied head) is written too, like the exporter.
    exporter_config: write no_feedforward=false like the exporter does for a
    checkpoint whose config omits the flag (the released ones)."""
    c = model.config
    if not c.no_feedforward:
        raise ValueError("the Cactus export cannot hold feed-forward models (no ffn_gate scalars)")
    if precision not in ("INT8", "INT4", "FP16"):
        raise ValueError(f"precision {precision!r}: INT8, INT4 or FP16")
    os.makedirs(folder, exist_ok=True)
    rows = file_layout(c) + [("output_weight", "embed", False)]
    for stem, canon, transposed in rows:
        if canon not in model.tensors:
            continue
        prec = precision
        if "norm" in stem or stem == "log_temp":
            prec = "FP16"
        elif precision == "INT4" and stem in ("token_embeddings", "output_weight"):
            prec = "INT8"
        with open(os.path.join(folder, stem + ".weights"), "wb") as f:
            f.write(encode_weights(model.tensors[canon], prec, transposed=transposed))
    cfg = {"model_type": "needle", "model_variant": "default",
           "precision": "FP16", "quantization": precision, "vocab_size": c.vocab_size,
           "hidden_dim": c.d_model, "num_layers": c.num_decoder_layers,
           "num_encoder_layers": c.num_encoder_layers, "num_decoder_layers": c.num_decoder_layers,
           "attention_heads": c.num_heads, "attention_kv_heads": c.num_kv_heads,
           "attention_head_dim": c.head_dim, "ffn_intermediate_dim": c.d_ff,
           "context_length": c.max_seq_len, "rope_theta": c.rope_theta, "layer_norm_eps": NORM_EPS,
           "pad_token_id": c.pad_token_id, "tie_word_embeddings": "true", "dtype": c.dtype,
           "activation": c.activation, "num_memory_slots": c.num_memory_slots,
           "dropout_rate": c.dropout_rate, "contrastive_dim": c.contrastive_dim,
           "no_feedforward": "false" if exporter_config else "true",
           "param_count": model.parameter_count()}
    with open(os.path.join(folder, "config.txt"), "w", encoding="utf-8") as f:
        for k, v in cfg.items():
            f.write(f"{k}={v}\n")
