"""`thimble bench model --peers`: thimble against onnxruntime on the same model.

The random model `bench model` builds (same seed, same weights) becomes two
ONNX graphs (bench/onnx_needle.py: prefill = encoder + every decoder layer's
cross K/V; a KV-cached decoder step), checked against FloatNeedle before
anything is timed: a graph whose outputs differ by more than MAX_RELATIVE of
the reference's largest value is refused. onnxruntime's dynamic
quantization (MatMul only: int8 weights per tensor, uint8 activations
quantized per call) gives the int8 peer; the unquantized graphs are the
fp32 peer. Then, round after round, each of thimble, onnxruntime int8 and
onnxruntime fp32 runs the same prompt (prefill, then --gen-tokens greedy
steps from token 1), the order rotated each round so no side always runs
on a cache another warmed; one thread each (SessionOptions
intra_op_num_threads = inter_op_num_threads = 1, sequential; thimble is
single-threaded). tok/s are from the median of the rounds.
"""
import importlib
import time

import numpy as np

from ..core.errors import CommandError, UsageError

MAX_RELATIVE = 1e-4
SIDES = ("thimble", "onnxruntime-int8", "onnxruntime-fp32")
FLAGS = ("avx2", "avx512_vnni", "avx_vnni", "amx_int8")


def require():
    """UsageError naming the bench extra when onnx or onnxruntime is missing."""
    missing = []
    for mod in ("onnx", "onnxruntime"):
        try:
            importlib.import_module(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        raise UsageError(f"--peers needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                         "not installed: pip install 'thimble[bench]' (the bench extra)")


def ort_round(o, tokens, gen_tokens):
    """One prefill and gen_tokens greedy KV-cached steps through onnxruntime -> (prefill s, decode s)."""
    from .model_c import timed_round
    return timed_round(o.prefill, lambda tok: int(np.argmax(o.step(tok))), tokens, gen_tokens)


def _side(pre, dec, args):
    from .model_c import _summary
    return {"prefill": _summary(pre), "decode": _summary(dec),
            "prefill_tok_s": args.prompt_tokens / _summary(pre)["median_s"],
            "decode_tok_s": args.gen_tokens / _summary(dec)["median_s"],
            "prefill_tok_s_best": args.prompt_tokens / min(pre), "decode_tok_s_best": args.gen_tokens / min(dec)}


def run_peers(args, log):
    """-> (the C runtime's result as bench_c gives it, the peers' result)."""
    import onnx
    import onnxruntime as ort
    from . import onnx_needle as on
    from .model_c import _config, _prompt, _rates, c_model, c_result, c_round
    from ..model.synth import random_model
    cfg = _config(args)
    fm = random_model(cfg, seed=args.seed)
    tokens = _prompt(cfg, args.prompt_tokens, args.seed)
    t0 = time.perf_counter()
    pre_proto, step_proto = on.build_prefill(fm), on.build_step(fm)
    fp32 = on.OrtNeedle(cfg, pre_proto, step_proto)
    steps = min(3, args.gen_tokens)
    check = on.check(fm, fp32, tokens, steps=steps)
    check["limit_relative"] = MAX_RELATIVE
    log(f"ONNX graphs built in {time.perf_counter() - t0:.1f} s; against FloatNeedle (prompt of "
        f"{len(tokens)}, {steps} decode steps): max abs diff {check['max_abs_diff']:.3g} "
        f"({check['relative']:.3g} of {check['ref_max_abs']:.3g})")
    if not check["relative"] <= MAX_RELATIVE:
        raise CommandError(f"the ONNX graphs disagree with thimble's float forward: max abs diff "
                           f"{check['max_abs_diff']:.3g}, {check['relative']:.3g} relative > {MAX_RELATIVE:g}; "
                           "not timing them")
    t0 = time.perf_counter()
    int8 = on.OrtNeedle(cfg, on.quantize_int8(pre_proto), on.quantize_int8(step_proto))
    q_check = on.check(fm, int8, tokens, steps=steps)
    log(f"quantized in {time.perf_counter() - t0:.1f} s; int8 graph against FloatNeedle: logits "
        f"{q_check['logits_relative']:.3g} relative (quantization error, not checked)")
    cm, image = c_model(args, log, fm=fm)
    rounds = {"thimble": lambda: c_round(cm, tokens, args.gen_tokens),
              "onnxruntime-int8": lambda: ort_round(int8, tokens, args.gen_tokens),
              "onnxruntime-fp32": lambda: ort_round(fp32, tokens, args.gen_tokens)}
    samples = {k: ([], []) for k in SIDES}
    for r in range(args.repeat):
        order = SIDES[r % 3:] + SIDES[:r % 3]
        log(f"round {r + 1}/{args.repeat}: {', '.join(order)}")
        for name in order:
            p, d = rounds[name]()
            samples[name][0].append(p)
            samples[name][1].append(d)
    sides = {k: _side(*samples[k], args) for k in SIDES}
    ratios = {f"thimble / {k}": {ph: sides["thimble"][f"{ph}_tok_s"] / sides[k][f"{ph}_tok_s"]
                                 for ph in ("prefill", "decode")} for k in SIDES[1:]}
    peers = {"sides": sides, "ratios": ratios, "rounds": args.repeat, "check": check,
             "int8_vs_float": {k: q_check[k] for k in ("logits_max_abs_diff", "logits_relative", "relative")},
             "graphs": {"prefill_nodes": len(pre_proto.graph.node), "step_nodes": len(step_proto.graph.node),
                        "opset": on.OPSET, "decoder": "KV-cached step (one token against the cross K/V and "
                                                      "the self K/V so far)"},
             "quantization": "onnxruntime.quantization.quantize_dynamic, op_types_to_quantize=['MatMul'], "
                             "weight_type=QInt8 per tensor, MatMulConstBOnly (attention stays fp32)",
             "threads": "onnxruntime intra_op_num_threads=1, inter_op_num_threads=1, sequential, no spinning; "
                        "thimble single-threaded",
             "timing": "sides in turn each round (order rotated), median of the rounds; prefill = encoder + "
                       "cross K/V; decode = greedy steps from token 1",
             "versions": {"onnx": onnx.__version__, "onnxruntime": ort.__version__}}
    c = _rates(c_result(cm, image, *samples["thimble"]), args)
    return c, peers


def print_peers(res, out):
    p, m = res["peers"], res["machine"]
    flags = set(m.get("cpu_flags", []))
    print(f"\npeers: same model and prompt, one thread each, sides in turn, median of {p['rounds']} rounds "
          f"({p['graphs']['decoder'].split(' (')[0]} decoder)", file=out)
    print(f"{'':34}{'prefill tok/s':>15}{'decode tok/s':>15}{'decode ms/tok':>15}", file=out)
    names = {"thimble": f"thimble (int8, {res['c']['isa']})", "onnxruntime-int8": "onnxruntime int8 (dynamic)",
             "onnxruntime-fp32": "onnxruntime fp32"}
    for k in SIDES:
        s = p["sides"][k]
        print(f"{names[k]:34}{s['prefill_tok_s']:15.0f}{s['decode_tok_s']:15.0f}{1e3 / s['decode_tok_s']:15.2f}",
              file=out)
    for k, r in p["ratios"].items():
        print(f"{k}: prefill x{r['prefill']:.2f}, decode x{r['decode']:.2f}", file=out)
    c = p["check"]
    print(f"ONNX fp32 graphs vs FloatNeedle: max abs diff {c['max_abs_diff']:.3g} ({c['relative']:.2g} relative, "
          f"limit {c['limit_relative']:g}); int8 logits {p['int8_vs_float']['logits_relative']:.2g} relative",
          file=out)
    print(f"CPU: {m['cpu_model']}; " + ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in FLAGS)
          + f"; onnxruntime {p['versions']['onnxruntime']}", file=out)
