"""`thimble bench kernels`: GMAC/s of every host kernel backend on Needle's
shapes, against baselines measured in the same run.

    thimble bench kernels                      # all backends, all shapes, JSON + table
    thimble bench kernels --quick              # the same in about 30 s
    thimble bench kernels --backends c:avx2,numba --shapes 1x512x8192
    thimble bench kernels --board watch_m55    # instructions per MAC on a board (device_kernels)

Matmul shapes are M x K x N (x [M, K] . w[N, K]^T): M = 1 is a decode step, 64
and 256 prompt rows; K x N are Needle's projections (512 x 512, 512 x 256) and
its tied output head (512 x 8192). Each backend runs int8 weights (int8 and
int32 out) and int4 weights (matmul_s4, int8 out; the table of int4 over
int8 is per backend, same run). Baselines, timed in the same process:
numpy's int32 matmul (int32 copies made beforehand) and onnxruntime's
MatMulInteger (MLAS) on one thread: uint8 x int8 (its fast path: the
activations shifted by 128 with a zero point of 128) and int8 x int8, with
the weights as a constant initializer (MLAS packs them once, outside the
timing), and uint8 x int8 once more with the weights as an input, packed
every run as thimble's kernels do (their API takes the caller's [N, K]
weights and allocates nothing). Every output is checked against the
reference, and the JSON says whether it was exact.

Timing: each sample runs the call enough times to last --min-time, the best
of --repeat samples is reported (the median too). The C backends are timed
through cffi on buffers prepared once, the others through their
implementation module: the public API's argument checks cost a few
microseconds per call, which would hide the kernel at M = 1 (the JSON holds
the API figure for M = 1 too). Every thimble result is checked against the
reference as well. Other processes may share the machine: compare ratios
within one run rather than figures across runs.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

from ..core.errors import CommandError
from ..kernels import BackendUnavailable, get_backend
from ..kernels.reference import pack_s4, quantize_multiplier, requantize
from .machine import machine_info
from .results import save
from .shapes import parse_shapes, shape_name

DEFAULT_SHAPES = [(m, 512, n) for m in (1, 64, 256) for n in (512, 256, 8192)]
DEFAULT_BACKENDS = ["c:portable", "c:avx2", "c:avxvnni", "c:avx512vnni", "c:amx", "numba"]
DEFAULT_JSON = os.path.join("bench-results", "kernels-host.json")

# Needle's attention: 8 query heads over 4 key/value heads of 64.
ATTN_HEADS, ATTN_KV_HEADS, ATTN_DIM = 8, 4, 64
ATTN_CASES = [("prefill", 256, 256), ("decode", 1, 256)]


def add_arguments(p):
    p.add_argument("--board", metavar="NAME",
                   help="measure on a board (instructions per MAC under QEMU) instead of the host")
    p.add_argument("--backends", metavar="LIST", default=",".join(DEFAULT_BACKENDS),
                   help="comma-separated thimble backends (default: %(default)s); the numpy and "
                        "onnxruntime baselines always run")
    p.add_argument("--shapes", metavar="LIST",
                   help="comma-separated MxKxN matmul shapes (default: M in 1, 64, 256 by "
                        "512x512, 512x256, 512x8192)")
    p.add_argument("--repeat", type=int, metavar="N",
                   help="samples per measurement, best reported (default 7; 3 with --quick)")
    p.add_argument("--min-time", type=float, metavar="S",
                   help="seconds per sample (default 0.02; 0.005 with --quick)")
    p.add_argument("--quick", action="store_true", help="fewer, shorter samples: about 30 s")
    p.add_argument("--no-attention", action="store_true", help="skip the attention timings")
    p.add_argument("--json", metavar="PATH", default=DEFAULT_JSON,
                   help="where to write the results (default: %(default)s)")


# --- timing -------------------------------------------------------------------

class Timer:
    """Best of `repeat` samples, each a loop lasting at least `min_time`; a
    call slower than `budget` / repeat gets fewer samples (at least one)."""

    def __init__(self, repeat, min_time, budget):
        self.repeat, self.min_time, self.budget = repeat, min_time, budget

    def __call__(self, fn):
        fn()                                        # warm up (allocations, JIT, caches)
        t0 = time.perf_counter()
        fn()
        once = time.perf_counter() - t0
        inner = max(1, int(self.min_time / max(once, 1e-9)))
        samples = []
        start = time.perf_counter()
        for _ in range(self.repeat):
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            samples.append((time.perf_counter() - t) / inner)
            if time.perf_counter() - start > self.budget:
                break
        return {"best_s": min(samples), "median_s": statistics.median(samples),
                "samples": len(samples), "calls_per_sample": inner}


# --- inputs -------------------------------------------------------------------

def matmul_inputs(shape, rng):
    M, K, N = shape
    x = rng.integers(-128, 128, (M, K), dtype=np.int8)
    w = rng.integers(-127, 128, (N, K), dtype=np.int8)
    mult, shift = np.zeros(N, np.int32), np.zeros(N, np.int32)
    for i, r in enumerate(rng.uniform(0.5, 2.0, N) / (128.0 * np.sqrt(K))):
        mult[i], shift[i] = quantize_multiplier(float(r))
    bias = rng.integers(-(1 << 16), 1 << 16, N, dtype=np.int32)
    return x, w, mult, shift, bias


# --- implementations ------------------------------------------------------------

def load_backends(names):
    """[(name, Backend)] for those that load; a note for each that does not."""
    out, notes = [], []
    for name in names:
        try:
            b = get_backend(name)
            if name == "numba":
                _numba_one_thread()
            out.append((name, b))
        except BackendUnavailable as e:
            notes.append(f"{name}: skipped ({e})")
        except Exception as e:                      # noqa: BLE001 - a half-written backend
            notes.append(f"{name}: skipped (failed to load: {type(e).__name__}: {e})")
    return out, notes


def _numba_one_thread():
    try:
        import numba
        numba.set_num_threads(1)                    # every figure here is one core
    except Exception:                               # noqa: BLE001
        pass


def impl_call(backend, op):
    """The backend's implementation of `op`, called the way Backend calls it
    but without the argument checks; the public method if that is not possible."""
    impl = getattr(backend, "_impl", None)
    before = getattr(backend, "_before", None)
    fn = getattr(impl, op, None) if impl is not None else None
    if fn is None or before is None:
        return getattr(backend, op), "api"
    before()
    return fn, "impl"


def c_direct_call(name, op, args):
    """For a c:ISA backend: the C function itself through cffi, with the output
    allocated and the pointers cast once, so that a call costs what the kernel
    costs (plus about a microsecond of cffi). None if that is not possible."""
    if not name.startswith("c:"):
        return None
    try:
        from ..kernels import c_backend
        ffi, lib = c_backend.ffi, c_backend.lib
        c_backend.select_isa(name[2:])
    except Exception:                               # noqa: BLE001 - fall back to impl_call
        return None
    p = lambda a, t: ffi.NULL if a is None else ffi.cast(t, ffi.from_buffer(a))  # noqa: E731
    if op == "matmul_s8":
        x, w, mult, shift, bias = args
        M, K, N = x.shape[0], x.shape[1], w.shape[0]
        y = np.empty((M, N), np.int8)
        c = (p(x, "int8_t *"), p(w, "int8_t *"), p(bias, "int32_t *"), p(mult, "int32_t *"),
             p(shift, "int32_t *"), p(y, "int8_t *"), M, K, N)
        f = lib.thm_matmul_s8
    elif op == "matmul_s4":
        x, w4, mult, shift, bias = args
        M, K, N = x.shape[0], x.shape[1], w4.shape[0]
        y = np.empty((M, N), np.int8)
        c = (p(x, "int8_t *"), p(w4, "uint8_t *"), p(bias, "int32_t *"), p(mult, "int32_t *"),
             p(shift, "int32_t *"), p(y, "int8_t *"), M, K, N)
        f = lib.thm_matmul_s4
    elif op == "matmul_s8_s32":
        x, w, bias = args
        M, K, N = x.shape[0], x.shape[1], w.shape[0]
        y = np.empty((M, N), np.int32)
        c = (p(x, "int8_t *"), p(w, "int8_t *"), p(bias, "int32_t *"), p(y, "int32_t *"), M, K, N)
        f = lib.thm_matmul_s8_s32
    else:
        return None
    keep = (args, y)                                # the buffers behind the pointers

    def call():
        if f(*c) != 0:
            raise RuntimeError(f"{name} {op}: C kernel returned an error")
        return keep[1]
    return call


def ort_matmul_session(shape, w, unsigned, b_input=False):
    """onnxruntime MatMulInteger on one thread, B = w^T as a constant (MLAS packs
    it once, at session creation) or, with b_input, as an input (packed per run)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    M, K, N = shape
    a_type = TensorProto.UINT8 if unsigned else TensorProto.INT8
    inputs = ["A", "B"]
    graph_inputs = [helper.make_tensor_value_info("A", a_type, [M, K])]
    inits = []
    if b_input:
        graph_inputs.append(helper.make_tensor_value_info("B", TensorProto.INT8, [K, N]))
    else:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(w.T), "B"))
    if unsigned:
        inputs.append("a_zero_point")
        inits.append(numpy_helper.from_array(np.array(128, np.uint8), "a_zero_point"))
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", inputs, ["Y"])], "matmul_integer", graph_inputs,
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [M, N])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_available():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        return None
    except ImportError as e:
        return f"not installed ({e.name}); pip install onnxruntime onnx"


