"""N2Model: the Needle 2 C runtime (runtime/device/needle2) on the host,
through cffi; bit-exact with IntNeedle2 (int_forward.py).

    m = N2Model(image_bytes, max_pos=256)
    logits = m.run(tokens)          # int32 [len(tokens), V]; one unit: image.logit_scale
    m.reset()

As CModel does for Needle v1, the image is copied once into an aligned
buffer this object keeps alive: the C side binds the weights by pointer."""
import os
import pathlib

import numpy as np

from .. import _kernels
from ..kernels import c_backend
from ..sim.c_model import CModelError, _aligned

ffi, lib = _kernels.ffi, _kernels.lib


class N2Model:
    def __init__(self, image, max_pos=None, verify_hash=True, isa=None):
        """max_pos: tokens a sequence may hold (default: the image's RoPE positions)."""
        self.isa = isa or os.environ.get("THIMBLE_ISA") or c_backend.best_isa()
        if self.isa not in c_backend.ISAS or not c_backend.isa_available(self.isa):
            raise CModelError(f"instruction set {self.isa!r} is not available here", lib.THM_N2_E_ARG)
        data = pathlib.Path(image).read_bytes() if isinstance(image, (str, pathlib.Path)) else bytes(image)
        self._image = _aligned(len(data))
        self._image[:] = np.frombuffer(data, np.uint8)
        self._img = ffi.new("thm_image *")
        err = lib.thm_image_open(self._img, ffi.cast("const uint8_t *", self._image.ctypes.data), len(data))
        if err == 0 and verify_hash:
            err = lib.thm_image_verify(self._img)
        if err:
            raise CModelError(f"image refused: {ffi.string(lib.thm_image_strerror(err)).decode()}", err)
        self._m = ffi.new("thm_n2 *")
        err = lib.thm_n2_bind(self._m, self._img)
        if err:
            name = ffi.string(lib.thm_n2_error_name(self._m)).decode()
            what = ffi.string(lib.thm_n2_strerror(err)).decode()
            raise CModelError(f"image refused: {what}" + (f": {name}" if name else ""), err, name)
        from ..image.reader import parse_image
        self.config = parse_image(data, verify_hash=False).config
        self.vocab_size = self._m.V
        self.image_positions = self._m.n_pos
        self.max_pos = self.image_positions if max_pos is None else int(max_pos)
        size = self.arena_size(self.max_pos)
        if not size:
            raise CModelError(f"max_pos {self.max_pos} is outside 1 .. the image's positions", lib.THM_N2_E_ARG)
        self.arena_bytes = size
        self._arena = _aligned(size)
        self._check(lib.thm_n2_init(self._m, ffi.cast("void *", self._arena.ctypes.data), size, self.max_pos),
                    "init")
        self._argmax = ffi.new("int32_t *")

    def arena_size(self, max_pos):
        """Arena bytes for max_pos positions; 0 if out of range."""
        return lib.thm_n2_arena_size(self._m, int(max_pos)) if 1 <= max_pos < 2**31 else 0

    def arena_items(self, max_pos):
        """[(name, bytes)] of the arena for max_pos positions (thm_n2_arena_items)."""
        names, sizes = ffi.new("const char *[8]"), ffi.new("uint64_t[8]")
        n = lib.thm_n2_arena_items(self._m, int(max_pos), names, sizes, 8)
        return [(ffi.string(names[i]).decode(), int(sizes[i])) for i in range(n)]

    def _check(self, err, what):
        if err:
            raise CModelError(f"{what}: {ffi.string(lib.thm_n2_strerror(err)).decode()}", err)

    @property
    def length(self):
        return self._m.length

    def reset(self):
        self._check(lib.thm_n2_reset(self._m), "reset")

    def step(self, token):
        """One token: int32 logits [V]."""
        c_backend.select_isa(self.isa)
        out = np.zeros(self.vocab_size, np.int32)
        self._check(lib.thm_n2_step(self._m, int(token), ffi.cast("int32_t *", out.ctypes.data), self._argmax),
                    "step")
        return out

    def run(self, tokens):
        return np.stack([self.step(t) for t in tokens])
