"""Needle 2's probe heads (needle-v2.md section 1, "Heads"), in float64 numpy,
held to the original code by tests/needle2/test_needle2_heads.py.

A head reads "cells": for every token, the embedding row (times sqrt(d))
and the lanes' mean after each layer, (L + 1) T cells of d values. Each of
its probes takes a softmax over all cells of cell . probe / sqrt(d) (padding
tokens' cells left out) and returns the weighted sum of the cells; the
probes' sums, concatenated, go through one dense layer:
  - confidence_head: 8 probes -> Dense(8 d -> 1, with bias): a logit, the
    model's own estimate that its answer is right (the engine reports the min
    of its sigmoid and the decoded call's probability);
  - contrastive_head: 4 probes -> Dense(4 d -> 128, no bias), L2-normalised:
    an embedding of a query or a tool, for retrieval.

Parameters by their `.cact` names (cact_format.head_order): NAME.probes
[p, d], NAME.proj [out, p d] (the flax kernel transposed, as the exporter
writes it), NAME.bias [out] (zeros for the contrastive head)."""
import math

import numpy as np

from .forward import Needle2Float

CONFIDENCE, CONTRASTIVE = "confidence_head", "contrastive_head"


def cells(cfg, params, tokens, *, window=0, sinks=0):
    """[T, L + 1, d]: the embedding and each layer's lane mean, for every token
    (the original's hidden_cells; window and sinks as Needle2Float's)."""
    rec = {}
    m = Needle2Float(cfg, params, window=window, sinks=sinks)
    m.probe = lambda name, layer, v: rec.__setitem__(layer, v.mean(axis=1)) if name == "lanes" else None
    m.run(tokens)
    return np.stack([rec[i] for i in range(cfg.num_layers + 1)], axis=1)


def probe_pool(c, probes, keep=None):
    """c [T, L + 1, d], probes [p, d], keep [T] (0: a padding token) -> [p d]."""
    T, n, d = c.shape
    flat = c.reshape(T * n, d)
    scores = probes @ flat.T / math.sqrt(d)                 # [p, cells]
    if keep is not None:
        scores = np.where(np.repeat(np.asarray(keep) > 0, n)[None, :], scores, -np.inf)
    w = np.exp(scores - scores.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return (w @ flat).reshape(-1)


def confidence(c, heads, keep=None):
    """The confidence logit (a float)."""
    pooled = probe_pool(c, heads[CONFIDENCE + ".probes"], keep)
    return float((heads[CONFIDENCE + ".proj"] @ pooled + heads[CONFIDENCE + ".bias"])[0])


def contrastive(c, heads, keep=None):
    """The unit embedding [128]."""
    p = heads[CONTRASTIVE + ".proj"] @ probe_pool(c, heads[CONTRASTIVE + ".probes"], keep)
    return p / math.sqrt(float(np.sum(p * p)) + 1e-12)


def heads_from_tree(tree):
    """The head tensors of a flax param tree (dicts), by `.cact` name; {} if it has none."""
    out = {}
    for name in (CONTRASTIVE, CONFIDENCE):
        h = tree.get(name)
        if h is None:
            continue
        kernel = np.asarray(h["proj"]["kernel"], np.float64)
        out[name + ".probes"] = np.asarray(h["probes"], np.float64)
        out[name + ".proj"] = kernel.T
        out[name + ".bias"] = (np.asarray(h["proj"]["bias"], np.float64) if "bias" in h["proj"]
                               else np.zeros(kernel.shape[1]))
    return out
