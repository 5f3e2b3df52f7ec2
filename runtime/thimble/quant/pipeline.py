"""Checkpoint -> calibrated int8 .thm image, the whole pipeline `thimble
convert` and `thimble demo` run: load, calibrate, quantize, write the image
(with its tokenizer), and check it as a board would before anyone writes it.
Errors are ThimbleErrors with one line that says what was wrong: UsageError
for what the caller gave (exit 2), CommandError for a refused checkpoint or
a model that cannot be quantized (exit 1)."""
import hashlib
import json
import os
from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import CommandError, UsageError
from ..kernels.isa import LAYOUT_NAMES

LAYOUTS = tuple(LAYOUT_NAMES.values())      # row_major and the packed layouts (kernels/isa.py)


def max_positions():
    """RoPE positions the C runtime binds (THM_MODEL_MAX_POSITIONS, config_ok in
    thm_model_bind.c), read from the runtime itself so the two never differ."""
    from .._kernels import lib
    return int(lib.THM_MODEL_MAX_POSITIONS)


@dataclass
class Converted:
    data: bytes                 # the image
    tensors: int                # tensors in it
    int8_params: int            # int8 weights in it
    prompts: int                # calibration prompts
    source: str                 # where they came from
    decoder_tokens: int         # decoder steps calibrated
    int4_params: int = 0        # int4 weights in it
    choices: tuple = ()         # mixed weights: one line per projection, what and why


WEIGHTS = ("int8", "int4", "mixed")


