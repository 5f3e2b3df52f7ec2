"""Train thimble's own small Needle (models/watch-tiny) on synthetic watch
tool calls. Needs torch and sentencepiece (not runtime dependencies):

    pip install torch==2.13.0 sentencepiece
    python tools/train_tiny.py --out models/watch-tiny

Writes: tokenizer.model (SentencePiece BPE, Needle's special ids), needle.pkl
(Needle's own checkpoint format, float16 params), tools.json, calib.jsonl and
eval.jsonl (held-out queries with expected calls), train_log.json.

The torch model is Needle v1 as thimble's float reference runs it
(runtime/thimble/model/float_forward.py): ZCRMSNorm, QK-norm, half-split
RoPE in self-attention, GQA, gated residuals, no FFN, tied head. After export
the checkpoint is reloaded through thimble's loader and evaluated with the
numpy float forward, so the figures in the log are thimble's, not torch's.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))
import tiny_data  # noqa: E402

EPS = 1e-6


def train_tokenizer(texts, path_prefix, vocab_size):
    import sentencepiece as spm
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(texts))
        corpus = f.name
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=path_prefix, model_type="bpe", vocab_size=vocab_size,
        byte_fallback=True, normalization_rule_name="identity", character_coverage=1.0,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, user_defined_symbols=["<tool_call>", "<tools>"],
        max_sentence_length=8192, num_threads=2, minloglevel=2)
    os.unlink(corpus)
    return spm.SentencePieceProcessor(model_file=path_prefix + ".model")


def encode_example(sp, ex, max_enc):
    enc = sp.encode(ex["query"]) + [5] + sp.encode(tiny_data.tools_json(ex["tools"]))
    ans = sp.encode(tiny_data.answer_json(ex["answer"]))
    return enc[:max_enc], [1, 4] + ans, [4] + ans + [1]


def build_torch_model(cfg):
    import torch
    import torch.nn as nn

    d, H, KV = cfg["d_model"], cfg["num_heads"], cfg["num_kv_heads"]
    hd = d // H

    class Norm(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.g = nn.Parameter(torch.zeros(n))

        def forward(self, x):
            return (1 + self.g) * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)

    def rope(x, pos):
        freqs = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        ang = pos[:, None].float() * freqs[None, :]
        cos, sin = ang.cos(), ang.sin()
        x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)

    class Attn(nn.Module):
        def __init__(self, n_layers):
            super().__init__()
            self.q = nn.Linear(d, H * hd, bias=False)
            self.k = nn.Linear(d, KV * hd, bias=False)
            self.v = nn.Linear(d, KV * hd, bias=False)
            self.o = nn.Linear(H * hd, d, bias=False)
            for lin in (self.q, self.k, self.v):
                nn.init.normal_(lin.weight, std=0.02)
            nn.init.normal_(self.o.weight, std=0.02 / math.sqrt(2 * n_layers))
            self.q_norm, self.k_norm = Norm(hd), Norm(hd)

        def forward(self, x, kv, mask, pos_q=None, pos_k=None):
            B, Tq, _ = x.shape
            Tk = kv.shape[1]
            q = self.q_norm(self.q(x).view(B, Tq, H, hd).transpose(1, 2))
            k = self.k_norm(self.k(kv).view(B, Tk, KV, hd).transpose(1, 2))
            v = self.v(kv).view(B, Tk, KV, hd).transpose(1, 2)
            if pos_q is not None:
                q, k = rope(q, pos_q), rope(k, pos_k)
            k = k.repeat_interleave(H // KV, dim=1)
            v = v.repeat_interleave(H // KV, dim=1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
            s = s.masked_fill(~mask, torch.finfo(s.dtype).min)
            o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, Tq, H * hd)
            return self.o(o)

    class Needle(nn.Module):
        def __init__(self):
            super().__init__()
            L = cfg["num_encoder_layers"] + cfg["num_decoder_layers"]
            self.embed = nn.Embedding(cfg["vocab_size"], d)
            nn.init.normal_(self.embed.weight, std=0.02)
            self.enc = nn.ModuleList()
            for _ in range(cfg["num_encoder_layers"]):
                m = nn.Module()
                m.norm, m.attn, m.gate = Norm(d), Attn(L), nn.Parameter(torch.zeros(()))
                self.enc.append(m)
            self.dec = nn.ModuleList()
            for _ in range(cfg["num_decoder_layers"]):
                m = nn.Module()
                m.self_norm, m.self_attn, m.self_gate = Norm(d), Attn(L), nn.Parameter(torch.zeros(()))
                m.cross_norm, m.cross_attn, m.cross_gate = Norm(d), Attn(L), nn.Parameter(torch.zeros(()))
                self.dec.append(m)
            self.enc_final, self.dec_final = Norm(d), Norm(d)

        def forward(self, src, tgt):
            B, S = src.shape
            T = tgt.shape[1]
            smask = (src != 0)[:, None, None, :]
            spos, tpos = torch.arange(S), torch.arange(T)
            x = self.embed(src) * math.sqrt(d)
            for m in self.enc:
                x = x + torch.sigmoid(m.gate) * m.attn(m.norm(x), m.norm(x), smask, spos, spos)
            e = self.enc_final(x)
            causal = (tpos[None, :] <= tpos[:, None])[None, None]
            y = self.embed(tgt) * math.sqrt(d)
            for m in self.dec:
                h = m.self_norm(y)
                y = y + torch.sigmoid(m.self_gate) * m.self_attn(h, h, causal, tpos, tpos)
                y = y + torch.sigmoid(m.cross_gate) * m.cross_attn(m.cross_norm(y), e, smask)
            return self.dec_final(y) @ self.embed.weight.T

    return Needle()


def export_tensors(model, cfg):
    """torch module -> thimble's canonical tensor names (float32 numpy)."""
    t = {"embed": model.embed.weight}
    for i, m in enumerate(model.enc):
        p = f"enc.{i}"
        t.update({f"{p}.attn_norm": m.norm.g, f"{p}.attn_gate": m.gate})
        t.update(_attn(f"{p}.attn", m.attn))
    for i, m in enumerate(model.dec):
        p = f"dec.{i}"
        t.update({f"{p}.self_norm": m.self_norm.g, f"{p}.self_gate": m.self_gate,
                  f"{p}.cross_norm": m.cross_norm.g, f"{p}.cross_gate": m.cross_gate})
        t.update(_attn(f"{p}.self_attn", m.self_attn))
        t.update(_attn(f"{p}.cross_attn", m.cross_attn))
    t["enc.final_norm"], t["dec.final_norm"] = model.enc_final.g, model.dec_final.g
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in t.items()}


