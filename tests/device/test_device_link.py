"""The app behind the serial link server (thm_app_link), on every board: a
model deployed over the emulated UART by `thimble deploy` answers RUN with
ALL of watch-tiny's tools (a request staged in REQ frames, the answer read
back in parts) exactly as the host simulator does: tokens, CRC, text,
prompt tokens; hostile requests get the app's or the link's refusal. It
still does after QEMU restarts on the same flash (asked by
`thimble run`), and deploying it again sends nothing."""
import json

import pytest

from device_harness import MODEL, TOOLS, tiny_image
from thimble.cli import main as thimble
from thimble.firmware.emulator import Emulator
from thimble.app.request import E_PROMPT, parse_answer
from thimble.link import codec
from thimble.link import format as F
from thimble.link.client import LinkClient, LinkError
from thimble.app.prompt import PromptTooLong
from thimble.sim.session import Session

QUERY = "set a timer for ten minutes"


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return tiny_image(tmp_path_factory.mktemp("tiny") / "tiny.thm")


def same_answer(ans, counters, want):
    assert ans.ok, ans.text
    assert (ans.tokens, ans.crc, ans.text) == (want["tokens"], want["crc"], want["text"])
    assert counters["prompt_tokens"] == want["prompt_tokens"] and counters["gen_tokens"] == len(want["tokens"])
    assert len(ans.step_ticks) == len(want["tokens"])            # per-step counts come back whole
    assert counters["prefill_insns"] > 0 and counters["insns_per_token"] > 0


def test_deploy_then_run_all_tools_matches_the_simulator_and_survives_restart(board, link_elf, image, tmp_path,
                                                                              capsys):
    host = Session(image, "c:portable")
    # all 9 tools make a longer prompt than this image takes (256): refused on the host and on the
    # board alike with the same counts, and answered alike when asked to cut it as Needle does
    with pytest.raises(PromptTooLong) as too_long:
        host.ask(QUERY, TOOLS)
    assert too_long.value.limit == 256 and too_long.value.tokens > 256
    want = host.ask(QUERY, TOOLS, truncate=True)
    flash = tmp_path / "flash.bin"
    with Emulator(board, flash=flash, elf=link_elf) as emu:
        with emu.connect() as ser:
            link = LinkClient(ser)
            assert link.hello()["board"] == board and link.hello()["active"] is None
            _, ans = link.run(QUERY, TOOLS, truncate=True)
            assert ans.status == -2 and ans.text == "no model installed"
            _, out = link.run_raw(b"THRQ" + bytes(40))             # a hostile request: the app's own checks
            assert parse_answer(out).text == "request: bad magic, version or length"
            with pytest.raises(LinkError) as e:                     # a request over the app's limit
                link.request("REQ", codec.pack("REQ", 0, F.MAX_REQUEST + 1, tail=b"x"))
            assert e.value.status == "E_PROMPT" and link.hello()["board"] == board
        rc = thimble(["deploy", str(image), "--port", emu.url, "--json"])
        out = json.loads(capsys.readouterr().out)
        assert rc == 0 and out["status"] == "deployed" and out["bytes_sent"] == image.stat().st_size
        assert out["line_rate"] == "line rate unknown (socket)" and out["share_of_line_rate"] is None
        with emu.connect() as ser:
            _, ans = LinkClient(ser).run(QUERY, TOOLS)
            assert ans.status == E_PROMPT and ans.text == \
                f"prompt: {too_long.value.tokens} tokens; the model takes at most {too_long.value.limit}"
            assert ans.prompt_tokens == too_long.value.tokens
            counters, ans = LinkClient(ser).run(QUERY, TOOLS, truncate=True)
            same_answer(ans, counters, want)
    with Emulator(board, flash=flash, elf=link_elf) as emu:              # power off, power on
        rc = thimble(["run", "--port", emu.url, QUERY, "--tools", str(MODEL / "tools.json")])
        err = capsys.readouterr().err
        assert rc == 2 and "error: the device says: prompt too long: prompt: " in err and "--truncate" in err
        rc = thimble(["run", "--port", emu.url, QUERY, "--tools", str(MODEL / "tools.json"), "--json",
                      "--truncate"])
        out = json.loads(capsys.readouterr().out)
        assert (out["tokens"], out["crc"], out["prompt_tokens"]) == (want["tokens"], want["crc"],
                                                                     want["prompt_tokens"])
        assert rc == (0 if want["complete"] else 1)
        with emu.connect() as ser:
            res = LinkClient(ser).deploy(image.read_bytes())
            assert (res.status, res.bytes_sent, res.slot) == ("same", 0, 0)
