"""Smoke test of `thimble bench link` on a small image at 921600 baud: it
deploys through the paced proxy into the host server, with and without
loss, writes the JSON it promises, and no share exceeds what a paced line
allows (a pacer that let bytes through early would show shares over 1)."""
import json

from thimble.bench import link
from thimble.link.proxy import SLACK_S, line_rate


def test_bench_link_runs_and_reports(tmp_path, capsys):
    image = tmp_path / "tiny.thm"
    image.write_bytes(link.random_image(d_model=32, layers=1, seed=7))
    out = tmp_path / "link.json"
    rc = link.main(["--image", str(image), "--bauds", "921600", "--loss", "0,0.05", "--byte-errors", "3e-4",
                    "--seeds", "4", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["benchmark"] == "thimble bench link" and res["settings"]["image_bytes"] == image.stat().st_size
    assert [(r["baud"], r["loss"], r["byte_errors"]) for r in res["runs"]] == \
        [(921600, 0.0, 0.0), (921600, 0.05, 0.0), (921600, 0.0, 3e-4)]
    for r in res["runs"]:
        assert r["status"] == "deployed" and r["image_bytes"] == image.stat().st_size
        assert isinstance(r["resumes"], int) and r["resumes"] >= 0      # a deploy the line failed, taken up again
        assert 0 < r["share_of_line_rate"] < 1.0
        assert r["rtt_hello_s"] > 0
        assert r["rtt_data_s"] >= (1044 - SLACK_S * line_rate(921600)) / line_rate(921600)   # one paced DATA frame
    lossy = res["runs"][1]
    assert sum(lossy["frames_dropped"].values()) > 0, "5% loss dropped nothing"
    assert res["runs"][0]["frames_dropped"] == {"h2d": 0, "d2h": 0} and res["runs"][0]["retransmits"] == 0
    noisy = res["runs"][2]
    assert sum(noisy["bytes_damaged"][d][k] for d in ("h2d", "d2h") for k in ("drop", "flip")) > 0
    assert noisy["frames_dropped"] == {"h2d": 0, "d2h": 0}            # byte errors only, no frame loss
    assert [m["target"] for m in res["summary"]] == [0.90, None, None]
    assert "share" in capsys.readouterr().out