# --- the runs -------------------------------------------------------------------

def bench_matmul(shapes, backends, timer, rng, log):
    rows = []
    ort_note = ort_available()
    if ort_note:
        log(f"onnxruntime: {ort_note}")
    for shape in shapes:
        M, K, N = shape
        macs = M * K * N
        x, w, mult, shift, bias = matmul_inputs(shape, rng)
        # the reference's definition, with the int64 product made once
        acc = x.astype(np.int64) @ w.astype(np.int64).T
        ref = acc.astype(np.int32)                  # |acc| < 2^31: no wrap
        ref32b = (acc + bias).astype(np.int32)      # bias within 2^16: no wrap
        ref8 = np.clip(requantize(ref32b, mult[None, :], shift[None, :]), -128, 127).astype(np.int8)
        # int4 weights: the same shape with w's values cut to [-8, 7], packed two a byte
        w_4 = np.clip(w, -8, 7)
        w4 = pack_s4(w_4)
        acc4 = (x.astype(np.int64) @ w_4.astype(np.int64).T + bias).astype(np.int32)
        ref4 = np.clip(requantize(acc4, mult[None, :], shift[None, :]), -128, 127).astype(np.int8)
        row = {"shape": shape_name(shape), "M": M, "K": K, "N": N, "macs": macs, "results": {}}

        def record(name, t, **extra):
            t = dict(t)
            t["gmacs"] = macs / t["best_s"] / 1e9
            t["gmacs_median"] = macs / t["median_s"] / 1e9
            t.update(extra)
            row["results"][name] = t

        # numpy: int32 matmul on int32 copies made beforehand
        x32, w32 = x.astype(np.int32), w.astype(np.int32)
        record("numpy int32 matmul", timer(lambda: x32 @ w32.T), op="x32 @ w32.T",
               exact=bool(np.array_equal(x32 @ w32.T, ref)))

        if not ort_note:
            xu = (x.astype(np.int16) + 128).astype(np.uint8)
            for unsigned, label, a, b_input in (
                    (True, "onnxruntime u8s8", xu, False), (False, "onnxruntime s8s8", x, False),
                    (True, "onnxruntime u8s8 B per run", xu, True)):
                try:
                    sess = ort_matmul_session(shape, w, unsigned, b_input)
                    feed = {"A": a}
                    if b_input:
                        feed["B"] = np.ascontiguousarray(w.T)
                    y = sess.run(None, feed)[0]
                    record(label, timer(lambda: sess.run(None, feed)), op="MatMulInteger",
                           exact=bool(np.array_equal(y, ref)))
                except Exception as e:              # noqa: BLE001 - report, go on
                    row["results"][label] = {"error": f"{type(e).__name__}: {e}"}

        for name, b in backends:
            for op, args, want in (("matmul_s8", (x, w, mult, shift, bias), ref8),
                                   ("matmul_s8_s32", (x, w, bias), ref32b),
                                   ("matmul_s4", (x, w4, mult, shift, bias), ref4)):
                call = c_direct_call(name, op, args)
                if call is not None:
                    via = "cffi"
                else:
                    fn, via = impl_call(b, op)
                    call = lambda fn=fn, args=args: fn(*args)  # noqa: E731
                try:
                    exact = bool(np.array_equal(call(), want))
                    t = timer(call)
                except Exception as e:              # noqa: BLE001
                    row["results"][f"{name} {op}"] = {"error": f"{type(e).__name__}: {e}"}
                    continue
                extra = {"op": op, "via": via, "exact": exact}
                if M == 1:
                    api = timer(lambda: getattr(b, op)(*args))
                    extra["gmacs_api"] = macs / api["best_s"] / 1e9
                record(f"{name} {op}", t, **extra)
        base = row["results"]["numpy int32 matmul"]["gmacs"]
        ort = row["results"].get("onnxruntime u8s8", {}).get("gmacs")
        ort_run = row["results"].get("onnxruntime u8s8 B per run", {}).get("gmacs")
        for name, _ in backends:                    # int4 against int8 weights, same backend, same run
            r4, r8 = row["results"].get(f"{name} matmul_s4", {}), row["results"].get(f"{name} matmul_s8", {})
            if "gmacs" in r4 and "gmacs" in r8:
                r4["x_int8"] = r4["gmacs"] / r8["gmacs"]
        for r in row["results"].values():
            if "gmacs" in r:
                r["x_numpy"] = r["gmacs"] / base
                if ort:
                    r["x_onnxruntime_u8s8"] = r["gmacs"] / ort
                if ort_run:
                    r["x_onnxruntime_u8s8_b_per_run"] = r["gmacs"] / ort_run
        rows.append(row)
        log(f"  matmul {shape_name(shape):>12}: " + ", ".join(
            f"{k.replace(' matmul_s8_s32', ' s32').replace(' matmul_s8', '').replace(' matmul_s4', ' s4')} "
            f"{v['gmacs']:.1f}" for k, v in row["results"].items() if "gmacs" in v))
    return rows


