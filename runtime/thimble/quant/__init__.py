"""The quantizer: float Needle + calibration prompts -> the integer model."""
from .calibrate import Calibration, calibrate, random_prompts
from .image import from_image, to_image
from .quantize import Margins, QuantizeError, QuantModel, quantize

__all__ = ["Calibration", "calibrate", "random_prompts", "Margins", "QuantizeError", "QuantModel", "quantize", "to_image", "from_image"]
