"""End to end on the host with thimble's own trained model: convert, then
the simulator answers held-out queries exactly, identically on every
backend; the commands fail clearly on bad input."""
import json
import pathlib

import pytest

from thimble.cli import main
from thimble.sim.session import Session

MODEL = pathlib.Path(__file__).resolve().parents[2] / "models" / "watch-tiny"
TOOLS = json.loads((MODEL / "tools.json").read_text())
BY_NAME = {t["name"]: t for t in TOOLS}


def eval_rows(n):
    rows = [json.loads(line) for line in (MODEL / "eval.jsonl").read_text().splitlines() if line.strip()]
    return [(r["query"], [BY_NAME[t] for t in r["tools"]], r["answer"]) for r in rows[:n]]


@pytest.fixture(scope="module")
def image(watch_image):
    return watch_image


def test_answers_held_out_queries(image):
    s = Session(image, "c:portable")
    wrong = [(q, s.ask(q, tools)["calls"], want) for q, tools, want in eval_rows(25)
             if s.ask(q, tools)["calls"] != want]
    assert not wrong, wrong[:3]


@pytest.mark.parametrize("backend", ["reference", "numba", "c"])
def test_every_backend_gives_the_same_tokens_and_crc(image, backend):
    want = Session(image, "c:portable")
    got = Session(image, backend)
    for q, tools, _ in eval_rows(12):
        a, b = want.ask(q, tools), got.ask(q, tools)
        assert (a["tokens"], a["crc"]) == (b["tokens"], b["crc"]), (backend, q)


def test_sim_prints_the_calls(image, capsys):
    rc = main(["sim", str(image), "set a timer for ten minutes", "--tools", str(MODEL / "tools.json"),
               "--backend", "c:portable"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "set_timer", "arguments": {"minutes": 10}}]


def test_sim_maps_tool_names_back(image, tmp_path, capsys):
    tools = [dict(t, name="setTimer") if t["name"] == "set_timer" else t for t in TOOLS]
    f = tmp_path / "tools.json"
    f.write_text(json.dumps(tools))
    assert main(["sim", str(image), "timer 5 minutes", "--tools", str(f), "--backend", "c:portable"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "setTimer", "arguments": {"minutes": 5}}]


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"name": "x"}', "JSON list"),
    ('[{"description": "no name"}]', 'no "name"'),
])
def test_sim_rejects_bad_tools(image, tmp_path, capsys, content, message):
    f = tmp_path / "tools.json"
    f.write_text(content)
    assert main(["sim", str(image), "hi", "--tools", str(f)]) == 2          # a usage error
    assert message in capsys.readouterr().err


def test_sim_rejects_a_corrupt_image(image, tmp_path, capsys):
    bad = tmp_path / "bad.thm"
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x40
    bad.write_bytes(bytes(data))
    assert main(["sim", str(bad), "hi", "--tools", str(MODEL / "tools.json")]) == 2        # a usage error
    assert "sha" in capsys.readouterr().err.lower()


def test_convert_rejects_a_tokenizer_of_another_size(tmp_path, capsys):
    from thimble.model.synth import random_model, save_needle_pickle, tiny_config
    ckpt = tmp_path / "m.pkl"
    save_needle_pickle(random_model(tiny_config(vocab_size=100)), ckpt)
    rc = main(["convert", str(ckpt), "--tokenizer", str(MODEL / "tokenizer.model"), "-o", str(tmp_path / "x.thm")])
    assert rc == 2 and "768 pieces" in capsys.readouterr().err


def test_eval_reports_fidelity(image, tmp_path, capsys):
    out = tmp_path / "eval.json"
    rc = main(["eval", str(image), "--checkpoint", str(MODEL / "needle.pkl"), "--prompts", str(MODEL / "eval.jsonl"),
               "--tools", str(MODEL / "tools.json"), "--backend", "c:portable", "--limit", "4", "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["top1_agreement"] >= 0.95 and r["tool_calls_identical_to_float"] == 1.0
    assert min(layer["min"] for layer in r["encoder_layers"]) > 0.999
    e = r["exact_match_expected"]
    assert (e["float"], e["integer"], e["prompts"]) == (1.0, 1.0, 4)


def test_convert_prints_quarter_progress_lines_when_stderr_is_not_a_terminal(tmp_path):
    """A log or CI pipe gets one plain line per quarter of the calibration, no
    carriage-return redraws: stderr here is a real pipe, in another process."""
    import subprocess
    import sys
    from thimble.model.synth import random_model, save_needle_pickle, tiny_config
    ckpt = tmp_path / "m.pkl"
    save_needle_pickle(random_model(tiny_config()), ckpt)
    r = subprocess.run([sys.executable, "-m", "thimble.cli", "convert", str(ckpt), "--calib-random", "12",
                        "-o", str(tmp_path / "m.thm")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("calibrating")] == [
        "calibrating 3/12 (25%)", "calibrating 6/12 (50%)", "calibrating 9/12 (75%)", "calibrating 12/12 (100%)"]


def test_eval_prints_quarter_progress_lines(image, capsys):
    rc = main(["eval", str(image), "--checkpoint", str(MODEL / "needle.pkl"), "--prompts", str(MODEL / "eval.jsonl"),
               "--tools", str(MODEL / "tools.json"), "--backend", "c:portable", "--limit", "8"])
    assert rc == 0
    err = capsys.readouterr().err
    for phase in ("float answers", f"{image}: hidden states", f"{image}: tool calls"):
        assert [ln for ln in err.splitlines() if ln.startswith(phase)] == [
            f"{phase} {i}/8 ({25 * i // 2}%)" for i in (2, 4, 6, 8)], err
