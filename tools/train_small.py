"""Train models/watch-small: a Needle v1 (the real architecture, head_dim 64,
GQA) that a watch user can talk to, on the data of tools/small_data.py. Needs
torch and sentencepiece (training only, not runtime dependencies):

    pip install torch==2.13.0 sentencepiece
    python tools/train_small.py --out models/watch-small

Every step draws a fresh batch from the generator (a seeded stream, so the
run is reproducible), bucketed by length so that a batch of whole tool lists
carries little padding. Matmuls run in bfloat16 autocast where the CPU has
it (AMX or AVX-512 BF16 make it several times faster than float32 on 2
cores); parameters, optimiser state and the exported checkpoint are float32.

Writes the same files as watch-tiny: tokenizer.model, needle.pkl (Needle's
own format, float16 params), tools.json, calib.jsonl, eval.jsonl (held out,
the whole tool list in every prompt), train_log.json. Score it with
`thimble eval` (float and int8, through thimble's own loader and forward).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))
import small_data  # noqa: E402
from train_tiny import build_torch_model, export_tensors, pad, train_tokenizer  # noqa: E402


def encode(sp, ex, max_enc):
    enc = sp.encode(ex["query"]) + [5] + sp.encode(small_data.tools_json(ex["tools"]))
    ans = sp.encode(small_data.answer_json(ex["answer"]))
    if len(enc) > max_enc:
        raise ValueError(f"prompt of {len(enc)} tokens over --max-enc {max_enc}: {ex['query']!r}")
    return enc, [1, 4] + ans, [4] + ans + [1]


def stream(sp, batch, pool, seed, max_enc):
    """Batches forever: draw pool*batch examples, sort by prompt length, cut
    into batches, shuffle the batches."""
    rng = small_data.random.Random(seed)
    order = np.random.default_rng(seed)
    while True:
        rows = [encode(sp, small_data.example(rng), max_enc) for _ in range(pool * batch)]
        rows.sort(key=lambda r: len(r[0]))
        chunks = [rows[i:i + batch] for i in range(0, len(rows), batch)]
        for j in order.permutation(len(chunks)):
            yield chunks[j]


def write_jsonl(path, examples):
    with open(path, "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps({"query": ex["query"], "tools": [t["name"] for t in ex["tools"]],
                                "answer": ex["answer"]}, ensure_ascii=False) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/watch-small")
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--d-model", type=int, default=192)
    ap.add_argument("--heads", type=int, default=3, help="query heads (head_dim = d_model / heads)")
    ap.add_argument("--kv-heads", type=int, default=1)
    ap.add_argument("--enc-layers", type=int, default=3)
    ap.add_argument("--dec-layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--max-enc", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                    help="bfloat16 autocast for matmuls (auto: where the CPU has AMX or AVX-512 BF16)")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after this many steps of the --steps schedule (0: run them all); "
                         "unlike --minutes, the same on every machine")
    ap.add_argument("--minutes", type=float, default=0,
                    help="stop early after this much training time (0: run all --steps)")
    args = ap.parse_args(argv)

    import torch
    from thimble.model import NeedleConfig, NeedleModel
    from thimble.model.synth import save_needle_pickle

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    cpu = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    bf16 = args.bf16 == "on" or (args.bf16 == "auto" and ("amx_bf16" in cpu or "avx512_bf16" in cpu))

    corpus = small_data.dataset(6000, seed=args.seed + 1)
    texts = []
    for ex in corpus:
        texts += [ex["query"], small_data.tools_json(ex["tools"]), small_data.answer_json(ex["answer"])]
    sp = train_tokenizer(texts, os.path.join(args.out, "tokenizer"), args.vocab)
    os.remove(os.path.join(args.out, "tokenizer.vocab"))

    cfg = dict(vocab_size=args.vocab, d_model=args.d_model, num_heads=args.heads, num_kv_heads=args.kv_heads,
               num_encoder_layers=args.enc_layers, num_decoder_layers=args.dec_layers, d_ff=4 * args.d_model,
               max_seq_len=args.max_enc, rope_theta=10000.0, dtype="float32")
    model = build_torch_model(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params} parameters, bf16 autocast {'on' if bf16 else 'off'}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    batches = stream(sp, args.batch, 32, args.seed + 2, args.max_enc)
    t0, log, tokens = time.time(), [], 0
    step = 0
    for step in range(1, args.steps + 1):
        b = next(batches)
        src = torch.from_numpy(pad([r[0] for r in b]))
        tin = torch.from_numpy(pad([r[1] for r in b]))
        tout = torch.from_numpy(pad([r[2] for r in b], value=-100))
        tokens += int(src.numel())
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(src, tin)
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tout.reshape(-1),
                                                 ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        elapsed = time.time() - t0
        last = step == args.steps or step == args.stop_after or bool(args.minutes and elapsed > 60 * args.minutes)
        if step % 50 == 0 or last:
            log.append({"step": step, "loss": round(float(loss.detach()), 6), "seconds": round(elapsed, 1)})
            print(f"step {step}/{args.steps}  loss {log[-1]['loss']:.4f}  {elapsed:.0f} s  "
                  f"{tokens / elapsed:.0f} prompt tokens/s", flush=True)
        if last and step != args.steps:
            print(f"stopping at step {step} of the {args.steps}-step schedule", flush=True)
            break
    train_seconds = round(time.time() - t0, 1)

    config = NeedleConfig(**cfg)
    ckpt = os.path.join(args.out, "needle.pkl")
    save_needle_pickle(NeedleModel.build(config, export_tensors(model, cfg), source="tools/train_small.py"), ckpt)
    with open(os.path.join(args.out, "tools.json"), "w") as f:
        json.dump(small_data.TOOLS, f, indent=1)
    held = small_data.dataset(300, seed=args.seed + 1000, whole_list=True)
    for ex in held:
        ex["tools"] = list(small_data.TOOLS)       # the whole list, in the file's order
    write_jsonl(os.path.join(args.out, "eval.jsonl"), held[:200])
    write_jsonl(os.path.join(args.out, "calib.jsonl"), held[200:264])
    summary = dict(config=cfg, parameters=n_params, steps=step, schedule_steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                   bf16_autocast=bf16, threads=args.threads, train_seconds=train_seconds,
                   final_loss=log[-1]["loss"] if log else None, log=log)
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"trained {step} steps in {train_seconds:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
