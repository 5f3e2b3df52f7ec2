"""Reads a SentencePiece `.model` file (a ModelProto) into plain Python data,
and refuses any setting that thimble's encoder does not reproduce exactly.

Supported (what Needle trains with): model_type BPE, identity normalisation
(no precompiled_charsmap, no denormaliser), escape_whitespaces on,
treat_whitespace_as_suffix off, add_dummy_prefix and remove_extra_whitespaces
either way, byte_fallback either way, piece types NORMAL, UNKNOWN, CONTROL,
USER_DEFINED and BYTE. Refused: UNUSED pieces, unigram/word/char models,
any normalisation table.
"""
import dataclasses
import pathlib
import struct

from .protobuf import FIXED32, LEN, VARINT, ProtobufError, as_int32, fields

MAX_MODEL_BYTES = 64 << 20   # Needle's 8192-piece model is ~370 KB
MAX_PIECES = 65536
MAX_PIECE_BYTES = 255        # SentencePiece caps learnt pieces at 16 characters (64 bytes)
MAX_USER_DEFINED = 64        # the encoder tries each of them at every position
MAX_UNK_SURFACE = 64

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
PIECE_TYPES = {NORMAL: "NORMAL", UNKNOWN: "UNKNOWN", CONTROL: "CONTROL",
               USER_DEFINED: "USER_DEFINED", UNUSED: "UNUSED", BYTE: "BYTE"}
MODEL_TYPE_BPE = 2
DEFAULT_UNK_SURFACE = " \u2047 ".encode()


class TokenizerModelError(ValueError):
    """The .model file is malformed or uses a setting thimble does not implement."""


@dataclasses.dataclass(frozen=True)
class SpmModel:
    pieces: tuple          # (bytes,) x V: each piece's UTF-8 text
    scores: tuple          # (float,) x V: float32 values, higher merges first
    types: tuple           # (int,) x V: NORMAL .. BYTE
    add_dummy_prefix: bool
    remove_extra_whitespaces: bool
    byte_fallback: bool
    unk_surface: bytes     # what an <unk> id decodes to

    @property
    def unk_id(self):
        return self.types.index(UNKNOWN)


def _string(value, what):
    b = bytes(value)
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenizerModelError(f"{what} is not valid UTF-8") from None
    return b


def _piece(value, index):
    text, score, kind = None, 0.0, NORMAL
    for number, wire, v in fields(value):
        if number == 1 and wire == LEN:
            text = _string(v, f"piece {index}")
        elif number == 2 and wire == FIXED32:
            score = struct.unpack("<f", v.to_bytes(4, "little"))[0]
        elif number == 3 and wire == VARINT:
            kind = as_int32(v)
    if not text:
        raise TokenizerModelError(f"piece {index} is empty")
    if len(text) > MAX_PIECE_BYTES:
        raise TokenizerModelError(f"piece {index} is {len(text)} bytes (limit {MAX_PIECE_BYTES})")
    if kind not in PIECE_TYPES:
        raise TokenizerModelError(f"piece {index} has unknown type {kind}")
    if kind == CONTROL and len(text.decode("utf-8")) == 1:
        # sentencepiece would emit it for that character without consuming it
        raise TokenizerModelError(f"control piece {index} {text!r} is a single character: not supported")
    if kind == UNUSED:
        raise TokenizerModelError(f"piece {index} {text!r} is UNUSED: unused pieces are not supported")
    return text, score, kind


def _trainer(value):
    out = {"model_type": 1, "byte_fallback": False, "treat_whitespace_as_suffix": False,
           "unk_surface": DEFAULT_UNK_SURFACE}
    for number, wire, v in fields(value):
        if number == 3 and wire == VARINT:
            out["model_type"] = as_int32(v)
        elif number == 35 and wire == VARINT:
            out["byte_fallback"] = bool(v)
        elif number == 24 and wire == VARINT:
            out["treat_whitespace_as_suffix"] = bool(v)
        elif number == 44 and wire == LEN:
            out["unk_surface"] = _string(v, "unk_surface")
    return out


