"""An image, its tokenizer and a backend, ready to answer prompts: what
`thimble sim`, `thimble eval` and the device comparison tests share."""
import json

from ..app.prompt import build_encoder_input, normalize_tools, restore_tool_names
from ..quant import from_image
from ..tokenizer.bpe import Tokenizer
from ..tokenizer.payload import parse_payload
from ..tokenizer.spm_model import BYTE, NORMAL
from .device_checks import check_image, check_request
from .engine import answer, make_engine
from .grammar import ToolGrammar

WS = "\u2581".encode()


def piece_bytes(model):
    """Bytes each token adds to an answer: normal pieces with U+2581 as a
    space, byte pieces as their byte; None for control, unknown and
    user-defined ids (<tool_call>, <tools>), which never appear inside it."""
    out = []
    for piece, kind in zip(model.pieces, model.types):
        if kind == BYTE:
            out.append(bytes([int(piece[3:5], 16)]))
        elif kind == NORMAL:
            out.append(piece.replace(WS, b" "))
        else:
            out.append(None)
    return out


def tool_keys(tools):
    """{snake_case name: [argument keys]} for the grammar (names as the prompt shows them)."""
    return {t["name"]: list(t.get("parameters", {})) for t in json.loads(normalize_tools(tools)[0])}


class Session:
    def __init__(self, image_path, backend="c"):
        with open(image_path, "rb") as f:
            self.image_bytes = f.read()
        self.qm, self.image = from_image(self.image_bytes)
        check_image(self.image_bytes)         # the board's checks, in its own C
        if self.image.tokenizer is None:
            raise ValueError(f"{image_path}: the image carries no tokenizer (convert it with --tokenizer)")
        self.spm = parse_payload(self.image.tokenizer)
        self.tokenizer = Tokenizer(self.spm)
        if len(self.spm.pieces) != self.qm.config.vocab_size:
            raise ValueError(f"{image_path}: tokenizer has {len(self.spm.pieces)} pieces, "
                             f"the model {self.qm.config.vocab_size}")
        self.pieces = piece_bytes(self.spm)
        self.special = {k: v for k, v in self.image.config.items() if k.endswith("_id")}
        self.backend = backend
        self.engine = make_engine(self.qm, backend, self.image_bytes)

    @property
    def max_prompt_tokens(self):
        """The most prompt tokens the image takes: the device's rule (thm_app.c), so
        the host and the board refuse the same prompts."""
        return min(self.qm.rope_n_pos, int(self.image.config.get("max_enc_len", self.qm.rope_n_pos)))

    def encoder_input(self, query, tools, truncate=False):
        return build_encoder_input(self.tokenizer, query, tools, self.max_prompt_tokens,
                                   tools_id=self.special["tools_id"], truncate=truncate)

    def ask(self, query, tools, *, max_new_tokens=96, truncate=False):
        """-> dict: calls (original tool names), text, tokens, crc, timings. A prompt
        over max_prompt_tokens raises PromptTooLong unless truncate."""
        from ..app.request import build_request
        # the request a board would get, checked by the board's own C parser and
        # grammar: whatever a board refuses (an empty query, a repeated tool name,
        # a limit), the simulator refuses with the same message
        check_request(build_request(query, tools, max_new_tokens, truncate)[0])
        ids, name_map = self.encoder_input(query, tools, truncate)
        ans = answer(self.engine, ids, self.pieces, ToolGrammar(tool_keys(tools)), special=self.special,
                     max_new_tokens=max_new_tokens)
        gen = ans.generation
        text = self.tokenizer.decode_bytes(gen.tokens[1:]).decode("utf-8", "replace")
        calls = restore_tool_names(json.loads(text), name_map) if gen.complete else None
        return {"calls": calls, "complete": gen.complete, "text": text, "prompt_tokens": len(ids),
                "tokens": gen.tokens, "decoder_steps": gen.steps, "crc": f"{ans.crc:08x}",
                "backend": self.backend,
                "seconds": {"encode": ans.seconds_encode, "decode": ans.seconds_decode}}
