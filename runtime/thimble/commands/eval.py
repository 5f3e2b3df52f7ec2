"""`thimble eval IMAGE [IMAGE ...] --checkpoint CKPT --prompts FILE`: fidelity
of integer images to their float checkpoint (several images of one model,
int8 / int4 / mixed, side by side).

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
    p.add_argument("image", nargs="+", help="the .thm image; several (of one model: int8, int4, mixed) "
                   "are compared side by side, the float model's answers computed once")
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
    for image in args.image:
        input_file(image, "image")
    if args.json:
        output_file(args.json, "--json")
    input_file(args.checkpoint, "folder or file")
    input_file(args.prompts, "--prompts file")
    if args.tools:
        input_file(args.tools, "--tools file")
    sessions = []
    try:
        for image in args.image:
            sessions.append(Session(image, args.backend))
        model = load_checkpoint(args.checkpoint)
    except OSError as e:
        raise UsageError(f"{e.filename or image}: {e.strerror or e}") from None
    except ValueError as e:
        raise UsageError(e) from None
    for image, session in zip(args.image, sessions):
        if model.config.vocab_size != session.qm.config.vocab_size or \
                model.config.d_model != session.qm.config.d_model:
            raise UsageError(f"{args.checkpoint}: the checkpoint's shape differs from {image}'s")
        if session.image.tokenizer != sessions[0].image.tokenizer:
            raise UsageError(f"{image}: carries another tokenizer than {args.image[0]}: compare images of one model")
    rows = _rows(args)
    first = sessions[0]
    prompts = []
    for n, r in enumerate(rows, 1):
        try:
            prompts.append(first.encoder_input(r["query"], r["tools"], args.truncate))
        except PromptError as e:
            raise UsageError(f"{args.prompts}: prompt {n}: {e}") from None

    # the float model's answers, once for every image
    fm = FloatNeedle(model, np.float32)
    sp = first.special
    f_calls = []
    float_progress = progress_printer("float answers")
    for done, (row, (ids, name_map)) in enumerate(zip(rows, prompts), 1):
        cache = fm.start_decoder(fm.encode(np.asarray(ids)[None, :]))
        gen = constrained_greedy(lambda t: fm.decode_step(cache, [[t]])[0, -1], first.pieces,
                                 ToolGrammar(tool_keys(row["tools"])), start_id=sp["eos_id"], eos_id=sp["eos_id"],
                                 tool_call_id=sp["tool_call_id"], max_new_tokens=96)
        f_calls.append(restore_tool_names(json.loads(first.tokenizer.decode(gen.tokens[1:])), name_map)
                       if gen.complete else None)
        float_progress(done, len(rows))

    reports = []
    for image, session in zip(args.image, sessions):
        report = fidelity(model, session.qm, get_backend(py_backend), [p for p, _ in prompts],
                          decode_tokens=args.decode_tokens, progress=progress_printer(f"{image}: hidden states"))
        report["image"] = image
        report["weights"] = _weights_of(session)
        tool_progress = progress_printer(f"{image}: tool calls")
        same, groups = 0, {}    # expected answer's kind -> [prompts, float right, image right]
        for done, (row, fc) in enumerate(zip(rows, f_calls), 1):
            i_calls = session.ask(row["query"], row["tools"], truncate=args.truncate)["calls"]
            same += int(fc == i_calls)
            if "answer" in row:
                g = groups.setdefault(answer_kind(row["answer"]), [0, 0, 0])
                g[0] += 1
                g[1] += int(fc == row["answer"])
                g[2] += int(i_calls == row["answer"])
            tool_progress(done, len(rows))
        report["tool_calls_identical_to_float"] = same / len(rows)
        if groups:
            n, f_ok, i_ok = (sum(g[i] for g in groups.values()) for i in range(3))
            report["exact_match_expected"] = {"float": f_ok / n, "integer": i_ok / n, "prompts": n,
                                              "float_right": f_ok, "integer_right": i_ok}
            report["exact_match_by_answer"] = {k: {"prompts": g[0], "float_right": g[1], "integer_right": g[2]}
                                               for k, g in sorted(groups.items())}
        reports.append(report)
    if len(reports) == 1:
        _print(reports[0])
    else:
        _print_several(reports)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports[0] if len(reports) == 1 else {"images": reports}, f, indent=1)
    return 0


def _weights_of(session):
    """int8, int4 or mixed: what the image's projections are."""
    from ..quant.tensors import int4_names, projections
    names = int4_names(session.qm.tensors)
    n4, n = len(names - {"embed"}), len(projections(session.qm.config))
    what = "int8" if n4 == 0 else "int4" if n4 == n else f"mixed ({n4} of {n} projections int4)"
    return what + (", embedding int4" if "embed" in names else "")


def answer_kind(calls):
    """How an expected answer is grouped in the report: "[]" (no call), the
    tool's name (one call), "two calls" or "N calls"."""
    if not calls:
        return "[]"
    if len(calls) == 1:
        return str(calls[0].get("name"))
    return "two calls" if len(calls) == 2 else f"{len(calls)} calls"


def _print(r):
    print(f"{r['image']} ({r['weights']} weights): prompts {r['prompts']}, teacher-forced decoder positions "
          f"{r['decoder_positions']}")
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
              f"({e['float']:.1%}), image {e['integer_right']}/{e['prompts']} ({e['integer']:.1%})")
        print("expected answer        prompts   float   image")
        for kind, g in r["exact_match_by_answer"].items():
            print(f"{kind:<22} {g['prompts']:>7} {g['float_right']:>7} {g['integer_right']:>7}")


def _print_several(reports):
    """One column per image: the float model against each."""
    cols = [f"[{i + 1}]" for i in range(len(reports))]
    for c, r in zip(cols, reports):
        print(f"{c} {r['image']}: {r['weights']} weights")
    r0 = reports[0]
    print(f"prompts {r0['prompts']}, teacher-forced decoder positions {r0['decoder_positions']}")
    print("layer (cosine mean / min)" + "".join(f"{c:>22}" for c in cols))
    for name, key in (("encoder", "encoder_layers"), ("decoder", "decoder_layers")):
        for i, row in enumerate(r0[key]):
            label = f"{name} {'embed' if row['layer'] == 0 else row['layer']}"
            print(f"{label:<25}" + "".join(f"{r[key][i]['mean']:>12.6f} {r[key][i]['min']:.6f}" for r in reports))
    print(f"{'top-1 agreement':<25}" + "".join(f"{r['top1_agreement']:>22.1%}" for r in reports))
    print(f"{'calls as the float':<25}" + "".join(f"{r['tool_calls_identical_to_float']:>22.1%}" for r in reports))
    if "exact_match_expected" in r0:
        e0 = r0["exact_match_expected"]
        print(f"exact match with the expected answers: float {e0['float_right']}/{e0['prompts']} ({e0['float']:.1%}), "
              + ", ".join(f"{c} {r['exact_match_expected']['integer_right']}/{e0['prompts']} "
                          f"({r['exact_match_expected']['integer']:.1%})" for c, r in zip(cols, reports)))
        print(f"{'expected answer':<22} prompts   float" + "".join(f"{c:>7}" for c in cols))
        for kind, g in r0["exact_match_by_answer"].items():
            print(f"{kind:<22} {g['prompts']:>7} {g['float_right']:>7}"
                  + "".join(f"{r['exact_match_by_answer'][kind]['integer_right']:>7}" for r in reports))
