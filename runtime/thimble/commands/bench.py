"""`thimble bench WHAT`: dispatch to one benchmark module per target."""
import importlib

TARGETS = {
    "kernels": ("thimble.bench.kernels",
                "GMAC/s of every host kernel backend (or instructions per MAC on a --board)"),
    "link": ("thimble.bench.link", "deploy throughput as a share of line rate on a paced, lossy link"),
    "model": ("thimble.bench.model", "tokens/s of the whole model (C runtime) against the float numpy forward"),
    "numerics": ("thimble.bench.numerics",
                 "error of each integer kernel against float64, the figures in docs/numerics.md"),
}


def add_parser(p):
    sub = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name, (module, help_text) in TARGETS.items():
        mod = importlib.import_module(module)
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(sp)
        sp.set_defaults(_bench=mod.run)


def run(args):
    return args._bench(args)
