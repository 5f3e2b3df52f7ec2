"""Needle's own checkpoint: a pickle of {"params": <flax param tree>, "config": <dict>}.

A pickle is a program: the stock loader calls whatever callables the file
names. This loader never does. It first walks the opcodes with pickletools
(no code runs; every length prefix is checked against the bytes that are
really there), then unpickles with a find_class that hands out only our own
constructors for the handful of globals numpy arrays, numpy dtypes and
plain containers need. Any other global (os.system, builtins.eval,
subprocess.Popen, ...) is refused by name before it can be called.

The released checkpoints hold float16 params (pretrain.py / train.py cast
with np.array(x).astype(np.float16)); float32, float64 and bfloat16 (the
ml_dtypes type numpy arrays of jax bfloat16 carry) load too.
"""
import contextvars
import io
import os
import pickle
import pickletools

import numpy as np

from .config import ConfigError, NeedleConfig
from .files import read_bounded
from .flax_tree import flatten, tree_to_tensors
from .params import CheckpointError, NeedleModel

MAX_FILE_BYTES = 2 << 30     # the released fp16 model is ~53 MB; fp32 of the same ~105 MB
MAX_NESTING = 64
# numpy dtype codes an array or scalar in a checkpoint may have.
_DTYPE_CODES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"}
# Opcodes no Needle checkpoint holds (sets, buffers, extension codes, persistent
# ids). The set ones matter for memory: EMPTY_SET is one byte that makes a
# 216-byte object, the cheapest amplification an unpickler offers.
_REFUSED_OPS = {"PERSID", "BINPERSID", "NEXT_BUFFER", "READONLY_BUFFER", "EXT1", "EXT2", "EXT4",
                "EMPTY_SET", "ADDITEMS", "FROZENSET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}

# What the allowed constructors may still build in the current load, in bytes:
# read_pickle sets it to twice the file's size. Without it one shared byte
# string (put in the memo once) handed to _frombuffer 2,000 times turns a
# 1 MiB file into 2 GiB of arrays, each call ~15 bytes of opcodes. A writer
# puts each array's data, and each dict a dict type copies, in the file once;
# protocol 2 spends an array's bytes twice (_codecs.encode makes them, the
# array takes them), hence twice the file.
_BUDGET = contextvars.ContextVar("needle_pickle_budget", default=None)


def _spend(n, what):
    budget = _BUDGET.get()
    if budget is None:          # a constructor called outside read_pickle (tests)
        return
    if n > budget[0]:
        raise CheckpointError(f"pickle: {what} would build more than twice the file's {budget[1]} bytes "
                              f"(one piece of data used over and over; no writer does that)")
    budget[0] -= n


class _BFloat16Type:
    """Stands for ml_dtypes.bfloat16 (what np.array(jax bfloat16 array) pickles
    as): decoded by hand, the upper half of a float32."""


_BFLOAT16 = _BFloat16Type()


class _DTypeSpec:
    """What numpy.dtype(code, align, copy) + BUILD(state) describe."""

    def __init__(self, code, align=False, copy=True):
        if code is _BFLOAT16:
            code = "bf16"
        elif not isinstance(code, str) or code not in _DTYPE_CODES:
            raise CheckpointError(f"pickle: dtype {code!r} is not allowed "
                                  f"(allowed: {', '.join(sorted(_DTYPE_CODES))})")
        self.code, self.order = code, "|"

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise CheckpointError("pickle: malformed dtype state")
        order, sub, names, fields = state[1:5]
        if order not in ("<", ">", "|", "=") or sub is not None or names is not None or fields is not None:
            raise CheckpointError("pickle: structured or subarray dtypes are not allowed")
        self.order = order

    def resolve(self):
        """The numpy dtype the bytes are read as (bfloat16: uint16)."""
        dt = np.dtype("u2" if self.code == "bf16" else self.code)
        return dt.newbyteorder(self.order) if dt.itemsize > 1 and self.order in "<>" else dt


def _nbytes(shape, dtype):
    n = dtype.itemsize
    for s in shape:
        n *= s
    return n


def _check_shape(shape):
    if not isinstance(shape, tuple) or len(shape) > 8 or not all(
            type(s) is int and 0 <= s < 1 << 40 for s in shape):
        raise CheckpointError(f"pickle: bad array shape {shape!r}")
    n = 1
    for s in shape:             # numpy refuses a shape whose non-zero dims overflow, even when empty
        n *= s or 1
    if n >= 1 << 40:
        raise CheckpointError(f"pickle: array shape {shape!r} is larger than any array can be")


def _array_from(raw, dtype_spec, shape, fortran):
    if not isinstance(dtype_spec, _DTypeSpec):
        raise CheckpointError("pickle: array dtype is not a numpy dtype")
    if not isinstance(raw, (bytes, bytearray)):
        raise CheckpointError("pickle: array data is not a byte string")
    _check_shape(shape)
    dt = dtype_spec.resolve()
    _spend(len(raw), f"an array of {len(raw)} bytes")
    if len(raw) != _nbytes(shape, dt):
        raise CheckpointError(f"pickle: array of shape {shape} and dtype {dt} needs "
                              f"{_nbytes(shape, dt)} bytes, the file holds {len(raw)}")
    arr = np.frombuffer(bytes(raw), dtype=dt).reshape(shape, order="F" if fortran else "C")
    arr = np.array(arr, dtype=dt.newbyteorder("="), order="C")
    return _bf16_to_f32(arr) if dtype_spec.code == "bf16" else arr


def _bf16_to_f32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


class _ArrayBuilder:
    """numpy's _reconstruct(ndarray, (0,), b'b') placeholder; BUILD fills it."""

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1:
            raise CheckpointError("pickle: malformed ndarray state")
        _, shape, dtype_spec, fortran, raw = state
        if not isinstance(fortran, bool):
            raise CheckpointError("pickle: malformed ndarray state")
        self.array = _array_from(raw, dtype_spec, shape, fortran)


class _NDArrayType:
    """Stands for numpy.ndarray: accepted as _reconstruct's class, never called."""


_NDARRAY = _NDArrayType()


def _reconstruct(cls, shape, typecode):
    if cls is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
        raise CheckpointError("pickle: unexpected arguments to numpy _reconstruct")
    return _ArrayBuilder()


def _frombuffer(buf, dtype_spec, shape, order):
    if order not in ("C", "F"):
        raise CheckpointError("pickle: bad array order")
    return _array_from(buf, dtype_spec, shape, order == "F")


def _scalar(dtype_spec, raw):
    if not isinstance(dtype_spec, _DTypeSpec) or not isinstance(raw, bytes):
        raise CheckpointError("pickle: malformed numpy scalar")
    dt = dtype_spec.resolve()
    if len(raw) != dt.itemsize:
        raise CheckpointError("pickle: numpy scalar of the wrong size")
    v = np.frombuffer(raw, dtype=dt)
    return (_bf16_to_f32(v) if dtype_spec.code == "bf16" else v)[0].item()


def _codecs_encode(s, encoding):
    if not isinstance(s, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError("pickle: unexpected arguments to _codecs.encode")
    _spend(len(s), f"a byte string of {len(s)} bytes")
    return s.encode("latin1")


def _plain_dict(*args):
    if len(args) > 1 or args and not isinstance(args[0], (dict, list)):
        raise CheckpointError("pickle: unexpected arguments to a dict type")
    # each entry a writer puts in the file takes at least two bytes (key, value)
    _spend(2 * len(args[0]) if args else 0, "copying a dict")
    # string keys only, as _check_keys requires of the file's own dicts (collisions)
    if args and isinstance(args[0], list) and not all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in args[0]):
        raise CheckpointError("pickle: a dict type built from pairs whose keys are not all strings")
    return dict(*args)


# (module, name) -> what find_class returns. Nothing here runs code from the file.
ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DTypeSpec,
    ("ml_dtypes", "bfloat16"): _BFLOAT16,                         # params saved as bfloat16
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,      # numpy 1.x writers
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,     # numpy 2.x writers
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,           # protocol 5
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _codecs_encode,                         # protocol 2 byte strings
    ("collections", "OrderedDict"): _plain_dict,
    ("flax.core.frozen_dict", "FrozenDict"): _plain_dict,          # older flax params
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise CheckpointError(f"pickle references the global {module}.{name}, which a checkpoint "
                                  f"may not use; refused without running anything") from None

    def persistent_load(self, pid):
        raise CheckpointError("pickle uses persistent ids, which a checkpoint may not use")


def _prescan(data, source):
    """Walk every opcode without executing any: catches truncation and
    length prefixes that overrun the file, and names a forbidden GLOBAL (the
    protocol 0-3 form) before anything is built."""
    puts = 0
    try:
        for n_ops, (op, arg, _) in enumerate(pickletools.genops(io.BytesIO(data))):
            # The C unpickler grows its memo array to twice the index a PUT names:
            # one LONG_BINPUT of 2^28 in a 9-byte file makes it zero 4.3 GB. A
            # writer numbers memo entries 0, 1, 2, ... in the order it puts them
            # (MEMOIZE takes the next number), so an index past the entries put
            # so far is no writer's; with it refused the memo holds at most 16
            # bytes per opcode of the file.
            if op.name in _PUT_OPS or op.name in _GET_OPS:
                limit = puts if op.name in _PUT_OPS else puts - 1
                if not 0 <= int(arg) <= limit:
                    raise CheckpointError(f"{source}: pickle memo index {arg} at opcode {n_ops}, after "
                                          f"{puts} memo entries: not one a pickle writer makes")
            if op.name in _PUT_OPS or op.name == "MEMOIZE":
                puts += 1
            if op.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                if (module, name) not in ALLOWED_GLOBALS:
                    raise CheckpointError(f"{source}: pickle references the global {module}.{name}, which a "
                                          f"checkpoint may not use; refused without running anything")
            elif op.name in _REFUSED_OPS:
                raise CheckpointError(f"{source}: pickle uses the {op.name} opcode, which a checkpoint may not use")
    except CheckpointError:
        raise
    except Exception as e:  # ValueError for truncation and bad opcodes
        raise CheckpointError(f"{source}: not a valid pickle: {e}") from None


# A Needle pickle is a few dozen arrays in a few dicts, ~25 opcodes a tensor
# (watch-tiny: ~1,100). The opcode walks below run in Python (~1 us an opcode)
# and each opcode builds at most one object: the cap bounds both, far past any
# Needle tree.
MAX_OPCODES = 1 << 20
# Only strings may key a dict: their hashes are salted per process. Ints,
# floats and tuples hash alike in every process, so 40,000 int keys that all
# collide (multiples of 2^61 - 1) in 560 KB made building one dict take 40 s.
_STR_OPS = {"UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
            "STRING", "BINSTRING", "SHORT_BINSTRING"}       # the last three load as str (ASCII)
_MARK = object()


def _check_keys(data, source):
    """Replay the opcodes' stack effects on type tags (nothing is built) and
    refuse a dict key that is not a string, before the C unpickler hashes it."""
    stack, memo = [], {}

    def bad(why):
        return CheckpointError(f"{source}: {why}")
    try:
        for n, (op, arg, _) in enumerate(pickletools.genops(io.BytesIO(data))):
            if n >= MAX_OPCODES:
                raise bad(f"pickle of more than {MAX_OPCODES} opcodes: no Needle checkpoint has that many")
            name = op.name
            if name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
                continue
            if name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
                continue
            if name == "DUP":
                stack.append(stack[-1])
                continue
            if name == "SETITEM" and stack[-2] != "str":
                raise bad(f"pickle dict key of type {stack[-2]}: a checkpoint's dicts are keyed by strings")
            before = op.stack_before
            if pickletools.markobject in before:
                at = len(stack) - 1 - stack[::-1].index(_MARK)
                items, stack = stack[at + 1:], stack[:at]
                if name in ("SETITEMS", "DICT") and (len(items) % 2 or any(k != "str" for k in items[::2])):
                    raise bad("pickle dict keys that are not strings: a checkpoint's dicts are keyed by strings")
                del stack[len(stack) - before.index(pickletools.markobject):]
            elif before:
                if len(stack) < len(before):
                    raise IndexError("stack underflow")
                del stack[len(stack) - len(before):]
            for s in op.stack_after:
                stack.append(_MARK if s is pickletools.markobject else "str" if name in _STR_OPS
                             else memo.get(arg, "any") if name in ("GET", "BINGET", "LONG_BINGET") else s.name)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - underflow, a missing mark: what the unpickler refuses too
        raise bad(f"not a valid pickle: {type(e).__name__}: {e}") from None


def _finalize(obj, depth=0, memo=None):
    """Swap placeholders for arrays and dtypes; refuse anything but plain data.
    Shared sub-objects are converted once (memo), so a pickle of many
    references to one container cannot make this walk exponential."""
    memo = {} if memo is None else memo
    if depth > MAX_NESTING:
        raise CheckpointError(f"pickle nests deeper than {MAX_NESTING} levels")
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, _ArrayBuilder):
        if obj.array is None:
            raise CheckpointError("pickle: an array was never given its data")
        out = obj.array
    elif isinstance(obj, _DTypeSpec):
        out = obj.resolve()
    elif isinstance(obj, dict):
        out = {k: _finalize(v, depth + 1, memo) for k, v in obj.items()}
    elif isinstance(obj, (list, tuple)):
        out = type(obj)(_finalize(v, depth + 1, memo) for v in obj)
    elif obj is None or isinstance(obj, (bool, int, float, str, bytes, np.ndarray)):
        return obj
    else:
        raise CheckpointError(f"pickle holds an object of type {type(obj).__name__}")
    memo[id(obj)] = out
    return out


