"""Checks and fixtures shared by every test folder.

watch_image: models/watch-tiny converted as `thimble convert` does it, once
per session (the device, link and simulator tests all ask it: small and fast).
small_image: models/watch-small (the demo's model) converted the same way;
small_int4_image: the same with int4 projections (--weights int4);
small_all4_image: and an int4 embedding (--embed int4).

no_child_left: a test (or the fixtures it used) must stop every QEMU and
link host server it started, on failure paths too. A leftover is killed
here, so one leaking test cannot keep a core busy for the rest of the run,
and the test errors at teardown, so the leak is seen."""
import os
import pathlib
import signal

import pytest

from thimble.core.lifecycle import child_processes

MODELS = pathlib.Path(__file__).resolve().parents[1] / "models"


def _convert(model, out, *extra):
    from thimble.cli import main as thimble
    rc = thimble(["convert", str(model / "needle.pkl"), "--tokenizer", str(model / "tokenizer.model"),
                  "--calib", str(model / "calib.jsonl"), "--tools", str(model / "tools.json"), "-o", str(out),
                  *extra])
    assert rc == 0
    return out


@pytest.fixture(scope="session")
def watch_image(tmp_path_factory):
    return _convert(MODELS / "watch-tiny", tmp_path_factory.mktemp("watch") / "watch.thm")


@pytest.fixture(scope="session")
def small_image(tmp_path_factory):
    return _convert(MODELS / "watch-small", tmp_path_factory.mktemp("small") / "watch-small.thm")


@pytest.fixture(scope="session")
def small_all4_image(tmp_path_factory):
    """watch-small with int4 projections and an int4 embedding (the tied head too)."""
    return _convert(MODELS / "watch-small", tmp_path_factory.mktemp("small4e") / "watch-small-all4.thm",
                    "--weights", "int4", "--embed", "int4")


@pytest.fixture(scope="session")
def small_int4_image(tmp_path_factory):
    return _convert(MODELS / "watch-small", tmp_path_factory.mktemp("small4") / "watch-small-int4.thm",
                    "--weights", "int4")

WATCHED = ("qemu-system-", "qemu-arm", "qemu-aarch64", "thm_link_host")


def _watched():
    return {pid: cmd for pid, cmd in child_processes().items()
            if any(w in cmd.split(" ", 1)[0] for w in WATCHED)}


@pytest.fixture(autouse=True)
def no_child_left():
    before = set(_watched())
    yield
    left = {pid: cmd for pid, cmd in _watched().items() if pid not in before}
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass                    # its Popen reaped it, or it ended by itself
    assert not left, f"the test left these processes running (killed now): {left}"
