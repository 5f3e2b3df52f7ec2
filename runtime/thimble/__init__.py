"""thimble: int8 inference runtime for Needle-class tool-calling models."""
__version__ = "0.1.0"
