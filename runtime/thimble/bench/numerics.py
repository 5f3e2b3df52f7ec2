"""`thimble bench numerics`: the error of each integer kernel against a float64
computation of the same op, for the choices the reference made and for the
alternatives it did not make. The figures in docs/numerics.md come from here.

    thimble bench numerics                  # Needle sizes, about 20 s; JSON + table
    thimble bench numerics --quick          # fewer rows and lengths: about a second
    thimble bench numerics --tokens 8 --seq-lens 16,32 --json /tmp/n.json

"The same op" means the float64 side gets exactly the integer side's inputs
(int8/int16 values times their scales), so each figure is the error the op
itself adds, not the error of quantizing its inputs. Where the output is int8,
the table also gives the error of rounding the exact float64 result to that
int8 grid (`floor`): no int8 kernel can do better.

The chosen kernels run on --backend (default "c", bit-exact with the
reference); the alternatives are emulated here in numpy, by the same
algorithm with other widths, and the emulation of the chosen softmax is
checked bit for bit against the backend (the JSON says so).
"""
import argparse
import math
import os
import sys
import time

import numpy as np

from ..core.errors import CommandError, UsageError
from ..kernels import BackendUnavailable, get_backend
from ..kernels import reference as ref
from ..kernels import tables
from .results import save

DEFAULT_JSON = os.path.join("bench-results", "numerics.json")

# Needle (shared/reference/needle-v1.md): d_model 512, 8 query heads over 4
# key/value heads of 64, 12 encoder layers (one gated sublayer each) and 8
# decoder layers (two: self- and cross-attention), eps 1e-6.
D_MODEL, N_HEADS, N_KV_HEADS, HEAD_DIM = 512, 8, 4, 64
STACKS = (("encoder", 12), ("decoder", 16))          # gated updates per stack
NORM_EPS = 1e-6
SEQ_LENS = (16, 64, 256, 1024)
QUICK_SEQ_LENS = (16, 256)


def add_arguments(p):
    p.add_argument("--quick", action="store_true",
                   help="fewer rows and sequence lengths: a few seconds")
    p.add_argument("--tokens", type=int, metavar="T",
                   help="rows of the residual stream, query rows per softmax case "
                        "(default 64; 8 with --quick)")
    p.add_argument("--seq-lens", metavar="LIST",
                   help="comma-separated key lengths for softmax (default 16,64,256,1024; "
                        "16,256 with --quick)")
    p.add_argument("--backend", default="c", metavar="NAME",
                   help="kernel backend for the chosen kernels (default: %(default)s)")
    p.add_argument("--seed", type=int, default=20240601, help="random seed (default %(default)s)")
    p.add_argument("--json", metavar="PATH", default=DEFAULT_JSON,
                   help="where to write the results (default: %(default)s)")


# --- metrics ------------------------------------------------------------------

def metrics(approx, exact):
    """Error of `approx` against `exact` (same shape, real units): max abs, RMS,
    relative (RMS error / RMS of exact) and cosine similarity, over all values."""
    a = np.asarray(approx, dtype=np.float64).ravel()
    e = np.asarray(exact, dtype=np.float64).ravel()
    err = a - e
    rms_e = math.sqrt(float(np.mean(e * e)))
    na, ne = float(np.linalg.norm(a)), float(np.linalg.norm(e))
    return {
        "max_abs": float(np.max(np.abs(err))),
        "rms": math.sqrt(float(np.mean(err * err))),
        "rel": math.sqrt(float(np.mean(err * err))) / rms_e if rms_e > 0 else 0.0,
        "cos": float(a @ e) / (na * ne) if na > 0 and ne > 0 else 0.0,
    }


def q8(x, scale):
    """Round real values to the int8 grid [-127, 127] of `scale` (the quantizer's rule)."""
    return np.clip(np.round(x / scale), -127, 127).astype(np.int8)


def lsb_off(y, exact, scale):
    """Largest distance, in output steps, between an int8 output and the exact
    result rounded to the same grid: 0 means the kernel rounds perfectly."""
    best = np.clip(np.round(np.asarray(exact) / scale), -128, 127)
    return int(np.max(np.abs(np.asarray(y, dtype=np.int64) - best)))


def absmax_scale(x, levels=127, headroom=1.0):
    return max(float(np.max(np.abs(x))), 1e-30) * headroom / levels


def _mult(real):
    return ref.quantize_multiplier(float(real))


