"""--plot FILE.png on `bench model` (tok/s by backend, peers included when
onnxruntime is there), `bench model --board --profile` (instructions per
token by model part, drawn here from a saved profile JSON in the bench's
shape rather than a QEMU run) and `bench link` (share of line rate against
frame loss). Skipped, with the reason, where matplotlib is not installed
(tools/bootstrap.sh installs the plot extra); without it --plot is a
one-line error naming the extra."""
import importlib.util
import json
import pathlib
import sys

import pytest

from thimble.bench import link, plot
from thimble.cli import main as thimble
from thimble.core.errors import CommandError

DATA = pathlib.Path(__file__).parent / "data"


def need_matplotlib():
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib not installed (pip install 'thimble[plot]')")


def png_size(path):
    """(width, height) of a PNG, from its IHDR."""
    b = pathlib.Path(path).read_bytes()
    assert b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR"
    return int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")


def test_plot_bench_model(tmp_path):
    need_matplotlib()
    png = tmp_path / "model.png"
    peers = ["--peers"] if all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")) else []
    assert thimble(["bench", "model", "--shape", "tiny", "--prompt-tokens", "16", "--gen-tokens", "4",
                    "--repeat", "1", *peers, "--json", str(tmp_path / "m.json"), "--plot", str(png)]) == 0
    w, h = png_size(png)
    assert w > 500 and h > 200
    res = json.loads((tmp_path / "m.json").read_text())
    labels = [r[0] for r in plot.model_rows(res)]
    assert labels[0].startswith("thimble int8") and labels[-1] == "numpy fp32 (FloatNeedle)"
    assert len(labels) == (4 if peers else 2)


def test_plot_board_profile_from_a_saved_json(tmp_path):
    need_matplotlib()
    res = json.loads((DATA / "profile-watch_m55.json").read_text())
    png = tmp_path / "sub" / "profile.png"
    assert plot.plot(res, str(png)) == str(png)
    w, h = png_size(png)
    assert w > 500 and h > 300
    del res["result"]["profile"]
    with pytest.raises(CommandError, match="no profile"):
        plot.plot(res, str(tmp_path / "none.png"))


def test_plot_bench_link(tmp_path):
    need_matplotlib()
    image = tmp_path / "tiny.thm"
    image.write_bytes(link.random_image(d_model=32, layers=1, seed=7))
    png = tmp_path / "link.png"
    assert link.main(["--image", str(image), "--bauds", "921600", "--loss", "0,0.05", "--byte-errors", "",
                      "--seeds", "1", "--json", str(tmp_path / "l.json"), "--plot", str(png)]) == 0
    assert png_size(png)[0] > 400


def test_plot_without_matplotlib_names_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for argv in (["bench", "model", "--shape", "tiny", "--repeat", "1", "--json", ""],
                 ["bench", "link", "--bauds", "921600", "--json", ""]):
        assert thimble([*argv, "--plot", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--plot needs matplotlib" in err and "thimble[plot]" in err
    assert not (tmp_path / "x.png").exists()


def test_plot_with_board_needs_profile(capsys):
    need_matplotlib()
    assert thimble(["bench", "model", "--board", "watch_m55", "--plot", "x.png", "--json", ""]) == 2
    assert "add --profile" in capsys.readouterr().err
