"""The board in `thimble emulate`: boots, answers over its UART exactly as
the host simulator does, answers hostile bytes with an error and keeps
running; `thimble run` prints the call and the counters."""
import json
import struct

from device_harness import MODEL, TOOLS
from thimble.cli import main as thimble
from thimble.device_prompt import build_request
from thimble.device_run import ask, read_answer
from thimble.emulate import Emulator


def test_serial_answers_like_the_simulator_and_survives_hostile_bytes(board, app_elf, watch_image, host):
    with Emulator(board, image=watch_image, elf=app_elf) as emu:
        ser = emu.connect()
        q, tools = "play hip hop", TOOLS[:3]
        ans, name_map = ask(ser, q, tools)
        want = host.ask(q, tools)
        assert ans.ok, ans.text
        assert (ans.tokens, ans.crc, ans.text, ans.prompt_tokens) == \
            (want["tokens"], want["crc"], want["text"], want["prompt_tokens"])
        # noise, then a header claiming a body far over the bounds: refused without reading it
        ser.write(b"\x00\xffnoise THR" + b"THRQ" + struct.pack("<HHIII", 1, 96, 1 << 30, 5, 5))
        err = read_answer(ser, timeout=60)
        assert err.status == -1 and "out of bounds" in err.text
        good, _ = build_request(q, tools)
        ser.write(good[:4] + struct.pack("<H", 7) + good[6:])          # unknown version, whole body sent
        err = read_answer(ser, timeout=60)
        assert err.status == -1 and err.text.startswith("request")
        again, _ = ask(ser, q, tools)
        assert (again.tokens, again.crc) == (ans.tokens, ans.crc)
        ser.close()


def test_thimble_run_prints_the_call_and_counters(m4_elf, watch_image, tmp_path, capsys):
    # the command is board-independent: one board here, the serial path on every board above
    tools = [dict(t, name="setTimer") if t["name"] == "set_timer" else t for t in TOOLS[:3]]
    f = tmp_path / "tools.json"
    f.write_text(json.dumps(tools))
    with Emulator("watch_m4", image=watch_image, elf=m4_elf) as emu:
        rc = thimble(["run", "--port", emu.url, "timer 5 minutes", "--tools", str(f), "--protocol", "plain"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out) == [{"name": "setTimer", "arguments": {"minutes": 5}}]
    assert "prompt tokens" in err and "prefill" in err and "per token" in err


def test_thimble_run_refuses_bad_tools_before_connecting(tmp_path, capsys):
    f = tmp_path / "tools.json"
    f.write_text('{"not": "a list"}')
    assert thimble(["run", "--port", "socket://127.0.0.1:1", "hi", "--tools", str(f)]) == 2
    assert "tools must be a JSON list" in capsys.readouterr().err
    assert thimble(["run", "--port", "socket://127.0.0.1:1", "hi", "--tools", str(MODEL / "nope.json")]) == 2


def test_thimble_emulate_prints_the_url_and_stops_on_ctrl_c(m4_elf, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    import serial
    flash = tmp_path / "watch.flash"
    p = subprocess.Popen([sys.executable, "-m", "thimble.cli", "emulate", "--board", "watch_m4", "--firmware", "app",
                          "--flash", str(flash)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [p.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("watch_m4 (app firmware): UART on 127.0.0.1:"), lines
        url = lines[1].split("pyserial URL: ")[1].strip()
        with serial.serial_for_url(url, timeout=20) as ser:
            banner = ser.read_until(b"\r\n")
        assert banner == b"thimble app watch_m4: no model installed\r\n"
        assert flash.stat().st_size == 2 << 20                     # created erased, the board's flash size
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err


def test_thimble_emulate_refuses_bad_arguments(capsys):
    assert thimble(["emulate", "--board", "no_such_board"]) == 1
    assert "no_such_board" in capsys.readouterr().err
    assert thimble(["emulate", "--board", "watch_m4", "--port", "70000"]) == 2