# --- softmax --------------------------------------------------------------------

def exp_tables(frac_bits, table_bits):
    """Two tables like tables.py: exp(-a) for a = 0..15 and exp(-b / 2^frac_bits)
    for b < 2^frac_bits, rounded to table_bits fractional bits."""
    hi = np.round(np.exp(-np.arange(tables.EXP_HI_LEN, dtype=np.float64)) * (1 << table_bits))
    lo = np.round(np.exp(-np.arange(1 << frac_bits, dtype=np.float64) / (1 << frac_bits))
                  * (1 << table_bits))
    return hi.astype(np.int64), lo.astype(np.int64)


def softmax_int(scores, c, frac_bits=8, table_bits=15, out_bits=15):
    """softmax_q15's algorithm on rows of int32 scores [R, n] with other widths:
    score differences in Q`frac_bits`, exp tables with `table_bits` fractional
    bits, probabilities with `out_bits` (15: Q15 int16; 8: uint8 in 1/256 as
    CMSIS-NN's s8 softmax; 7: Q7). c is the real value of one score unit.
    (8, 15, 15) is the reference exactly; run() checks that against the backend."""
    s = np.asarray(scores, dtype=np.int64)
    mult, shift = _mult(c * (1 << frac_bits))
    diff_max = min(int(16.0 / c), (1 << 31) - 1)
    hi, lo = exp_tables(frac_bits, table_bits)
    diff = s.max(axis=-1, keepdims=True) - s
    keep = diff <= diff_max
    z = ref.requantize(np.where(keep, diff, 0), mult, shift)
    inside = keep & (z < (tables.EXP_HI_LEN << frac_bits))
    zc = np.where(inside, z, 0)
    e = hi[zc >> frac_bits] * lo[zc & ((1 << frac_bits) - 1)]
    e = (e + (1 << (table_bits - 1))) >> table_bits
    e = np.where(inside, e, 0)
    total = e.sum(axis=-1, keepdims=True)
    inv = (np.int64(1) << (31 + out_bits)) // total
    p = (e * inv + (1 << 30)) >> 31
    return np.minimum(p, (1 << out_bits) - 1), (mult, shift, diff_max)


def softmax_f64(scores, c):
    x = np.asarray(scores, dtype=np.float64) * c
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def kl_rows(p_int, p_f):
    """Mean over rows of KL(p_int || p_f) in nats, p_int renormalised to sum 1.
    This direction is finite: p_f > 0 everywhere; p_int may hold zeros."""
    q = p_int / p_int.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(q > 0, q * np.log(q / p_f), 0.0)
    return float(np.mean(t.sum(axis=-1)))


SOFTMAX_VARIANTS = [
    # name, frac_bits, table_bits, out_bits, what it is
    ("Q15 out, Q8 diff, Q15 tables (chosen)", 8, 15, 15, "reference softmax_q15"),
    ("uint8 out 1/256 (CMSIS-NN s8)", 8, 15, 8, "probabilities rounded to 8 bits"),
    ("Q7 out 1/128", 8, 15, 7, "probabilities in Q7 int8"),
    ("coarse exp: Q4 diff, 16-entry table", 4, 15, 15, "score differences in 1/16"),
    ("coarse exp: Q8 table entries", 8, 8, 15, "exp tables with 8 fractional bits"),
]


def qk_inputs(rng, Tq, Tk, gain):
    """QK-normed q [Tq, H, D] and k [Tk, Hkv, D] (rms 1 per head, times a gain
    1 + g near `gain`) and v [Tk, Hkv, D], as int8 with per-tensor scales."""
    def normed(shape):
        x = rng.standard_normal(shape)
        x /= np.sqrt(np.mean(x * x, axis=-1, keepdims=True))
        return x * (gain + 0.1 * rng.standard_normal(shape[-1]))
    qf, kf = normed((Tq, N_HEADS, HEAD_DIM)), normed((Tk, N_KV_HEADS, HEAD_DIM))
    vf = rng.standard_normal((Tk, N_KV_HEADS, HEAD_DIM))
    sq, sk, sv = absmax_scale(qf), absmax_scale(kf), absmax_scale(vf)
    return q8(qf, sq), q8(kf, sk), q8(vf, sv), sq, sk, sv


