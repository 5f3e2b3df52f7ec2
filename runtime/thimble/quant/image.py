"""QuantModel <-> .thm image: the one place that maps the integer model onto
the image's CONFIG section and tensor table (the device binds the same names).

Special ids are Needle's: pad 0, eos 1, bos 2, unk 3, <tool_call> 4, <tools> 5.
"""
import hashlib

import numpy as np

from ..image import Tensor, build_image, parse_image, read_image
from ..model.config import NeedleConfig
from .quantize import QuantModel
from .tensors import check_tensors, tensor_table

SPECIAL_IDS = dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3, tool_call_id=4, tools_id=5)


def image_config(qm):
    c = qm.config
    return dict(vocab_size=c.vocab_size, d_model=c.d_model, n_enc_layers=c.num_encoder_layers,
                n_dec_layers=c.num_decoder_layers, n_heads=c.num_heads, n_kv_heads=c.num_kv_heads,
                head_dim=c.head_dim, max_enc_len=qm.rope_n_pos, max_dec_len=qm.rope_n_pos,
                rope_n_pos=qm.rope_n_pos, weight_bits=8, **SPECIAL_IDS)


def to_image(qm, tokenizer_blob=None, source_id=b""):
    """The image bytes of a QuantModel. source_id: bytes identifying the
    checkpoint (its first 16 bytes of SHA-256 become the header's model_id)."""
    check_tensors(qm.config, qm.rope_n_pos, qm.tensors)
    names = list(tensor_table(qm.config, qm.rope_n_pos))
    tensors = [Tensor(n, np.ascontiguousarray(qm.tensors[n])) for n in names]
    model_id = hashlib.sha256(source_id).digest()[:16] if source_id else b""
    return build_image(image_config(qm), tensors, tokenizer_blob, model_id)


def from_image(src, verify_hash=True):
    """A path or bytes -> (QuantModel, Image). Raises ImageError/ValueError
    naming what does not fit the integer model."""
    img = parse_image(src, verify_hash) if isinstance(src, (bytes, bytearray, memoryview)) \
        else read_image(src, verify_hash)
    k = img.config
    if k["weight_bits"] != 8:
        raise ValueError(f"image has {k['weight_bits']}-bit weights; this runtime runs 8-bit images")
    if k["n_heads"] * k["head_dim"] % max(k["n_heads"], 1) or k["n_heads"] < 1:
        raise ValueError("image config: bad head count")
    config = NeedleConfig(vocab_size=k["vocab_size"], d_model=k["d_model"], num_heads=k["n_heads"],
                          num_kv_heads=k["n_kv_heads"], num_encoder_layers=k["n_enc_layers"],
                          num_decoder_layers=k["n_dec_layers"], max_seq_len=k["max_enc_len"],
                          dtype="float32")
    if config.head_dim != k["head_dim"]:
        raise ValueError(f"image config: head_dim {k['head_dim']} != d_model / n_heads = {config.head_dim}")
    for name, v in SPECIAL_IDS.items():
        if k[name] != v:
            raise ValueError(f"image config: {name} is {k[name]}, Needle's is {v}")
    check_tensors(config, k["rope_n_pos"], img.tensors)
    return QuantModel(config, dict(img.tensors), k["rope_n_pos"], {}), img
