"""A Needle model as two ONNX graphs, for `thimble bench model --peers`.

    prefill: tokens [1, T] int64 -> enc_hidden [1, T, d], enc_mask [1, T] bool,
             cross_k.{i}, cross_v.{i} [1, KV, T, hd] for every decoder layer
    step:    token [1, 1] int64, pos [1] int64, enc_mask, cross_k.{i}, cross_v.{i},
             past_k.{i}, past_v.{i} [1, KV, t, hd]
             -> logits [1, 1, V], present_k.{i}, present_v.{i} [1, KV, t + 1, hd]

The decoder step is KV-cached as thimble's is: each call runs one token
against the cross K/V made once by prefill and the self K/V of the tokens
before it, which it returns one longer. The graphs follow FloatNeedle
(thimble.model.float_forward) op for op, with the same weights: ZCRMSNorm's
(1 + g) and the residual gates' sigmoid(s) folded into constants, projections
as MatMul against W^T initializers (what onnxruntime's dynamic quantization
turns into int8), grouped-query attention as a broadcast MatMul over
[1, KV, G, T, hd] (kv head j serves query heads j*G .. j*G+G-1, as
jnp.repeat), masked scores by Where with float32's most negative value,
half-split RoPE with cos/sin computed in the graph from the positions.

Written with onnx.helper only; `check` compares both graphs with FloatNeedle.
"""
import math

import numpy as np

from ..model.config import NORM_EPS

OPSET = 17