def read_pickle(path):
    """The restricted unpickle of a file: plain containers, numbers, strings
    and numpy arrays only. Raises CheckpointError on anything else."""
    source = os.fspath(path)
    data = read_bounded(source, MAX_FILE_BYTES, "a Needle checkpoint can be")
    _prescan(data, source)
    _check_keys(data, source)
    token = _BUDGET.set([2 * len(data), len(data)])
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data)).load()
        return _finalize(obj)
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None
    except Exception as e:  # anything a malformed stream provokes, MemoryError included
        raise CheckpointError(f"{source}: not a valid Needle pickle: {type(e).__name__}: {e}") from None
    finally:
        _BUDGET.reset(token)


def load_needle_pickle(path, *, strict=False):
    """Needle's .pkl checkpoint -> NeedleModel (float32 tensors, canonical names)."""
    source = os.fspath(path)
    payload = read_pickle(path)
    if not isinstance(payload, dict):
        raise CheckpointError(f"{source}: the pickle holds a {type(payload).__name__}, "
                              f"not a dict with 'params' and 'config'")
    for key, kind in (("params", dict), ("config", dict)):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"{source}: the checkpoint has no {key!r} dict")
    notes = []
    extra = sorted(str(k) for k in payload if k not in ("params", "config"))
    if extra:
        notes.append(f"top-level keys ignored: {', '.join(extra)}")
    try:
        config, ignored = NeedleConfig.from_dict(payload["config"])
    except ConfigError as e:
        raise CheckpointError(f"{source}: {e}") from None
    if ignored:
        notes.append(f"config keys the architecture does not have, ignored: {', '.join(ignored)}")
    missing = [k for k in config.to_dict() if k not in payload["config"]]
    if missing:
        notes.append(f"config fields not in the checkpoint, original defaults used: {', '.join(missing)}")
    try:
        flat = flatten(payload["params"])
        tensors, tree_notes = tree_to_tensors(flat, config)
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None
    return NeedleModel.build(config, tensors, notes=notes + tree_notes, source=source, strict=strict)
