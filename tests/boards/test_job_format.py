"""The host side of the job/results format (no QEMU): layout and refusal of bad files."""
import struct

import numpy as np
import pytest

from thimble.firmware import job as J


def _case():
    return J.Case("c", J.MATMUL_S8, [1, 3, 2], [np.ones((1, 3), np.int8), np.ones((2, 3), np.int8), None,
                                               np.ones(2, np.int32), np.zeros(2, np.int32)], np.int8, (1, 2))


def test_job_layout_matches_the_c_header():
    raw = J.build_job([_case()], "/tmp/out.bin")
    magic, version, total, n = struct.unpack_from("<4I", raw, 0)
    assert (magic, version, total, n) == (J.JOB_MAGIC, 1, len(raw), 1)
    kernel, n_bufs = struct.unpack_from("<II", raw, J.HEADER_BYTES)
    offs = struct.unpack_from("<8I", raw, J.HEADER_BYTES + 8 + 4 * J.MAX_PARAMS)
    lens = struct.unpack_from("<8I", raw, J.HEADER_BYTES + 8 + 4 * J.MAX_PARAMS + 32)
    assert (kernel, n_bufs) == (J.MATMUL_S8, 6)
    assert lens[:6] == (3, 6, 0, 8, 8, 2) and offs[2] == 0          # the missing bias is NULL
    assert all(o % 16 == 0 for o in offs) and raw[offs[1]:offs[1] + 6] == b"\1" * 6


def test_job_limits():
    with pytest.raises(J.JobError, match="path"):
        J.build_job([_case()], "x" * 300)
    with pytest.raises(J.JobError, match="region"):
        J.build_job([_case()], "/tmp/o", limit=100)


def test_results_parse_and_refuse():
    rec = struct.pack("<IiiIQ", 0, 0, 0, 2, 77) + b"\1\2"
    good = struct.pack("<4I", J.RESULT_MAGIC, 1, 1, 0) + rec
    (r,) = J.parse_results(good, 1)
    assert (r.ticks, r.out) == (77, b"\1\2")
    with pytest.raises(J.JobError, match="truncated"):
        J.parse_results(good[:-1], 1)
    with pytest.raises(J.JobError, match="magic"):
        J.parse_results(b"XXXX" + good[4:], 1)
    with pytest.raises(J.JobError, match="out of range"):
        J.parse_results(good, 0)                 # case index beyond the job
    with pytest.raises(J.JobError, match="trailing"):
        J.parse_results(good + b"\0", 1)
    with pytest.raises(J.JobError, match="records"):
        J.parse_results(struct.pack("<4I", J.RESULT_MAGIC, 1, 10**6, 0), 1)


def test_kernel_ids_match_the_c_enum():
    """The job's kernel ids are thm_conformance.h's enum, name for name."""
    import pathlib
    import re
    hdr = (pathlib.Path(__file__).resolve().parents[2] / "runtime" / "device" / "conformance"
           / "thm_conformance.h").read_text()
    enum = {m.group(1): int(m.group(2)) for m in re.finditer(r"THM_K_(\w+)\s*=\s*(\d+)", hdr)}
    assert enum, "no THM_K_* ids in the header"
    for name, value in enum.items():
        assert getattr(J, name) == value, name
