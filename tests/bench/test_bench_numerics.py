"""Smoke test of `thimble bench numerics` at a tiny size: it runs, writes the
JSON it promises, and its figures are finite and within loose bounds that a
broken kernel or a broken emulation would miss."""
import json
import math

import numpy as np
import pytest

from thimble.bench import numerics
from thimble.kernels import reference as ref

CHOSEN_SOFTMAX = numerics.SOFTMAX_VARIANTS[0][0]
CHOSEN_STREAM = "int16, scale absmax x2 / 32767 (chosen)"
METRIC_KEYS = {"max_abs", "rms", "rel", "cos"}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    path = tmp_path_factory.mktemp("numerics") / "n.json"
    rc = numerics.main(["--tokens", "4", "--seq-lens", "16,64", "--json", str(path)])
    assert rc == 0
    with open(path) as f:
        return json.load(f)


def _finite_metrics(m):
    assert set(m) == METRIC_KEYS
    for k, v in m.items():
        assert math.isfinite(v), k
    assert m["max_abs"] >= 0 and m["rms"] >= 0 and -1.0 <= m["cos"] <= 1.0 + 1e-12


def test_schema(result):
    assert result["benchmark"] == "thimble bench numerics"
    assert result["settings"]["tokens"] == 4 and result["settings"]["seq_lens"] == [16, 64]
    assert result["softmax_emulation_exact"] is True
    assert len(result["softmax"]) == 2 * 2                        # 2 regimes x 2 lengths
    assert {c["Tk"] for c in result["softmax"]} == {16, 64}
    assert len(result["residual"]) == 4                           # 2 distributions x 2 stacks
    assert len(result["rmsnorm"]) == 2 and result["rope"]
    for case in result["softmax"]:
        assert set(case["variants"]) == {v[0] for v in numerics.SOFTMAX_VARIANTS}
        for v in case["variants"].values():
            for key in ("p", "pv", "pv_int8"):
                _finite_metrics(v[key])
            assert math.isfinite(v["kl"]) and v["kl"] >= -1e-12
    for case in result["residual"]:
        for v in case["variants"].values():
            _finite_metrics(v["last"])
    for r in result["rmsnorm"] + result["rope"]:
        _finite_metrics(r["kernel"])
        _finite_metrics(r["floor"])


def test_chosen_errors_small(result):
    for case in result["softmax"]:
        ch = case["variants"][CHOSEN_SOFTMAX]
        assert ch["p"]["max_abs"] < 2e-3 and ch["p"]["rel"] < 1e-2
        assert ch["pv"]["cos"] > 0.9999 and ch["kl"] < 1e-3
        assert ch["pv_int8_lsb_off"] <= 1
    for case in result["residual"]:
        ch = case["variants"][CHOSEN_STREAM]
        assert ch["worst_rel"] < 1e-2 and ch["worst_cos"] > 0.9999
    for r in result["rmsnorm"] + result["rope"]:
        assert r["lsb_off"] <= 1 and r["kernel"]["cos"] > 0.99


def test_alternatives_are_worse(result):
    """The document's argument: the rejected choices lose to the chosen ones."""
    for case in result["softmax"]:
        v = case["variants"]
        assert v["uint8 out 1/256 (CMSIS-NN s8)"]["p"]["rel"] > v[CHOSEN_SOFTMAX]["p"]["rel"]
    for case in result["residual"]:
        v = case["variants"]
        assert v["int8, scale absmax / 127"]["worst_rel"] > 10 * v[CHOSEN_STREAM]["worst_rel"]


def test_emulation_matches_reference_softmax():
    """The emulated softmax with the chosen widths is the reference bit for bit,
    and a coarser width changes the bits (so the comparison means something)."""
    rng = np.random.default_rng(3)
    scores = rng.integers(-3000, 3000, (5, 40)).astype(np.int64)
    c = 0.004
    p, (mult, shift, diff_max) = numerics.softmax_int(scores, c)
    want = np.stack([ref.softmax_q15(s, mult, shift, diff_max) for s in scores])
    assert np.array_equal(p, want.astype(np.int64))
    p4, _ = numerics.softmax_int(scores, c, frac_bits=4)
    assert not np.array_equal(p4, p)


def test_metrics_detect_error():
    exact = np.array([1.0, -2.0, 3.0])
    m = numerics.metrics(exact + np.array([0.0, 0.0, 0.3]), exact)
    assert m["max_abs"] == pytest.approx(0.3)
    assert m["rel"] == pytest.approx(math.sqrt(0.09 / 3) / math.sqrt(14 / 3))
    assert m["cos"] < 1.0
    assert numerics.metrics(exact, exact)["rel"] == 0.0


def test_bad_arguments():
    from thimble.core.errors import UsageError
    with pytest.raises(UsageError, match="--seq-lens"):
        numerics.main(["--seq-lens", "16,x", "--json", ""])
    with pytest.raises(UsageError, match="--tokens"):
        numerics.main(["--tokens", "0", "--json", ""])
