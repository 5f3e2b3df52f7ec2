"""Checkpoints made to eat memory or time, found by an outside pass, each
refused by `thimble convert` with one line and exit 1, in bounded memory:

  dag        a 7.7 KB-class pickle whose param tree is 15 levels of 64 keys all
             sharing one child: 64^15 paths (was: 62 s, then MemoryError and a
             traceback)
  memo       9 bytes: LONG_BINPUT 2^32-1 makes CPython's unpickler grow its
             memo to 32 GiB (was: 4.2 GB allocated before the refusal)
  seq_len    config max_seq_len = 2^31-1 (was: ArrayMemoryError traceback in
             the quantizer)
  deep_json  a safetensors header nested 100,000 deep (was: RecursionError)
  deep_cfg   the same inside the metadata config
  big_shape  an empty tensor of shape [0, 2^62] (was: ValueError traceback)

Each runs in a fresh child under an address-space limit; its peak RSS (from
wait4) may exceed a child that fails at once on a missing file by at most
PEAK_SLACK plus PEAK_PER_BYTE times the file's size."""
import json
import os
import pickle
import resource
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

PEAK_SLACK = 24 << 20         # bytes: the loader's own imports and buffers
PEAK_PER_BYTE = 16            # a loader may hold a few copies of the file
AS_LIMIT = 3 << 30            # the child's address space: far below what the old code asked for
TIME_LIMIT = 60
TINY = {"vocab_size": 64, "d_model": 16, "num_heads": 2, "num_kv_heads": 1, "num_encoder_layers": 1,
        "num_decoder_layers": 1, "d_ff": 16, "max_seq_len": 16}


def dag_pickle():
    node = {"kernel": np.zeros(1, np.float32)}
    for _ in range(15):
        node = {f"k{j}": node for j in range(64)}
    return pickle.dumps({"params": node, "config": TINY}, protocol=4)


def memo_pickle():
    return b"\x80\x04N" + b"r" + struct.pack("<I", 0xFFFFFFFF) + b"."     # PROTO 4, NONE, LONG_BINPUT, STOP


def seq_len_pickle():
    return pickle.dumps({"params": {}, "config": dict(TINY, max_seq_len=2**31 - 1)}, protocol=4)


def safetensors(header):
    head = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(head)) + head


def deep_json():
    return safetensors(b"[" * 100_000 + b"]" * 100_000)


def deep_cfg():
    return safetensors({"__metadata__": {"needle_config": "[" * 100_000 + "]" * 100_000}})


def big_shape():
    return safetensors({"__metadata__": {"needle_config": json.dumps(TINY)},
                        "w": {"dtype": "F32", "shape": [0, 2**62], "data_offsets": [0, 0]}})


CASES = {"dag": (dag_pickle, ".pkl"), "memo": (memo_pickle, ".pkl"), "seq_len": (seq_len_pickle, ".pkl"),
         "deep_json": (deep_json, ".safetensors"), "deep_cfg": (deep_cfg, ".safetensors"),
         "big_shape": (big_shape, ".safetensors")}


@pytest.mark.parametrize("case", CASES)
def test_hostile_checkpoint_is_one_line_exit_1_in_bounded_memory(case, tmp_path):
    make, suffix = CASES[case]
    data = make()
    path = tmp_path / f"{case}{suffix}"
    path.write_bytes(data)
    rc, err, _, seconds = convert_in_child(path, tmp_path)
    assert "Traceback" not in err, err[-2000:]
    assert rc == 1, (rc, err[-500:])
    assert err.count("\n") == 1 and err.startswith("error: ") and str(path) in err, err
    assert seconds < 30


def convert_in_child(path, tmp_path):
    """-> (exit status, stderr, peak RSS bytes, seconds) of `thimble convert path` in a fresh child
    under AS_LIMIT, its peak RSS from wait4; asserts it against a child that fails at once."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    code = "import sys; from thimble.cli import main; sys.exit(main(sys.argv[1:]))"

    def run(target):
        t0 = time.monotonic()
        p = subprocess.Popen([sys.executable, "-c", code, "convert", str(target), "-o", str(tmp_path / "out.thm")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limit)
        err = b""
        deadline = t0 + TIME_LIMIT
        os.set_blocking(p.stderr.fileno(), False)
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            chunk = p.stderr.read()
            err += chunk or b""
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                os.wait4(p.pid, 0)
                pytest.fail(f"{target.name}: still running after {TIME_LIMIT} s")
            time.sleep(0.02)
        err += p.stderr.read() or b""
        p.returncode = os.waitstatus_to_exitcode(status)
        return p.returncode, err.decode(), usage.ru_maxrss * 1024, time.monotonic() - t0

    _, _, floor, _ = run(tmp_path / "missing.pkl")
    rc, err, peak, seconds = run(path)
    size = path.stat().st_size
    print(f"{path.name}: {size} bytes, exit {rc}, {seconds:.2f} s, peak RSS {peak / 2**20:.1f} MiB "
          f"(floor {floor / 2**20:.1f} MiB)")
    assert peak - floor <= PEAK_SLACK + PEAK_PER_BYTE * size, \
        f"{path.name}: peak RSS {peak / 2**20:.1f} MiB, floor {floor / 2**20:.1f} MiB, file {size} bytes"
    return rc, err, peak, seconds
