"""The README's main command: `thimble demo` boots an emulated watch, deploys
watch-small over the serial link, and prints the tool call, bit-exact with the
host simulator. Run again on the same flash, it sends nothing. On watch_m4,
whose model slot int8 watch-small overflows, the demo converts it to int4."""
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


def test_demo_on_the_m4_converts_to_int4_where_int8_does_not_fit(tmp_path, capsys):
    need_board("watch_m4")
    assert thimble(["demo", "--board", "watch_m4", "--flash", str(tmp_path / "flash.bin")]) == 0
    out = capsys.readouterr().out
    assert "converted to int4 projections (int8 is" in out and "model slot" in out, out
    call = [line for line in out.splitlines() if line.startswith("[{")]
    assert call and json.loads(call[0]) == [{"name": "set_timer", "arguments": {"minutes": 10}}], out
    assert "bit-exact" in out, out
