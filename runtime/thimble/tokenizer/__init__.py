"""SentencePiece BPE tokenizer without the sentencepiece package: the .model
reader (spm_model), the encoder/decoder (bpe) and the image's TOKENIZER
section payload (payload_format, payload). See docs/tokenizer.md."""
from .bpe import Tokenizer, merge_ranks
from .payload import build_payload, parse_payload, tokenizer_from_payload
from .spm_model import SpmModel, TokenizerModelError, load_model, parse_model

__all__ = ["SpmModel", "Tokenizer", "TokenizerModelError", "build_payload", "load_model", "merge_ranks",
           "parse_model", "parse_payload", "tokenizer_from_payload"]
