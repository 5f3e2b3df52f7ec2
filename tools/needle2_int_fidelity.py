"""Needle 2's integer pipeline against its float forward on the same CQ weights
(docs/needle2.md, "The integer model"): per-layer cosine of the lane means,
cosine of the logits and top-1 agreement, teacher-forced over random prompts.

    .venv/bin/python tools/needle2_int_fidelity.py --shape base --tokens 256 [--json out.json]

The `base` weights are the golden fixtures' (tests/needle2/data/base.json:
the original's init statistics, drawn with numpy), coded as CQ2 by thimble's
writer; calibration runs the float model over --cal prompts of the same length."""
import argparse
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "needle2"))


def cosine(a, b):
    return np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=("tiny", "base"), default="base")
    ap.add_argument("--tokens", type=int, default=256, help="prompt length (default 256)")
    ap.add_argument("--cal", type=int, default=2, help="calibration prompts (default 2)")
    ap.add_argument("--bits", type=int, default=2, choices=(2, 3, 4), help="CQ width of every matrix")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args(argv)
    from test_golden import base_params, tiny
    from thimble.needle2 import Needle2Float
    from thimble.needle2.int_forward import IntNeedle2, calibrate, cq_model
    cfg, params = tiny() if a.shape == "tiny" else base_params()
    if a.tokens > cfg.max_seq_len:
        ap.error(f"--tokens {a.tokens} is past the model's {cfg.max_seq_len} positions")
    t0 = time.time()
    mats, fparams = cq_model(cfg, params, bits=a.bits)
    rng = np.random.default_rng(a.seed)
    cal = calibrate(cfg, fparams, [rng.integers(14, cfg.vocab_size, a.tokens) for _ in range(a.cal)])
    test = rng.integers(14, cfg.vocab_size, a.tokens)
    fm, hidden = Needle2Float(cfg, fparams, window=0), []
    fm.probe = lambda name, layer, v: hidden.append(v.mean(axis=1)) if name == "lanes" and layer > 0 else None
    f_logits = fm.run(test)
    im = IntNeedle2(cfg, mats, fparams, cal)
    i_logits = im.run(test)
    layers = [{"layer": li, "cosine_mean": float(cosine(f, i).mean()), "cosine_min": float(cosine(f, i).min())}
              for li, (f, i) in enumerate(zip(hidden, im.trace.hidden))]
    out = {"shape": a.shape, "layers_total": cfg.num_layers, "d_model": cfg.d_model, "tokens": a.tokens,
           "cq_bits": a.bits, "calibration_prompts": a.cal, "per_layer": layers,
           "logits_cosine_mean": float(cosine(f_logits, i_logits).mean()),
           "logits_cosine_min": float(cosine(f_logits, i_logits).min()),
           "top1_agreement": float(np.mean(f_logits.argmax(-1) == i_logits.argmax(-1))),
           "seconds": round(time.time() - t0, 1)}
    for r in layers:
        print(f"layer {r['layer']:2d}: cosine mean {r['cosine_mean']:.5f}, min {r['cosine_min']:.5f}")
    print(f"logits: cosine mean {out['logits_cosine_mean']:.5f}, min {out['logits_cosine_min']:.5f}; "
          f"top-1 agreement {out['top1_agreement']:.4f} over {a.tokens} positions ({out['seconds']} s)")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
