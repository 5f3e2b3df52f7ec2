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
    buffers: list = None               # [{"buffer", "bytes"}]: the model arena's buffers (the C layout)
    app_bytes: int = 0                 # what a board's app adds to the model's arena (app_items)
    app_buffers: list = None           # [{"buffer", "bytes"}]

    @property
    def board_arena_bytes(self):
        """What a board's arena must hold: the model's arena and the app's own buffers."""
        return self.arena_bytes + self.app_bytes


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


def app_items(cm, arena, prompt_tokens):
    """[(buffer, bytes)] a board's app lays out beside the model's arena
    (runtime/device/app/thm_app.c, sized in thm_app_image.c): the tokenizer's
    scratch shares the model's space (only its excess counts), then the
    logits the constrained pick reads [V], the prompt ids [T] and each
    piece's first byte [V], each rounded up to the arena's 64-byte alignment."""
    from .. import _kernels
    al = lambda n: -(-n // 64) * 64  # noqa: E731
    scratch = int(_kernels.lib.thm_app_tok_scratch_bytes())
    return [("tokenizer scratch beyond the model's arena (shares it)", max(0, al(scratch) - arena)),
            ("app logits int32 [V] (the constrained pick)", al(4 * cm.vocab_size)),
            ("app prompt ids int32 [T]", al(4 * prompt_tokens)),
            ("app first byte of each piece [V] (the pick's filter)", al(cm.vocab_size))]


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
    app = app_items(cm, arena, prompt_tokens)
    return Plan(len(image_bytes), prompt_tokens, gen_tokens, arena, per_e, per_d, cm.max_enc_len,
                cm.max_dec_len, layers, dict(k), img.weight_layout, weight_variants(img, len(image_bytes)),
                [{"buffer": n, "bytes": b} for n, b in cm.arena_items(prompt_tokens, gen_tokens)],
                sum(b for _, b in app), [{"buffer": n, "bytes": b} for n, b in app])


def shortfalls(plan, arena_budget, flash_budget):
    """[(region, needed, available)] for each budget the plan exceeds."""
    out = []
    if arena_budget is not None and plan.board_arena_bytes > arena_budget:
        out.append(("arena", plan.board_arena_bytes, arena_budget))
    if flash_budget is not None and plan.image_bytes > flash_budget:
        out.append(("weights", plan.image_bytes, flash_budget))
    return out
