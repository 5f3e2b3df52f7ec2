"""The README's main command: `thimble demo` boots an emulated watch, deploys
watch-small over the serial link, and prints the tool call, bit-exact with the
host simulator. Run again on the same flash, it sends nothing. With
--weights int4 (on watch_m4, whose DSP path is made for int4 weights in its
external flash) the projections are int4."""
import json

from toolchain import need_board
from thimble.cli import main as thimble

BOARD = "watch_m55"


def test_demo_answers_and_a_second_run_sends_nothing(tmp_path, capsys):
    need_board(BOARD)
    flash = tmp_path / "flash.bin"
    assert thimble(["demo", "--board", BOARD, "--flash", str(flash)]) == 0
    out = capsys.readouterr().out
    call = [line for line in out.splitlines() if line.startswith("[{")]
    assert call and json.loads(call[0]) == [{"name": "set_timer", "arguments": {"minutes": 10}}], out
    assert "bit-exact" in out and "SHA-256 verified on the device" in out, out
    assert thimble(["demo", "--board", BOARD, "--flash", str(flash), "what is the weather in Paris"]) == 0
    out = capsys.readouterr().out
    assert "already holds this image" in out and "bit-exact" in out, out
    call = [line for line in out.splitlines() if line.startswith("[{")]
    assert json.loads(call[0])[0]["name"] == "get_weather", out


def test_demo_with_int4_weights_on_the_m4(tmp_path, capsys):
    need_board("watch_m4")
    assert thimble(["demo", "--board", "watch_m4", "--weights", "int4", "--flash", str(tmp_path / "flash.bin")]) == 0
    out = capsys.readouterr().out
    assert "converted to int4 projections" in out, out
    call = [line for line in out.splitlines() if line.startswith("[{")]
    assert call and json.loads(call[0]) == [{"name": "set_timer", "arguments": {"minutes": 10}}], out
    assert "bit-exact" in out, out
