"""The quantizer's arithmetic, checked directly (the end-to-end fidelity
tests would hide a wrong but harmless constant): symmetric int8 weights per
output channel, activation and stream scales from calibration and their
margins, and requantization factors that reconstruct the real ratios."""
import math

import numpy as np
import pytest

from thimble.quant import calibrate, quantize, random_prompts
from thimble.quant import tensors as T
from thimble.quant.quantize import Margins


def weight_names(model):
    names = ["embed"]
    for p, _ in T.block_names(model.config):
        names += [f"{p}.{proj}" for proj in ("q", "k", "v", "o")]
    return names


def real(mult, shift):
    return float(mult) / (1 << 31) * 2.0 ** int(shift)


def test_weights_are_symmetric_int8_per_output_channel(small_float, small_quant):
    for name in weight_names(small_float):
        w = np.asarray(small_float.tensors[name], dtype=np.float64)
        q = small_quant.tensors[name]
        assert q.dtype == np.int8 and q.shape == w.shape, name
        assert q.min() >= -127, f"{name}: -128 would make the range asymmetric"
        amax = np.abs(w).max(axis=1)
        assert np.all(np.abs(q).astype(int).max(axis=1)[amax > 0] == 127), f"{name}: a row does not use its range"
        scale = np.where(amax > 0, amax / 127, 1.0)
        err = np.abs(q * scale[:, None] - w)
        assert np.all(err <= scale[:, None] / 2 + 1e-12), f"{name}: rounding error above half a step"


def test_every_multiplier_is_normalised(small_quant):
    for name, t in small_quant.tensors.items():
        if name.endswith(".mult"):
            m = t.astype(np.int64)
            assert np.all((m == 0) | ((m >= 1 << 30) & (m < 1 << 31))), name
        if name.endswith(".shift"):
            assert t.min() >= -31 and t.max() <= 30, name


def test_projection_factors_reconstruct_the_scale_ratios(small_float, small_quant):
    s = small_quant.scales
    for p, kind in T.block_names(small_float.config):
        if kind != "enc":
            continue
        layer = p.rsplit(".", 1)[0]
        s_in = s[f"{layer}.attn_norm"]
        w = np.asarray(small_float.tensors[f"{p}.q"], dtype=np.float64)
        s_w = np.abs(w).max(axis=1) / 127
        want = s_in * s_w / s[f"{p}.q"]
        got = [real(m, sh) for m, sh in zip(small_quant.tensors[f"{p}.q.mult"], small_quant.tensors[f"{p}.q.shift"])]
        np.testing.assert_allclose(got, want, rtol=2.0 ** -30)


def test_scales_follow_calibration_and_margins(small_float):
    cal = calibrate(small_float, random_prompts(small_float.config, n=3, length=16, seed=4))
    plain = quantize(small_float, cal)
    wide = quantize(small_float, cal, margins=Margins(stream=4.0, activation=2.0))
    assert plain.scales["enc.stream"] == pytest.approx(cal.get("enc.stream") * 2.0 / 32767)
    assert wide.scales["enc.stream"] == pytest.approx(2 * plain.scales["enc.stream"])
    point = "enc.final_norm"
    assert plain.scales[point] == pytest.approx(cal.get(point) / 127)
    assert wide.scales[point] == pytest.approx(2 * plain.scales[point])
    assert not math.isclose(plain.scales[point], plain.scales["enc.stream"])