def bench_softmax(backend, rng, Tq, seq_lens, log):
    rows_out, exact_all = [], True
    group = N_HEADS // N_KV_HEADS
    for regime, gain in (("diffuse", 1.0), ("peaked", 2.5)):
        for Tk in seq_lens:
            q, k, v, sq, sk, sv = qk_inputs(rng, Tq, Tk, gain)
            c = sq * sk / math.sqrt(HEAD_DIM)           # real value of one unit of q.k
            # scores [Tq * H, Tk] and the value rows each query row reads [Tq * H, Tk, D]
            kh = np.repeat(k.astype(np.int64), group, axis=1)                   # [Tk, H, D]
            scores = np.einsum("thd,khd->thk", q.astype(np.int64), kh).reshape(-1, Tk)
            vh = np.repeat(v.astype(np.int64), group, axis=1)                   # [Tk, H, D]
            pv = lambda p: np.einsum("thk,khd->thd", p.reshape(Tq, N_HEADS, Tk),  # noqa: E731
                                     vh).reshape(Tq * N_HEADS, HEAD_DIM)
            p_f = softmax_f64(scores, c)
            o_f = pv(p_f) * sv
            s_mix = absmax_scale(o_f)
            case = {"regime": regime, "Tq": Tq, "Tk": Tk, "score_std": float(np.std(scores * c)),
                    "max_p_mean": float(np.mean(p_f.max(axis=-1))), "variants": {}}
            for name, fb, tb, ob, _ in SOFTMAX_VARIANTS:
                p_i, (mult, shift, diff_max) = softmax_int(scores, c, fb, tb, ob)
                if ob == 15 and fb == 8 and tb == 15:
                    got = np.stack([backend.softmax_q15(s.astype(np.int32), mult, shift, diff_max)
                                    for s in scores]).astype(np.int64)
                    exact_all &= bool(np.array_equal(got, p_i))
                    p_i = got                                # the kernel's own output
                p_r = p_i / float(1 << ob)
                acc = pv(p_i)                                # int32 P.V accumulator
                o_i = acc * (sv / (1 << ob))
                mm, ms = _mult(sv / (s_mix * (1 << ob)))
                o8 = np.clip(ref.requantize(acc, mm, ms), -128, 127)
                case["variants"][name] = {
                    "p": metrics(p_r, p_f),
                    "kl": kl_rows(p_r, p_f),
                    "mass_lost_max": float(np.max(np.abs(1.0 - p_r.sum(axis=-1)))),
                    "rows_one_hot": float(np.mean((p_i > 0).sum(axis=-1) == 1)),
                    "pv": metrics(o_i, o_f),
                    "pv_int8": metrics(o8 * s_mix, o_f),
                    "pv_int8_lsb_off": lsb_off(o8, o_f, s_mix),
                }
            case["pv_int8_floor"] = metrics(q8(o_f, s_mix) * s_mix, o_f)
            rows_out.append(case)
            ch = case["variants"][SOFTMAX_VARIANTS[0][0]]
            log(f"  softmax {regime:>7} Tk={Tk:>4}: chosen p rel {ch['p']['rel']:.2e}, "
                f"P.V rel {ch['pv']['rel']:.2e}")
    return rows_out, exact_all


# --- residual stream ------------------------------------------------------------

def stream_inputs(rng, T, n_updates, outliers):
    """A float residual stream's ingredients: int8 embedding rows (scale per
    row) and n_updates int8 sublayer outputs (scale per tensor) with gates.
    With `outliers`, 4 channels get same-signed updates every layer, so they
    grow to tens of times the others (the 'massive activations' of trained
    transformers); without, every channel is a random walk."""
    V = 256
    emb_f = rng.standard_normal((V, D_MODEL)) / math.sqrt(D_MODEL)   # rows of rms 1/sqrt(d)
    s_row = np.max(np.abs(emb_f), axis=1) / 127
    table = np.clip(np.round(emb_f / s_row[:, None]), -127, 127).astype(np.int8)
    tokens = rng.integers(0, V, T).astype(np.int32)
    out_ch = rng.choice(D_MODEL, 4, replace=False)
    signs = rng.choice([-1.0, 1.0], 4)
    updates = []
    for _ in range(n_updates):
        y = rng.standard_normal((T, D_MODEL)) * rng.uniform(0.5, 1.5)
        if outliers:
            y[:, out_ch] = signs * 8.0 * (1.0 + 0.2 * rng.standard_normal((T, 4)))
        s_y = absmax_scale(y)
        gate = 1.0 / (1.0 + math.exp(-rng.normal(0.0, 1.0)))
        updates.append((q8(y, s_y), s_y, gate))
    return table, s_row, tokens, updates