def _attn(p, a):
    return {f"{p}.q": a.q.weight, f"{p}.k": a.k.weight, f"{p}.v": a.v.weight, f"{p}.o": a.o.weight,
            f"{p}.q_norm": a.q_norm.g, f"{p}.k_norm": a.k_norm.g}


def batches(rows, batch, rng):
    order = rng.permutation(len(rows))
    for i in range(0, len(order) - batch + 1, batch):
        yield [rows[j] for j in order[i:i + batch]]


def pad(seqs, value=0):
    n = max(len(s) for s in seqs)
    return np.array([s + [value] * (n - len(s)) for s in seqs], dtype=np.int64)


def evaluate_float(ckpt, sp, examples, max_new):
    """Exact match of greedy answers with thimble's numpy float forward."""
    from thimble.model import FloatNeedle, load_checkpoint
    fm = FloatNeedle(load_checkpoint(ckpt))
    ok = 0
    for ex in examples:
        enc, _, _ = encode_example(sp, ex, 10 ** 6)
        out = fm.greedy(np.array(enc), max_new_tokens=max_new)
        if out and out[0] == 4:
            try:
                ok += int(json.loads(sp.decode(out[1:])) == ex["answer"])
            except ValueError:
                pass
    return ok / len(examples)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/watch-tiny")
    ap.add_argument("--vocab", type=int, default=768)
    ap.add_argument("--d-model", type=int, default=96)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--enc-layers", type=int, default=2)
    ap.add_argument("--dec-layers", type=int, default=2)
    ap.add_argument("--examples", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--max-enc", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch
    from thimble.model import NeedleConfig, NeedleModel
    from thimble.model.synth import save_needle_pickle

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    train = tiny_data.dataset(args.examples, seed=args.seed + 1)
    held = tiny_data.dataset(200, seed=args.seed + 1000)
    texts = []
    for ex in train[:5000]:
        texts += [ex["query"], tiny_data.tools_json(ex["tools"]), tiny_data.answer_json(ex["answer"])]
    sp = train_tokenizer(texts, os.path.join(args.out, "tokenizer"), args.vocab)
    os.remove(os.path.join(args.out, "tokenizer.vocab"))
    rows = [encode_example(sp, ex, args.max_enc) for ex in train]
    max_len = max(len(r[0]) for r in rows)
    cfg = dict(vocab_size=args.vocab, d_model=args.d_model, num_heads=args.heads, num_kv_heads=args.kv_heads,
               num_encoder_layers=args.enc_layers, num_decoder_layers=args.dec_layers, d_ff=4 * args.d_model,
               max_seq_len=args.max_enc, rope_theta=10000.0, dtype="float32")
    model = build_torch_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    rng = np.random.default_rng(args.seed)
    t0, step, log = time.time(), 0, []
    while step < args.steps:
        for b in batches(rows, args.batch, rng):
            src = torch.from_numpy(pad([r[0] for r in b]))
            tin = torch.from_numpy(pad([r[1] for r in b]))
            tout = torch.from_numpy(pad([r[2] for r in b], value=-100))
            logits = model(src, tin)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tout.reshape(-1),
                                                     ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % 100 == 0 or step == args.steps:
                log.append({"step": step, "loss": float(loss.detach()), "seconds": round(time.time() - t0, 1)})
                print(f"step {step}/{args.steps}  loss {float(loss):.4f}  {time.time() - t0:.0f} s", flush=True)
            if step >= args.steps:
                break

    config = NeedleConfig(**cfg)
    ckpt = os.path.join(args.out, "needle.pkl")
    save_needle_pickle(NeedleModel.build(config, export_tensors(model, cfg), source="tools/train_tiny.py"), ckpt)
    with open(os.path.join(args.out, "tools.json"), "w") as f:
        json.dump(tiny_data.TOOLS, f, indent=1)
    for name, exs in (("eval.jsonl", held[:100]), ("calib.jsonl", held[100:132])):
        with open(os.path.join(args.out, name), "w") as f:
            for ex in exs:
                f.write(json.dumps({"query": ex["query"], "tools": [t["name"] for t in ex["tools"]],
                                    "answer": ex["answer"]}) + "\n")
    acc = evaluate_float(ckpt, sp, held[:100], max_new=48)
    summary = dict(config=cfg, steps=args.steps, batch=args.batch, lr=args.lr, examples=args.examples,
                   train_seconds=round(time.time() - t0, 1), final_loss=log[-1]["loss"], max_enc_tokens=max_len,
                   heldout_exact_match_float=acc, log=log)
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"held-out exact match (thimble float forward): {acc:.1%}")


if __name__ == "__main__":
    main()
