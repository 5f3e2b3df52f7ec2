"""`thimble deploy` against the device's link server on the host: the
summary (JSON and words), plain progress lines off a terminal, the no-op
redeploy, --rollback, and one-line errors with a nonzero exit."""
import json

import pytest

from thimble.cli import main as thimble
from thimble.link.port import port_line_rate as line_rate


@pytest.fixture
def files(imgs, tmp_path):
    a, b = tmp_path / "a.thm", tmp_path / "b.thm"
    a.write_bytes(imgs[0])
    b.write_bytes(imgs[1])
    return a, b


def test_deploy_prints_a_summary_and_progress_then_same_then_rollback(server, files, capsys):
    a, b = files
    assert thimble(["deploy", str(a), "--port", server.url, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["status"], s["slot"], s["bytes_sent"], s["resumed_from"], s["retransmits"]) == ("deployed", 0,
                                                                                           a.stat().st_size, 0, 0)
    assert s["line_rate"] == "line rate unknown (socket)" and s["share_of_line_rate"] is None
    assert s["sha256"] == a.read_bytes()[32:64].hex() and s["bytes_per_s"] > 0
    assert thimble(["deploy", str(b), "--port", server.url]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"deployed {b.stat().st_size:,} bytes in ") and "line rate unknown (socket)" in out
    assert "slot 1 active" in out and "0 frames retransmitted" in out
    lines = err.splitlines()                            # not a terminal: a plain line every 10%
    assert lines[0].startswith("deploying 0/") and lines[0].endswith("(0%)") and lines[-1].endswith("(100%)")
    assert 10 <= len(lines) <= 12
    assert thimble(["deploy", str(b), "--port", server.url]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"already installed (slot 1, sha {b.read_bytes()[32:40].hex()}") and "nothing sent" in out
    assert thimble(["deploy", "--rollback", "--port", server.url]) == 0
    assert capsys.readouterr().out.startswith("rolled back: slot 0 active")


@pytest.mark.parametrize("args, rc, what", [
    (["deploy", "{missing}", "--port", "{url}"], 2, "No such file"),
    (["deploy", "{junk}", "--port", "{url}"], 2, "not a deployable image"),
    (["deploy", "--port", "{url}"], 2, "give an IMAGE"),
    (["deploy", "--rollback", "--port", "{url}"], 1, "no other valid model"),
    (["deploy", "{image}", "--port", "socket://127.0.0.1:1"], 1, "error: cannot open socket://127.0.0.1:1"),
])
def test_deploy_errors_are_one_line_and_nonzero(server, files, tmp_path, capsys, args, rc, what):
    junk = tmp_path / "junk.thm"
    junk.write_bytes(b"not an image at all" * 20)
    names = {"missing": tmp_path / "nope.thm", "junk": junk, "image": files[0], "url": server.url}
    assert thimble([a.format(**names) for a in args]) == rc
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and what in err and len(err.splitlines()) == 1


def test_line_rate_is_the_ports_baud_for_a_device_path():
    class Port:
        baudrate = 921600
    assert line_rate("/dev/ttyUSB0", Port()) == (92160.0, "921600 baud")
    assert line_rate("socket://127.0.0.1:5000", Port()) == (None, "line rate unknown (socket)")
