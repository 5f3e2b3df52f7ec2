"""Choosing backends: which ones may skip, THIMBLE_ISA, and the C backend's
instruction-set switch (asked of C before every call, set only on change)."""
import sys

import numpy as np
import pytest

import kernel_check
import thimble.kernels
from thimble.kernels import BackendUnavailable, c_backend, get_backend

ISAS = list(c_backend.ISAS)


def test_a_missing_numba_fails_instead_of_skipping(monkeypatch):
    get_backend("numba")                       # loaded already, as in a full run
    monkeypatch.setitem(sys.modules, "thimble.kernels.numba_backend", None)   # import fails
    monkeypatch.delattr(thimble.kernels, "numba_backend")
    with pytest.raises(BackendUnavailable, match="numba"):
        get_backend("numba")
    with pytest.raises(pytest.fail.Exception, match="must run on every machine"):
        kernel_check.load("numba")


def test_only_cpu_specific_backends_may_skip(monkeypatch):
    def unavailable(name):
        raise BackendUnavailable("pretend this CPU lacks it")
    monkeypatch.setattr(kernel_check, "get_backend", unavailable)
    for name in ("numba", "c", "c:portable"):
        with pytest.raises(pytest.fail.Exception):
            kernel_check.load(name)
    for name in ("c:avx2", "c:avxvnni", "c:avx512vnni", "c:amx"):
        with pytest.raises(pytest.skip.Exception, match="pretend this CPU lacks it"):
            kernel_check.load(name)


def test_thimble_isa_pins_c(monkeypatch):
    monkeypatch.setenv("THIMBLE_ISA", "portable")
    assert get_backend("c").name == "c:portable"
    monkeypatch.setenv("THIMBLE_ISA", "sse9")
    with pytest.raises(BackendUnavailable, match="unknown instruction set 'sse9'"):
        get_backend("c")
    monkeypatch.setattr(c_backend, "isa_available", lambda isa: False)
    with pytest.raises(BackendUnavailable, match="cannot run the avx2"):
        get_backend("c:avx2")


def test_unknown_backend_names_the_choices():
    with pytest.raises(BackendUnavailable, match="choose from reference, numba"):
        get_backend("cuda")


def _available():
    return [isa for isa in ISAS if c_backend.isa_available(isa)]


def test_each_call_runs_on_its_backends_isa():
    rng = np.random.default_rng(0)
    x, w = (rng.integers(-128, 128, (17, 67)).astype(np.int8) for _ in range(2))
    want = kernel_check.REF.matmul_s8_s32(x, w)
    order = _available() * 2 + _available()[::-1]   # switch in both directions
    for isa in order:
        got = get_backend(f"c:{isa}").matmul_s8_s32(x, w)
        assert c_backend.lib.thm_isa_get() == c_backend.ISAS[isa], f"after a c:{isa} call"
        assert np.array_equal(got, want), f"c:{isa} after switching"


def test_a_switch_behind_the_backends_back_is_undone():
    isa = _available()[-1]
    k = get_backend(f"c:{isa}")
    c_backend.lib.thm_isa_set(c_backend.ISAS["portable"])    # someone else in the process
    k.requantize(np.zeros(1, np.int32), np.zeros(1, np.int32), np.zeros(1, np.int32))
    assert c_backend.lib.thm_isa_get() == c_backend.ISAS[isa]


class _CountingLib:
    def __init__(self, lib):
        self._lib, self.sets = lib, 0

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def thm_isa_set(self, isa):
        self.sets += 1
        return self._lib.thm_isa_set(isa)


def test_isa_is_set_only_when_it_changes(monkeypatch):
    counting = _CountingLib(c_backend.lib)
    monkeypatch.setattr(c_backend, "lib", counting)
    a, b = _available()[0], _available()[-1]
    c_backend.select_isa(a)
    before = counting.sets
    for _ in range(5):
        c_backend.select_isa(a)
    assert counting.sets == before, "thm_isa_set called although the ISA was already selected"
    c_backend.select_isa(b)
    assert counting.sets == before + (a != b)


def test_a_c_error_status_becomes_an_exception():
    # bypass checks.py: C itself must refuse shift 31, and c_backend must raise
    one = np.ones(1, np.int32)
    with pytest.raises(RuntimeError, match=r"requantize: C kernel returned -1 \(argument out of range\)"):
        c_backend.requantize(one, one, np.full(1, 31, np.int32))
