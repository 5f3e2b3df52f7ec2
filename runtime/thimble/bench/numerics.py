"""`thimble bench numerics` (being written)."""


def add_arguments(p):
    pass


def run(args):
    raise SystemExit("thimble bench numerics: not implemented yet")
