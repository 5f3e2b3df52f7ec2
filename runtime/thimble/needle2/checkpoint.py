"""Needle 2's training checkpoint (needle/model/run.py: a pickle of
{"format_version": 2, "params": <flax tree>, "config": <dict>, ...}) ->
(Needle2Config, tensors by `.cact` name, float64, matrices [out, in]).

The pickle goes through thimble's restricted unpickler (model/needle_pickle:
plain containers and numpy arrays, nothing called). The tree's paths are
the original module's (architecture.py: the layers scanned into one
"stack/layers/block" with a leading layer axis; Dense kernels [in, out]);
the mapping below is the exporter's (export.py `_tensors`), so a checkpoint
and the `.cact` written from it give the same names, shapes and
orientations."""
import os

import numpy as np

from ..model.needle_pickle import read_pickle
from ..model.params import CheckpointError
from . import cact_format as F
from .config import Needle2Config, validate

FORMAT_VERSION = 2
# config keys that change nothing thimble computes (training, dtype, kernels)
_IGNORED = {"pad_token_id", "contrastive_dim", "dtype", "flash", "act_bits", "weight_bits", "remat",
            "scan_unroll"}
_FIELDS = ("vocab_size", "d_model", "num_heads", "num_kv_heads", "num_layers", "max_seq_len", "rope_theta",
           "engram_orders", "engram_heads", "engram_slots", "engram_layers", "mhc_lanes", "kv_window",
           "kv_bits")


def config_from_dict(d, where):
    """The original TransformerConfig's fields -> Needle2Config (refusing what thimble cannot run)."""
    attn = d.get("attn_dim", 0) or d.get("d_model", 512)
    if attn != d.get("d_model", 512) or d.get("qk_head_dim") or d.get("v_head_dim"):
        raise CheckpointError(f"{where}: attention width {attn} / split head dims: not Needle 2's geometry "
                              f"(thimble runs head_dim = d_model / num_heads)")
    unknown = sorted(k for k in d if k not in _FIELDS and k not in _IGNORED and k != "attn_dim")
    if unknown:
        raise CheckpointError(f"{where}: config keys Needle 2 does not have: {', '.join(unknown)}")
    kw = {}
    for k in _FIELDS:
        if k in d:
            v = d[k]
            if k in ("engram_orders", "engram_layers"):
                v = tuple(int(x) for x in v) if isinstance(v, (list, tuple)) else v
            elif k == "rope_theta":
                v = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
            elif isinstance(v, np.integer):
                v = int(v)
            kw[k] = v
    try:
        return validate(Needle2Config(**kw))
    except CheckpointError as e:
        raise CheckpointError(f"{where}: {e}") from None


def _leaf(tree, path, where):
    node = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise CheckpointError(f"{where}: the param tree has no {'/'.join(path)}")
        node = node[key]
    if not isinstance(node, np.ndarray) or node.dtype.kind != "f":
        raise CheckpointError(f"{where}: {'/'.join(path)} is not a float array")
    return node.astype(np.float64)


def tree_to_tensors(tree, cfg, where="<tree>"):
    """The flax param tree -> {.cact name: float64 array}, each shape checked."""
    L, n = cfg.num_layers, cfg.mhc_lanes
    blk, st = ("stack", "layers", "block"), ("stack",)
    per_layer = {"norm_in": blk + ("ZCRMSNorm_0", "scale"), "q_proj": blk + ("self_attn", "q_proj", "kernel"),
                 "k_proj": blk + ("self_attn", "k_proj", "kernel"), "v_proj": blk + ("self_attn", "v_proj", "kernel"),
                 "q_norm": blk + ("self_attn", "q_norm", "scale"), "k_norm": blk + ("self_attn", "k_norm", "scale"),
                 "gate_proj": blk + ("self_attn", "gate_proj", "kernel"),
                 "out_proj": blk + ("self_attn", "out_proj", "kernel"),
                 "post_norm": blk + ("post_attn_norm", "scale"), "attn_gate": blk + ("attn_gate",),
                 "pre_hada": blk + ("pre_hada_norm", "scale"), "d1": blk + ("hadamard_mlp", "d1"),
                 "d2": blk + ("hadamard_mlp", "d2"), "d3": blk + ("hadamard_mlp", "d3")}
    stacked = {part: _leaf(tree, path, where) for part, path in per_layer.items()}
    out = {"embedding": _leaf(tree, ("embedding", "embedding"), where)}
    for part, a in stacked.items():
        if a.ndim < 1 or a.shape[0] != L:
            raise CheckpointError(f"{where}: {'/'.join(per_layer[part])} has shape {a.shape}, not {L} layers first")
    for i in range(L):
        for part, _ in F.LAYER_TENSORS:
            a = stacked[part][i]
            out[F.layer_name(i, part)] = a.T if a.ndim == 2 else a.reshape(-1)
    for name in F.MHC_VECTORS:
        out[name] = _leaf(tree, st + (name,), where)
    for name in F.MHC_MATRICES:
        phi = _leaf(tree, st + (name,), where)
        if phi.ndim != 3:
            raise CheckpointError(f"{where}: stack/{name} has shape {phi.shape}, not [layers, 4d, lanes]")
        out[name] = phi.transpose(0, 2, 1).reshape(phi.shape[0] * phi.shape[2], phi.shape[1])
    for s in range(len(cfg.engram_layers)):
        e = (f"engrams_{s}",)
        tables = _leaf(tree, e + ("embedding",), where)
        out[f"engram{s}.tables"] = tables.reshape(-1, tables.shape[-1]) if tables.ndim == 3 else tables
        out[f"engram{s}.key_proj"] = _leaf(tree, e + ("key_proj", "kernel"), where).T
        out[f"engram{s}.value_proj"] = _leaf(tree, e + ("value_proj", "kernel"), where).T
        out[f"engram{s}.taps"] = _leaf(tree, e + ("taps",), where)
    out["final_norm"] = _leaf(tree, st + ("final_norm", "scale"), where)
    for name, shape, _ in F.tensor_order(cfg):
        if out[name].shape != shape:
            raise CheckpointError(f"{where}: {name} has shape {out[name].shape}, the config gives {shape}")
        if not np.isfinite(out[name]).all():
            raise CheckpointError(f"{where}: {name} holds a value that is not finite")
    return out


def load_training_checkpoint(path):
    """A Needle 2 training pickle -> (Needle2Config, {name: float64 array})."""
    where = os.fspath(path)
    ckpt = read_pickle(path)
    if not isinstance(ckpt, dict) or ckpt.get("format_version") != FORMAT_VERSION:
        got = ckpt.get("format_version") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{where}: format_version {got!r}: not a Needle 2 training checkpoint "
                              f"(format_version {FORMAT_VERSION})")
    if not isinstance(ckpt.get("params"), dict) or not isinstance(ckpt.get("config"), dict):
        raise CheckpointError(f"{where}: the checkpoint has no 'params' and 'config' dicts")
    cfg = config_from_dict(ckpt["config"], where)
    return cfg, tree_to_tensors(ckpt["params"], cfg, where)
