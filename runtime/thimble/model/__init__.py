"""Needle v1 in float: config, checkpoint loaders, the float reference forward.

    from thimble.model import load_checkpoint, FloatNeedle
    model = load_checkpoint("needle.pkl")        # or .safetensors, or a Cactus export folder
    fm = FloatNeedle(model)
    enc = fm.encode(tokens)                       # [B, T] -> hidden [B, T, d]
    cache = fm.start_decoder(enc)                 # cross-attention K/V, once
    logits = fm.decode_step(cache, [[1]])         # [B, 1, V]; eos starts the decoder

docs/checkpoints.md describes the formats and where each fact comes from.
"""
import os

from .cactus_weights import load_cactus_folder, read_weights_file, save_cactus_folder
from .config import RELEASED, ConfigError, NeedleConfig
from .float_forward import DecoderCache, EncoderOutput, FloatNeedle
from .needle_pickle import load_needle_pickle
from .params import CheckpointError, NeedleModel, TensorSpec, parameter_count, tensor_specs
from .safetensors import load_safetensors, save_safetensors

__all__ = ["NeedleConfig", "RELEASED", "ConfigError", "CheckpointError", "NeedleModel", "TensorSpec",
           "tensor_specs", "parameter_count", "load_checkpoint", "load_needle_pickle", "load_safetensors",
           "load_cactus_folder", "read_weights_file", "save_safetensors", "save_cactus_folder",
           "FloatNeedle", "EncoderOutput", "DecoderCache"]


def load_checkpoint(path, *, strict=False):
    """Any supported checkpoint -> NeedleModel: a folder is a Cactus export,
    a file starting with the pickle protocol byte is Needle's pickle, a
    .safetensors file is safetensors. Never executes anything from the file."""
    path = os.fspath(path)
    try:
        return _load(path, strict)
    except CheckpointError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, MemoryError) as e:
        # each loader bounds its work and names what it refuses; a hostile file that gets
        # past them still gets one line, never a traceback
        raise CheckpointError(f"{path}: not a loadable checkpoint: {type(e).__name__}: {e}") from None


def _load(path, strict):
    if os.path.isdir(path):
        return load_cactus_folder(path, strict=strict)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e}") from None
    if path.endswith(".safetensors"):
        return load_safetensors(path, strict=strict)
    if head[:1] == b"\x80" or path.endswith((".pkl", ".pickle")):
        return load_needle_pickle(path, strict=strict)
    raise CheckpointError(f"{path}: not a Needle pickle, a .safetensors file or a Cactus export folder")
