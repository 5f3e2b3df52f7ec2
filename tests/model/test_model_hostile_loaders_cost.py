"""Checkpoints whose cost grows faster than their size, found after the first
hostile-loader pass (issue 10): each is refused by `thimble convert` with one
line and exit 1, in bounded time and memory (convert_in_child: peak RSS at
most PEAK_SLACK + PEAK_PER_BYTE x the file's size over a child that fails at
once, no traceback).

  colliding_keys  a pickle dict of 40,000 int keys that all hash alike (ints
                  hash the same in every process, strings do not): building
                  it in the unpickler is quadratic (was: ~15 s for 560 KB)
  dup_names       a safetensors header of 60,000 names, one twice: the
                  duplicate report counted each name with list.count (was:
                  quadratic, minutes)
  empty_objects   a safetensors header of 2 million `{}`: ~80 bytes of Python
                  objects per 3 bytes of JSON (was: ~26x the file in memory)
  seq_len_valid   max_seq_len = 2^31-1 above params that load: only the config
                  bound stands between it and the quantizer (the committed
                  seq_len case has no params, so it is refused for them)
  deep_config     the metadata config nested 100,000 deep under the key the
                  loader reads ("config"; the committed case uses another key)
"""
import json
import pickle
import re
import struct

import numpy as np
import pytest

from test_model_hostile_loaders import TINY, convert_in_child


def colliding_keys_pickle(n=40_000):
    mersenne = (1 << 61) - 1        # hash(i * (2^61 - 1)) == 0 for every i
    return pickle.dumps({"params": {}, "config": TINY, "x": {i * mersenne: 0 for i in range(1, n + 1)}},
                        protocol=4)


def _safetensors(head):
    return struct.pack("<Q", len(head)) + head


def dup_names():
    names = b",".join(b'"n%d":0' % i for i in range(60_000))
    return _safetensors(b"{" + names + b',"n0":0}')


def empty_objects(n=2_000_000):
    return _safetensors(b'{"a":[' + b"{}," * (n - 1) + b"{}]}")


def seq_len_valid():
    from thimble.model.flax_tree import tensors_to_tree, unflatten
    from thimble.model.synth import random_model, tiny_config
    m = random_model(tiny_config(vocab_size=16, d_model=8, num_heads=2, num_kv_heads=1, num_encoder_layers=1,
                                 num_decoder_layers=1, max_seq_len=8), seed=1, contrastive=False)
    cfg = dict(m.config.to_dict(), max_seq_len=2**31 - 1)
    return pickle.dumps({"params": unflatten(tensors_to_tree(m, dtype=np.float16)), "config": cfg}, protocol=4)


def deep_config():
    # padded past the header's own cap on brackets (one per 8 bytes, strings included), so
    # that what refuses it is the depth check of the metadata config
    return _safetensors(json.dumps({"__metadata__": {"config": "[" * 100_000 + "]" * 100_000,
                                                     "pad": " " * 1_700_000}}).encode())


# case -> (maker, suffix, what the refusal says): the bound meant for it, not load_checkpoint's
# catch-all (which turns a RecursionError or MemoryError into one line too, after the cost is paid)
CASES = {"colliding_keys": (colliding_keys_pickle, ".pkl", "keyed by strings"),
         "dup_names": (dup_names, ".safetensors", "more than once"),
         "empty_objects": (empty_objects, ".safetensors", "objects and arrays"),
         "seq_len_valid": (seq_len_valid, ".pkl", "max_seq_len = 2147483647: at most "),
         "deep_config": (deep_config, ".safetensors", "nested more than|objects and arrays")}


@pytest.mark.parametrize("case", CASES)
def test_costly_checkpoint_is_one_line_exit_1_in_bounded_time_and_memory(case, tmp_path):
    make, suffix, says = CASES[case]
    path = tmp_path / f"{case}{suffix}"
    path.write_bytes(make())
    rc, err, _, seconds = convert_in_child(path, tmp_path)
    assert "Traceback" not in err, err[-2000:]
    assert rc == 1, (rc, err[-500:])
    assert err.count("\n") == 1 and err.startswith("error: ") and str(path) in err, err[:500]
    assert re.search(says, err), err[:500]
    assert seconds < 5, f"{case}: {seconds:.1f} s"       # each is refused in well under a second
