"""Run one op on a backend and on the reference; fail with a reproducer.

The reference result of a case is kept for the whole session, keyed by the
case's call text, so the reference (slow on purpose) runs once per case and
not once per backend.
"""
import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import kernel_cases
from thimble.kernels import BackendUnavailable, get_backend

REF = get_backend("reference")

# Backends that every CI machine must run: a failure to load them is a test
# failure, never a skip (numba and portable C need no particular CPU).
MUST_RUN = ("numba", "c", "c:portable")

# Hypothesis: the same examples on every run (CI is deterministic), few of them.
HYPOTHESIS = settings(derandomize=True, max_examples=15, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow])

_reference = {}   # case text -> reference output


def load(name):
    """The backend called name, or skip with the reason when this CPU lacks it."""
    try:
        return get_backend(name)
    except BackendUnavailable as e:
        if name in MUST_RUN:
            pytest.fail(f"backend {name!r} must run on every machine: {e}")
        pytest.skip(f"backend {name!r} unavailable: {e}")


def case_text(builder, params):
    inner = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return f"kernel_cases.{builder}({inner})"


def _for_op(op, args):
    """Keep the builder's arguments that op takes (matmul_s8_s32 has no mult/shift)."""
    names = inspect.signature(getattr(REF, op)).parameters
    return {k: v for k, v in args.items() if k in names}


def same(kernel, op, builder, **params):
    """Assert kernel.op(**kernel_cases.builder(**params)) equals the reference bit for bit."""
    text = case_text(builder, params)
    args = _for_op(op, getattr(kernel_cases, builder)(**params))
    key = (op, text)
    if key not in _reference:
        _reference[key] = getattr(REF, op)(**args)
    want = _reference[key]
    inputs = {k: v.copy() for k, v in args.items() if isinstance(v, np.ndarray)}
    got = getattr(kernel, op)(**args)
    repro = (f"reproduce: get_backend({kernel.name!r}).{op}(**{text}) "
             f"(tests/kernels on sys.path; drop args {op} does not take)")
    for k, v in inputs.items():      # outputs are new arrays: inputs stay as they were
        if not np.array_equal(args[k], v):
            pytest.fail(f"{op} on {kernel.name} changed its input {k}; {repro}")
    if not isinstance(got, np.ndarray) or got.dtype != want.dtype or got.shape != want.shape:
        pytest.fail(f"{op} on {kernel.name}: got {getattr(got, 'dtype', type(got))}"
                    f"{getattr(got, 'shape', '')}, reference {want.dtype}{want.shape}; {repro}")
    if not np.array_equal(got, want):
        bad = got != want
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        pytest.fail(f"{op} on {kernel.name}: {int(bad.sum())} of {want.size} values differ, first "
                    f"at {at}: got {got[at]}, reference {want[at]}; {repro}")
