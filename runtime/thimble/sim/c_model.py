"""CModel: the C model runtime (runtime/device/model) on the host, through
cffi. The simulator's "c" backend; bit-exact with IntNeedle (int_forward.py)
on the reference kernels: same logits, same hidden-state CRC, same encoder
output.

    m = CModel("model.thm", max_enc=256, max_dec=48)
    m.encode(prompt_tokens)
    logits = m.decode_step(bos)       # int32 [V]
    m.crc                             # zlib CRC-32 over the final-normed decoder rows

The image bytes are copied once into a 64-byte aligned buffer that this
object keeps alive: the C side binds weights by pointer (as it reads flash in
place on a board) and never copies them.
"""
import os
import pathlib

import numpy as np

from .. import _kernels
from ..kernels import c_backend

ffi, lib = _kernels.ffi, _kernels.lib
ALIGN = 64


class CModelError(ValueError):
    """The C runtime refused an image, an argument or a call; .code is the THM_MODEL_E_* / THM_IMG_E_* value."""

    def __init__(self, message, code=0, tensor=""):
        super().__init__(message)
        self.code = code
        self.tensor = tensor


def _aligned(nbytes):
    """A zeroed uint8 array of nbytes whose data is ALIGN-aligned."""
    raw = np.zeros(nbytes + ALIGN, np.uint8)
    off = (-raw.ctypes.data) % ALIGN
    return raw[off:off + nbytes]


