"""Random Needle checkpoints of any config, in every format a user may hold.

Weights follow the original initialisers (needle/model/architecture.py):
embedding and q/k/v kernels ~ N(0, 0.02), out_proj ~ N(0, 0.02 / sqrt(2 L))
with L the total layer count. Norm scales and gate logits start at zero in
the original; here they get small random values (N(0, norm_std), N(0,
gate_std)) so that every tensor moves the output and a loader or kernel that
swaps two of them is caught. `weight_scale` multiplies the matrices, for
tests that want attention patterns sharper than at initialisation.

    model = random_model(NeedleConfig(d_model=64, ...), seed=1)
    save_needle_pickle(model, "m.pkl")          # Needle's own format (float16 params)
    save_safetensors(model, "m.safetensors")    # flax tree names joined by "/"
    save_cactus_folder(model, "m_cactus", precision="INT8")
    write_all(model, tmpdir)                    # all of them, returns the paths
"""
import math
import os
import pickle

import numpy as np

from .cactus_weights import save_cactus_folder
from .config import NeedleConfig
from .flax_tree import tensors_to_tree, unflatten
from .params import NeedleModel, tensor_specs
from .safetensors import save_safetensors

__all__ = ["random_model", "tiny_config", "save_needle_pickle", "save_safetensors", "save_cactus_folder",
           "write_all"]


def tiny_config(**overrides):
    """A small model of the released family (GQA, even head_dim), fast to run."""
    base = dict(vocab_size=96, d_model=32, num_heads=4, num_kv_heads=2, num_encoder_layers=2,
                num_decoder_layers=2, d_ff=64, max_seq_len=64, dtype="float32")
    base.update(overrides)
    return NeedleConfig(**base)


def random_model(config, seed=0, *, contrastive=True, weight_scale=1.0, norm_std=0.1, gate_std=0.5):
    rng = np.random.default_rng(seed)
    resid_std = 0.02 / math.sqrt(2 * config.total_layers)
    tensors = {}
    for name, spec in tensor_specs(config).items():
        if not spec.required and not contrastive:
            continue
        if spec.kind in ("embedding", "linear"):
            std = resid_std if name.endswith((".o", ".ffn.down")) else 0.02
            a = rng.normal(0.0, std * weight_scale, spec.shape)
        elif spec.kind == "norm":
            a = rng.normal(0.0, norm_std, spec.shape)
        elif spec.kind == "gate":
            a = rng.normal(0.0, gate_std, spec.shape)
        else:   # contrastive bias and log_temp
            a = rng.normal(0.0, 0.02, spec.shape)
        tensors[name] = a.astype(np.float32)
    return NeedleModel.build(config, tensors, source=f"random_model(seed={seed})")


def save_needle_pickle(model, path, *, dtype=np.float16, config_keys=None, protocol=pickle.DEFAULT_PROTOCOL,
                       extra=None):
    """Write Needle's checkpoint: pickle of {"params": nested flax tree,
    "config": the explicitly passed fields}, params cast to float16 like the
    original trainer. config_keys: which config fields to store (default: the
    ones the original trainer passes plus any that differ from the defaults;
    "all" for every field)."""
    keys = tuple(model.config.to_dict()) if config_keys == "all" else config_keys
    payload = {"params": unflatten(tensors_to_tree(model, dtype=dtype)),
               "config": model.config.explicit_dict(keys)}
    payload.update(extra or {})
    with open(path, "wb") as f:
        pickle.dump(payload, f, protocol=protocol)


def write_all(model, folder, *, cactus_precisions=("INT8", "INT4", "FP16")):
    """The model in every format under folder: needle.pkl, needle.safetensors,
    cactus_<precision>/ for each precision. Returns {label: path}."""
    os.makedirs(folder, exist_ok=True)
    out = {"pickle": os.path.join(folder, "needle.pkl"),
           "safetensors": os.path.join(folder, "needle.safetensors")}
    save_needle_pickle(model, out["pickle"])
    save_safetensors(model, out["safetensors"])
    for p in cactus_precisions:
        out[f"cactus_{p}"] = os.path.join(folder, f"cactus_{p.lower()}")
        save_cactus_folder(model, out[f"cactus_{p}"], precision=p)
    return out