def attention_inputs(Tq, Tk, rng):
    q = rng.integers(-128, 128, (Tq, ATTN_HEADS * ATTN_DIM), dtype=np.int8)
    k = rng.integers(-128, 128, (Tk, ATTN_KV_HEADS * ATTN_DIM), dtype=np.int8)
    v = rng.integers(-128, 128, (Tk, ATTN_KV_HEADS * ATTN_DIM), dtype=np.int8)
    scale = 0.02 * 0.02 / np.sqrt(ATTN_DIM)           # q_scale * k_scale / sqrt(D)
    score_mult, score_shift = quantize_multiplier(scale * 256)
    out_mult, out_shift = quantize_multiplier(1.0 / 32768)
    return (q, k, v, ATTN_HEADS, ATTN_KV_HEADS, score_mult, score_shift, int(16 / scale),
            out_mult, out_shift)


def bench_attention(backends, timer, rng, log):
    rows = []
    impls = [("reference", get_backend("reference"))] + list(backends)
    for case, Tq, Tk in ATTN_CASES:
        args = attention_inputs(Tq, Tk, rng)
        macs = 2 * Tq * Tk * ATTN_HEADS * ATTN_DIM   # q k^T and p v
        row = {"case": case, "Tq": Tq, "Tk": Tk, "n_heads": ATTN_HEADS,
               "n_kv_heads": ATTN_KV_HEADS, "head_dim": ATTN_DIM, "macs": macs, "results": {}}
        want = None
        for name, b in impls:
            fn, via = impl_call(b, "attention_s8")
            try:
                out = fn(*args)
                t = timer(lambda: fn(*args))
            except Exception as e:                  # noqa: BLE001
                row["results"][name] = {"error": f"{type(e).__name__}: {e}"}
                continue
            if want is None:
                want = out
            t.update(via=via, ms=t["best_s"] * 1e3, gmacs=macs / t["best_s"] / 1e9,
                     exact=bool(np.array_equal(out, want)))
            row["results"][name] = t
        base = row["results"].get("reference", {}).get("best_s")
        for r in row["results"].values():
            if base and "best_s" in r:
                r["x_reference"] = base / r["best_s"]
        rows.append(row)
        log(f"  attention {case:>8}: " + ", ".join(
            f"{k} {v['ms']:.3f} ms" for k, v in row["results"].items() if "ms" in v))
    return rows