class CModel:
    def __init__(self, image, max_enc=None, max_dec=None, verify_hash=True, isa=None, with_arena=True):
        """isa: the matmul instruction set (portable, avx2, avxvnni, avx512vnni, amx); None: $THIMBLE_ISA or the best
        this CPU runs. It is a process-wide kernel setting, so it is selected again before every call.
        with_arena=False binds only (for arena_size, as `thimble plan` does): nothing can run."""
        self.isa = isa or os.environ.get("THIMBLE_ISA") or c_backend.best_isa()
        if self.isa not in c_backend.ISAS or not c_backend.isa_available(self.isa):
            raise CModelError(f"instruction set {self.isa!r} is not available here", lib.THM_MODEL_E_ARG)
        data = pathlib.Path(image).read_bytes() if isinstance(image, (str, pathlib.Path)) else bytes(image)
        self._image = _aligned(len(data))
        self._image[:] = np.frombuffer(data, np.uint8)
        self._img = ffi.new("thm_image *")
        base = ffi.cast("const uint8_t *", self._image.ctypes.data)
        err = lib.thm_image_open(self._img, base, len(data))
        if err == 0 and verify_hash:
            err = lib.thm_image_verify(self._img)
        if err:
            raise CModelError(f"image refused: {ffi.string(lib.thm_image_strerror(err)).decode()}", err)
        self._m = ffi.new("thm_model *")
        err = lib.thm_model_bind(self._m, self._img)
        if err:
            name = ffi.string(lib.thm_model_error_name(self._m)).decode()
            what = ffi.string(lib.thm_model_strerror(err)).decode()
            raise CModelError(f"image refused: {what}" + (f": {name}" if name else ""), err, name)
        m = self._m
        self.vocab_size, self.d_model = m.V, m.d
        self.max_enc_len, self.max_dec_len = m.max_enc_len, m.max_dec_len
        self.max_enc = self.max_enc_len if max_enc is None else int(max_enc)
        self.max_dec = self.max_dec_len if max_dec is None else int(max_dec)
        if not with_arena:
            return
        size = self.arena_size(self.max_enc, self.max_dec)
        self._arena = _aligned(size)
        self._check(lib.thm_model_init(self._m, ffi.cast("void *", self._arena.ctypes.data), size,
                                       self.max_enc, self.max_dec), "init")
        self._logits = np.zeros(self.vocab_size, np.int32)
        self._argmax = ffi.new("int32_t *")

    def _check(self, err, what):
        if err:
            raise CModelError(f"{what}: {ffi.string(lib.thm_model_strerror(err)).decode()}", err)

    def arena_size(self, max_enc, max_dec):
        """Arena bytes for prompts up to max_enc tokens and max_dec generated tokens (the C formula)."""
        if not (1 <= max_enc <= self.max_enc_len and 1 <= max_dec <= self.max_dec_len):
            raise CModelError(f"max_enc must be 1..{self.max_enc_len} and max_dec 1..{self.max_dec_len}, "
                              f"got {max_enc}, {max_dec}", lib.THM_MODEL_E_ARG)
        size = int(lib.thm_model_arena_size(self._m, max_enc, max_dec))
        if not size:    # the C plan refuses what a 32-bit board could not even address
            raise CModelError(f"image refused: its arena for {max_enc} prompt and {max_dec} generated tokens "
                              f"exceeds {lib.THM_MODEL_ARENA_MAX >> 30} GiB, the most any runtime plans",
                              lib.THM_MODEL_E_ARENA)
        return size

    def arena_items(self, max_enc, max_dec):
        """[(buffer, bytes)]: the arena's buffers for these lengths, in layout order, as the C
        runtime lays them out (thm_model_arena_items); the bytes sum to arena_size."""
        self.arena_size(max_enc, max_dec)             # the same checks and message
        cap = 32
        names, sizes = ffi.new("const char *[]", cap), ffi.new("uint64_t[]", cap)
        n = lib.thm_model_arena_items(self._m, max_enc, max_dec, names, sizes, cap)
        return [(ffi.string(names[i]).decode(), int(sizes[i])) for i in range(n)]

    @property
    def arena_bytes(self):
        return int(self._m.arena_used)

    def encode(self, tokens):
        """Encode a prompt (1..max_enc tokens) and start a fresh decoder."""
        t = np.ascontiguousarray(tokens, dtype=np.int64)
        if t.ndim != 1 or not 1 <= t.size <= self.max_enc:
            raise CModelError(f"encoder input must be 1 to {self.max_enc} tokens, got shape {t.shape}",
                              lib.THM_MODEL_E_ARG)
        if t.min() < 0 or t.max() >= self.vocab_size:
            raise CModelError(f"token outside [0, {self.vocab_size})", lib.THM_MODEL_E_TOKEN)
        t32 = t.astype(np.int32)
        c_backend.select_isa(self.isa)
        self._check(lib.thm_model_encode(self._m, ffi.cast("const int32_t *", t32.ctypes.data), t32.size), "encode")

    @property
    def encoder_out(self):
        """int8 [T, d] copy of the encoder output; only until the first decode step reuses its buffer."""
        p = lib.thm_model_encoder_out(self._m)
        if p == ffi.NULL:
            raise CModelError("no encoder output: nothing encoded, or a decode step has reused it",
                              lib.THM_MODEL_E_STATE)
        n = self._m.n_enc * self.d_model
        return np.frombuffer(ffi.buffer(p, n), np.int8).reshape(self._m.n_enc, self.d_model).copy()

    def decode_step(self, token):
        """One decoder token -> comparable int32 logits [V] (a new array)."""
        self._check_token(token)
        out = np.empty(self.vocab_size, np.int32)
        c_backend.select_isa(self.isa)
        self._check(lib.thm_model_decode_step(self._m, int(token), ffi.cast("int32_t *", out.ctypes.data),
                                              self._argmax), "decode_step")
        return out

    def decode_argmax(self, token):
        """One decoder token -> the argmax token id (no logits copy)."""
        self._check_token(token)
        c_backend.select_isa(self.isa)
        self._check(lib.thm_model_decode_step(self._m, int(token), ffi.NULL, self._argmax), "decode_step")
        return int(self._argmax[0])

    def _check_token(self, token):
        if not 0 <= int(token) < self.vocab_size:
            raise CModelError(f"token {int(token)}: outside the vocabulary [0, {self.vocab_size})",
                              lib.THM_MODEL_E_TOKEN)

    @property
    def crc(self):
        return int(lib.thm_model_hidden_crc(self._m))

    @property
    def length(self):
        return int(lib.thm_model_length(self._m))


def app_check(image):
    """The board app's whole check of an image, its own C (thm_app_check: open,
    verify, bind, tokenizer payload, vocabulary, positions, the arena layout in
    64 bits, capped as on a 32-bit board), everything but the board's arena
    budget. -> {"max_enc", "max_dec", "need"} (need: the app's arena bytes);
    raises CModelError with the board's message and code (THM_APP_E_*)."""
    data = pathlib.Path(image).read_bytes() if isinstance(image, (str, pathlib.Path)) else bytes(image)
    buf = _aligned(len(data))          # a board reads its slot in place, 64-byte aligned
    buf[:] = np.frombuffer(data, np.uint8)
    am = ffi.new("thm_app_model *")
    msg = ffi.new("char[]", 160)
    err = lib.thm_app_check(am, ffi.cast("const uint8_t *", buf.ctypes.data), len(data), msg, 160)
    if err:
        raise CModelError(ffi.string(msg).decode("utf-8", "replace"), err)
    return {"max_enc": int(am.max_enc), "max_dec": int(am.max_dec), "need": int(am.need)}