def _aligned(n):
    from ..image import format as fmt
    return -(-n // fmt.DATA_ALIGN) * fmt.DATA_ALIGN


def mixed_int4(model, budget, int4_bytes):
    """The projections to keep int4 so that the image fits `budget` bytes,
    given the all-int4 image's size: every projection starts int4 and, in
    order of what int4 costs it (the relative RMS error of its int4 rounding,
    largest first), goes back to int8 while the image still fits. Returns
    (int4 names, report lines)."""
    from .quantize import weight_error
    from .tensors import projections
    if budget < int4_bytes:
        raise UsageError(f"--budget {budget}: the all-int4 image is already {int4_bytes} bytes")
    cost = []
    for name in projections(model.config):
        w = np.asarray(model.tensors[name], dtype=np.float64)
        N, K = w.shape
        extra = _aligned(N * K) - _aligned(N * ((K + 1) // 2))
        cost.append((weight_error(w, 4), weight_error(w, 8), extra, name))
    cost.sort(key=lambda c: (-c[0], c[3]))
    size, int4, lines = int4_bytes, set(), []
    for e4, e8, extra, name in cost:
        if size + extra <= budget:
            size += extra
            lines.append(f"{name:<24} int8  int4 would cost {e4:.2%} RMS error (int8 {e8:.2%}); +{extra} bytes")
        else:
            int4.add(name)
            lines.append(f"{name:<24} int4  {e4:.2%} RMS error (int8 {e8:.2%}); int8 would pass the budget")
    lines.append(f"mixed: {len(cost) - len(int4)} projections int8, {len(int4)} int4; "
                 f"{size} of {budget} bytes")
    return int4, lines


def calib_prompts(path, tokenizer, max_len, tools_path=None):
    """Token ids of each prompt in a JSON-lines file of {"query", "tools"}; tools
    named by string are looked up in tools_path. Long prompts are cut as Needle
    cuts them: calibration measures activation ranges, it refuses nothing."""
    from ..app.prompt import PromptError, build_encoder_input, load_tools
    by_name = {t["name"]: t for t in load_tools(tools_path)} if tools_path else {}
    prompts = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = None
            try:
                row = json.loads(line)
                tools = [t if isinstance(t, dict) else by_name[t] for t in row.get("tools", [])]
                ids, _ = build_encoder_input(tokenizer, row["query"], tools, max_len, truncate=True)
            except KeyError as e:
                what = (f"names the tool {e} that --tools does not define" if tools_path else
                        f"names the tool {e}: pass --tools FILE with the tools' definitions")
                if not isinstance(row, dict) or "query" not in row:
                    what = f"has no field {e}"
                raise UsageError(f"{path}:{n}: {what}") from None
            except (ValueError, PromptError, TypeError, AttributeError) as e:
                raise UsageError(f"{path}:{n}: {e}") from None
            prompts.append(ids)
    if not prompts:
        raise UsageError(f"{path}: no prompts")
    return prompts


def convert(checkpoint, *, tokenizer=None, calib=None, tools=None, calib_random=8, max_len=None,
            decode_tokens=16, layout="row_major", progress=None, note=None, weights="int8", budget=None,
            embed="int8", max_new=None):
    """The image of `checkpoint` (a Needle pickle, .safetensors or Cactus export
    folder) as a Converted. progress(i, n) follows calibration; note(text) is
    told what the caller may want to know (random-token calibration).
    weights: int8, int4 (every projection) or mixed (int4 where it fits in
    `budget` bytes, int8 where int4 costs most; the embedding and tied head
    stay int8 unless embed="int4"). max_new: the most tokens the image
    decodes per request (its max_dec_len; default: as many as its positions),
    which sets the decoder's share of a board's arena."""
    from ..image import ImageError
    from ..model import CheckpointError, load_checkpoint
    from ..sim.device_checks import check_image as check_like_device
    from ..tokenizer import TokenizerModelError, load_model
    from ..tokenizer.bpe import Tokenizer
    from ..tokenizer.payload import build_payload
    from . import QuantizeError, calibrate, quantize, random_prompts, to_image

    if calib and not tokenizer:
        raise UsageError("--calib needs --tokenizer to turn queries into tokens")
    if weights not in WEIGHTS:
        raise UsageError(f"--weights {weights}: one of {', '.join(WEIGHTS)}")
    if embed not in ("int8", "int4"):
        raise UsageError(f"--embed {embed}: int8 or int4")
    if (weights == "mixed") != (budget is not None):
        raise UsageError("--weights mixed needs --budget BYTES (and --budget needs --weights mixed)")
    try:
        model = load_checkpoint(checkpoint)
    except CheckpointError as e:    # the file is there but its content is refused: exit 1
        raise CommandError(e) from None
    if weights != "int8" and note and os.path.isdir(checkpoint):
        cactus_int4_note(checkpoint, note)
    c = model.config
    n_pos = max_len or c.max_seq_len
    # the C runtime binds at most 2^20 RoPE positions (config_ok in thm_model_bind.c);
    # refused here, before a 100 MB image every runtime would refuse is built
    top = max_positions()
    if not 2 <= n_pos <= top:
        raise UsageError(f"--max-len {n_pos}: an image supports 2..{top} positions" if max_len else
                         f"{checkpoint}: max_seq_len {n_pos} is outside 2..{top} (give --max-len)")
    if max_new is not None and not 2 <= max_new <= n_pos:
        raise UsageError(f"--max-new-tokens {max_new}: 2..{n_pos} (the image's positions)")
    blob, tok = None, None
    if tokenizer:
        try:
            spm = load_model(tokenizer)
        except OSError as e:
            raise UsageError(f"{tokenizer}: {e.strerror or e}") from None
        except TokenizerModelError as e:
            raise UsageError(f"{tokenizer}: {e}") from None
        if len(spm.pieces) != c.vocab_size:
            raise UsageError(f"{tokenizer} has {len(spm.pieces)} pieces but the model's vocabulary is "
                             f"{c.vocab_size}")
        blob, tok = build_payload(spm), Tokenizer(spm)
    if calib:
        prompts, source = calib_prompts(calib, tok, n_pos, tools), calib
    else:
        prompts = random_prompts(c, n=calib_random, length=min(48, n_pos))
        source = f"{calib_random} random token prompts"
        if note:
            note("no --calib: calibrating on random tokens (real prompts calibrate better)")
    try:
        cal = calibrate(model, prompts, decode_tokens=decode_tokens, progress=progress)
        choices = ()
        int4 = {"int8": (), "int4": "all", "mixed": "all"}[weights]
        e4 = embed == "int4"
        qm = replace(quantize(model, cal, rope_n_pos=n_pos, int4=int4, embed_int4=e4),
                     max_dec_len=max_new or 0)
        data = to_image(qm, blob, checkpoint_id(checkpoint), layout=layout)
        if weights == "mixed":
            int4, choices = mixed_int4(model, budget, len(data))
            qm = replace(quantize(model, cal, rope_n_pos=n_pos, int4=int4, embed_int4=e4),
                         max_dec_len=max_new or 0)
            data = to_image(qm, blob, checkpoint_id(checkpoint), layout=layout)
        check_like_device(data)     # never write an image the boards' runtime refuses
    except (QuantizeError, ImageError, ValueError) as e:
        raise CommandError(e) from None
    params = sum(int(np.prod(a.shape)) for a in qm.tensors.values() if a.dtype == np.int8)
    params4 = sum(int(np.prod(model.tensors[n].shape)) for n, a in qm.tensors.items() if a.dtype == np.uint8)
    return Converted(data, len(qm.tensors), params, len(prompts), source, cal.decoder_tokens, params4,
                     tuple(choices))


def cactus_int4_note(folder, note):
    """Tell what int4 does to a Cactus export's own INT4 tensors. Cactus
    scales groups of 32 weights (fp16 each), thimble each output channel
    (docs/numerics.md, Decision 3); a row maps without a second rounding only
    when all its group scales agree, which Cactus's exporter never writes
    (each group gets its own max). So they are rounded again from Cactus's
    values: the note gives that error and int8's."""
    import glob
    from ..model.cactus_weights import read_weights_file
    from .quantize import weight_error
    e4, e8, n = [], [], 0
    for path in sorted(glob.glob(os.path.join(folder, "*.weights"))):
        try:
            wf = read_weights_file(path)
        except (OSError, ValueError):
            continue                       # the loader already accepted the folder; skip what it skipped
        if wf.precision != "INT4" or wf.values.ndim != 2:
            continue
        n += 1
        if wf.scales is not None and np.all(wf.scales == wf.scales[:, :1]):
            continue                       # one scale per row: per-channel int4 keeps its codes
        e4.append(weight_error(wf.values, 4))
        e8.append(weight_error(wf.values, 8))
    if e4:
        note(f"{len(e4)} of the checkpoint's {n} INT4 tensors have per-group scales (Cactus's groups of 32) that "
             f"per-channel int4 cannot keep: rounded again, relative RMS error {np.mean(e4):.3f} against "
             f"Cactus's own values (int8 per channel: {np.mean(e8):.4f}; --weights int8 keeps them)")


def repack(image_path, layout):
    """The image at image_path with its projections in `layout` (same model, tokenizer, answers)."""
    from ..image import ImageError
    from .image import repack as repack_image
    try:
        return repack_image(image_path, layout)
    except OSError as e:
        raise UsageError(f"{image_path}: {e.strerror or e}") from None
    except (ImageError, ValueError) as e:
        raise UsageError(f"{image_path}: {e}") from None


def board_layout(board_name):
    """The packed layout of a board's fast path (BoardError for an unknown board: a usage error)."""
    from ..boards.board import load_board
    from .image import board_layout as layout_of
    return layout_of(load_board(board_name))


def write_image(path, data):
    """Write through a temporary file, so a failed write never leaves half an image at path."""
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def checkpoint_id(path):
    """SHA-256 of the checkpoint's bytes (of every file, by name, for a folder)."""
    h = hashlib.sha256()
    files = [path] if not os.path.isdir(path) else \
        [os.path.join(path, n) for n in sorted(os.listdir(path)) if os.path.isfile(os.path.join(path, n))]
    for fn in files:
        h.update(os.path.basename(fn).encode() + b"\0")
        with open(fn, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.digest()