# --- output ---------------------------------------------------------------------

def _table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                                    for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _label(key):
    return (key.replace(" matmul_s8_s32", " s32").replace(" matmul_s8", "").replace(" matmul_s4", " s4")
            .replace("numpy int32 matmul", "numpy int32").replace("onnxruntime ", "ort ")
            .replace(" B per run", " B/run"))


def _names(rows):
    names = []
    for r in rows:
        for k in r["results"]:
            if k not in names:
                names.append(k)
    return names


def print_report(result, out=sys.stdout):
    m = result["machine"]
    print(f"\n{m['cpu_model']}, {m['logical_cpus']} logical CPUs, flags: "
          f"{' '.join(m['cpu_flags'])}; load at start {m['load_average_at_start']}", file=out)
    rows = result["matmul"]
    if rows:
        names = _names(rows)
        print("\nmatmul GMAC/s on one thread, best of the samples (in brackets: x numpy int32); "
              "thimble: int8 out (requantized) and s32 (int32 out, the op MatMulInteger does)",
              file=out)
        body = []
        for r in rows:
            cells = [r["shape"]]
            for k in names:
                v = r["results"].get(k, {})
                flag = "" if v.get("exact", True) else " NOT EXACT"
                cells.append(f"{v['gmacs']:.1f} ({v['x_numpy']:.0f}x){flag}" if "gmacs" in v
                             else ("error" if "error" in v else "-"))
            body.append(cells)
        print(_table(["MxKxN"] + [_label(k) for k in names], body), file=out)
        fast = [k for k in names if not k.startswith(("numpy", "onnxruntime"))]
        for key, title in (("x_onnxruntime_u8s8", "x onnxruntime u8s8 (MLAS) with the weights "
                            "packed once at session creation"),
                           ("x_onnxruntime_u8s8_b_per_run", "x onnxruntime u8s8 (MLAS) with the "
                            "weights as an input, packed every run as thimble does")):
            if any(key in v for r in rows for v in r["results"].values()):
                print(f"\n{title}; same run, > 1 is faster", file=out)
                body = [[r["shape"]] + [f"{r['results'][k][key]:.2f}"
                                        if key in r["results"].get(k, {}) else "-"
                                        for k in fast] for r in rows]
                print(_table(["MxKxN"] + [_label(k) for k in fast], body), file=out)
        int4 = [k for k in fast if k.endswith(" matmul_s4")]
        if int4:
            print("\nint4 weights (matmul_s4) x the same backend's int8 weights (matmul_s8); same run, "
                  "the issue's floor is 0.8", file=out)
            body = [[r["shape"]] + [f"{r['results'][k]['x_int8']:.2f}" if "x_int8" in r["results"].get(k, {})
                                    else "-" for k in int4] for r in rows]
            print(_table(["MxKxN"] + [_label(k) for k in int4], body), file=out)
    if result.get("attention"):
        rows = result["attention"]
        names = _names(rows)
        print(f"\nattention_s8 ({ATTN_HEADS} heads over {ATTN_KV_HEADS} kv heads of {ATTN_DIM}), "
              "ms per call (in brackets: x reference)", file=out)
        body = []
        for r in rows:
            cells = [f"{r['case']} Tq={r['Tq']} Tk={r['Tk']}"]
            for k in names:
                v = r["results"].get(k, {})
                flag = "" if v.get("exact", True) else " NOT EXACT"
                cells.append(f"{v['ms']:.3f} ({v.get('x_reference', 0):.0f}x){flag}" if "ms" in v
                             else ("error" if "error" in v else "-"))
            body.append(cells)
        print(_table(["case"] + names, body), file=out)
    for note in result["notes"]:
        print(f"note: {note}", file=out)


