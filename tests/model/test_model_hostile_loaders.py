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
    # under the key the loader reads (safetensors.METADATA_CONFIG_KEY), so the nesting is parsed
    return safetensors({"__metadata__": {"config": "[" * 100_000 + "]" * 100_000}})


def big_shape():
    return safetensors({"__metadata__": {"config": json.dumps(TINY)},
                        "w": {"dtype": "F32", "shape": [0, 2**62], "data_offsets": [0, 0]}})


# --- hand-written opcode streams: what pickle.dumps never writes -------------

def _uni(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b                              # SHORT_BINUNICODE


def _array_globals():
    """memo 0-2: numpy._core.numeric._frombuffer; memo 3-5: numpy.dtype;
    memo 6: dtype('f4'). -> the opcodes (stack left holding them: harmless)."""
    return (_uni("numpy._core.numeric") + b"\x94" + _uni("_frombuffer") + b"\x94\x93\x94"
            + _uni("numpy") + b"\x94" + _uni("dtype") + b"\x94\x93\x94"
            + b"h\x05" + _uni("f4") + b"\x89\x88\x87R\x94")               # dtype('f4', False, True)


def shared_bytes_pickle(size=1 << 16, calls=2000):
    """One 64 KiB byte string put in the memo once, then handed to
    _frombuffer 2,000 times (~15 bytes each): 125 MiB of arrays from 95 KB
    (was: 2 GiB from a 1 MiB file of the same shape)."""
    out = b"\x80\x04" + _array_globals()
    out += b"B" + struct.pack("<I", size) + bytes(size) + b"\x94"         # memo 7: the data
    out += b"J" + struct.pack("<i", size // 4) + b"\x85\x94" + _uni("C") + b"\x94"   # memo 8 (n,), 9 'C'
    out += b"}(" + _uni("params") + b"}("
    for j in range(calls):
        out += _uni(f"{j:x}") + b"h\x02(h\x07h\x06h\x08h\x09tR"           # _frombuffer(data, f4, (n,), 'C')
    return out + b"u" + _uni("config") + b"}u."


def long_key_pickle(key_chars=1 << 16, leaves=4000):
    """A 64 KiB key above 4,000 leaves that share one 4-byte array: every
    leaf's path repeats the key, 250 MiB of path strings from 90 KB."""
    out = b"\x80\x04" + _array_globals()
    out += b"h\x02(C\x04\0\0\0\0h\x06K\x01\x85" + _uni("C") + b"tR\x94"  # memo 7: float32[1]
    out += b"}(" + _uni("params") + b"}(" + b"X" + struct.pack("<I", key_chars) + b"k" * key_chars + b"}("
    for j in range(leaves):
        out += _uni(f"{j:x}") + b"h\x07"
    return out + b"uu" + _uni("config") + b"}u."


def huge_int_config_pickle():
    """d_model = -10^5000: Python refuses to write an int of more than 4300
    digits, so an error message that formats it raises ValueError instead."""
    return pickle.dumps({"params": {}, "config": dict(TINY, d_model=-10 ** 5000)}, protocol=4)


def layers_pickle():
    """num_encoder_layers = 10^9: the tensor list alone is 10^9 entries."""
    return pickle.dumps({"params": {}, "config": dict(TINY, num_encoder_layers=10 ** 9)}, protocol=4)


CASES = {"dag": (dag_pickle, ".pkl"), "memo": (memo_pickle, ".pkl"), "seq_len": (seq_len_pickle, ".pkl"),
         "deep_json": (deep_json, ".safetensors"), "deep_cfg": (deep_cfg, ".safetensors"),
         "big_shape": (big_shape, ".safetensors"), "shared_bytes": (shared_bytes_pickle, ".pkl"),
         "long_key": (long_key_pickle, ".pkl"), "huge_int": (huge_int_config_pickle, ".pkl"),
         "layers": (layers_pickle, ".pkl")}
# what each refusal must name: the thing that was wrong, not what ran out or
# which exception a catch-all caught
NAMES = {"dag": "twice", "memo": "memo index", "seq_len": "max_seq_len", "deep_json": "JSON",
         "deep_cfg": "JSON", "big_shape": "shape", "shared_bytes": "would build more",
         "long_key": "not a plain name", "huge_int": "d_model", "layers": "num_encoder_layers"}


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
    assert NAMES[case] in err and "Error: " not in err, err
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


def test_a_checkpoint_loads_under_a_tight_address_space_limit(tmp_path):
    """read_pickle once read with f.read(2 GiB cap), which allocates the cap up
    front: under ulimit -v (or with overcommit off) every pickle then failed
    with MemoryError. Here the limit is what is mapped after the imports plus
    256 MiB, far more than a 5 KB checkpoint needs."""
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps({"params": {}, "config": TINY}, protocol=4))
    code = ("import resource, sys\n"
            "from thimble.model import CheckpointError, load_checkpoint\n"
            "vm = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024\n"
            "resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20),) * 2)\n"
            "try:\n    load_checkpoint(sys.argv[1])\n"
            "except CheckpointError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    # refused for the params it lacks, after a whole load, not for memory
    assert "is missing" in r.stdout and "MemoryError" not in r.stdout, r.stdout[-500:]
