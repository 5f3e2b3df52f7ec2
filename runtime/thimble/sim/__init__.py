"""The host simulator: the integer model over a kernel backend."""
from .int_forward import IntDecoderState, IntNeedle

__all__ = ["IntNeedle", "IntDecoderState"]
