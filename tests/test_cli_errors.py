"""One voice for every command (runtime/thimble/core/errors.py): a user error is
one `error: ...` line on stderr, exit 2 when the command line cannot be used
as given, 1 when the work fails, and never a traceback. Limits are checked
before any work starts, the same on the host as on the board. Each case runs
the real `thimble` in a child process, as a user's shell would."""
import json
import os
import re
import socket
import subprocess
import sys
import threading

import pytest

from thimble import __version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "watch-tiny")
TOOLS = os.path.join(MODEL, "tools.json")


def thimble(*args, cwd=None, timeout=120):
    p = subprocess.run([sys.executable, "-m", "thimble.cli", *map(str, args)], cwd=cwd or ROOT,
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    return p


def failed(p, rc, *fragments):
    """p exited rc with one error line (first) holding every fragment."""
    assert p.returncode == rc, (p.returncode, p.stderr)
    first = p.stderr.strip().splitlines()[0] if p.stderr.strip() else ""
    assert first.startswith("error: ") or re.match(r"usage: ", first), p.stderr
    for f in fragments:
        assert f in p.stderr, (f, p.stderr)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    out = tmp_path_factory.mktemp("img") / "watch-tiny.thm"
    p = thimble("convert", f"{MODEL}/needle.pkl", "--tokenizer", f"{MODEL}/tokenizer.model",
                "--calib", f"{MODEL}/calib.jsonl", "--tools", TOOLS, "-o", out)
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="module")
def many_tools(tmp_path_factory):
    """(27 tools: a prompt over watch-tiny's 512 tokens, 40 small tools: over the board's 32)."""
    base = json.load(open(TOOLS))
    d = tmp_path_factory.mktemp("tools")
    (d / "27.json").write_text(json.dumps([dict(t, name=f"{t['name']}{i}") for i in range(3) for t in base]))
    (d / "40.json").write_text(json.dumps([{"name": f"tool{i}"} for i in range(40)]))
    return d / "27.json", d / "40.json"


