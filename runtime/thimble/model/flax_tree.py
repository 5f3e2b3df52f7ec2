"""Needle's flax param tree <-> the canonical tensors.

The original model (needle/model/architecture.py) builds each stack with
nn.scan over an nn.remat'd block, named "layers", so every per-layer param
sits once under encoder/layers/EncoderBlock_0/... (decoder: DecoderBlock_0)
with a leading layer axis. Dense kernels are [in, out]; the canonical form
is [out, in]. Verified by initialising the original module with flax 0.12
(docs/checkpoints.md). Paths here are the tree's keys joined by "/".

    embedding/embedding                                     -> embed
    encoder/layers/EncoderBlock_0/ZCRMSNorm_0/scale [L, d]  -> enc.{i}.attn_norm
    encoder/layers/EncoderBlock_0/attn_gate [L]             -> enc.{i}.attn_gate
    encoder/layers/EncoderBlock_0/self_attn/q_proj/kernel [L, d, H*hd] -> enc.{i}.attn.q  (transposed)
    ...
    decoder/layers/DecoderBlock_0/ZCRMSNorm_0 (pre self-attn), ZCRMSNorm_1 (pre cross-attn),
        ZCRMSNorm_2 (pre FFN, only with feed-forward)
    decoder/ZCRMSNorm_0/scale                               -> dec.final_norm (unnamed in the original)
"""
import numpy as np

from .params import CheckpointError, tensor_specs

_PROJ = (("q_proj", "q"), ("k_proj", "k"), ("v_proj", "v"), ("out_proj", "o"))
_FFN = (("gate_proj", "gate"), ("up_proj", "up"), ("down_proj", "down"))
MAX_DEPTH = 16
# A Needle tree has ~50 leaves (layers are stacked on one axis) under names of
# at most ~20 characters. Both are bounded because every leaf's path is built
# as a string: a 1 MiB key above 20,000 leaves that share one array made
# 20 GiB of paths from a 1.2 MB pickle. 4096 is the image format's tensor cap.
MAX_KEY_CHARS = 128
MAX_LEAVES = 4096


def _attn(tree_prefix, canon_prefix):
    rows = [(f"{tree_prefix}/{p}/kernel", f"{canon_prefix}.{c}", True) for p, c in _PROJ]
    rows += [(f"{tree_prefix}/{n}_norm/scale", f"{canon_prefix}.{n}_norm", False) for n in ("q", "k")]
    return rows


def _ffn(tree_prefix, canon_prefix, norm_index):
    return ([(f"{tree_prefix}/ZCRMSNorm_{norm_index}/scale", f"{canon_prefix}.ffn_norm", False),
             (f"{tree_prefix}/ffn_gate", f"{canon_prefix}.ffn_gate", False)]
            + [(f"{tree_prefix}/FeedForward_0/{p}/kernel", f"{canon_prefix}.ffn.{c}", True) for p, c in _FFN])


def tree_layout(config):
    """Rows (tree path, canonical name or '{i}' template, stacked layer count
    or 0, transpose) for every tensor of this config."""
    rows = [("embedding/embedding", "embed", 0, False),
            ("encoder/final_norm/scale", "enc.final_norm", 0, False),
            ("decoder/ZCRMSNorm_0/scale", "dec.final_norm", 0, False),
            ("contrastive_hidden/kernel", "contrastive.hidden.w", 0, True),
            ("contrastive_hidden/bias", "contrastive.hidden.b", 0, False),
            ("contrastive_proj/kernel", "contrastive.proj.w", 0, True),
            ("log_temp", "contrastive.log_temp", 0, False)]
    e, le = "encoder/layers/EncoderBlock_0", config.num_encoder_layers
    enc = [(f"{e}/ZCRMSNorm_0/scale", "enc.{i}.attn_norm", False),
           (f"{e}/attn_gate", "enc.{i}.attn_gate", False)] + _attn(f"{e}/self_attn", "enc.{i}.attn")
    d, ld = "decoder/layers/DecoderBlock_0", config.num_decoder_layers
    dec = ([(f"{d}/ZCRMSNorm_0/scale", "dec.{i}.self_norm", False),
            (f"{d}/self_attn_gate", "dec.{i}.self_gate", False)] + _attn(f"{d}/self_attn", "dec.{i}.self_attn")
           + [(f"{d}/ZCRMSNorm_1/scale", "dec.{i}.cross_norm", False),
              (f"{d}/cross_attn_gate", "dec.{i}.cross_gate", False)] + _attn(f"{d}/cross_attn", "dec.{i}.cross_attn"))
    if not config.no_feedforward:
        enc += _ffn(e, "enc.{i}", 1)
        dec += _ffn(d, "dec.{i}", 2)
    rows += [(p, c, le, t) for p, c, t in enc] + [(p, c, ld, t) for p, c, t in dec]
    return rows


