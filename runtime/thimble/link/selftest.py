"""The bring-up checklist over the serial link (`thimble selftest`): each
check asks the board with TEST (format.TEST_OPS; docs/protocol.md) and
judges the answer on the host, so a board is checked against thimble's own
numpy reference, not against itself.

    checks = run_checks(link, board)      # [Check], in order
    ok = all(c.ok for c in checks)

A check that cannot run (an older firmware, a line that fails) raises
LinkError: the command reports it as its one error line.
"""
import time
from dataclasses import dataclass, field

import numpy as np

from ..core import resources
from ..firmware import cases as C
from ..firmware import job as J
from ..firmware.sources import source_hash
from . import format as F

STACK_MIN_FREE = 1024          # bytes of stack never touched after a model run: less is a FAIL
SPEED_SHAPE = (4, 512, 16)     # the largest matmul whose job fits a staged request


@dataclass
class Check:
    name: str
    ok: bool
    summary: str
    data: dict = field(default_factory=dict)

    def line(self):
        return f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.summary}"

    def as_dict(self):
        return {"name": self.name, "ok": self.ok, "summary": self.summary, **self.data}


def kernel_cases(board):
    """Small cases of every kernel the firmware carries (random and edge
    values, odd sizes), each small enough that its job fits one staged
    request and its output, once per ISA, one TEST reply."""
    from ..kernels.layouts import board_layouts
    rng = np.random.default_rng(20261206)
    cs = [C.matmul_s8(rng, 3, 37, 5, edge=True), C.matmul_s8(rng, 1, 1, 1), C.matmul_s8(rng, 7, 129, 17, bias=False),
          C.matmul_s8(rng, 4, 64, 16, edge=True), C.matmul_s8_s32(rng, 5, 67, 9, edge=True),
          C.matmul_s4(rng, 3, 37, 5, edge=True), C.matmul_s4(rng, 2, 129, 7, edge=True),
          C.matmul_s4(rng, 4, 512, 8), C.matmul_s4_s32(rng, 3, 37, 5, edge=True), C.embed_s16_s4(rng, 5, 11, 7),
          C.softmax_q15(rng, 37, masked=True), C.softmax_q15_rows_block(rng, 4, 37),
          C.attention_s8(rng, 3, 5, 2, 1, 8, causal=True, q_pos0=2, masked=True),
          C.rmsnorm(rng, 3, 31), C.rmsnorm(rng, 2, 16, s16=False), C.rope_s8(rng, 3, 2, 8, 5, 16),
          C.residual_s16(rng, 33, edge=True), C.embed_s16(rng, 5, 11, 7), C.requantize_s32(rng, 29),
          C.pv_rows(rng, 3, 17, 5, edge=True), C.pv_combine(rng, 21)]
    for lay in board_layouts(board.features):
        cs.append(C.matmul_s8_packed(rng, 3, 40, 10, lay, edge=True))
    return cs


def _run_case(link, case):
    job = J.build_job([case], "", limit=F.MAX_REQUEST)
    head, out = link.test("KERNEL", staged=job)
    if head["status"] != "OK":
        raise J.JobError(f"{case.name}: the board answered {head['status']} (the job did not run)")
    raw = J.RESULT_MAGIC.to_bytes(4, "little") + J.VERSION.to_bytes(4, "little") + \
        head["v0"].to_bytes(4, "little") + bytes(4) + out
    return J.parse_results(raw, 1), head


def check_identity(link, board, info):
    head, out = link.test("IDENT")
    text = out.decode("ascii", "replace")
    ident = dict(f.split("=", 1) for f in text.split(";") if "=" in f)
    ours = source_hash(resources.data_root())
    data = {"firmware": text, "board": ident.get("board"), "protocol": info["version"],
            "sources": ident.get("src"), "host_sources": ours, "compiler": ident.get("cc"),
            "arena_bytes": head["v0"], "arena_used": head["v1"]}
    if ident.get("board") != board.name or info["board"] != board.name:
        return Check("identity", False, f"the board runs firmware for {ident.get('board') or info['board']}, "
                     f"not {board.name}", data)
    if ident.get("src") != ours:
        return Check("identity", False, f"firmware built from sources {ident.get('src')}, this thimble's are {ours}: "
                     "its kernels may not be the reference's (rebuild and flash)", data)
    return Check("identity", True, f"{board.name}, link protocol v{info['version']}, firmware from sources "
                 f"{ours} (this thimble's), {ident.get('cc', '?')}", data)


def check_kernels(link, board):
    cases, runs, bad, isas = kernel_cases(board), 0, [], set()
    for case in cases:
        recs, _ = _run_case(link, case)
        for r in recs:
            isas.add(J.ISA_NAMES.get(r.isa, str(r.isa)))
            runs += 1
            why = C.check(case, r)
            if why:
                bad.append(f"{J.ISA_NAMES.get(r.isa, r.isa)} {case.name}: {why}")
    names = ", ".join(sorted(isas))
    data = {"cases": len(cases), "runs": runs, "isas": sorted(isas), "failures": bad}
    if bad:
        return Check("kernels", False, f"{len(bad)} of {runs} runs differ from the reference; {bad[0]}", data)
    return Check("kernels", True, f"{len(cases)} cases x {len(isas)} ISAs ({names}): {runs} runs bit-exact "
                 "with the reference", data)


