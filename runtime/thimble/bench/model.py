"""`thimble bench model`: tokens per second of the whole model on one core,
the C runtime (runtime/device/model through cffi) against the float numpy
forward (FloatNeedle, float32) measured in the same run.

    thimble bench model                                # 26M Needle shape, 256-token prompt, 48 tokens
    thimble bench model --prompt-tokens 64 --gen-tokens 16 --repeat 1
    thimble bench model --board watch_m55               # on an emulated board (bench/device_model.py)

The model is the released Needle shape (thimble.model.config.RELEASED) with
random weights (seeded), calibrated on two short random prompts and quantized
in the run (a few seconds), so no checkpoint is needed; the speed does not
depend on the weights' values. Prefill = encoder over the prompt plus every
decoder layer's cross K/V (what the device does before the first token);
decode = greedy steps after that prompt, each one token. The float baseline
runs in a child process with every BLAS/OpenMP pool set to one thread, so
both sides use one core. Best of --repeat runs is reported (the median too).

    thimble bench model --peers                        # + onnxruntime int8 and fp32, alternating
    thimble bench model --plot model.png               # tok/s by backend as a bar chart

--peers (the bench extra: onnx, onnxruntime) builds the same model, same
weights, as ONNX graphs (bench/onnx_needle.py: a prefill graph and a
KV-cached decoder step), checks them against FloatNeedle (refused beyond
1e-4 relative), quantizes them with onnxruntime's dynamic int8 quantization
(MatMul only) and times thimble, onnxruntime int8 and onnxruntime fp32 in
turn, round after round (one thread each), reporting the median of the
rounds. --plot (the plot extra: matplotlib) draws the result
(bench/plot.py).
"""
import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np

from ..core.errors import UsageError
from . import cpu_view
from .machine import machine_info
from .model_c import _config, _prompt, _rates, _summary, c_model, c_result, c_round
from .results import save

DEFAULT_JSON = os.path.join("bench-results", "model-host.json")
TARGETS = {"prefill_tok_s": 6000, "decode_tok_s": 1200}     # issue 4, one core of this host
ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}


def add_arguments(p):
    p.add_argument("--prompt-tokens", type=int, default=256, metavar="N", help="encoder tokens (default 256)")
    p.add_argument("--gen-tokens", type=int, default=48, metavar="N", help="decode steps (default 48)")
    p.add_argument("--repeat", type=int, default=3, metavar="N", help="runs, best reported (default 3)")
    p.add_argument("--seed", type=int, default=0, help="random weights and prompt seed")
    p.add_argument("--isa", help="C matmul instruction set (default: the best this CPU runs)")
    p.add_argument("--no-float", action="store_true", help="skip the float numpy baseline")
    p.add_argument("--json", metavar="PATH", default=DEFAULT_JSON,
                   help="where to write the results (default: %(default)s)")
    p.add_argument("--peers", action="store_true",
                   help="also time onnxruntime (int8 dynamic quantization and fp32) on the same model as "
                        "ONNX graphs, alternating with thimble, median of --repeat rounds "
                        "(needs the bench extra: pip install 'thimble[bench]')")
    p.add_argument("--plot", metavar="FILE.png",
                   help="draw the result: tok/s by backend, or with --board --profile instructions per "
                        "token by model part (needs the plot extra: pip install 'thimble[plot]')")
    p.add_argument("--cpu", metavar="VIEW", choices=sorted(cpu_view.VIEWS),
                   help="run the host benchmark as if on a smaller CPU, everyone in it (thimble, numpy, "
                        "onnxruntime): avx2 hides AVX-512, AVX-VNNI and AMX through CPUID faulting in a "
                        "child process (Linux, a CPU with cpuid_fault); the JSON records what the child saw")
    p.add_argument("--float-worker", action="store_true", help=argparse.SUPPRESS)
    from . import device_model
    device_model.add_arguments(p)         # --board: the same model on an emulated board


def _model_name(args):
    return "tiny smoke-test shape, random weights" if getattr(args, "shape", "needle-26m") == "tiny" \
        else "Needle 26M shape (RELEASED), random weights"


def _check_sizes(args):
    if not 1 <= args.prompt_tokens <= 4096 or not 1 <= args.gen_tokens <= 4096 or args.repeat < 1:
        raise UsageError("--prompt-tokens and --gen-tokens must be 1..4096, --repeat >= 1")


def bench_c(args, log):
    cm, image = c_model(args, log)
    tokens = _prompt(_config(args), args.prompt_tokens, args.seed)
    pre, dec = [], []
    for _ in range(args.repeat):
        p, d = c_round(cm, tokens, args.gen_tokens)
        pre.append(p)
        dec.append(d)
    return c_result(cm, image, pre, dec)


def bench_float(args):
    """In this process (the child with one-thread pools): FloatNeedle float32."""
    from ..model import FloatNeedle
    from ..model.synth import random_model
    cfg = _config(args)
    fn = FloatNeedle(random_model(cfg, seed=args.seed), np.float32)
    tokens = _prompt(cfg, args.prompt_tokens, args.seed)[None, :]
    pre, dec = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        cache = fn.start_decoder(fn.encode(tokens))
        pre.append(time.perf_counter() - t)
        tok = 1
        t = time.perf_counter()
        for _ in range(args.gen_tokens):
            tok = int(np.argmax(fn.decode_step(cache, [[tok]])[0, -1]))
        dec.append(time.perf_counter() - t)
    return {"prefill": _summary(pre), "decode": _summary(dec)}


