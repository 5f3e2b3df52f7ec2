"""`thimble bench kernels` (being written)."""


def add_arguments(p):
    pass


def run(args):
    raise SystemExit("thimble bench kernels: not implemented yet")
