"""Which scale granularity for int4 weights? Measures it on a trained model.

Weights only: each variant rounds the projection weights (q, k, v, o of every
block) to its grid and runs the float forward with them, so a figure is the
error the weight format adds, apart from activation quantization. The
embedding (also the tied head) stays int8 per row in every variant.

    python tools/int4_granularity.py models/watch-small [--json out.json]
    python tools/int4_granularity.py --needle-shaped      # Needle 26M's shape, random weights

--needle-shaped has no tokenizer nor answers: per-layer cosine and top-1 on
random token prompts, for the weight-only variants and for the integer
images themselves (int8 and int4, calibrated and run by the C kernels).

Variants:
  int8/ch       int8, one scale per output channel (today's images)
  int4/ch       int4 [-7, 7], one scale per output channel (absmax / 7)
  int4/ch-mse   int4 per channel, the clipping ratio chosen per row to
                minimise the squared error (grid of 20 ratios 0.5 .. 1)
  int4/gG       int4, one float scale per group of G along K (Cactus's form)
  int4/gG-u8    int4 per group of G, group scale = row scale x an integer
                1..255 (what an integer kernel applies; docs/numerics.md)
  int4/ch+embed4  int4 per channel, and the embedding (the tied head) int4 per row

Reports per-layer cosine against float (mean/min over prompts, encoder
layers and teacher-forced decoder layers), top-1 agreement of the logits,
and exact match of the tool calls (constrained greedy, whole tool list) on
the model's eval.jsonl and handwritten.jsonl.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "runtime"))

from thimble.app.prompt import build_encoder_input, load_tools, restore_tool_names  # noqa: E402
from thimble.model import FloatNeedle, load_checkpoint  # noqa: E402
from thimble.model.params import NeedleModel  # noqa: E402
from thimble.quant import tensors as T  # noqa: E402
from thimble.sim.decode import constrained_greedy  # noqa: E402
from thimble.sim.fidelity import cosine  # noqa: E402
from thimble.sim.grammar import ToolGrammar  # noqa: E402
from thimble.sim.session import piece_bytes, tool_keys  # noqa: E402
from thimble.tokenizer import load_model  # noqa: E402
from thimble.tokenizer.bpe import Tokenizer  # noqa: E402


def per_channel(w, qmax):
    s = np.abs(w).max(axis=1, keepdims=True) / qmax
    s[s == 0] = 1
    return np.clip(np.round(w / s), -qmax, qmax) * s


def per_channel_mse(w, qmax):
    best, best_err = None, None
    amax = np.abs(w).max(axis=1, keepdims=True)
    for r in np.linspace(0.5, 1.0, 20):
        s = amax * r / qmax
        s[s == 0] = 1
        d = np.clip(np.round(w / s), -qmax, qmax) * s
        err = ((d - w) ** 2).sum(axis=1, keepdims=True)
        if best is None:
            best, best_err = d, err
        else:
            better = err < best_err
            best = np.where(better, d, best)
            best_err = np.minimum(err, best_err)
    return best


def per_group(w, qmax, g, u8=False):
    n, k = w.shape
    pad = (-k) % g
    wp = np.pad(w, ((0, 0), (0, pad))).reshape(n, -1, g)
    s = np.abs(wp).max(axis=2, keepdims=True) / qmax
    if u8:
        row = s.max(axis=1, keepdims=True) / 255
        row[row == 0] = 1
        f = np.clip(np.round(s / row), 1, 255)
        s = f * row
    s[s == 0] = 1
    d = np.clip(np.round(wp / s), -qmax, qmax) * s
    return d.reshape(n, -1)[:, :k]


VARIANTS = {
    "float": None,
    "int8/ch": lambda w: per_channel(w, 127),
    "int4/ch": lambda w: per_channel(w, 7),
    "int4/ch-mse": lambda w: per_channel_mse(w, 7),
    "int4/g64": lambda w: per_group(w, 7, 64),
    "int4/g64-u8": lambda w: per_group(w, 7, 64, True),
    "int4/g32": lambda w: per_group(w, 7, 32),
    "int4/g32-u8": lambda w: per_group(w, 7, 32, True),
    "int4/ch+embed4": lambda w: per_channel(w, 7),     # the embedding (tied head) int4 per row too
}
EMBED_INT4 = ("int4/ch+embed4",)


def variant_model(model, fn, embed_bits=8):
    if fn is None:
        return model
    t = dict(model.tensors)
    for p, _ in T.block_names(model.config):
        for proj in "qkvo":
            t[f"{p}.{proj}"] = fn(np.asarray(t[f"{p}.{proj}"], np.float64)).astype(np.float32)
    t["embed"] = per_channel(np.asarray(t["embed"], np.float64), 7 if embed_bits == 4 else 127).astype(np.float32)
    return NeedleModel(model.config, t)


def load_rows(path, by_name):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                r["tools"] = [t if isinstance(t, dict) else by_name[t] for t in r["tools"]]
                rows.append(r)
    return rows


def needle_shaped(a):
    import dataclasses
    from thimble.kernels import get_backend
    from thimble.model.config import RELEASED
    from thimble.model.synth import random_model
    from thimble.quant import calibrate, quantize, random_prompts
    from thimble.sim.fidelity import fidelity
    cfg = dataclasses.replace(RELEASED, dtype="float32", max_seq_len=128)
    model = random_model(cfg, seed=1)
    prompts = [p for p in random_prompts(cfg, n=a.prompts, length=64, seed=2)]
    ref = FloatNeedle(model, np.float32)
    results = {}
    for name in a.variants.split(","):
        if name == "float":
            continue
        fm = FloatNeedle(variant_model(model, VARIANTS[name], 4 if name in EMBED_INT4 else 8), np.float32)
        enc, dec, agree, pos = [], [], 0, 0
        for toks in prompts:
            t = np.asarray(toks)[None, :]
            er, ev = ref.encode(t), fm.encode(t)
            enc.append(cosine(er.hidden, ev.hidden))
            cr, cv = ref.start_decoder(er), fm.start_decoder(ev)
            tok = 1
            for _ in range(8):
                lr, lv = ref.decode_step(cr, [[tok]]), fm.decode_step(cv, [[tok]])
                dec.append(cosine(lr[0, -1], lv[0, -1]))
                tok = int(np.argmax(lr[0, -1]))
                agree += int(tok == int(np.argmax(lv[0, -1])))
                pos += 1
        results[name] = {"encoder_output_cos_min": float(np.min(enc)), "logits_cos_min": float(np.min(dec)),
                         "top1": agree / pos}
        print(f"{name:<15} weights only: encoder output cos min {np.min(enc):.5f}, logits cos min "
              f"{np.min(dec):.5f}, top-1 {agree / pos:.1%}", flush=True)
    cal = calibrate(model, random_prompts(cfg, n=4, length=64, seed=3), decode_tokens=8)
    for label, int4 in (("image int8", ()), ("image int4", "all")):
        qm = quantize(model, cal, int4=int4)
        r = fidelity(model, qm, get_backend("c"), prompts, decode_tokens=8)
        results[label] = {"encoder_layers_min": [x["min"] for x in r["encoder_layers"]],
                          "decoder_layers_min": [x["min"] for x in r["decoder_layers"]], "top1": r["top1_agreement"]}
        print(f"{label:<15} integer pipeline: encoder last layer cos min {r['encoder_layers'][-1]['min']:.5f}, "
              f"decoder last layer cos min {r['decoder_layers'][-1]['min']:.5f}, top-1 {r['top1_agreement']:.1%}",
              flush=True)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("--needle-shaped", action="store_true", help="Needle 26M's shape with random weights")
    ap.add_argument("--prompts", type=int, default=4, help="--needle-shaped: random prompts")
    ap.add_argument("--json")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    a = ap.parse_args()
    if a.needle_shaped:
        results = needle_shaped(a)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
        return
    if not a.model_dir:
        ap.error("give a model folder or --needle-shaped")
    d = a.model_dir
    model = load_checkpoint(os.path.join(d, "needle.pkl"))
    spm = load_model(os.path.join(d, "tokenizer.model"))
    tok = Tokenizer(spm)
    pieces = piece_bytes(spm)
    by_name = {t["name"]: t for t in load_tools(os.path.join(d, "tools.json"))}
    sets = {n: load_rows(os.path.join(d, f"{n}.jsonl"), by_name) for n in ("eval", "handwritten")}
    if a.limit:
        sets = {k: v[:a.limit] for k, v in sets.items()}
    max_len = model.config.max_seq_len
    enc_in = {k: [build_encoder_input(tok, r["query"], r["tools"], max_len, truncate=True) for r in v]
              for k, v in sets.items()}
    ref = FloatNeedle(model, np.float32)
    c = model.config
    eos, tool_call = 1, tok_id(spm, "<tool_call>")
    results = {}
    for name in a.variants.split(","):
        fm = FloatNeedle(variant_model(model, VARIANTS[name], 4 if name in EMBED_INT4 else 8), np.float32)
        enc_cos = [[] for _ in range(c.num_encoder_layers + 1)]
        dec_cos = [[] for _ in range(c.num_decoder_layers + 1)]
        agree = pos = 0
        for ids, _ in enc_in["eval"][:50]:
            toks = np.asarray(ids)[None, :]
            er, ev = ref.encode(toks, return_layers=True), fm.encode(toks, return_layers=True)
            for i, (x, y) in enumerate(zip(er.layers, ev.layers)):
                enc_cos[i].append(cosine(x, y))
            cr, cv = ref.start_decoder(er), fm.start_decoder(ev)
            t = eos
            for _ in range(16):
                lr, lay_r = ref.decode_step(cr, [[t]], return_layers=True)
                lv, lay_v = fm.decode_step(cv, [[t]], return_layers=True)
                for i, (x, y) in enumerate(zip(lay_r, lay_v)):
                    dec_cos[i].append(cosine(x[0, -1], y[0, -1]))
                t = int(np.argmax(lr[0, -1]))
                agree += int(t == int(np.argmax(lv[0, -1])))
                pos += 1
        exact = {}
        for set_name, rows in sets.items():
            right = 0
            for r, (ids, name_map) in zip(rows, enc_in[set_name]):
                cache = fm.start_decoder(fm.encode(np.asarray(ids)[None, :]))
                gen = constrained_greedy(lambda t: fm.decode_step(cache, [[t]])[0, -1], pieces,
                                         ToolGrammar(tool_keys(r["tools"])), start_id=eos, eos_id=eos,
                                         tool_call_id=tool_call, max_new_tokens=96)
                calls = restore_tool_names(json.loads(tok.decode(gen.tokens[1:])), name_map) \
                    if gen.complete else None
                right += int(calls == r["answer"])
            exact[set_name] = [right, len(rows)]
        res = {"enc_cos_min": [float(np.min(v)) for v in enc_cos],
               "dec_cos_min": [float(np.min(v)) for v in dec_cos],
               "enc_cos_last_mean": float(np.mean(enc_cos[-1])), "dec_cos_last_mean": float(np.mean(dec_cos[-1])),
               "top1": agree / pos, "exact": exact}
        results[name] = res
        print(f"{name:<12} enc last cos mean {res['enc_cos_last_mean']:.5f} min {res['enc_cos_min'][-1]:.5f}  "
              f"dec last cos mean {res['dec_cos_last_mean']:.5f} min {res['dec_cos_min'][-1]:.5f}  "
              f"top-1 {res['top1']:.1%}  "
              + "  ".join(f"{k} {v[0]}/{v[1]}" for k, v in exact.items()), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


def tok_id(spm, piece):
    for i, p in enumerate(spm.pieces):
        if p == piece.encode():
            return i
    raise SystemExit(f"tokenizer has no {piece}")


if __name__ == "__main__":
    main()