def rmsnorm_f64(x, gain=1.0, eps=NORM_EPS):
    return gain * x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def norm_of_stream(backend, r_int, s_r, r_f):
    """The stream's consumer: its pre-norm (gain 1) to int8, against float64."""
    y_f = rmsnorm_f64(r_f)
    s_out = absmax_scale(y_f)
    gm, gs = _mult(1.0 / (s_out * (1 << 15)))
    eps_q16 = min(int(round(NORM_EPS / s_r ** 2 * 65536)), 1 << 40)
    D = r_int.shape[1]
    y = backend.rmsnorm_s8(r_int, np.full(D, gm, np.int32), np.full(D, gs, np.int32), eps_q16)
    return (metrics(y.astype(np.float64) * s_out, y_f)["cos"],
            metrics(q8(y_f, s_out).astype(np.float64) * s_out, y_f)["cos"])


def bench_residual(backend, rng, T, log):
    out = []
    for dist, outliers in (("gaussian", False), ("outliers", True)):
        for stack, n in STACKS:
            table, s_row, tokens, updates = stream_inputs(rng, T, n, outliers)
            scale_e = math.sqrt(D_MODEL)
            # float64: the same op on the same int8 inputs
            r_f = table[tokens].astype(np.float64) * (s_row[tokens] * scale_e)[:, None]
            stream_f = [r_f]
            for y, s_y, g in updates:
                r_f = r_f + g * y.astype(np.float64) * s_y
                stream_f.append(r_f)
            amax = max(float(np.max(np.abs(r))) for r in stream_f)   # calibration, one per stack
            variants = {
                # name: (levels, headroom, dtype); int16 is what the quantizer does
                "int16, scale absmax x2 / 32767 (chosen)": (32767, 2.0, np.int16),
                "int8, scale absmax / 127": (127, 1.0, np.int8),
                "int8, scale absmax x2 / 127": (127, 2.0, np.int8),
            }
            case = {"distribution": dist, "stack": stack, "updates": n, "T": T,
                    "absmax": amax, "rms_first": float(np.sqrt(np.mean(stream_f[0] ** 2))),
                    "rms_last": float(np.sqrt(np.mean(stream_f[-1] ** 2))), "variants": {}}
            for name, (levels, headroom, dt) in variants.items():
                s_r = amax * headroom / levels
                em = [_mult(s * scale_e / s_r) for s in s_row]
                e_mult = np.array([m for m, _ in em], np.int32)
                e_shift = np.array([s for _, s in em], np.int32)
                if dt == np.int16:
                    r = backend.embed_s16(tokens, table, e_mult, e_shift)
                else:                                    # the int8 stream is emulated
                    rows = table[tokens].astype(np.int64)
                    r = np.clip(ref.requantize(rows, e_mult[tokens][:, None],
                                               e_shift[tokens][:, None]), -128, 127).astype(np.int8)
                per_layer = [metrics(r * s_r, stream_f[0])]
                norm_cos = [norm_of_stream(backend, r, s_r, stream_f[0])]
                for i, (y, s_y, g) in enumerate(updates):
                    m, sh = _mult(g * s_y / s_r)
                    if dt == np.int16:
                        r = backend.residual_gated_s16(r, y, m, sh)
                    else:
                        r = np.clip(r.astype(np.int64) + ref.requantize(y, m, sh),
                                    -128, 127).astype(np.int8)
                    per_layer.append(metrics(r * s_r, stream_f[i + 1]))
                    norm_cos.append(norm_of_stream(backend, r, s_r, stream_f[i + 1]))
                case["variants"][name] = {
                    "scale": s_r,
                    "first": per_layer[0], "last": per_layer[-1],
                    "worst_rel": max(m["rel"] for m in per_layer),
                    "worst_cos": min(m["cos"] for m in per_layer),
                    "norm_cos_worst": min(c for c, _ in norm_cos),
                    "norm_cos_floor_worst": min(f for _, f in norm_cos),
                }
            out.append(case)
            ch = case["variants"]["int16, scale absmax x2 / 32767 (chosen)"]
            log(f"  residual {dist:>8} {stack}: int16 worst rel {ch['worst_rel']:.2e}")
    return out


# --- rmsnorm ----------------------------------------------------------------------