def _tree_shape(spec_shape, layers, transpose):
    shape = tuple(reversed(spec_shape)) if transpose else tuple(spec_shape)
    return ((layers,) if layers else ()) + shape


def flatten(tree, *, sep="/"):
    """Nested dicts with string keys and array leaves -> {path: leaf}.
    Refuses other containers, non-string keys, keys holding the separator,
    trees deeper than MAX_DEPTH, and a dict reached twice: a pickle can make
    every level share its children (a DAG, not a tree), and 15 levels of 64
    shared keys are 64^15 paths from 7.7 KB. Each dict is walked once, so the
    work is bounded by the objects the file really holds."""
    out, seen = {}, set()

    def walk(node, path, depth):
        if depth > MAX_DEPTH:
            raise CheckpointError(f"param tree deeper than {MAX_DEPTH} levels at {path!r}")
        if id(node) in seen:
            raise CheckpointError(f"param tree reaches one dict twice (at {path!r}): a tree's nodes are not shared")
        seen.add(id(node))
        for k, v in node.items():
            if not isinstance(k, str) or not k or sep in k or len(k) > MAX_KEY_CHARS:
                raise CheckpointError(f"param tree key {k[:40] if isinstance(k, str) else k!r:.60} under "
                                      f"{path or '(root)'!r} is not a plain name of 1 to {MAX_KEY_CHARS} "
                                      f"characters")
            p = f"{path}{sep}{k}" if path else k
            if isinstance(v, dict):
                walk(v, p, depth + 1)
            elif isinstance(v, np.ndarray):
                if len(out) >= MAX_LEAVES:
                    raise CheckpointError(f"param tree has more than {MAX_LEAVES} arrays")
                out[p] = v
            else:
                raise CheckpointError(f"param tree leaf {p!r} is a {type(v).__name__}, not an array")

    if not isinstance(tree, dict):
        raise CheckpointError(f"params must be a dict, got {type(tree).__name__}")
    walk(tree, "", 0)
    return out


def unflatten(flat, *, sep="/"):
    tree = {}
    for path, v in flat.items():
        node = tree
        parts = path.split(sep)
        for k in parts[:-1]:
            node = node.setdefault(k, {})
        node[parts[-1]] = v
    return tree


def tree_to_tensors(flat, config):
    """{tree path: array} -> ({canonical name: array}, notes). Checks every
    path's shape (stacked layer axis included) and names the tree path in
    errors; paths this config does not have are returned in the notes."""
    specs = tensor_specs(config)
    tensors, problems, known = {}, [], set()
    for path, canon, layers, transpose in tree_layout(config):
        known.add(path)
        spec = specs[canon.replace("{i}", "0")]
        want = _tree_shape(spec.shape, layers, transpose)
        if path not in flat:
            if spec.required:
                problems.append(f"tensor {path!r} is missing (expected shape {want})")
            continue
        arr = flat[path]
        if tuple(arr.shape) != want:
            problems.append(f"tensor {path!r}: expected shape {want}, got {tuple(arr.shape)}")
            continue
        if arr.dtype.kind != "f":
            problems.append(f"tensor {path!r}: dtype {arr.dtype} is not a float type")
            continue
        parts = [arr[i] for i in range(layers)] if layers else [arr]
        for i, a in enumerate(parts):
            tensors[canon.replace("{i}", str(i))] = a.T if transpose else a
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise CheckpointError("; ".join(problems[:20]) + more)
    unexpected = sorted(p for p in flat if p not in known)
    notes = [f"unexpected tensors ignored: {', '.join(unexpected)}"] if unexpected else []
    return tensors, notes


def tensors_to_tree(model, dtype=np.float32):
    """The canonical tensors -> {tree path: array} (stacked, kernels [in, out]),
    as the original model's params; optional tensors the model lacks are left out."""
    flat = {}
    for path, canon, layers, transpose in tree_layout(model.config):
        names = [canon.replace("{i}", str(i)) for i in range(layers)] if layers else [canon]
        if not all(n in model.tensors for n in names):
            continue
        arrs = [model.tensors[n].T if transpose else model.tensors[n] for n in names]
        flat[path] = np.array(np.stack(arrs) if layers else arrs[0], dtype=dtype, order="C")
    return flat