class _Graph:
    """Nodes, initializers and fresh names."""

    def __init__(self):
        from onnx import helper, numpy_helper
        self.h, self.nh = helper, numpy_helper
        self.nodes, self.inits, self._n = [], [], 0

    def name(self, hint):
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, arr, hint="c"):
        n = self.name(hint)
        self.inits.append(self.nh.from_array(np.asarray(arr), n))
        return n

    def op(self, op_type, inputs, hint=None, out=None, **attrs):
        out = out or self.name(hint or op_type.lower())
        self.nodes.append(self.h.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def ints(self, values):
        return self.const(np.asarray(values, np.int64), "shape")


class _Needle:
    """The pieces of FloatNeedle's forward as ONNX nodes on one _Graph."""

    def __init__(self, model, g):
        self.c, self.g = model.config, g
        self.w = {k: np.asarray(v, np.float32) for k, v in model.tensors.items()}
        self._shared = {}
        hd = self.c.head_dim
        f32 = np.float32
        self.freqs = (1.0 / (f32(self.c.rope_theta) ** (np.arange(0, hd, 2, dtype=f32) / f32(hd)))).astype(f32)

    def shared(self, key, make):
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    def weight_t(self, name):
        """W^T [in, out] of a projection (one initializer per tensor)."""
        return self.shared(("wt", name), lambda: self.g.const(np.ascontiguousarray(self.w[name].T), name))

    def scalar(self, v):
        return self.shared(("s", float(v)), lambda: self.g.const(np.array(v, np.float32), "scalar"))

    def norm(self, x, name):
        """(1 + g) * x / sqrt(mean(x^2) + eps) over the last axis."""
        g = self.g
        one_g = self.shared(("n", name), lambda: g.const((1 + self.w[name]).astype(np.float32), name))
        ms = g.op("ReduceMean", [g.op("Mul", [x, x])], axes=[-1], keepdims=1)
        rms = g.op("Sqrt", [g.op("Add", [ms, self.scalar(NORM_EPS)])])
        return g.op("Div", [g.op("Mul", [one_g, x]), rms])

    def proj(self, x, name):
        return self.g.op("MatMul", [x, self.weight_t(name)], hint="proj")

    def heads(self, y, n):
        """[1, T, n*hd] -> [1, n, T, hd]."""
        g = self.g
        r = g.op("Reshape", [y, g.ints([1, -1, n, self.c.head_dim])])
        return g.op("Transpose", [r], perm=[0, 2, 1, 3])

    def rope_tables(self, positions):
        """positions [T] int64 -> (cos, sin) [T, hd/2] float32."""
        g = self.g
        pos = g.op("Cast", [positions], to=1)
        freqs = self.shared("freqs", lambda: g.const(self.freqs[None, :], "freqs"))
        ang = g.op("Mul", [g.op("Unsqueeze", [pos, g.ints([1])]), freqs])
        return g.op("Cos", [ang]), g.op("Sin", [ang])

    def rope(self, x, tables):
        g = self.g
        cos, sin = tables
        half = self.c.head_dim // 2
        x1 = g.op("Slice", [x, g.ints([0]), g.ints([half]), g.ints([-1])])
        x2 = g.op("Slice", [x, g.ints([half]), g.ints([2 * half]), g.ints([-1])])
        a = g.op("Sub", [g.op("Mul", [x1, cos]), g.op("Mul", [x2, sin])])
        b = g.op("Add", [g.op("Mul", [x2, cos]), g.op("Mul", [x1, sin])])
        return g.op("Concat", [a, b], axis=-1)

    def q(self, h, p, tables):
        q = self.norm(self.heads(self.proj(h, f"{p}.q"), self.c.num_heads), f"{p}.q_norm")
        return q if tables is None else self.rope(q, tables)

    def kv(self, h, p, tables):
        k = self.norm(self.heads(self.proj(h, f"{p}.k"), self.c.num_kv_heads), f"{p}.k_norm")
        v = self.heads(self.proj(h, f"{p}.v"), self.c.num_kv_heads)
        return (k if tables is None else self.rope(k, tables)), v

    def attend(self, q, k, v, mask, p):
        """q [1, H, Tq, hd], k/v [1, KV, Tk, hd], mask bool broadcastable to [1, KV, G, Tq, Tk]."""
        g, c = self.g, self.c
        qg = g.op("Reshape", [q, g.ints([1, c.num_kv_heads, c.kv_groups, -1, c.head_dim])])
        kt = g.op("Unsqueeze", [g.op("Transpose", [k], perm=[0, 1, 3, 2]), g.ints([2])])
        s = g.op("Div", [g.op("MatMul", [qg, kt]), self.scalar(math.sqrt(c.head_dim))])
        if mask is not None:            # a query that sees every key (a decode step's own self-attention): no mask
            s = g.op("Where", [mask, s, self.scalar(np.finfo(np.float32).min)])
        pr = g.op("Softmax", [s], axis=-1)
        o = g.op("MatMul", [pr, g.op("Unsqueeze", [v, g.ints([2])])])           # [1, KV, G, Tq, hd]
        o = g.op("Reshape", [o, g.ints([1, c.num_heads, -1, c.head_dim])])
        o = g.op("Reshape", [g.op("Transpose", [o], perm=[0, 2, 1, 3]), g.ints([1, -1, c.q_dim])])
        return self.proj(o, f"{p}.o")

    def gated(self, x, gate, y):
        s = self.w[gate].astype(np.float32)
        sig = np.float32(1.0) / (1 + np.exp(-s))
        return self.g.op("Add", [x, self.g.op("Mul", [self.scalar(sig), y])])

    def ffn(self, x, p):
        if self.c.no_feedforward:
            return x
        g = self.g
        h = self.norm(x, f"{p}.ffn_norm")
        a, u = self.proj(h, f"{p}.ffn.gate"), self.proj(h, f"{p}.ffn.up")
        if self.c.activation == "swiglu":
            act = g.op("Mul", [g.op("Mul", [a, g.op("Sigmoid", [a])]), u])
        elif self.c.activation == "geglu":
            inner = g.op("Add", [a, g.op("Mul", [self.scalar(0.044715), g.op("Mul", [a, g.op("Mul", [a, a])])])])
            t = g.op("Tanh", [g.op("Mul", [self.scalar(math.sqrt(2 / math.pi)), inner])])
            act = g.op("Mul", [g.op("Mul", [g.op("Mul", [self.scalar(0.5), a]),
                                            g.op("Add", [self.scalar(1.0), t])]), u])
        else:
            act = g.op("Mul", [g.op("Relu", [a]), g.op("Relu", [u])])
        return self.gated(x, f"{p}.ffn_gate", self.proj(act, f"{p}.ffn.down"))

    def embed(self, tokens):
        g = self.g
        table = self.shared("embed", lambda: g.const(self.w["embed"], "embed"))
        return g.op("Mul", [g.op("Gather", [table, tokens], axis=0), self.scalar(math.sqrt(self.c.d_model))])


def _vi(h, name, elem, shape):
    return h.make_tensor_value_info(name, elem, shape)


def _model(g, inputs, outputs, name):
    h = g.h
    graph = h.make_graph(g.nodes, name, inputs, outputs, initializer=g.inits)
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], producer_name="thimble")
    m.ir_version = 8
    return m


