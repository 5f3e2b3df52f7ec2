"""`thimble demo`: the main job, as far as it exists today.

Checks every kernel backend this machine can run against the numpy integer
reference on Needle-shaped inputs, then prints the quick kernel benchmark.
Exit status 1 if any backend disagrees with the reference.
"""
import numpy as np

from .kernels import BackendUnavailable, get_backend, reference


def add_parser(p):
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--no-bench", action="store_true", help="skip the kernel benchmark")


def _needle_cases(rng):
    """A small slice of one Needle layer: projections, attention, norm, residual."""
    x = rng.integers(-128, 128, (16, 512), dtype=np.int8)
    w = rng.integers(-127, 128, (256, 512), dtype=np.int8)
    mult = rng.integers(1 << 30, (1 << 31) - 1, 256, dtype=np.int64).astype(np.int32)
    shift = rng.integers(-12, -6, 256).astype(np.int32)
    q = rng.integers(-128, 128, (16, 512), dtype=np.int8)
    kv = rng.integers(-128, 128, (16, 256), dtype=np.int8)
    sm, ss = reference.quantize_multiplier(0.02 * 256)
    om, osh = reference.quantize_multiplier(1 / (1 << 15) * 1.5)
    r = rng.integers(-3000, 3000, (16, 512), dtype=np.int16)
    gm = np.full(512, 1 << 30, np.int32)
    gs = np.full(512, -9, np.int32)
    return [
        ("matmul_s8 16x512x256", lambda b: b.matmul_s8(x, w, mult, shift)),
        ("attention_s8 8/4 heads, causal", lambda b: b.attention_s8(
            q, kv, kv, 8, 4, sm, ss, 800, om, osh, causal=True)),
        ("rmsnorm_s8 int16 rows", lambda b: b.rmsnorm_s8(r, gm, gs, 16)),
    ]


def run(args):
    rng = np.random.default_rng(args.seed)
    cases = _needle_cases(rng)
    ref = get_backend("reference")
    expected = [fn(ref) for _, fn in cases]
    bad = 0
    print("backends against the numpy integer reference:")
    for name in ("c:portable", "c:avx2", "c:avx512vnni", "numba"):
        try:
            backend = get_backend(name)
        except BackendUnavailable as e:
            print(f"  {name:<14} SKIP  {e}")
            continue
        results = []
        for (label, fn), want in zip(cases, expected):
            same = np.array_equal(fn(backend), want)
            results.append(same)
            if not same:
                print(f"  {name:<14} FAIL  {label}")
        bad += results.count(False)
        if all(results):
            print(f"  {name:<14} ok    {len(results)} ops bit-exact")
    if not args.no_bench:
        from . import cli
        print()
        cli.main(["bench", "kernels", "--quick"])
    return 1 if bad else 0
