"""`--plot FILE.png` for the benches (the plot extra: matplotlib).

Each bench hands its result dict (what it writes as JSON) to `plot`, which
picks the chart by res["benchmark"]:

    thimble bench model            tok/s by backend, prefill and decode (peers included)
    thimble bench model --board    instructions per token by model part (--profile)
    thimble bench link             share of line rate against frame loss, one line per baud

The figures come from the dict only, so a saved JSON can be drawn again:
plot(json.load(open(path)), "out.png").
"""
import os

from ..core.errors import CommandError, UsageError

EXTRA = "pip install 'thimble[plot]' (the plot extra)"


def require():
    """UsageError naming the plot extra when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"--plot needs matplotlib, which is not installed: {EXTRA}") from None


def _pyplot():
    require()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, plt, path):
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return path


def model_rows(res):
    """[(label, prefill tok/s, decode tok/s)] of a host `bench model` result."""
    rows = []
    peers = res.get("peers")
    if peers:
        names = {"thimble": f"thimble int8 ({res['c']['isa']})", "onnxruntime-int8": "onnxruntime int8",
                 "onnxruntime-fp32": "onnxruntime fp32"}
        rows += [(names.get(k, k), s["prefill_tok_s"], s["decode_tok_s"]) for k, s in peers["sides"].items()]
    else:
        rows.append((f"thimble int8 ({res['c']['isa']})", res["c"]["prefill_tok_s"], res["c"]["decode_tok_s"]))
    if res.get("float"):
        rows.append(("numpy fp32 (FloatNeedle)", res["float"]["prefill_tok_s"], res["float"]["decode_tok_s"]))
    return rows


def plot_model(res, path):
    plt = _pyplot()
    rows = model_rows(res)
    s = res["settings"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.6 * len(rows) + 2.2))
    labels = [r[0] for r in rows]
    colors = ["#1f77b4" if lab.startswith("thimble") else "#999999" for lab in labels]
    for ax, col, title in ((axes[0], 1, f"prefill ({s['prompt_tokens']}-token prompt)"),
                           (axes[1], 2, f"decode ({s['gen_tokens']} steps)")):
        vals = [r[col] for r in rows]
        bars = ax.barh(range(len(rows)), vals, color=colors)
        ax.set_yticks(range(len(rows)), labels if col == 1 else [""] * len(rows))
        ax.invert_yaxis()
        ax.set_xlabel("tokens/s, one thread")
        ax.set_title(title)
        ax.bar_label(bars, [f"{v:,.0f}" for v in vals], padding=3, fontsize=8)
        ax.set_xlim(0, max(vals) * 1.2)
    how = f"median of {res['peers']['rounds']} alternating rounds" if res.get("peers") else \
        f"best of {s['repeat']}"
    cpu = res["machine"]["cpu_model"]
    if res["machine"].get("cpu_view"):       # --cpu: say what every side saw
        cpu += f", seen as {res['machine']['cpu_view']['name']} (CPUID faulting)"
    fig.suptitle(f"thimble bench model: {s['model']}, {how}\n{cpu}", fontsize=9)
    return _save(fig, plt, path)


def plot_profile(res, path):
    r = res["result"]
    if "profile" not in r:
        raise CommandError("--plot: this result has no profile to draw"
                           + (f" (the board refused the model: {'; '.join(r['refused'])})" if "refused" in r else
                              " (run with --profile)"))
    plt = _pyplot()
    d = r["device"]
    pre = {k: v / max(1, d["prompt_tokens"]) for k, v in r["profile"]["prefill"].items()}
    dec = dict(r["profile"]["decode_per_token"])
    parts = sorted(set(pre) | set(dec), key=lambda k: -(pre.get(k, 0) + dec.get(k, 0)))
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.32 * len(parts) + 2))
    for ax, vals, title in ((axes[0], pre, f"prefill, per prompt token ({d['prompt_tokens']} tokens)"),
                            (axes[1], dec, f"decode, per token ({d['gen_tokens']} steps)")):
        v = [max(0, vals.get(k, 0)) for k in parts]
        total = sum(v) or 1
        bars = ax.barh(range(len(parts)), v, color="#1f77b4")
        ax.set_yticks(range(len(parts)), parts)
        ax.invert_yaxis()
        ax.set_xlabel("instructions")
        ax.set_title(f"{title}: {sum(v):,.0f} in all", fontsize=9)
        ax.bar_label(bars, [f"{x / total:.0%}" for x in v], padding=3, fontsize=8)
        ax.set_xlim(0, max(v + [1]) * 1.2)
    fig.suptitle(f"thimble bench model --board {r['board']} --profile: {res['settings']['model']} "
                 f"(QEMU -icount, instructions per token)", fontsize=9)
    return _save(fig, plt, path)


def plot_link(res, path):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    runs = [x for x in res["runs"] if not x.get("byte_errors")]
    if not runs:
        raise CommandError("--plot: no run without byte errors to draw against frame loss")
    for baud in sorted({x["baud"] for x in runs}):
        mine = [x for x in runs if x["baud"] == baud]
        losses = sorted({x["loss"] for x in mine})
        med = []
        for loss in losses:
            shares = sorted(x["share_of_line_rate"] for x in mine if x["loss"] == loss)
            med.append(shares[len(shares) // 2] if len(shares) % 2 else
                       (shares[len(shares) // 2 - 1] + shares[len(shares) // 2]) / 2)
        line, = ax.plot([100 * v for v in losses], [100 * v for v in med], marker="o", label=f"{baud} baud")
        ax.scatter([100 * x["loss"] for x in mine], [100 * x["share_of_line_rate"] for x in mine],
                   s=10, color=line.get_color(), alpha=0.5)
    where = {"share_0_loss": "no loss", "share_1pct_loss": "up to 1% loss"}
    for name, v in res.get("targets", {}).items():
        ax.axhline(100 * v, ls="--", lw=0.8, color="#888888")
        ax.annotate(f"target {100 * v:.0f}%, {where.get(name, name)}", (0.99, 100 * v), xycoords=("axes fraction",
                    "data"), ha="right", va="bottom", fontsize=7, color="#666666")
    ax.set_xlabel("frame loss, each direction (%)")
    ax.set_ylabel("deploy throughput, % of line rate")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    s = res["settings"]
    ax.set_title(f"thimble bench link: {s['image_bytes']:,}-byte image (line: median of seeds, dots: each seed)",
                 fontsize=9)
    return _save(fig, plt, path)


CHARTS = {"thimble bench model": plot_model, "thimble bench model --board": plot_profile,
          "thimble bench link": plot_link}


def plot(res, path):
    """Draw the result dict of a bench at path (PNG)."""
    chart = CHARTS.get(res.get("benchmark"))
    if chart is None:
        raise UsageError(f"--plot draws {', '.join(CHARTS)}; not {res.get('benchmark')!r}")
    return chart(res, path)
