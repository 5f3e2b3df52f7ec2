"""The board in `thimble emulate` (the link firmware, watch-tiny
factory-placed): answers over its UART exactly as the host simulator does,
shrugs off noise, a frame header claiming a body far over the bounds and a
frame with a bad CRC, refuses bad requests and keeps answering; `thimble run`
prints the call and the counters; `thimble emulate --image` places the
image as a deploy leaves it. There is one protocol: the plain one is gone."""
import json
import struct

import pytest

from device_harness import MODEL, TOOLS
from thimble.cli import main as thimble
from thimble.app.request import build_request, parse_answer
from thimble.firmware.emulator import Emulator
from thimble.link import codec
from thimble.link import format as F
from thimble.link.client import LinkClient, LinkError


def test_uart_answers_like_the_simulator_and_survives_hostile_bytes(board, link_elf, watch_image, host):
    q, tools = "play hip hop", TOOLS[:3]
    want = host.ask(q, tools)
    with Emulator(board, image=watch_image, elf=link_elf) as emu, emu.connect() as ser:
        link = LinkClient(ser)
        counters, ans = link.run(q, tools)
        assert ans.ok, ans.text
        assert (ans.tokens, ans.crc, ans.text, counters["prompt_tokens"]) == \
            (want["tokens"], want["crc"], want["text"], want["prompt_tokens"])
        # noise, half a magic, a header claiming a body over MAX_PAYLOAD (skipped, never waited for),
        # a frame with a bad CRC
        over = F.MAGIC + struct.pack(F.HEADER_FMT, F.COMMANDS["REQ"], 0, 1, F.MAX_PAYLOAD + 1)
        bad_crc = codec.encode(F.COMMANDS["HELLO"], 1)[:-1] + b"?"
        ser.write(b"\x00\xffnoise " + F.MAGIC[:1] + over + b"x" * 8 + bad_crc)
        with pytest.raises(LinkError) as e:                           # an empty stage: refused by the device
            link.request("REQ", codec.pack("REQ", 0, 0))
        assert e.value.status == "E_PROMPT"
        good, _ = build_request(q, tools)
        _, out = link.run_raw(good[:4] + struct.pack("<H", 7) + good[6:])    # unknown version, whole body sent
        err = parse_answer(out)
        assert err.status == -1 and err.text.startswith("request"), err.text
        _, again = link.run(q, tools)
        assert (again.tokens, again.crc) == (ans.tokens, ans.crc)


def test_thimble_run_prints_the_call_and_counters(m4_elf, watch_image, tmp_path, capsys):
    # the command is board-independent: one board here, every board above
    tools = [dict(t, name="setTimer") if t["name"] == "set_timer" else t for t in TOOLS[:3]]
    f = tmp_path / "tools.json"
    f.write_text(json.dumps(tools))
    with Emulator("watch_m4", image=watch_image, elf=m4_elf) as emu:
        rc = thimble(["run", "--port", emu.url, "timer 5 minutes", "--tools", str(f)])
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


def test_thimble_emulate_factory_places_the_image_and_stops_on_ctrl_c(m4_elf, watch_image, tmp_path):
    import signal
    import subprocess
    import sys

    import serial
    flash = tmp_path / "watch.flash"
    p = subprocess.Popen([sys.executable, "-m", "thimble.cli", "emulate", "--board", "watch_m4",
                          "--flash", str(flash), "--image", str(watch_image)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [p.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("watch_m4: UART on 127.0.0.1:"), lines
        url = lines[1].split("pyserial URL: ")[1].strip()
        with serial.serial_for_url(url, timeout=20) as ser:
            assert ser.read_until(b"\r\n") == b"thimble app watch_m4: link ready\r\n"
            info = LinkClient(ser).hello()
        assert flash.stat().st_size == 16 << 20                    # the board's flash size
        assert info["active"] == 0 and info["slots"][0]["sha256"] == watch_image.read_bytes()[32:64].hex()
    finally:
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:            # it hung on Ctrl-C: still leave no emulator behind
                p.kill()
                p.communicate()
    assert p.returncode == 0, err


def test_thimble_emulate_and_run_refuse_bad_arguments(tmp_path, capsys):
    assert thimble(["emulate", "--board", "no_such_board"]) == 2            # usage errors: exit 2
    assert "no_such_board" in capsys.readouterr().err
    assert thimble(["emulate", "--board", "watch_m4", "--port", "70000"]) == 2
    bad = tmp_path / "bad.thm"
    bad.write_bytes(b"THMB" + bytes(200))
    assert thimble(["emulate", "--board", "watch_m4", "--image", str(bad)]) == 2
    assert "not a deployable image" in capsys.readouterr().err
    for argv in (["emulate", "--board", "watch_m4", "--firmware", "app"],
                 ["run", "--port", "socket://127.0.0.1:1", "hi", "--tools", "t.json", "--protocol", "plain"]):
        with pytest.raises(SystemExit) as e:                         # one protocol: no other to choose
            thimble(argv)
        assert e.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