def bench_rmsnorm(backend, rng, T):
    """Pre-norm on the int16 stream (d 512, with outlier channels) and QK-norm on
    int8 q rows (per head of 64): the kernel's int8 output against float64 and
    against the int8 grid's floor."""
    out = []
    x = rng.standard_normal((T, D_MODEL)) * np.exp(rng.normal(0, 0.5, (T, 1)))
    x[:, :4] *= 30.0                                       # outlier channels
    cases = [("pre-norm, int16 stream, D 512", x, 32767, 2.0, D_MODEL),
             ("QK-norm, int8 q, D 64", rng.standard_normal((T * N_HEADS, HEAD_DIM)), 127, 1.0,
              HEAD_DIM)]
    for name, xf, levels, headroom, D in cases:
        s_in = absmax_scale(xf, levels, headroom)
        dt = np.int16 if levels > 127 else np.int8
        xi = np.clip(np.round(xf / s_in), -levels, levels).astype(dt)
        gain = 1.0 + 0.2 * rng.standard_normal(D)
        y_f = rmsnorm_f64(xi.astype(np.float64) * s_in, gain)
        s_out = absmax_scale(y_f)
        gm = [_mult(g / (s_out * (1 << 15))) for g in gain]
        eps_real = NORM_EPS / s_in ** 2 * 65536
        eps_q16 = int(round(eps_real))
        y = backend.rmsnorm_s8(xi, np.array([m for m, _ in gm], np.int32),
                               np.array([s for _, s in gm], np.int32), eps_q16)
        out.append({"case": name, "rows": int(xi.shape[0]), "D": D, "input_scale": s_in,
                    "eps_q16": eps_q16,
                    "eps_rel_rounding": abs(eps_q16 - eps_real) / eps_real,
                    "kernel": metrics(y.astype(np.float64) * s_out, y_f),
                    "lsb_off": lsb_off(y, y_f, s_out),
                    "floor": metrics(q8(y_f, s_out).astype(np.float64) * s_out, y_f)})
    return out


# --- rope ---------------------------------------------------------------------------

def rope_f64(x, pos, theta=10000.0):
    """Half-split RoPE of x [T, H, D] at positions pos [T], exact cos/sin."""
    half = x.shape[-1] // 2
    inv = 1.0 / theta ** (np.arange(half) * 2.0 / x.shape[-1])
    ang = pos[:, None, None] * inv[None, None, :]
    c, s = np.cos(ang), np.sin(ang)
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