def build_prefill(model):
    """Encoder over the prompt + every decoder layer's cross K/V."""
    from onnx import TensorProto as T
    g = _Graph()
    n = _Needle(model, g)
    c = model.config
    pad = g.const(np.array(c.pad_token_id, np.int64), "pad")
    mask = g.op("Not", [g.op("Equal", ["tokens", pad])], out="enc_mask")              # [1, T]
    key_mask = g.op("Unsqueeze", [mask, g.ints([1, 2, 3])])                          # [1, 1, 1, 1, T]
    positions = g.op("Range", [g.const(np.array(0, np.int64)),
                               g.op("Gather", [g.op("Shape", ["tokens"]), g.const(np.array(1, np.int64))]),
                               g.const(np.array(1, np.int64))])
    tables = n.rope_tables(positions)
    x = n.embed("tokens")
    for i in range(c.num_encoder_layers):
        p = f"enc.{i}"
        h = n.norm(x, f"{p}.attn_norm")
        k, v = n.kv(h, f"{p}.attn", tables)
        x = n.gated(x, f"{p}.attn_gate", n.attend(n.q(h, f"{p}.attn", tables), k, v, key_mask, f"{p}.attn"))
        x = n.ffn(x, p)
    hidden = g.op("Identity", [n.norm(x, "enc.final_norm")], out="enc_hidden")
    outs = [_vi(g.h, "enc_hidden", T.FLOAT, [1, "T", c.d_model]), _vi(g.h, "enc_mask", T.BOOL, [1, "T"])]
    for i in range(c.num_decoder_layers):
        k, v = n.kv(hidden, f"dec.{i}.cross_attn", None)
        g.op("Identity", [k], out=f"cross_k.{i}")
        g.op("Identity", [v], out=f"cross_v.{i}")
        outs += [_vi(g.h, f"cross_{kv}.{i}", T.FLOAT, [1, c.num_kv_heads, "T", c.head_dim]) for kv in "kv"]
    return _model(g, [_vi(g.h, "tokens", T.INT64, [1, "T"])], outs, "needle_prefill")


def build_step(model):
    """One KV-cached decoder step."""
    from onnx import TensorProto as T
    g = _Graph()
    n = _Needle(model, g)
    c = model.config
    tables = n.rope_tables("pos")
    cross_mask = g.op("Unsqueeze", ["enc_mask", g.ints([1, 2, 3])])
    # one query at the newest position: every key so far is visible (the causal mask is all true)
    x = n.embed("token")
    inputs = [_vi(g.h, "token", T.INT64, [1, 1]), _vi(g.h, "pos", T.INT64, [1]),
              _vi(g.h, "enc_mask", T.BOOL, [1, "T"])]
    outputs = [_vi(g.h, "logits", T.FLOAT, [1, 1, c.vocab_size])]
    kv_shape = lambda t: [1, c.num_kv_heads, t, c.head_dim]  # noqa: E731
    for i in range(c.num_decoder_layers):
        p = f"dec.{i}"
        inputs += [_vi(g.h, f"cross_{kv}.{i}", T.FLOAT, kv_shape("T")) for kv in "kv"]
        inputs += [_vi(g.h, f"past_{kv}.{i}", T.FLOAT, kv_shape("t")) for kv in "kv"]
        h = n.norm(x, f"{p}.self_norm")
        k, v = n.kv(h, f"{p}.self_attn", tables)
        k = g.op("Concat", [f"past_k.{i}", k], axis=2, out=f"present_k.{i}")
        v = g.op("Concat", [f"past_v.{i}", v], axis=2, out=f"present_v.{i}")
        outputs += [_vi(g.h, f"present_{kv}.{i}", T.FLOAT, kv_shape("t1")) for kv in "kv"]
        x = n.gated(x, f"{p}.self_gate", n.attend(n.q(h, f"{p}.self_attn", tables), k, v, None,
                                                  f"{p}.self_attn"))
        h = n.norm(x, f"{p}.cross_norm")
        x = n.gated(x, f"{p}.cross_gate", n.attend(n.q(h, f"{p}.cross_attn", None), f"cross_k.{i}",
                                                   f"cross_v.{i}", cross_mask, f"{p}.cross_attn"))
        x = n.ffn(x, p)
    h = n.norm(x, "dec.final_norm")
    head = g.const(np.ascontiguousarray(n.w["embed"].T), "head")          # the tied head, as its own MatMul
    g.op("MatMul", [h, head], out="logits")
    return _model(g, inputs, outputs, "needle_step")


# --- running ------------------------------------------------------------------

