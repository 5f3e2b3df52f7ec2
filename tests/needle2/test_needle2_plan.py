"""What Needle 2 costs a board: needle2.plan and `thimble plan FILE.cact`."""
import json
import pathlib
import subprocess
import sys

from thimble.needle2 import preset
from thimble.needle2.plan import buffers, largest_window, make_plan, weights_bytes

DATA = pathlib.Path(__file__).parent / "data"


def test_base_window_256_within_8_mb():
    """The issue's target: a 256-token window of `base` in at most 8 MB of RAM (Cactus says
    28 MB a session); the int8 KV cache is most of it."""
    cfg = preset("base")
    decode, prefill = make_plan(cfg, 256, chunk=1), make_plan(cfg, 256, chunk=64)
    assert decode.ram_bytes < prefill.ram_bytes < 8 * 2**20
    assert dict(decode.buffers)["KV cache int8 [27 layers, 256 positions, K and V of 256]"] == 27 * 256 * 512
    assert 11_000_000 < decode.weights_bytes < 12_000_000          # CQ2: 2.125 bits a weight and fp16 vectors


def test_largest_window_is_the_last_that_fits():
    cfg = preset("base")
    budget = 2 * 2**20
    w = largest_window(cfg, budget)
    assert sum(b for _, b in buffers(cfg, w)) <= budget < sum(b for _, b in buffers(cfg, w + 1))
    assert largest_window(cfg, 1000) == 0


def test_weights_bytes_of_a_file():
    from thimble.needle2 import read_cact
    c = read_cact(DATA / "tiny_cq2.cact")
    blobs = sum(t.packed.nbytes + t.norms.nbytes if t.packed is not None else t.data.nbytes
                for t in c.tensors.values())
    assert weights_bytes(c.config, 2) == blobs


def plan(*args):
    return subprocess.run([sys.executable, "-m", "thimble", "plan", *map(str, args)], capture_output=True, text=True)


def test_cli(tmp_path):
    r = plan(DATA / "tiny_cq2.cact", "--board", "watch_m55", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "needle2" and out["window"] == 64 and out["fits"] and out["largest_window"] == 64
    r = plan(DATA / "tiny_cq2.cact", "--arena-bytes", 10000)
    assert r.returncode == 1 and "arena region needs" in r.stderr
    r = plan(DATA / "tiny_cq2.cact", "--window", 0)
    assert r.returncode == 2 and "--window 0 is outside" in r.stderr
    bad = tmp_path / "cut.cact"
    bad.write_bytes((DATA / "tiny_cq2.cact").read_bytes()[:5000])
    r = plan(bad, "--board", "watch_m55")
    assert r.returncode == 2 and "cut.cact" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_needle2_image(tmp_path):
    """A Needle 2 .thm image: the C model's arena (thm_n2_arena_size), which stops growing at the
    window's ring; too long a sequence and too small an arena are refused."""
    FUZZ = pathlib.Path(__file__).resolve().parents[1] / "fuzz" / "image" / "corpus" / "needle2.thm"
    r = plan(FUZZ, "--prompt-tokens", 8, "--gen-tokens", 4, "--json")
    assert r.returncode == 0, r.stderr
    short = json.loads(r.stdout)
    assert short["model"] == "needle2" and (short["window"], short["sinks"]) == (8, 2)
    assert sum(b["bytes"] for b in short["buffers"]) == short["arena_bytes"]
    assert [b["buffer"].split()[0] for b in short["buffers"]][:3] == ["activations", "K", "V"]
    r = plan(FUZZ, "--prompt-tokens", 12, "--gen-tokens", 4, "--json")
    assert json.loads(r.stdout)["arena_bytes"] - short["arena_bytes"] < 100     # the hist grows, not the ring
    r = plan(FUZZ, "--prompt-tokens", 8, "--gen-tokens", 4, "--arena-bytes", 1000)
    assert r.returncode == 1 and "arena region needs" in r.stderr
    r = plan(FUZZ, "--prompt-tokens", 30)
    assert r.returncode == 2 and "the image has 16 positions" in r.stderr