def test_version():
    p = thimble("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"thimble {__version__}"


@pytest.mark.parametrize("argv", [
    ["demo", "--board", "nope"],
    ["build", "--board", "nope"],
    ["emulate", "--board", "nope"],
    ["plan", "IMAGE", "--board", "nope"],
    ["convert", f"{MODEL}/needle.pkl", "--board", "nope", "-o", "OUT"],
    ["boards", "nope"],
    ["bench", "kernels", "--board", "nope"],
])
def test_an_unknown_board_is_a_usage_error_everywhere(argv, image, tmp_path):
    argv = [str(image) if a == "IMAGE" else str(tmp_path / "o.thm") if a == "OUT" else a for a in argv]
    failed(thimble(*argv), 2, "error: no board 'nope' (known: glasses_a55, watch_m4, watch_m55)")


def test_convert_to_a_missing_folder_fails_before_any_work(tmp_path):
    p = thimble("convert", f"{MODEL}/needle.pkl", "--tokenizer", f"{MODEL}/tokenizer.model",
                "--calib", f"{MODEL}/calib.jsonl", "--tools", TOOLS, "-o", "/nonexistent/dir/o.thm")
    failed(p, 2, "error: -o /nonexistent/dir/o.thm: the folder /nonexistent/dir does not exist")
    assert "calibrating" not in p.stderr


def test_convert_without_the_tools_its_calibration_names_says_what_to_pass(tmp_path):
    p = thimble("convert", f"{MODEL}/needle.pkl", "--tokenizer", f"{MODEL}/tokenizer.model",
                "--calib", f"{MODEL}/calib.jsonl", "-o", tmp_path / "o.thm")
    failed(p, 2, "calib.jsonl:1: names the tool", "pass --tools FILE")
    assert not list(tmp_path.iterdir())                      # nothing half-written


@pytest.mark.parametrize("argv, fragment", [
    (["convert", "/nonexistent.pkl", "-o", "OUT"], "/nonexistent.pkl: no such folder or file"),
    (["convert", f"{MODEL}/needle.pkl", "--tokenizer", "/nonexistent", "-o", "OUT"], "no such --tokenizer file"),
    (["sim", "/nonexistent.thm", "hi", "--tools", TOOLS], "/nonexistent.thm"),
    (["sim", TOOLS, "hi", "--tools", TOOLS], "not a thimble image"),
    (["plan", TOOLS, "--board", "watch_m4"], "not a thimble image"),
    (["deploy", "/nonexistent.thm", "--port", "loop://"], "/nonexistent.thm"),
    (["deploy", "IMAGE", "--port", "bogus://x"], "--port bogus://x: invalid URL"),
    (["emulate", "--board", "watch_m4", "--port", "99999"], "--port must be 1..65535"),
    (["emulate", "--board", "watch_m4", "--image", "/nonexistent.thm"], "/nonexistent.thm: no such image"),
    (["demo", "--image", "/nonexistent.thm"], "/nonexistent.thm: no such image"),
    (["eval", "IMAGE", "--checkpoint", f"{MODEL}/needle.pkl", "--prompts", "/nonexistent", "--tools", TOOLS],
     "no such --prompts file"),
])
def test_bad_inputs_are_usage_errors(argv, fragment, image, tmp_path):
    argv = [str(image) if a == "IMAGE" else str(tmp_path / "o.thm") if a == "OUT" else a for a in argv]
    failed(thimble(*argv), 2, fragment)


def test_sim_refuses_a_prompt_over_the_image_limit_unless_asked_to_truncate(image, many_tools):
    p = thimble("sim", image, "set a timer for ten minutes", "--tools", many_tools[0])
    failed(p, 2, "the prompt is 1035 tokens", "the model takes at most 512", "--truncate")
    p = thimble("sim", image, "set a timer for ten minutes", "--tools", many_tools[0], "--truncate")
    assert p.returncode == 0 and p.stdout.startswith("[{"), p.stderr


def test_host_and_board_request_limits_are_checked_before_work(image, many_tools):
    p = thimble("sim", image, "hi", "--tools", many_tools[1])
    failed(p, 2, "the device takes 1..32 tools per prompt, got 40")
    long_query = "a" * 1100
    failed(thimble("sim", image, long_query, "--tools", TOOLS), 2, "query is 1100 bytes; the device takes 1024")
    failed(thimble("run", long_query, "--tools", TOOLS, "--port", "loop://"), 2, "the device takes 1024")
    p = thimble("demo", long_query)
    failed(p, 2, "the device takes 1024")
    assert "[1/5]" not in p.stdout                           # refused before converting or booting anything
    p = thimble("demo", "set a timer for ten minutes", "--tools", many_tools[0])
    failed(p, 2, "the model takes at most 512")
    assert "[2/5]" not in p.stdout                           # before the firmware build and the board


def test_a_loopback_port_says_no_device_is_there(image):
    failed(thimble("run", "hi", "--tools", TOOLS, "--port", "loop://", "--timeout", "5"), 1,
           "sends back what this host writes", "no thimble device")
    failed(thimble("deploy", image, "--port", "loop://"), 1, "no thimble device")


def test_a_port_nobody_listens_on_says_what_to_check(image):
    with socket.socket() as s:                 # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = thimble("run", "hi", "--tools", TOOLS, "--port", f"socket://127.0.0.1:{port}")
    failed(p, 1, f"cannot open socket://127.0.0.1:{port}: nothing listens there", "thimble emulate")
    failed(thimble("deploy", image, "--port", f"socket://127.0.0.1:{port}"), 1, "nothing listens there")


def test_a_port_that_hangs_up_says_no_link_firmware_answered(image):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]

    def hang_up():                             # accept, read a little, close: not a thimble board
        for _ in range(2):
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.recv(64)
            c.close()
    t = threading.Thread(target=hang_up, daemon=True)
    t.start()
    try:
        failed(thimble("deploy", image, "--port", f"socket://127.0.0.1:{port}"), 1,
               "the line closed before any reply", "link firmware")
    finally:
        srv.close()
        t.join(5)


def test_the_readme_pieces_run_as_written(tmp_path):
    """The README's convert, sim, eval and plan lines, run in a copy of models/watch-small."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = readme.split("## The pieces, one command each", 1)[1].split("```", 2)[1]
    lines = [ln.split("  #", 1)[0].strip() for ln in block.splitlines() if ln.startswith("thimble ")][:4]
    assert [ln.split()[1] for ln in lines] == ["convert", "sim", "eval", "plan"]
    small = os.path.join(ROOT, "models", "watch-small")
    for name in os.listdir(small):
        os.symlink(os.path.join(small, name), tmp_path / name)
    import shlex
    for ln in lines:
        p = thimble(*shlex.split(ln)[1:], cwd=tmp_path, timeout=300)
        assert p.returncode == 0, (ln, p.stderr)
