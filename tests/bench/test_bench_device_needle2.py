"""Smoke test of `thimble bench model --board B --shape needle2-tiny`: a
d_model-64 Needle 2 (the base run takes minutes and stays out of the suite)
runs as one conformance job case on each board, its tokens and last logits
equal to the host C model's, a counter reading per token; a window narrower
than the sequence runs the K/V ring; a window the arena cannot hold is cut
to the widest that fits."""
import json

import pytest

from thimble.bench import device_needle2
from thimble.bench.model import main as bench_model
from thimble.core.errors import UsageError
from toolchain import need_board


@pytest.mark.parametrize("board", ["glasses_a55", "watch_m55", "watch_m4"])
def test_needle2_on_board_bit_exact_with_counts(board, tmp_path, capsys):
    need_board(board)
    out = tmp_path / "n2.json"
    rc = bench_model(["--board", board, "--shape", "needle2-tiny", "--prompt-tokens", "24", "--gen-tokens", "4",
                      "--window", "8", "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())["result"]
    assert r["bit_exact"] and (r["window"], r["sinks"], r["prompt_tokens"], r["gen_tokens"]) == (8, 4, 24, 4)
    per = r["per_token_instructions"]
    assert len(per) == 28 and min(per) > 100_000 and r["decode_per_token"] == pytest.approx(sum(per[24:]) / 4)
    assert r["prefill_instructions"] == pytest.approx(sum(per[:24]), abs=24)     # each rounded
    assert r["isa"] == {"glasses_a55": "arm_neon_dot", "watch_m55": "arm_mve", "watch_m4": "arm_dsp"}[board]
    assert "bit-exact with the host C model: yes" in capsys.readouterr().out


def test_the_window_is_cut_to_the_arena():
    im = device_needle2.int_model("needle2-tiny", 0, lambda s: None)
    need = device_needle2.arena_bytes(device_needle2.image_for(im, 40, 4), 64)
    smaller = device_needle2.arena_bytes(device_needle2.image_for(im, 20, 4), 64)
    assert smaller < need
    w = device_needle2.largest_window(im, 4, 64, smaller)
    assert w >= 20 and device_needle2.arena_bytes(device_needle2.image_for(im, w, 4), 64) <= smaller
    assert device_needle2.arena_bytes(device_needle2.image_for(im, w + 1, 4), 64) > smaller
    assert device_needle2.largest_window(im, 4, 64, 100) == 0


def test_needle2_shapes_are_board_only():
    with pytest.raises(UsageError, match="runs on a --board"):
        bench_model(["--shape", "needle2-tiny"])


def test_needle2_profile_parts_add_up(tmp_path):
    """--profile: a firmware with per-part counters; the parts account for the tokens' counts."""
    need_board("glasses_a55")
    out = tmp_path / "p.json"
    assert bench_model(["--board", "glasses_a55", "--shape", "needle2-tiny", "--prompt-tokens", "12",
                        "--gen-tokens", "4", "--profile", "--json", str(out)]) == 0
    r = json.loads(out.read_text())["result"]
    p = r["profile_per_token"]
    assert set(p) == set(device_needle2.PROFILE_PARTS) | {"other"} and r["bit_exact"]
    assert all(v > 0 for k, v in p.items() if k != "other")
    assert 0 <= p["other"] < 0.05 * sum(p.values())
    assert max(p, key=p.get) in ("proj", "mix")