def _spin(seconds):
    a = np.ones((128, 128), np.float32)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = (a @ a) * np.float32(1.0 / 128)


def run(args):
    if getattr(args, "board", None):
        try:
            from . import device_kernels           # the board benchmark, only when asked
        except ImportError as e:
            raise CommandError(f"no device benchmark here ({e})") from e
        return device_kernels.run(args)

    quick = args.quick
    repeat = args.repeat or (3 if quick else 7)
    min_time = args.min_time or (0.005 if quick else 0.02)
    timer = Timer(repeat, min_time, budget=0.4 if quick else 3.0)
    shapes = parse_shapes(args.shapes) if args.shapes else list(DEFAULT_SHAPES)
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

    t0 = time.perf_counter()
    _spin(0.3)                                      # clocks up before the first figure
    backends, notes = load_backends(names)
    for note in notes:
        log(note)
    ort_note = ort_available()
    if ort_note:
        notes.append(f"onnxruntime: {ort_note}")
    rng = np.random.default_rng(20240601)
    result = {
        "benchmark": "thimble bench kernels",
        "machine": machine_info(),
        "settings": {"repeat": repeat, "min_time_s": min_time, "quick": quick,
                     "backends": [n for n, _ in backends], "threads": 1,
                     "timing": "best of the samples; each sample loops the call for min_time_s; "
                               "C backends through cffi on buffers prepared once, others "
                               "through their implementation (checks skipped); gmacs_api "
                               "(M = 1) through the public API"},
        "notes": notes,
    }
    log(f"timing {len(shapes)} matmul shapes on {', '.join(n for n, _ in backends) or 'no backend'}"
        f" + numpy{'' if ort_note else ' + onnxruntime'} ...")
    result["matmul"] = bench_matmul(shapes, backends, timer, rng, log)
    result["attention"] = [] if args.no_attention else bench_attention(backends, timer, rng, log)
    result["elapsed_s"] = time.perf_counter() - t0

    print_report(result)
    save(result, args.json)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="thimble bench kernels", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
