"""Checks shared by every test folder.

no_child_left: a test (or the fixtures it used) must stop every QEMU and
link host server it started, on failure paths too. A leftover is killed
here, so one leaking test cannot keep a core busy for the rest of the run,
and the test errors at teardown, so the leak is seen."""
import os
import signal

import pytest

from thimble.lifecycle import child_processes

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


# A board test that skips because a toolchain or QEMU is missing proves nothing.
# On a developer's machine that is a skip with its reason; under CI (CI=true,
# a fresh machine that tools/bootstrap.sh set up) it is a failure: the missing
# install step is the defect.
MISSING_TOOL = ("missing (tools/bootstrap.sh)", "not installed", "not on PATH")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2]
        if any(m in reason for m in MISSING_TOOL):
            report.outcome = "failed"
            report.longrepr = f"CI=true: {reason} (tools/bootstrap.sh must install it)"