def bench_rope(backend, rng, T, max_pos):
    """QK-normed q rows (8 heads of 64) at positions spread over 0..max_pos-1."""
    out = []
    cos, sin = ref.rope_tables(HEAD_DIM, max_pos)
    for pos0 in sorted({0, max_pos // 2, max_pos - T}):
        xf = rng.standard_normal((T, N_HEADS, HEAD_DIM))
        s = absmax_scale(xf)
        xi = q8(xf, s)
        y = backend.rope_s8(xi.reshape(T, -1), N_HEADS, cos, sin, pos0)
        y = y.reshape(T, N_HEADS, HEAD_DIM)
        y_f = rope_f64(xi.astype(np.float64) * s, np.arange(pos0, pos0 + T, dtype=np.float64))
        out.append({"positions": [pos0, pos0 + T - 1], "scale": s,
                    "saturated": int(np.sum(np.abs(np.round(y_f / s)) > 127)),
                    "kernel": metrics(y.astype(np.float64) * s, y_f),
                    "lsb_off": lsb_off(y, y_f, s),
                    "floor": metrics(np.clip(np.round(y_f / s), -128, 127) * s, y_f)})
    return out


# --- output -----------------------------------------------------------------------------

def _table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                                    for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _e(v):
    return f"{v:.2e}"


def _c(v):
    return f"{v:.6f}"


def print_report(result, out=sys.stdout):
    print("\nsoftmax vs float64 softmax of the same int32 scores; P.V = sum p v (int32 "
          "accumulator, before requantization); KL(int || float) in nats, mean per row", file=out)
    body = []
    for case in result["softmax"]:
        for name, v in case["variants"].items():
            body.append([f"{case['regime']} Tk={case['Tk']}", name, _e(v["p"]["max_abs"]),
                         _e(v["p"]["rms"]), _e(v["p"]["rel"]), _e(v["kl"]), _e(v["mass_lost_max"]),
                         _e(v["pv"]["rel"]), _c(v["pv"]["cos"]), _e(v["pv_int8"]["rel"]),
                         v["pv_int8_lsb_off"]])
        body.append([f"{case['regime']} Tk={case['Tk']}", "(int8 grid floor of P.V)", "", "", "",
                     "", "", "", "", _e(case["pv_int8_floor"]["rel"]), 0])
    print(_table(["case", "variant", "p max", "p rms", "p rel", "KL", "mass lost", "PV rel",
                  "PV cos", "PV int8 rel", "LSB off"], body), file=out)

    print("\nresidual stream after each gated update vs float64 of the same updates "
          "(worst over layers); norm cos: its pre-norm output in int8 vs float64", file=out)
    body = []
    for case in result["residual"]:
        for name, v in case["variants"].items():
            body.append([f"{case['distribution']} {case['stack']} ({case['updates']})", name,
                         _e(v["last"]["max_abs"]), _e(v["last"]["rel"]), _e(v["worst_rel"]),
                         _c(v["worst_cos"]), _c(v["norm_cos_worst"]),
                         _c(v["norm_cos_floor_worst"])])
    print(_table(["case", "stream", "last max", "last rel", "worst rel", "worst cos",
                  "norm cos", "norm floor"], body), file=out)

    print("\nrmsnorm and rope, int8 output vs float64 (floor: the exact result rounded to "
          "the same int8 grid; LSB off: largest distance from it in output steps)", file=out)
    body = []
    for r in result["rmsnorm"]:
        body.append([f"rmsnorm {r['case']}", _e(r["kernel"]["max_abs"]), _e(r["kernel"]["rel"]),
                     _c(r["kernel"]["cos"]), _e(r["floor"]["rel"]), r["lsb_off"],
                     f"eps_q16 {r['eps_q16']}"])
    for r in result["rope"]:
        body.append([f"rope positions {r['positions'][0]}..{r['positions'][1]}",
                     _e(r["kernel"]["max_abs"]), _e(r["kernel"]["rel"]), _c(r["kernel"]["cos"]),
                     _e(r["floor"]["rel"]), r["lsb_off"], f"saturated {r['saturated']}"])
    print(_table(["op", "max abs", "rel", "cos", "floor rel", "LSB off", "note"], body), file=out)
    for note in result["notes"]:
        print(f"note: {note}", file=out)


def parse_lens(text):
    try:
        lens = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"--seq-lens: expected comma-separated integers, got {text!r}") from None
    if not lens or any(n < 1 or n > 65536 for n in lens):
        raise UsageError(f"--seq-lens: each length must be in 1..65536, got {text!r}")
    return lens


def run(args):
    quick = args.quick
    T = args.tokens if args.tokens is not None else (8 if quick else 64)
    if not 1 <= T <= 4096:
        raise UsageError(f"--tokens must be in 1..4096, got {T}")
    seq_lens = (parse_lens(args.seq_lens) if args.seq_lens
                else list(QUICK_SEQ_LENS if quick else SEQ_LENS))
    try:
        backend = get_backend(args.backend)
    except BackendUnavailable as e:
        raise CommandError(f"{e}") from e
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    notes = []
    log(f"softmax on {backend.name}, {T} query rows x {N_HEADS} heads, Tk in {seq_lens} ...")
    softmax_rows, exact = bench_softmax(backend, rng, T, seq_lens, log)
    if not exact:
        notes.append("the numpy emulation of the chosen softmax differs from the backend: "
                     "the alternatives' figures are not comparable")
    log(f"residual stream, {T} rows ...")
    residual_rows = bench_residual(backend, rng, T, log)
    max_pos = max(1024, T)
    result = {
        "benchmark": "thimble bench numerics",
        "settings": {"quick": quick, "tokens": T, "seq_lens": seq_lens, "seed": args.seed,
                     "backend": backend.name, "d_model": D_MODEL, "n_heads": N_HEADS,
                     "n_kv_heads": N_KV_HEADS, "head_dim": HEAD_DIM, "norm_eps": NORM_EPS,
                     "stacks": dict(STACKS)},
        "softmax_emulation_exact": exact,
        "softmax": softmax_rows,
        "residual": residual_rows,
        "rmsnorm": bench_rmsnorm(backend, rng, T),
        "rope": bench_rope(backend, rng, T, max_pos),
        "notes": notes,
    }
    result["elapsed_s"] = time.perf_counter() - t0
    print_report(result)
    save(result, args.json)
    return 0 if exact else 1


def main(argv=None):
    p = argparse.ArgumentParser(prog="thimble bench numerics", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