def check_speed(link, board):
    m, k, n = SPEED_SHAPE
    case = C.matmul_s8(np.random.default_rng(7), m, k, n)
    recs, _ = _run_case(link, case)
    per = {J.ISA_NAMES.get(r.isa, str(r.isa)): r.ticks * board.instructions_per_tick / (m * k * n)
           for r in recs if r.status == 0}
    unit = "instructions"          # the counter's ticks times the board's instructions per tick
    fig = ", ".join(f"{name} {v:.3f}" for name, v in per.items())
    data = {"shape": f"{m}x{k}x{n}", "per_mac": {k_: round(v, 4) for k_, v in per.items()}}
    fast = {k_: v for k_, v in per.items() if k_ != "portable"}
    if "portable" in per and fast and min(fast.values()) >= per["portable"]:
        return Check("speed", False, f"{unit}/MAC on matmul_s8 {m}x{k}x{n}: {fig}: no fast path beats portable C",
                     data)
    return Check("speed", True, f"{unit}/MAC on matmul_s8 {m}x{k}x{n} as the board counts them: {fig}", data)


def check_memory(link):
    head, _ = link.test("MEMORY")
    data = {"bytes": head["v0"], "from": head["v2"]}
    if head["status"] != "OK":
        where = f"at arena offset 0x{head['v1']:x}" if head["v1"] != F.TEST_NO_FAULT else ""
        return Check("memory", False, f"March C- and address test of {head['v0']:,} arena bytes failed {where} "
                     f"({head['status']})", {**data, "fault": head["v1"]})
    return Check("memory", True, f"{head['v0']:,} arena bytes not in use (from offset {head['v2']:,}) pass "
                 "March C- and the address test", data)


def check_flash(link):
    head, _ = link.test("FLASH")
    data = {"bytes": head["v0"]}
    if head["status"] != "OK":
        return Check("flash", False, f"scratch sector ({head['v0']:,} bytes, the journal's idle log sector) "
                     f"read back wrong at byte {head['v1']:,} ({head['status']})", {**data, "fault": head["v1"]})
    return Check("flash", True, f"scratch sector ({head['v0']:,} bytes, the journal's idle log sector, never a "
                 "model slot): erased, programmed with two patterns, read back, left erased", data)


def check_uart(link, rate=None):
    up = bytes((i * 13 + 5) & 0xFF for i in range(F.MAX_REQUEST))
    t0 = time.perf_counter()
    link.stage(up)
    t_up = time.perf_counter() - t0
    t0 = time.perf_counter()
    head, out = link.test("FILL", F.MAX_OUTPUT)
    t_down = time.perf_counter() - t0
    want = bytes((i * 7 + 1) & 0xFF for i in range(F.MAX_OUTPUT))
    up_bps, down_bps = len(up) / t_up, len(out) / t_down
    share = f" ({100 * up_bps / rate:.0f}% / {100 * down_bps / rate:.0f}% of the line)" if rate else ""
    data = {"host_to_device_bytes_per_s": round(up_bps), "device_to_host_bytes_per_s": round(down_bps)}
    if out != want:
        return Check("uart", False, f"{len(out)} bytes from the board, not the {len(want)} it was asked for", data)
    return Check("uart", True, f"host to device {up_bps / 1000:.1f} kB/s, device to host {down_bps / 1000:.1f} kB/s"
                 f"{share}, payload intact", data)


def check_slots(link):
    head, _ = link.test("SLOTS")
    data = {"valid": head["v0"], "differ_mask": head["v1"]}
    if head["status"] != "OK":
        bad = [i for i in range(F.MAX_SLOTS) if head["v1"] >> i & 1]
        return Check("slots", False, f"slot {', '.join(map(str, bad))}: its bytes no longer hash to what was "
                     "committed", data)
    what = f"{head['v0']} valid slot(s) re-hashed from flash: every one matches its commit" if head["v0"] else \
        "no model deployed: nothing to re-hash"
    return Check("slots", True, what, data)


def check_stack(link, ran):
    head, _ = link.test("STACK")
    free, total = head["v0"], head["v1"]
    data = {"untouched": free, "stack_bytes": total, "after_model_run": ran}
    after = "after a model run" if ran else "(no model deployed: no model run yet)"
    if free < STACK_MIN_FREE:
        return Check("stack", False, f"{total - free:,} of {total:,} bytes used {after}: under "
                     f"{STACK_MIN_FREE:,} never touched", data)
    return Check("stack", True, f"{total - free:,} of {total:,} bytes used at most {after}", data)


def run_checks(link, board, rate=None, log=None):
    """Every check, in the checklist's order. log(line) as each ends."""
    info = link.hello()
    out = []

    def done(c):
        out.append(c)
        if log:
            log(c.line())
    done(check_identity(link, board, info))
    done(check_kernels(link, board))
    done(check_speed(link, board))
    done(check_memory(link))
    done(check_flash(link))
    done(check_uart(link, rate))
    done(check_slots(link))
    ran = False
    if info["active"] is not None:        # the deepest the stack goes is a model run
        from ..app.request import build_request
        req, _ = build_request("set a timer for ten minutes", [{"name": "set_timer", "description": "a timer",
                                                                "parameters": {}}], 8, True)
        link.run_raw(req)
        ran = True
    done(check_stack(link, ran))
    return out
