"""`thimble eval IMAGE --checkpoint CKPT --prompts FILE`: fidelity of the
integer image to its float checkpoint.

Reports per-layer cosine of the integer hidden states against the float
ones, top-1 agreement of the logits (teacher-forced on the float model's own
greedy tokens), and, with the same constrained decoding on both sides, the
share of prompts whose tool calls are identical; when the prompts file holds
expected answers, the accuracy of each.
"""
import json

import numpy as np

from .args import input_file, output_file
from ..core.errors import UsageError
from ..app.prompt import PromptError


def add_parser(p):
    p.add_argument("image", help="the .thm image")
    p.add_argument("--checkpoint", required=True, help="the float checkpoint the image came from")
    p.add_argument("--prompts", required=True,
                   help="JSON lines {\"query\", \"tools\": [names or objects], optional \"answer\"}")
    p.add_argument("--tools", help="tools JSON list resolving names in --prompts")
    p.add_argument("--backend", default="c", help="integer backend (default c)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="use the first N prompts only (0: all)")
    p.add_argument("--decode-tokens", type=int, default=16, help="teacher-forced positions per prompt")
    p.add_argument("--json", help="write the report here as JSON")
    p.add_argument("--truncate", action="store_true",
                   help="cut prompts over the image's token limit as Needle does instead of refusing them")


def _rows(args):
    from ..app.prompt import load_tools
    by_name = {t["name"]: t for t in load_tools(args.tools)} if args.tools else {}
    rows = []
    with open(args.prompts, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                row["tools"] = [t if isinstance(t, dict) else by_name[t] for t in row["tools"]]
                row["query"]
            except (KeyError, ValueError, TypeError) as e:
                raise UsageError(f"{args.prompts}:{n}: bad row ({e})") from None
            rows.append(row)
    rows = rows[:args.limit] if args.limit else rows
    if not rows:
        raise UsageError(f"{args.prompts}: no prompts")
    return rows


def run(args):
    from ..core.progress import progress_printer
    from ..kernels import get_backend
    from ..model import FloatNeedle, load_checkpoint
    from ..app.prompt import restore_tool_names
    from ..sim.decode import constrained_greedy
    from ..sim.fidelity import fidelity
    from ..sim.grammar import ToolGrammar
    from ..sim.session import Session, tool_keys

    py_backend = "c:" + __import__("thimble.kernels.c_backend", fromlist=["best_isa"]).best_isa() \
        if args.backend == "c" else args.backend
    input_file(args.image, "image")
    if args.json:
        output_file(args.json, "--json")
    input_file(args.checkpoint, "folder or file")
    input_file(args.prompts, "--prompts file")
    if args.tools:
        input_file(args.tools, "--tools file")
    try:
        session = Session(args.image, args.backend)
        model = load_checkpoint(args.checkpoint)
    except OSError as e:
        raise UsageError(f"{e.filename or args.image}: {e.strerror or e}") from None
    except ValueError as e:
        raise UsageError(e) from None
    if model.config.vocab_size != session.qm.config.vocab_size or \
            model.config.d_model != session.qm.config.d_model:
        raise UsageError(f"{args.checkpoint}: the checkpoint's shape differs from {args.image}'s")
    rows = _rows(args)
    prompts = []
    for n, r in enumerate(rows, 1):
        try:
            prompts.append(session.encoder_input(r["query"], r["tools"], args.truncate))
        except PromptError as e:
            raise UsageError(f"{args.prompts}: prompt {n}: {e}") from None
    report = fidelity(model, session.qm, get_backend(py_backend), [p for p, _ in prompts],
                      decode_tokens=args.decode_tokens, progress=progress_printer("hidden states"))
    tool_progress = progress_printer("tool calls")

    fm = FloatNeedle(model, np.float32)
    sp = session.special
    same = 0
    groups = {}          # expected answer's kind -> [prompts, float right, int8 right]
    for done, (row, (ids, name_map)) in enumerate(zip(rows, prompts), 1):
        grammar = ToolGrammar(tool_keys(row["tools"]))
        cache = fm.start_decoder(fm.encode(np.asarray(ids)[None, :]))
        gen = constrained_greedy(lambda t: fm.decode_step(cache, [[t]])[0, -1], session.pieces, grammar,
                                 start_id=sp["eos_id"], eos_id=sp["eos_id"], tool_call_id=sp["tool_call_id"],
                                 max_new_tokens=96)
        f_calls = restore_tool_names(json.loads(session.tokenizer.decode(gen.tokens[1:])), name_map) \
            if gen.complete else None
        i_calls = session.ask(row["query"], row["tools"])["calls"]
        same += int(f_calls == i_calls)
        if "answer" in row:
            g = groups.setdefault(answer_kind(row["answer"]), [0, 0, 0])
            g[0] += 1
            g[1] += int(f_calls == row["answer"])
            g[2] += int(i_calls == row["answer"])
        tool_progress(done, len(rows))
    report["tool_calls_identical_to_float"] = same / len(rows)
    if groups:
        n, f_ok, i_ok = (sum(g[i] for g in groups.values()) for i in range(3))
        report["exact_match_expected"] = {"float": f_ok / n, "int8": i_ok / n, "prompts": n,
                                          "float_right": f_ok, "int8_right": i_ok}
        report["exact_match_by_answer"] = {k: {"prompts": g[0], "float_right": g[1], "int8_right": g[2]}
                                           for k, g in sorted(groups.items())}
    _print(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


def answer_kind(calls):
    """How an expected answer is grouped in the report: "[]" (no call), the
    tool's name (one call), "two calls" or "N calls"."""
    if not calls:
        return "[]"
    if len(calls) == 1:
        return str(calls[0].get("name"))
    return "two calls" if len(calls) == 2 else f"{len(calls)} calls"


def _print(r):
    print(f"prompts {r['prompts']}, teacher-forced decoder positions {r['decoder_positions']}")
    print("layer            cosine mean   cosine min")
    for name, key in (("encoder", "encoder_layers"), ("decoder", "decoder_layers")):
        for row in r[key]:
            label = f"{name} {'embed' if row['layer'] == 0 else row['layer']}"
            print(f"{label:<16} {row['mean']:>11.6f}  {row['min']:>11.6f}")
    print(f"{'encoder output':<16} {r['encoder_output']['mean']:>11.6f}  {r['encoder_output']['min']:>11.6f}")
    print(f"top-1 agreement of logits: {r['top1_agreement']:.1%}")
    print(f"tool calls identical to the float model's: {r['tool_calls_identical_to_float']:.1%}")
    if "exact_match_expected" in r:
        e = r["exact_match_expected"]
        print(f"exact match with the expected answers: float {e['float_right']}/{e['prompts']} "
              f"({e['float']:.1%}), int8 {e['int8_right']}/{e['prompts']} ({e['int8']:.1%})")
        print("expected answer        prompts   float   int8")
        for kind, g in r["exact_match_by_answer"].items():
            print(f"{kind:<22} {g['prompts']:>7} {g['float_right']:>7} {g['int8_right']:>6}")
