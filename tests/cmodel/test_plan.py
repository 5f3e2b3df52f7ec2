"""`thimble plan`: the arena figure is the C runtime's, the per-layer table
adds up, and an image that does not fit is refused naming the region."""
import subprocess
import sys
import pathlib

import pytest

from thimble.cli import main
from thimble.sim.plan import make_plan
from thimble.sim.c_model import CModel

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_plan_arena_is_the_c_arena(gqa_image, gqa_quant):
    p = make_plan(gqa_image, prompt_tokens=20, gen_tokens=7)
    cm = CModel(gqa_image, max_enc=20, max_dec=7)
    assert p.arena_bytes == cm.arena_bytes
    assert sum(r["arena_bytes"] for r in p.layers) == p.arena_bytes
    assert sum(r["bytes"] for r in p.buffers) == p.arena_bytes      # the C layout, buffer by buffer
    assert {r["buffer"].split()[0] for r in p.buffers} >= {"stream", "q", "logits", "cross", "self"}
    # the board's app adds its logits and prompt ids (thm_app_image.c): what `plan --board` checks
    assert p.app_bytes == sum(r["bytes"] for r in p.app_buffers) >= 5 * gqa_quant.config.vocab_size + 4 * 20
    assert sum(r["weights_bytes"] for r in p.layers) == sum(t.nbytes for t in gqa_quant.tensors.values())
    kv = gqa_quant.config.kv_dim
    # self K/V cache rows plus the self-attention kernel's scratch (int32 + uint32 + int16 per key)
    per_key = 2 * gqa_quant.config.num_decoder_layers * kv + 10
    assert p.bytes_per_gen_token == pytest.approx(per_key, rel=0.1)
    assert p.bytes_per_prompt_token > p.bytes_per_gen_token
    longer = make_plan(gqa_image, prompt_tokens=36, gen_tokens=7)
    assert longer.arena_bytes > p.arena_bytes


def test_plan_refuses_what_does_not_fit(gqa_image, tmp_path, capsys):
    path = tmp_path / "m.thm"
    path.write_bytes(gqa_image)
    need = make_plan(gqa_image, 20, 7).board_arena_bytes
    assert main(["plan", str(path), "--prompt-tokens", "20", "--gen-tokens", "7",
                 "--arena-bytes", str(need), "--flash-bytes", str(len(gqa_image))]) == 0
    assert main(["plan", str(path), "--prompt-tokens", "20", "--gen-tokens", "7",
                 "--arena-bytes", str(need - 100)]) == 1
    err = capsys.readouterr().err
    assert "arena region needs" in err and "short by 100" in err
    assert main(["plan", str(path), "--flash-bytes", "1000", "--prompt-tokens", "8", "--gen-tokens", "4"]) == 1
    assert "weights region" in capsys.readouterr().err
    assert main(["plan", str(path), "--prompt-tokens", "100000"]) == 2
    assert "supports 1.." in capsys.readouterr().err


def test_plan_board_budget(gqa_image, tmp_path, capsys):
    pytest.importorskip("thimble.boards")
    path = tmp_path / "m.thm"
    path.write_bytes(gqa_image)
    assert main(["plan", str(path), "--board", "watch_m55", "--prompt-tokens", "20", "--gen-tokens", "7"]) == 0
    assert "fits board watch_m55" in capsys.readouterr().out
    assert main(["plan", str(path), "--board", "no_such_board"]) == 2


def test_generated_consts_header_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_model_consts.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_bench_model_smoke(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["bench", "model", "--prompt-tokens", "8", "--gen-tokens", "2", "--repeat", "1",
                 "--no-float", "--json", str(out)]) == 0
    import json
    res = json.loads(out.read_text())
    assert res["c"]["prefill_tok_s"] > 0 and res["c"]["arena_bytes"] > 0


def small_watch(tmp_path):
    """A board file for a watch with 2 MiB of model flash in two A/B slots
    (watch_m4's file with the on-chip MRAM budget and no external flash):
    the planner's limits at a size a test can build quickly."""
    from thimble.boards import BOARDS_DIR
    text = (pathlib.Path(BOARDS_DIR) / "watch_m4.toml").read_text()
    text = text.replace('name = "watch_m4"', 'name = "watch_2m"').replace("model_slots = 1", "model_slots = 2")
    head, sep, tail = text.partition("[memory.weights]")
    tail = tail.replace("size = 0x01000000", "size = 0x01000000\nreal_size = 0x00200000", 1)
    path = tmp_path / "watch_2m.toml"
    path.write_text(head + sep + tail)
    return str(path)


