"""One decoder loop over any engine: IntNeedle on a kernel backend
("reference", "numba", "c:portable", ...) or the C model runtime ("c").
Both give the same tokens and the same hidden-state CRC; the engine only
decides where the arithmetic runs."""
import dataclasses
import time

from ..kernels import get_backend, isa
from .decode import constrained_greedy
from .int_forward import IntNeedle

# the C model runtime, then every kernel backend (kernels/isa.py names the c:<isa> ones)
BACKENDS = ("c", "numba", "reference", *(f"c:{name}" for name in isa.HOST_ISAS))


@dataclasses.dataclass
class Answer:
    generation: object        # decode.Generation
    prompt_tokens: int
    crc: int                  # CRC-32 of every final-normed decoder row
    seconds_encode: float
    seconds_decode: float


class _PyEngine:
    def __init__(self, qm, backend):
        self.model = IntNeedle(qm, get_backend(backend))

    def encode(self, tokens):
        self.state = self.model.start_decoder(self.model.encode(tokens))

    def step(self, token):
        return self.model.decode_step(self.state, token)

    @property
    def crc(self):
        return self.state.crc


class _CEngine:
    def __init__(self, qm, image_bytes):
        from .c_model import CModel
        self.model = CModel(image_bytes)

    def encode(self, tokens):
        self.model.encode(tokens)

    def step(self, token):
        return self.model.decode_step(token)

    @property
    def crc(self):
        return self.model.crc


def make_engine(qm, backend, image_bytes=None):
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "c":
        if image_bytes is None:
            raise ValueError("the C model runtime runs from an image: pass its bytes")
        return _CEngine(qm, image_bytes)
    return _PyEngine(qm, backend)


def answer(engine, prompt_tokens, piece_bytes, grammar, *, special, max_new_tokens):
    """Encode the prompt once, then decode under the grammar."""
    t0 = time.perf_counter()
    engine.encode(prompt_tokens)
    t1 = time.perf_counter()
    gen = constrained_greedy(engine.step, piece_bytes, grammar, start_id=special["eos_id"],
                             eos_id=special["eos_id"], tool_call_id=special["tool_call_id"],
                             max_new_tokens=max_new_tokens)
    t2 = time.perf_counter()
    return Answer(gen, len(prompt_tokens), engine.crc, t1 - t0, t2 - t1)
