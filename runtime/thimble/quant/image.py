"""QuantModel <-> .thm image: the one place that maps the integer model onto
the image's CONFIG section and tensor table (the device binds the same names).

Special ids are Needle's: pad 0, eos 1, bos 2, unk 3, <tool_call> 4, <tools> 5.

Weight layout: an image for a board carries every block's q, k, v, o
projection packed in that board's fast-path layout (layout names are
image.format.LAYOUTS: row_major, s8_r8k64, s16_r4k16). The embedding stays
row-major: the device looks its rows up for the embedding and reads it again
as the tied head through the int32-output matmul, which has no packed form
(packing it would need a second copy in flash). from_image unpacks, so the
Python backends run any image; the C runtime runs the packed bytes.

int4 projections (weight_bits 4) are written as dtype int4 [N, K], row-major,
two a byte (kernels/reference.py pack_s4), whatever the board's layout: the
int8 ones of the same image are packed in it, the int4 ones stay rows.
"""
import hashlib

import numpy as np

from ..image import Tensor, build_image, parse_image, read_image
from ..image import format as fmt
from ..kernels import layouts
from ..model.config import NeedleConfig
from .quantize import QuantModel
from .tensors import check_tensors, int4_names, projections, tensor_table

LAYOUT_CODES = {name: code for code, name in fmt.LAYOUTS.items()}

SPECIAL_IDS = dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3, tool_call_id=4, tools_id=5)


def image_config(qm):
    c = qm.config
    return dict(vocab_size=c.vocab_size, d_model=c.d_model, n_enc_layers=c.num_encoder_layers,
                n_dec_layers=c.num_decoder_layers, n_heads=c.num_heads, n_kv_heads=c.num_kv_heads,
                head_dim=c.head_dim, max_enc_len=qm.rope_n_pos,
                max_dec_len=min(qm.max_dec_len or qm.rope_n_pos, qm.rope_n_pos),
                rope_n_pos=qm.rope_n_pos, weight_bits=4 if int4_names(qm.tensors) else 8, **SPECIAL_IDS)


def layout_code(layout):
    if layout not in LAYOUT_CODES:
        raise ValueError(f"unknown weight layout {layout!r} (known: {', '.join(LAYOUT_CODES)})")
    return LAYOUT_CODES[layout]


def _image_tensors(qm, layout):
    check_tensors(qm.config, qm.rope_n_pos, qm.tensors)
    code = layout_code(layout)
    int4 = int4_names(qm.tensors)
    packed = set(projections(qm.config)) - int4 if code else set()
    out = []
    for n in tensor_table(qm.config, qm.rope_n_pos, int4):
        a = np.ascontiguousarray(qm.tensors[n])
        if n in int4:
            K = qm.config.d_model if n[-1] != "o" else qm.config.q_dim
            out.append(Tensor(n, a, "int4", (a.shape[0], K)))
        elif n in packed:
            out.append(Tensor(n, np.frombuffer(layouts.pack(a, code), np.uint8), "int8", a.shape, layout))
        else:
            out.append(Tensor(n, a))
    return out


def to_image(qm, tokenizer_blob=None, source_id=b"", layout="row_major"):
    """The image bytes of a QuantModel. source_id: bytes identifying the
    checkpoint (its first 16 bytes of SHA-256 become the header's model_id);
    layout: how the projections are stored (a board's: image.board_layout)."""
    tensors = _image_tensors(qm, layout)
    model_id = hashlib.sha256(source_id).digest()[:16] if source_id else b""
    return build_image(image_config(qm), tensors, tokenizer_blob, model_id)


def repack(src, layout, verify_hash=True):
    """An image (path or bytes) with its projections stored in `layout`
    instead: the same model, tokenizer and model_id; the same answers."""
    qm, img = from_image(src, verify_hash)
    return build_image(image_config(qm), _image_tensors(qm, layout), img.tokenizer, bytes(img.header["model_id"]))


def board_layout(board):
    """The layout a board's fast path reads best (row_major if it has none)."""
    best = layouts.board_layouts(board.features)
    return fmt.LAYOUTS[best[0]] if best else "row_major"


def _unpacked(img, config):
    """img.tensors with the packed projections back in row-major int8 [N, K];
    the same rules as thm_model_bind: all projections in the header's layout, nothing else."""
    tensors = dict(img.tensors)
    proj = set(projections(config))
    int4 = {n for n, info in img.tensor_info.items() if info["dtype"] == "int4"}
    if int4 - proj - {"embed"}:
        raise ValueError(f"tensor {sorted(int4 - proj - {'embed'})[0]}: int4, but only q, k, v, o projections "
                         f"and the embedding may be")
    if (img.config["weight_bits"] == 4) != bool(int4):
        raise ValueError(f"image config: weight_bits {img.config['weight_bits']}, but "
                         f"{len(int4)} projections are int4 (weight_bits 4 if any is, else 8)")
    want = proj - int4 if img.weight_layout != "row_major" else set()
    for name, info in img.tensor_info.items():
        if (info["layout"] != "row_major") != (name in want):
            raise ValueError(f"tensor {name}: layout {info['layout']} in an image whose projections are "
                             f"{img.weight_layout} (only int8 q, k, v, o may be packed, and all of them)")
        if name in want:
            N, K = info["dims"]
            try:
                tensors[name] = layouts.unpack(bytes(img.tensors[name]), LAYOUT_CODES[info["layout"]], N, K)
            except ValueError as e:
                raise ValueError(f"tensor {name}: {e}") from None
    return tensors


def from_image(src, verify_hash=True):
    """A path or bytes -> (QuantModel, Image). Raises ImageError/ValueError
    naming what does not fit the integer model."""
    img = parse_image(src, verify_hash) if isinstance(src, (bytes, bytearray, memoryview)) \
        else read_image(src, verify_hash)
    k = img.config
    if k["weight_bits"] not in (8, 4):
        raise ValueError(f"image has {k['weight_bits']}-bit weights; this runtime runs 8-bit and 4-bit images")
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
    tensors = _unpacked(img, config)
    check_tensors(config, k["rope_n_pos"], tensors)
    return QuantModel(config, tensors, k["rope_n_pos"], {}, k["max_dec_len"]), img
