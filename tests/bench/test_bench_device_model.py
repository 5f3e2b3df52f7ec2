"""Smoke test of `thimble bench model --board`: a d_model-32 model (the
26M run takes minutes and stays out of the suite), factory-placed on
watch_m55's link firmware, answers one RUN with the host simulator's tokens
and the device's instruction counts, written as JSON; the prompt length the
arena allows is the longest that fits, and a board without room is refused
with the shortfall named."""
import json

import pytest

from thimble.bench import device_model
from thimble.bench.model import main as bench_model
from toolchain import need_board


def test_bench_model_board_runs_bit_exact_and_writes_json(tmp_path, capsys):
    need_board("watch_m55")
    out = tmp_path / "m55.json"
    rc = bench_model(["--board", "watch_m55", "--shape", "tiny", "--prompt-tokens", "64", "--gen-tokens", "8",
                      "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())["result"]
    assert r["board"] == "watch_m55" and r["layout"] == "s8_r8k64" and r["prompt_tokens_arena_allows"] == 64
    d = r["device"]
    assert d["prompt_tokens"] == 64 == r["host"]["prompt_tokens"] and 1 <= d["gen_tokens"] <= 8
    assert r["bit_exact"] and r["tokens"] == r["host"]["tokens"] and r["crc"] == r["host"]["crc"]
    assert d["prefill_insns"] > 64 * d["insns_per_token"] / 100 > 0
    e = r["estimate"]
    assert "ESTIMATE" in e["assumes"] and e["decode_tok_s"] == pytest.approx(250e6 / d["insns_per_token"])
    assert "bit-exact with the host simulator (c): yes" in capsys.readouterr().out


def test_the_prompt_is_cut_to_what_the_arena_holds_and_no_room_is_a_refusal():
    q = device_model.Quantizer("tiny", 0, lambda s: None)
    image = q.image(128, "row_major")
    need_100 = device_model.app_arena_bytes(image, 100)
    # the arena grows with the prompt in 64-byte steps (each buffer is aligned): the longest prompt
    # within a budget is the last length before the next step
    assert device_model.app_arena_bytes(image, 99) <= need_100 < device_model.app_arena_bytes(image, 128)
    n = device_model.longest_prompt(image, 128, need_100)
    assert n >= 100 and device_model.app_arena_bytes(image, n) <= need_100 < device_model.app_arena_bytes(image, n + 1)
    assert device_model.longest_prompt(image, 128, 10 ** 9) == 128
    assert device_model.longest_prompt(image, 128, 1000) == 0
    b = {"weights_bytes": len(image) - 1, "slot_bytes": len(image), "arena_bytes": need_100}
    assert device_model.refusals(len(image), need_100 + 1, b) == [
        f"image {len(image):,} bytes > weights region {len(image) - 1:,}",
        f"arena {need_100 + 1:,} bytes > {need_100:,}"]


def test_bench_model_board_with_int4_weights(tmp_path):
    """--weights int4 --embed int4: the same RUN on every int4 path of the board."""
    need_board("watch_m4")
    out = tmp_path / "m4.json"
    assert bench_model(["--board", "watch_m4", "--shape", "tiny", "--prompt-tokens", "32", "--gen-tokens", "4",
                        "--weights", "int4", "--embed", "int4", "--json", str(out)]) == 0
    r = json.loads(out.read_text())["result"]
    assert (r["weights"], r["embed"]) == ("int4", "int4") and r["bit_exact"]