def test_plan_refuses_an_image_larger_than_the_boards_flash(tmp_path, capsys):
    """A 4.9 MB image (vocabulary 4608 x 512) fits watch_m55's 64 MiB weights
    region and not a watch's 2 MiB: refused, naming the region and the size."""
    from thimble.model.synth import random_model, tiny_config
    from thimble.quant import calibrate, quantize, random_prompts, to_image
    cfg = tiny_config(vocab_size=4608, d_model=512, num_heads=8, num_kv_heads=4, num_encoder_layers=1,
                      num_decoder_layers=1, max_seq_len=64)
    fm = random_model(cfg, seed=1)
    path = tmp_path / "big.thm"
    path.write_bytes(to_image(quantize(fm, calibrate(fm, random_prompts(cfg, n=1, length=8, seed=1),
                                                     decode_tokens=1))))
    args = ["plan", str(path), "--prompt-tokens", "32", "--gen-tokens", "8", "--board"]
    assert main(args + ["watch_m55"]) == 0
    capsys.readouterr()
    assert main(args + [small_watch(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "weights region" in err and "watch_2m" in err, err


def test_plan_judges_a_board_by_the_slot_a_deploy_fills(tmp_path, capsys):
    """A 2 MiB model flash with 8 KiB sectors holds two A/B slots of 1,040,384 bytes: an
    image between that and 2 MiB is refused by plan, as the factory (and the
    link's journal) refuse it, not passed because the whole flash would hold it."""
    from thimble.boards import load_board
    from thimble.link.factory import FactoryError, write_board_flash
    from thimble.model.synth import random_model, tiny_config
    from thimble.quant import calibrate, quantize, random_prompts, to_image
    cfg = tiny_config(vocab_size=2560, d_model=256, num_heads=4, num_kv_heads=2, num_encoder_layers=1,
                      num_decoder_layers=1, max_seq_len=64)
    fm = random_model(cfg, seed=2)
    image = to_image(quantize(fm, calibrate(fm, random_prompts(cfg, n=1, length=8, seed=1), decode_tokens=1)))
    assert 1_040_384 < len(image) < 2_097_152, len(image)
    path = tmp_path / "m.thm"
    path.write_bytes(image)
    board = small_watch(tmp_path)
    assert main(["plan", str(path), "--prompt-tokens", "32", "--gen-tokens", "8", "--board", board]) == 1
    err = capsys.readouterr().err
    assert "has 1,040,384" in err and "model slot" in err, err
    with pytest.raises(FactoryError, match="1,040,384"):
        write_board_flash(tmp_path / "flash.bin", image, load_board(board))


def test_convert_max_new_tokens_sets_what_the_arena_plans(tmp_path, capsys):
    """`thimble convert --max-new-tokens N` writes max_dec_len N: the model's K/V cache (and the
    app's plan, min(N, 96)) shrinks by the per-token cost, a repack keeps it, and N outside
    2..positions is a usage error that writes nothing."""
    from thimble.cli import main as thimble
    from thimble.image import parse_image
    src = ROOT / "models" / "watch-tiny" / "needle.pkl"
    full, short, packed = tmp_path / "full.thm", tmp_path / "short.thm", tmp_path / "packed.thm"
    assert thimble(["convert", str(src), "--calib-random", "2", "--max-len", "64", "-o", str(full)]) == 0
    assert thimble(["convert", str(src), "--calib-random", "2", "--max-len", "64", "--max-new-tokens", "16",
                    "-o", str(short)]) == 0
    assert parse_image(full.read_bytes()).config["max_dec_len"] == 64
    assert parse_image(short.read_bytes()).config["max_dec_len"] == 16
    assert CModel(short.read_bytes(), with_arena=False).max_dec_len == 16
    a = make_plan(full.read_bytes(), 64, 16)
    assert make_plan(short.read_bytes(), 64, 16).arena_bytes == a.arena_bytes   # the same layout for 16 steps
    assert thimble(["convert", "--repack", str(short), "--board", "watch_m55", "-o", str(packed)]) == 0
    assert parse_image(packed.read_bytes()).config["max_dec_len"] == 16
    capsys.readouterr()
    for bad in ("1", "65"):
        out = tmp_path / f"bad{bad}.thm"
        assert thimble(["convert", str(src), "--max-len", "64", "--max-new-tokens", bad, "-o", str(out)]) == 2
        assert "--max-new-tokens" in capsys.readouterr().err and not out.exists()


def test_needle_26m_with_a_256_token_prompt_fits_watch_m55():
    """Needle 26M's shape at a 256-token prompt and 48 generated tokens fits watch_m55's 2 MiB
    arena, the app's buffers included (issue 16; the board run is `thimble bench model --board
    watch_m55`); planned for the app's 96 steps it does not, which is why the image says 48."""
    from thimble.bench.device_model import Quantizer
    from thimble.boards import load_board
    q = Quantizer("needle-26m", 0, lambda s: None)
    arena = load_board("watch_m55").regions["arena"].real_size
    p48 = make_plan(q.image(256, "row_major", max_new=48), 256, 48)
    assert p48.max_dec_len == 48 and p48.board_arena_bytes <= arena, p48.board_arena_bytes
    assert {r["buffer"]: r["bytes"] for r in p48.buffers}["cross K [L_dec, Hkv, T, hd]"] == 8 * 256 * 256
    p96 = make_plan(q.image(256, "row_major", max_new=96), 256, 96)
    assert p96.board_arena_bytes > arena
