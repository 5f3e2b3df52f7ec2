"""The .thm model image: format table, writer, reader."""
from .format import MAGIC, VERSION_MAJOR, VERSION_MINOR
from .reader import Image, parse_image, read_image
from .writer import ImageError, Tensor, build_image, write_image

__all__ = ["MAGIC", "VERSION_MAJOR", "VERSION_MINOR", "Image", "ImageError", "Tensor",
           "build_image", "parse_image", "read_image", "write_image"]
