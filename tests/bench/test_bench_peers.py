"""`thimble bench model --peers` on the tiny shape: the ONNX graphs of the
same model agree with FloatNeedle (and a graph that does not is refused
before any timing), thimble, onnxruntime int8 and onnxruntime fp32 are timed
on the same prompt and written as JSON with their ratios; without the bench
extra, --peers is a one-line error naming it. Skipped, with the reason, where
onnx or onnxruntime is not installed (tools/bootstrap.sh installs them)."""
import importlib.util
import json
import sys

import numpy as np
import pytest

from thimble.cli import main as thimble


def need_ort():
    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (pip install 'thimble[bench]')")


TINY = ["--shape", "tiny", "--prompt-tokens", "16", "--gen-tokens", "4", "--repeat", "1", "--no-float"]


def test_peers_times_thimble_and_onnxruntime_on_the_same_model(tmp_path, capsys):
    need_ort()
    out = tmp_path / "peers.json"
    assert thimble(["bench", "model", "--peers", *TINY, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["settings"]["shape"] == "tiny" and res["settings"]["prompt_tokens"] == 16
    p = res["peers"]
    assert set(p["sides"]) == {"thimble", "onnxruntime-int8", "onnxruntime-fp32"} and p["rounds"] == 1
    for s in p["sides"].values():
        assert s["prefill_tok_s"] > 0 and s["decode_tok_s"] > 0
        assert s["prefill"]["samples"] == s["decode"]["samples"] == 1
        assert s["prefill_tok_s"] == pytest.approx(16 / s["prefill"]["median_s"])
        assert s["decode_tok_s"] == pytest.approx(4 / s["decode"]["median_s"])
    for k in ("onnxruntime-int8", "onnxruntime-fp32"):
        r = p["ratios"][f"thimble / {k}"]
        assert r["decode"] == pytest.approx(p["sides"]["thimble"]["decode_tok_s"] / p["sides"][k]["decode_tok_s"])
    c = p["check"]
    assert 0 <= c["max_abs_diff"] and c["relative"] <= c["limit_relative"] == 1e-4
    assert c["decode_steps_checked"] == 3 and c["prompt_tokens"] == 16
    assert 0 < p["int8_vs_float"]["logits_relative"] < 0.1          # quantized: close, not equal
    assert p["graphs"]["decoder"].startswith("KV-cached step") and "MatMul" in p["quantization"]
    assert res["c"]["prefill"]["samples"] == 1 and res["c"]["crc"] is not None
    text = capsys.readouterr().out
    assert "thimble / onnxruntime-int8: prefill x" in text and "avx512_vnni" in text and "amx_int8" in text


def test_the_graphs_follow_the_float_forward_and_a_wrong_one_is_caught():
    need_ort()
    from thimble.bench import onnx_needle as on
    from thimble.bench.device_model import model_config
    from thimble.model.synth import random_model
    cfg = model_config("tiny")
    fm, other = random_model(cfg, seed=3), random_model(cfg, seed=4)
    tokens = np.random.default_rng(0).integers(6, cfg.vocab_size, 12)
    tokens[-2:] = cfg.pad_token_id                      # padding: the encoder and cross masks
    good = on.check(fm, on.OrtNeedle(cfg, on.build_prefill(fm), on.build_step(fm)), tokens, steps=4)
    assert good["relative"] < 1e-5 and good["logits_relative"] < 1e-5
    bad = on.check(fm, on.OrtNeedle(cfg, on.build_prefill(fm), on.build_step(other)), tokens, steps=2)
    assert bad["logits_relative"] > 1e-2


def test_peers_refuses_to_time_graphs_that_disagree(monkeypatch, capsys):
    need_ort()
    from thimble.bench import onnx_needle as on
    from thimble.model.synth import random_model
    build_step = on.build_step
    monkeypatch.setattr(on, "build_step", lambda m: build_step(random_model(m.config, seed=99)))
    assert thimble(["bench", "model", "--peers", *TINY, "--json", ""]) == 1
    err = capsys.readouterr().err
    assert "disagree with thimble's float forward" in err and "not timing them" in err
    assert "Traceback" not in err and "round 1" not in err


@pytest.mark.parametrize("missing", ["onnxruntime", "onnx"])
def test_peers_without_the_bench_extra_names_it(monkeypatch, capsys, missing):
    monkeypatch.setitem(sys.modules, missing, None)             # import raises ImportError
    assert thimble(["bench", "model", "--peers", *TINY, "--json", ""]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--peers needs {missing}" in err and "thimble[bench]" in err