def session(model_proto, threads=1):
    """An onnxruntime CPU session on `threads` threads (1: as thimble)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_proto.SerializeToString(), so, providers=["CPUExecutionProvider"])


def quantize_int8(model_proto):
    """onnxruntime's dynamic quantization, MatMul only: int8 weights (per
    tensor), uint8 activations quantized per call (MLAS's u8s8 path)."""
    import logging
    import os
    import tempfile
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)        # its advice to run shape pre-processing: the graphs carry no gaps it fills
    try:
        with tempfile.TemporaryDirectory(prefix="thm_onnx_") as tmp:
            src, dst = os.path.join(tmp, "f32.onnx"), os.path.join(tmp, "int8.onnx")
            onnx.save(model_proto, src)
            quantize_dynamic(src, dst, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                             extra_options={"MatMulConstBOnly": True})
            return onnx.load(dst)
    finally:
        root.setLevel(level)


class OrtNeedle:
    """Prefill and greedy KV-cached decode through two onnxruntime sessions."""

    def __init__(self, config, prefill_proto, step_proto, threads=1):
        self.c = config
        self.prefill_sess = session(prefill_proto, threads)
        self.step_sess = session(step_proto, threads)
        self.state = None

    def prefill(self, tokens):
        """tokens [T] -> the encoder output (kept for decode); returns the prefill outputs by name."""
        c = self.c
        names = [o.name for o in self.prefill_sess.get_outputs()]
        outs = dict(zip(names, self.prefill_sess.run(None, {"tokens": np.asarray(tokens, np.int64)[None, :]})))
        empty = np.zeros((1, c.num_kv_heads, 0, c.head_dim), np.float32)
        feed = {"enc_mask": outs["enc_mask"]}
        for i in range(c.num_decoder_layers):
            feed[f"cross_k.{i}"], feed[f"cross_v.{i}"] = outs[f"cross_k.{i}"], outs[f"cross_v.{i}"]
            feed[f"past_k.{i}"], feed[f"past_v.{i}"] = empty, empty
        self.state = {"feed": feed, "length": 0}
        return outs

    def step(self, token):
        """One decoder token -> logits [V]; the self K/V grow by one."""
        st, c = self.state, self.c
        feed = st["feed"]
        feed["token"] = np.array([[token]], np.int64)
        feed["pos"] = np.array([st["length"]], np.int64)
        names = self._step_names()
        outs = self.step_sess.run(names, feed)
        for i in range(c.num_decoder_layers):
            feed[f"past_k.{i}"], feed[f"past_v.{i}"] = outs[1 + 2 * i], outs[2 + 2 * i]
        st["length"] += 1
        return outs[0][0, -1]

    def _step_names(self):
        if not hasattr(self, "_names"):
            self._names = ["logits"] + [f"present_{kv}.{i}" for i in range(self.c.num_decoder_layers)
                                        for kv in "kv"]
        return self._names


def check(model, ort_needle, tokens, steps=3):
    """The graphs against FloatNeedle (float32) on `tokens` and `steps` greedy
    decode steps: the max abs difference of the encoder output, every cross
    K/V and the logits, and that over the reference's max abs value."""
    from ..model import FloatNeedle
    fn = FloatNeedle(model, np.float32)
    enc = fn.encode(np.asarray(tokens)[None, :])
    cache = fn.start_decoder(enc)
    outs = ort_needle.prefill(tokens)
    pairs = [(enc.hidden, outs["enc_hidden"])]
    for i in range(model.config.num_decoder_layers):
        pairs += [(cache.cross_k[i], outs[f"cross_k.{i}"]), (cache.cross_v[i], outs[f"cross_v.{i}"])]
    tok = 1
    for _ in range(steps):
        want = fn.decode_step(cache, [[tok]])[0, -1]
        got = ort_needle.step(tok)
        pairs.append((want, got))
        tok = int(np.argmax(want))
    diff = max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in pairs)
    scale = max(float(np.max(np.abs(a))) for a, _ in pairs)
    logits_diff = max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in pairs[-steps:])
    logits_scale = max(float(np.max(np.abs(a))) for a, _ in pairs[-steps:])
    return {"max_abs_diff": diff, "ref_max_abs": scale, "relative": diff / scale if scale else diff,
            "logits_max_abs_diff": logits_diff, "logits_relative": logits_diff / logits_scale if logits_scale
            else logits_diff, "decode_steps_checked": steps, "prompt_tokens": int(len(tokens))}
