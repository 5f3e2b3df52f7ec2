"""What an image costs on a board: flash (the image, read in place), the
arena (activations, K/V caches, scratch) for a prompt and generation length,
per layer, and what a longer prompt adds. The arena figure comes from the C
runtime's own formula (thm_model_arena_size, through cffi), so the plan and
the device cannot disagree.

Budgets: a board file's `arena` and `weights` regions (their real_size: the
real chip class, not QEMU's map), or explicit byte counts.
"""
import dataclasses
import re
import types

from ..image import parse_image
from .c_model import CModel


@dataclasses.dataclass
class Plan:
    image_bytes: int
    prompt_tokens: int
    gen_tokens: int
    arena_bytes: int
    bytes_per_prompt_token: float   # arena growth per extra encoder token
    bytes_per_gen_token: float      # arena growth per extra generated token
    max_enc_len: int
    max_dec_len: int
    layers: list                    # [{"layer", "weights_bytes", "arena_bytes", "arena_items"}]
    config: dict
    weight_layout: str = "row_major"   # how the projections are stored (image.format.LAYOUTS)
    weight_variants: dict = None       # image bytes with every projection int8 (row-major) and int4


def weight_variants(img, image_bytes):
    """{"int8": bytes, "int4": bytes}: this image's size with every q, k, v, o
    projection stored as int8 rows or as int4 rows (the rest as it is): each
    tensor's data starts on a DATA_ALIGN boundary, so sizes change by whole
    aligned blocks and the figures are exact (the image ends aligned too)."""
    from ..image import format as fmt
    from ..quant.tensors import projections
    k = img.config
    c = types.SimpleNamespace(num_encoder_layers=k["n_enc_layers"], num_decoder_layers=k["n_dec_layers"])
    al = lambda n: -(-n // fmt.DATA_ALIGN) * fmt.DATA_ALIGN  # noqa: E731
    now = {"int8": 0, "int4": 0}
    for name in projections(c):
        info = img.tensor_info[name]
        N, K = info["dims"]
        for v, size in (("int8", N * K), ("int4", N * ((K + 1) // 2))):
            now[v] += al(size) - al(info["size"])
    return {v: image_bytes + d for v, d in now.items()}


def _layer_of(name):
    m = re.match(r"^(enc|dec)\.(\d+)\.", name)
    return f"{m.group(1)}.{m.group(2)}" if m else "model"


def make_plan(image_bytes, prompt_tokens=256, gen_tokens=48):
    """image bytes -> Plan. Raises ValueError (naming the limit) when the image
    cannot serve prompt_tokens / gen_tokens at all."""
    img = parse_image(image_bytes, verify_hash=True)
    cm = CModel(image_bytes, with_arena=False)
    if not 1 <= prompt_tokens <= cm.max_enc_len:
        raise ValueError(f"--prompt-tokens {prompt_tokens}: this image supports 1..{cm.max_enc_len}")
    if not 1 <= gen_tokens <= cm.max_dec_len:
        raise ValueError(f"--gen-tokens {gen_tokens}: this image supports 1..{cm.max_dec_len}")
    arena = cm.arena_size(prompt_tokens, gen_tokens)
    # slopes over a span, so the 64-byte rounding of each buffer averages out
    span_e = min(64, cm.max_enc_len - prompt_tokens) or -min(64, prompt_tokens - 1)
    span_d = min(64, cm.max_dec_len - gen_tokens) or -min(64, gen_tokens - 1)
    per_e = (cm.arena_size(prompt_tokens + span_e, gen_tokens) - arena) / span_e if span_e else 0.0
    per_d = (cm.arena_size(prompt_tokens, gen_tokens + span_d) - arena) / span_d if span_d else 0.0
    k = img.config
    kv = k["n_kv_heads"] * k["head_dim"]
    weights = {}
    for name, t in img.tensors.items():
        weights[_layer_of(name)] = weights.get(_layer_of(name), 0) + t.nbytes
    layers = []
    for i in range(k["n_enc_layers"]):
        layers.append({"layer": f"enc.{i}", "weights_bytes": weights.get(f"enc.{i}", 0), "arena_bytes": 0,
                       "arena_items": "shared activation buffers only"})
    for i in range(k["n_dec_layers"]):
        cross, self_kv = 2 * prompt_tokens * kv, 2 * gen_tokens * kv
        layers.append({"layer": f"dec.{i}", "weights_bytes": weights.get(f"dec.{i}", 0),
                       "arena_bytes": cross + self_kv,
                       "arena_items": f"cross K/V 2x[{prompt_tokens},{kv}] int8 + self K/V 2x[{gen_tokens},{kv}] int8"})
    shared = arena - sum(r["arena_bytes"] for r in layers)
    layers.append({"layer": "model", "weights_bytes": weights.get("model", 0), "arena_bytes": shared,
                   "arena_items": f"streams and activations for {prompt_tokens} rows, logits, attention scratch"})
    return Plan(len(image_bytes), prompt_tokens, gen_tokens, arena, per_e, per_d, cm.max_enc_len,
                cm.max_dec_len, layers, dict(k), img.weight_layout, weight_variants(img, len(image_bytes)))


def shortfalls(plan, arena_budget, flash_budget):
    """[(region, needed, available)] for each budget the plan exceeds."""
    out = []
    if arena_budget is not None and plan.arena_bytes > arena_budget:
        out.append(("arena", plan.arena_bytes, arena_budget))
    if flash_budget is not None and plan.image_bytes > flash_budget:
        out.append(("weights", plan.image_bytes, flash_budget))
    return out