def _float_in_child(args):
    cmd = [sys.executable, "-m", "thimble.bench.model", "--float-worker", "--prompt-tokens",
           str(args.prompt_tokens), "--gen-tokens", str(args.gen_tokens), "--repeat", str(args.repeat),
           "--seed", str(args.seed), "--shape", getattr(args, "shape", "needle-26m")]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **ONE_THREAD), timeout=3600)
    if r.returncode:
        raise RuntimeError(f"float baseline failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def print_report(res, out=None):
    out = out or sys.stdout
    s = res["settings"]
    print(f"thimble bench model: {s['model']}, {s['prompt_tokens']}-token prompt, {s['gen_tokens']} decode "
          f"steps, one core, best of {s['repeat']}", file=out)
    rows = [("C runtime (int8, " + res["c"]["isa"] + ")", res["c"])]
    if res.get("float"):
        rows.append(("float numpy (FloatNeedle f32)", res["float"]))
    if cpu_view.describe(res["machine"]):
        print(f"CPU view: {cpu_view.describe(res['machine'])}", file=out)
    print(f"{'':34}{'prefill tok/s':>15}{'decode tok/s':>15}{'decode ms/tok':>15}", file=out)
    for name, r in rows:
        print(f"{name:34}{r['prefill_tok_s']:15.0f}{r['decode_tok_s']:15.0f}"
              f"{1e3 / r['decode_tok_s']:15.2f}", file=out)
    print(f"{'target (issue 4)':34}{TARGETS['prefill_tok_s']:15d}{TARGETS['decode_tok_s']:15d}", file=out)
    if res.get("float"):
        print(f"C / float: prefill x{res['c']['prefill_tok_s'] / res['float']['prefill_tok_s']:.1f}, "
              f"decode x{res['c']['decode_tok_s'] / res['float']['decode_tok_s']:.1f}", file=out)
    print(f"arena {res['c']['arena_bytes']} bytes ({res['c']['arena_bytes'] / 2**20:.2f} MiB), "
          f"image {res['c']['image_bytes'] / 2**20:.1f} MiB", file=out)
    if res.get("peers"):
        from .peers import print_peers
        print_peers(res, out)


def _under_view(args):
    """Run this benchmark again in a child that sees the CPU through view args.cpu -> its exit status."""
    cmd = [sys.executable, "-m", "thimble.bench.model", "--cpu", args.cpu, "--prompt-tokens",
           str(args.prompt_tokens), "--gen-tokens", str(args.gen_tokens), "--repeat", str(args.repeat),
           "--seed", str(args.seed), "--shape", getattr(args, "shape", "needle-26m"), "--json", args.json]
    cmd += ["--isa", args.isa] if args.isa else []
    cmd += ["--plot", args.plot] if args.plot else []
    cmd += [flag for flag, on in (("--no-float", args.no_float), ("--peers", args.peers)) if on]
    print(f"thimble bench model: a child process sees this CPU as {args.cpu} "
          f"({cpu_view.VIEWS[args.cpu]['about']})", file=sys.stderr, flush=True)
    return subprocess.run(cmd, env=cpu_view.child_env(args.cpu)).returncode


def run(args):
    _check_sizes(args)
    if getattr(args, "cpu", None) and not args.float_worker:
        cpu_view.check_usage(args)
        if cpu_view.active() != args.cpu:
            return _under_view(args)
    if args.float_worker:
        print(json.dumps(bench_float(args)))
        return 0
    if args.plot:
        from . import plot
        plot.require()
        if args.board and not args.profile:
            raise UsageError("--plot with --board draws the --profile parts: add --profile")
    if getattr(args, "shape", "").startswith("needle2"):
        if not args.board or args.peers or args.plot:
            raise UsageError("--shape needle2-* runs on a --board, without --peers or --plot")
        from . import device_needle2
        return device_needle2.run(args)
    if args.board:
        if args.peers:
            raise UsageError("--peers times onnxruntime on this host: it does not go with --board")
        from . import device_model
        return device_model.run(args)
    if args.peers:
        from . import peers
        peers.require()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    cfg = _config(args)
    machine = machine_info()
    if getattr(args, "cpu", None):
        machine["cpu_view"] = cpu_view.seen(args.cpu)
    res = {"benchmark": "thimble bench model", "machine": machine,
           "settings": {"model": _model_name(args), "shape": getattr(args, "shape", "needle-26m"),
                        "config": dataclasses.asdict(cfg),
                        "prompt_tokens": args.prompt_tokens, "gen_tokens": args.gen_tokens,
                        "repeat": args.repeat, "seed": args.seed, "threads": 1,
                        "timing": "wall clock, best of repeat runs; prefill = encoder + cross K/V; "
                                  "decode = greedy steps after the prompt"},
           "targets": TARGETS}
    if args.peers:
        from . import peers
        log("C runtime and onnxruntime peers ...")
        res["c"], res["peers"] = peers.run_peers(args, log)
    else:
        log("C runtime ...")
        res["c"] = _rates(bench_c(args, log), args)
    if not args.no_float:
        log("float numpy baseline (child process, one thread) ...")
        res["float"] = _rates(_float_in_child(args), args)
    res["elapsed_s"] = time.perf_counter() - t0
    print_report(res)
    save(res, args.json)
    if args.plot:
        from . import plot
        plot.plot(res, args.plot)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="thimble bench model", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
