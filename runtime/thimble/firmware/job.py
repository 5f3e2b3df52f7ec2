"""The job the conformance firmware runs, and the results it writes back.

Mirrors runtime/device/conformance/thm_conformance.h field by field: a
256-byte header, 128-byte cases, then 16-byte-aligned buffers; results are a
16-byte header and, per run, a 24-byte record followed by the output bytes.
"""
import struct
from dataclasses import dataclass, field

import numpy as np

from ..kernels import isa as _isa

JOB_MAGIC, RESULT_MAGIC, VERSION = 0x424F4A54, 0x53455254, 1
MAX_BUFS, MAX_PARAMS, PATH_BYTES = 8, 14, 200
HEADER_BYTES, CASE_BYTES, RECORD_BYTES = 256, 128, 24
ALL_ISAS = 0xFFFFFFFF

# Kernel ids (enum in thm_conformance.h; tests/boards/test_job_format.py checks them).
EMPTY, SPIN2, MATMUL_S8, MATMUL_S8_S32, SOFTMAX_Q15, ATTENTION_S8 = range(6)
RMSNORM_S16, RMSNORM_S8, ROPE_S8, RESIDUAL_S16, EMBED_S16, REQUANTIZE_S32 = range(6, 12)
MATMUL_S8_PACKED, PV_ROWS, PV_COMBINE_S8, SOFTMAX_Q15_ROWS, MATMUL_S4, MATMUL_S4_S32, EMBED_S16_S4 = range(12, 19)
CQ_ROTATE_S8, MATMUL_CQ_S8, MATMUL_CQ_S32, SINKHORN_Q12, ENGRAM_HASH = range(19, 24)
SIGMOID_Q15, FWHT_S8, CQ_GATHER, N2_RUN, N2_ANSWER = range(24, 29)
E_CASE, E_SCRATCH = -100, -101            # the firmware refused a case

# ISA id -> name: the ISA table (kernels/isa.py), whose ids the C API's
# THM_ISA_* constants must equal (tests/kernels/test_isa_table.py).
ISA_NAMES = dict(_isa.ISA_NAMES)


class JobError(ValueError):
    """A job that cannot be built, or results that do not parse."""


@dataclass
class Case:
    """One kernel call: params (<= 14 int32), input buffers, then the output's
    dtype and shape. `expect` is the reference output; `status` the expected
    return code."""
    name: str
    kernel: int
    params: list
    inputs: list                    # numpy arrays (or None for a NULL pointer)
    out_dtype: object = np.int8
    out_shape: tuple = ()
    expect: object = None
    status: int = 0
    macs: int = 0                   # multiply-accumulates, for per-MAC figures
    meta: dict = field(default_factory=dict)


def _align(n, a=16):
    return (n + a - 1) // a * a


def build_job(cases, out_path, isa_mask=ALL_ISAS, limit=None):
    """Serialize cases into one job image (bytes). limit: the board region's size."""
    path = out_path.encode()
    if len(path) >= PATH_BYTES or b"\0" in path:
        raise JobError(f"results path too long for the job header ({len(path)} bytes)")
    table = bytearray()
    data = bytearray()
    data_base = _align(HEADER_BYTES + CASE_BYTES * len(cases))
    for c in cases:
        if len(c.params) > MAX_PARAMS:
            raise JobError(f"{c.name}: more than {MAX_PARAMS} params")
        out = np.zeros(c.out_shape, dtype=c.out_dtype)
        bufs = [b"" if a is None else np.ascontiguousarray(a).tobytes() for a in c.inputs]
        bufs.append(out.tobytes())
        if len(bufs) > MAX_BUFS:
            raise JobError(f"{c.name}: more than {MAX_BUFS} buffers")
        offs, lens = [], []
        for b in bufs:
            offs.append(data_base + len(data) if b else 0)
            lens.append(len(b))
            data += b + bytes(_align(len(b)) - len(b))
        pad = MAX_BUFS - len(bufs)
        params = [int(p) for p in c.params] + [0] * (MAX_PARAMS - len(c.params))
        table += struct.pack(f"<II{MAX_PARAMS}i{MAX_BUFS}I{MAX_BUFS}I", c.kernel, len(bufs), *params,
                             *(offs + [0] * pad), *(lens + [0] * pad))
    total = data_base + len(data)
    if limit is not None and total > limit:
        raise JobError(f"job is {total} bytes; the board's weights region holds {limit}")
    header = struct.pack(f"<IIII I5I{PATH_BYTES}s4I", JOB_MAGIC, VERSION, total, len(cases),
                         isa_mask & 0xFFFFFFFF, *[0] * 5, path, *[0] * 4)
    assert len(header) == HEADER_BYTES
    return header + bytes(table) + bytes(data_base - HEADER_BYTES - len(table)) + bytes(data)


@dataclass
class Record:
    case_index: int
    isa: int
    status: int
    ticks: int
    out: bytes


def parse_results(raw, n_cases, max_records=4096):
    """Parse the firmware's results file into Records (validated, bounded)."""
    if len(raw) < 16:
        raise JobError("results file is truncated (no header)")
    magic, version, n, _ = struct.unpack_from("<4I", raw, 0)
    if magic != RESULT_MAGIC or version != VERSION:
        raise JobError("results file has a bad magic or version")
    if n > max_records:
        raise JobError(f"results claim {n} records (more than {max_records})")
    recs, pos = [], 16
    for _ in range(n):
        if pos + RECORD_BYTES > len(raw):
            raise JobError("results file is truncated (record header)")
        ci, isa, status, out_len, ticks = struct.unpack_from("<IiiIQ", raw, pos)
        pos += RECORD_BYTES
        if ci >= n_cases:
            raise JobError(f"results record for case {ci}: out of range (the job has {n_cases})")
        if pos + out_len > len(raw):
            raise JobError("results file is truncated (record output)")
        recs.append(Record(ci, isa, status, ticks, bytes(raw[pos:pos + out_len])))
        pos += out_len
    if pos != len(raw):
        raise JobError(f"results file has {len(raw) - pos} trailing bytes")
    return recs
