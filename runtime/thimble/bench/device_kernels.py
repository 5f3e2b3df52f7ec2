"""`thimble bench kernels --board NAME`: executed instructions per MAC of the
kernels on a board under QEMU, portable C against each fast path the
firmware reports available.

    thimble bench kernels --board watch_m4                 # Needle's shapes, table + JSON
    thimble bench kernels --board glasses_a55 --shapes 1x512x512

Beside the plain [N, K] weights, each shape also runs thm_matmul_s8_packed on
the weight layouts the board's features have a fast path for
(runtime/thimble/kernels/layouts.py); under the other ISAs (portable
included) a packed case runs the portable C that reads any layout.

QEMU is not cycle accurate, but under -icount shift=0 instructions are
countable exactly: SysTick (Cortex-M) advances one tick per 1e9 / clock
instructions, the AArch64 PMU's INST_RETIRED event one per instruction. The
instructions per tick are calibrated in the same run with a loop of exactly
two instructions, and the cost of an empty call through the same path is
subtracted. Counts repeat bit for bit between runs (tests/boards/test_counts.py);
SysTick's resolution is one tick (40 instructions on watch_m4). Every output
is also checked against the numpy reference: a figure for a wrong answer is
reported as such.
"""
import datetime
import os
import subprocess
import sys

import numpy as np

from ..boards import load_board
from ..core.errors import CommandError
from ..firmware import BuildError, QemuError, build_firmware, run_job
from ..firmware import cases as C
from ..firmware import job as J
from ..kernels import layouts
from .shapes import parse_shapes, shape_name
from ..kernels.layouts import board_layouts
from .results import write_json

BOARD_SHAPES = [(m, 512, n) for m in (1, 64) for n in (512, 256, 8192)]
QUICK_SHAPES = [(1, 512, 512), (1, 512, 256), (64, 512, 256)]
# Needle's attention: 8 query heads over 4 key/value heads of 64.
ATTN_CASES = [("decode", 1, 256), ("prefill", 64, 64)]
# The targets for the matmul shapes, instructions per MAC: int8 weights
# (any layout), and int4 weights (thm_matmul_s4, read in place) at M = 1 and M = 64.
TARGETS = {"watch_m4": 1.0, "watch_m55": 0.15, "glasses_a55": 0.1}
TARGETS_S4 = {"watch_m4": {1: 1.3, 64: 1.1}, "watch_m55": {1: 0.2, 64: 0.2},
              "glasses_a55": {1: 0.15, 64: 0.15}}
CALIB_ITERS = 1_000_000
CQ_BITS = (2, 3, 4)


def _default_json(args, board):
    path = getattr(args, "json", None)
    if not path or os.path.basename(path) == "kernels-host.json":
        return os.path.join("bench-results", f"kernels-{board}.json")
    return path


def _qemu_version(binary):
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True,
                              timeout=10).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def measure(board, elf, cases, timeout=600.0):
    """Run cases (plus the calibration and an empty call) under every available
    ISA. Returns (rows, calibration): one row per case and ISA."""
    calib = [J.Case("empty", J.EMPTY, [], []), J.Case("spin", J.SPIN2, [CALIB_ITERS], [])]
    rows, cal = [], {}
    for case in cases:                   # one job per case: the big shapes fill the region
        recs = run_job(board, elf, calib + [case], timeout=timeout)
        by_isa = {}
        for r in recs:
            by_isa.setdefault(r.isa, {})[r.case_index] = r
        for isa, rs in sorted(by_isa.items()):
            per_tick = 2 * CALIB_ITERS / (rs[1].ticks - rs[0].ticks)
            overhead = rs[0].ticks * per_tick
            instr = rs[2].ticks * per_tick - overhead
            cal[J.ISA_NAMES.get(isa, str(isa))] = {"instructions_per_tick": per_tick,
                                                   "empty_call_instructions": overhead}
            why = C.check(case, rs[2])
            rows.append({"case": case.name, "kernel": case.name.split()[0], "isa": J.ISA_NAMES.get(isa, str(isa)),
                         **case.meta, "macs": case.macs, "ticks": rs[2].ticks,
                         "instructions": round(instr), "instructions_per_mac": instr / case.macs,
                         "exact": why == "", "mismatch": why or None})
    return rows, cal


def _table(rows):
    isas = []
    for r in rows:
        if r["isa"] not in isas:
            isas.append(r["isa"])
    names = []
    for r in rows:
        if r["case"] not in names:
            names.append(r["case"])
    cell = {(r["case"], r["isa"]): r for r in rows}
    body = []
    for n in names:
        line = [n]
        for i in isas:
            r = cell.get((n, i))
            line.append("-" if r is None else f"{r['instructions_per_mac']:.3f}" + ("" if r["exact"] else " WRONG"))
        body.append(line)
    headers = ["case (instructions per MAC)"] + isas
    widths = [max(len(str(h)), *(len(str(b[k])) for b in body)) for k, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) if k == 0 else str(c).rjust(w)  # noqa: E731
                                  for k, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(b) for b in body])


