"""Matmul shapes as benchmarks take them on the command line."""
from ..core.errors import UsageError


def parse_shapes(text):
    """--shapes MxKxN,...: [(M, K, N)], each in range."""
    shapes = []
    for item in text.split(","):
        try:
            m, k, n = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise UsageError(f"--shapes: {item!r} is not MxKxN") from None
        if m < 1 or n < 1 or not 1 <= k <= 65536:
            raise UsageError(f"--shapes: {item!r} is out of range (M, N >= 1, 1 <= K <= 65536)")
        shapes.append((m, k, n))
    return shapes


def shape_name(s):
    return "x".join(str(v) for v in s)