def _normalizer(value):
    out = {"name": "", "charsmap": b"", "add_dummy_prefix": True,
           "remove_extra_whitespaces": True, "escape_whitespaces": True}
    for number, wire, v in fields(value):
        if number == 1 and wire == LEN:
            out["name"] = bytes(v).decode("utf-8", "replace")
        elif number == 2 and wire == LEN:
            out["charsmap"] = bytes(v)
        elif number == 3 and wire == VARINT:
            out["add_dummy_prefix"] = bool(v)
        elif number == 4 and wire == VARINT:
            out["remove_extra_whitespaces"] = bool(v)
        elif number == 5 and wire == VARINT:
            out["escape_whitespaces"] = bool(v)
    return out


def parse_model(data):
    """SpmModel from the bytes of a `.model` file; TokenizerModelError if it
    is malformed or uses something thimble does not implement."""
    if len(data) > MAX_MODEL_BYTES:
        raise TokenizerModelError(f"model is {len(data)} bytes (limit {MAX_MODEL_BYTES})")
    pieces, trainer, norm, denorm = [], None, None, None
    try:
        for number, wire, v in fields(data):
            if number == 1 and wire == LEN:
                if len(pieces) >= MAX_PIECES:
                    raise TokenizerModelError(f"more than {MAX_PIECES} pieces")
                pieces.append(_piece(v, len(pieces)))
            elif number == 2 and wire == LEN:
                trainer = _trainer(v)
            elif number == 3 and wire == LEN:
                norm = _normalizer(v)
            elif number == 5 and wire == LEN:
                denorm = _normalizer(v)
    except ProtobufError as e:
        raise TokenizerModelError(f"not a SentencePiece model: {e}") from None
    if not pieces:
        raise TokenizerModelError("model has no pieces")
    trainer = trainer or _trainer(b"")
    norm = norm or _normalizer(b"")
    if trainer["model_type"] != MODEL_TYPE_BPE:
        raise TokenizerModelError(f"model_type {trainer['model_type']} is not BPE (2): only BPE is supported")
    if norm["charsmap"]:
        raise TokenizerModelError(f"normalization rule {norm['name']!r} has a character map: "
                                  "only identity normalisation is supported")
    if denorm is not None and denorm["charsmap"]:
        raise TokenizerModelError("a denormalizer is not supported")
    if not norm["escape_whitespaces"]:
        raise TokenizerModelError("escape_whitespaces=false is not supported")
    if trainer["treat_whitespace_as_suffix"]:
        raise TokenizerModelError("treat_whitespace_as_suffix=true is not supported")
    if len(trainer["unk_surface"]) > MAX_UNK_SURFACE:
        raise TokenizerModelError(f"unk_surface longer than {MAX_UNK_SURFACE} bytes")
    texts = [p[0] for p in pieces]
    types = [p[2] for p in pieces]
    if len(set(texts)) != len(texts):
        dup = next(t for t in texts if texts.count(t) > 1)
        raise TokenizerModelError(f"piece {dup!r} is defined twice")
    if types.count(UNKNOWN) != 1:
        raise TokenizerModelError(f"model needs exactly one UNKNOWN piece, has {types.count(UNKNOWN)}")
    if types.count(USER_DEFINED) > MAX_USER_DEFINED:
        raise TokenizerModelError(f"more than {MAX_USER_DEFINED} user-defined symbols")
    byte_ids = [i for i, t in enumerate(types) if t == BYTE]
    if byte_ids and not trainer["byte_fallback"]:
        raise TokenizerModelError("byte pieces present although byte_fallback is false")
    if trainer["byte_fallback"]:
        want = {f"<0x{b:02X}>".encode() for b in range(256)}
        have = {texts[i] for i in byte_ids}
        if have != want or len(byte_ids) != 256:
            raise TokenizerModelError("byte_fallback needs exactly the 256 pieces <0x00> .. <0xFF>")
    return SpmModel(tuple(texts), tuple(p[1] for p in pieces), tuple(types),
                    norm["add_dummy_prefix"], norm["remove_extra_whitespaces"],
                    trainer["byte_fallback"], trainer["unk_surface"])


def load_model(path):
    path = pathlib.Path(path)
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise TokenizerModelError(f"{path}: {size} bytes (limit {MAX_MODEL_BYTES})")
    return parse_model(path.read_bytes())