def _best(rows, kernels=("matmul_s8", "matmul_s8_packed")):
    """Shape -> (instructions per MAC, 'isa case') of the fastest exact row of kernels."""
    best = {}
    for r in rows:
        if r["kernel"] not in kernels or not r["exact"]:
            continue
        shape = r["case"].split()[-1]
        if shape not in best or r["instructions_per_mac"] < best[shape][0]:
            best[shape] = (r["instructions_per_mac"], f"{r['isa']} {r['case'].rsplit(' ', 1)[0]}")
    return best


def run(args):
    try:
        board = load_board(args.board)
        elf = build_firmware(board.name)
    except BuildError as e:           # an unknown board is a BoardError: a usage error
        raise CommandError(e) from e
    shapes = parse_shapes(args.shapes) if args.shapes else (QUICK_SHAPES if args.quick else BOARD_SHAPES)
    rng = np.random.default_rng(0)
    cases = []
    for m, k, n in shapes:
        cases.append(C.matmul_s8(rng, m, k, n, name=f"matmul_s8 {shape_name((m, k, n))}"))
        for lay in board_layouts(board.features):
            cases.append(C.matmul_s8_packed(rng, m, k, n, lay, name=f"matmul_s8_packed "
                                            f"{layouts.NAMES[lay]} {shape_name((m, k, n))}"))
        cases.append(C.matmul_s4(rng, m, k, n, name=f"matmul_s4 {shape_name((m, k, n))}"))
        for bits in CQ_BITS:            # Needle 2's CQ weights, read in place
            cases.append(C.matmul_cq(rng, m, k, n, bits, name=f"matmul_cq{bits} {shape_name((m, k, n))}"))
    for m in sorted({m for m, _, _ in shapes}):
        k = max(k for mm, k, _ in shapes if mm == m)
        cases.append(C.cq_rotate_s8(rng, m, k))
        cases[-1].name, cases[-1].macs = f"cq_rotate_s8 {m}x{k}", m * k     # per input value
    if not args.no_attention:
        for label, tq, tk in ATTN_CASES[: 1 if args.quick else None]:
            c = C.attention_s8(rng, tq, tk, 8, 4, 64, causal=True, q_pos0=tk - tq)
            c.name = f"attention_s8 {label} Tq={tq} Tk={tk}"
            cases.append(c)
    print(f"{board.name}: {len(cases)} cases under QEMU {board.qemu_machine} (-icount shift=0) ...",
          file=sys.stderr)
    try:
        rows, cal = measure(board, elf, cases)
    except (QemuError, J.JobError) as e:
        raise CommandError(f"{e}") from e
    target = TARGETS.get(board.name)
    notes = ["instructions per MAC from exact instruction counts (QEMU -icount shift=0), "
             "minus an empty call; not cycles"]
    if target is not None:
        notes.append(f"target for the matmul shapes on {board.name}: at most {target} instructions per MAC")
    best = _best(rows)
    if target is not None and best:
        worst = max(best.values(), key=lambda b: b[0])
        notes.append(f"best matmul path per shape: {', '.join(f'{k} {v[0]:.3f} ({v[1]})' for k, v in best.items())}; "
                     f"{'all within' if worst[0] <= target else 'NOT all within'} the target")
    best4, t4 = _best(rows, ("matmul_s4",)), TARGETS_S4.get(board.name)
    if best4:
        over = [k for k, v in best4.items() if t4 and v[0] > t4.get(int(k.split("x")[0]), t4[max(t4)])]
        notes.append(f"int4 weights (thm_matmul_s4), best per shape: "
                     f"{', '.join(f'{k} {v[0]:.3f} ({v[1].split()[0]})' for k, v in best4.items())}"
                     + (f"; targets {t4}: {'all within' if not over else 'NOT within for ' + ', '.join(over)}"
                        if t4 else ""))
    for bits in CQ_BITS:
        bq = _best(rows, (f"matmul_cq{bits}",))
        if bq:
            notes.append(f"CQ{bits} weights (thm_matmul_cq, per weight; the activations' rotation, "
                         f"cq_rotate_s8, is its own row, per input): "
                         f"{', '.join(f'{k} {v[0]:.3f} ({v[1].split()[0]})' for k, v in bq.items())}")
    if board.counter == "systick":
        notes.append(f"SysTick resolution: {board.instructions_per_tick:g} instructions")
    result = {"board": board.name, "core": board.core, "features": list(board.features),
              "qemu": _qemu_version(board.qemu_binary), "machine": board.qemu_machine,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "calibration": cal, "target_instructions_per_mac": target,
              "target_int4_instructions_per_mac": TARGETS_S4.get(board.name), "rows": rows, "notes": notes}
    path = _default_json(args, board.name)
    write_json(result, path)
    print(_table(rows))
    for n in notes:
        print(f"note: {n}")
    print(f"wrote {path}")
    return 0 if all(r["exact"] for r in rows) else 1
