"""The app behind the serial link server (thm_app_link): a model deployed
over the emulated UART into a flash slot answers RUN exactly as the host
simulator does, and still does after QEMU restarts on the same flash. One
tool: the link caps RUN tools at 480 bytes (format.MAX_TOOLS); two of
watch-tiny's tools already take 509."""
import json
import os

import pytest

from device_harness import TOOLS, LinkClient, tiny_image
from thimble.cli import main as thimble
from thimble.device_batch import build_firmware_target
from thimble.emulate import Emulator
from thimble.sim.session import Session


@pytest.fixture(scope="module")
def link_elf(board):
    root = os.environ.get("THIMBLE_DEVICE_BUILD")
    return build_firmware_target(board, "thm_app_link", os.path.join(root, board) if root else None)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return tiny_image(tmp_path_factory.mktemp("tiny") / "tiny.thm")


def test_deploy_then_run_matches_the_simulator_and_survives_restart(board, link_elf, image, tmp_path, capsys):
    host = Session(image, "c:portable")
    want = host.ask("set a timer for ten minutes", TOOLS[:1])
    flash = tmp_path / "flash.bin"
    with Emulator(board, flash=flash, elf=link_elf) as emu:
        link = LinkClient(emu.connect())
        head, ans, _ = link.run("set a timer for ten minutes", TOOLS[:1])
        assert ans.status == -2 and ans.text == "no model installed"
        assert link.deploy(image.read_bytes()) == 0
        head, ans, _ = link.run("set a timer for ten minutes", TOOLS[:1])
        assert ans.ok, ans.text
        assert (ans.tokens, ans.crc, ans.text) == (want["tokens"], want["crc"], want["text"])
        assert head["prompt_tokens"] == want["prompt_tokens"] and head["gen_tokens"] == len(want["tokens"])
        assert head["prefill_insns"] > 0 and head["insns_per_token"] > 0
    with Emulator(board, flash=flash, elf=link_elf) as emu:              # power off, power on
        ser = emu.connect()
        head, again, _ = LinkClient(ser).run("set a timer for ten minutes", TOOLS[:1])
        assert (again.tokens, again.crc) == (ans.tokens, ans.crc)
        ser.close()
        tools = tmp_path / "tools.json"
        tools.write_text(json.dumps(TOOLS[:1]))
        rc = thimble(["run", "--port", emu.url, "set a timer for ten minutes", "--tools", str(tools), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert (out["tokens"], out["crc"], out["prompt_tokens"]) == (want["tokens"], want["crc"], want["prompt_tokens"])
    assert rc == (0 if want["complete"] else 1)
