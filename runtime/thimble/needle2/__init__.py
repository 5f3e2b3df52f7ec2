"""Needle 2 (Cactus, August 2026): the decoder-only Simple Attention Network,
beside Needle v1 (thimble.model). config: the shape; cq: the CQ weight code;
cact_format / cact: the `.cact` file (tables, reader and writer); forward:
the float numpy reference."""
from .cact import Cact, build_cact, parse_cact, read_cact
from .config import Needle2Config, preset, validate
from .forward import Needle2Float

__all__ = ["Cact", "Needle2Config", "Needle2Float", "build_cact", "parse_cact", "preset", "read_cact",
           "validate"]
