"""`thimble bench model --cpu avx2`: a child process sees this CPU without
AVX-512, AVX-VNNI and AMX (runtime/host/thm_cpuid_view.c preloaded, CPUID
faulting), and so do thimble's dispatch and numpy in it; the kernels still
give the reference's bits there; a malformed rule list stops the process
before main, and a real segmentation fault still kills it. Skipped, with the
reason, where the machine cannot fault CPUID (not x86-64 Linux, or no
cpuid_fault in /proc/cpuinfo)."""
import json
import random
import subprocess
import sys

import pytest

from thimble.bench import cpu_view
from thimble.cli import main as thimble

TINY = ["--shape", "tiny", "--prompt-tokens", "16", "--gen-tokens", "4", "--repeat", "1", "--no-float"]


def need_view():
    why = cpu_view.unavailable_reason()
    if why:
        pytest.skip(why)


CHILD = r"""
import json, numpy as np
from thimble.bench import cpu_view
from thimble.kernels import get_backend, reference as R
seen = cpu_view.seen("avx2")                      # raises if the view did not take
b = get_backend("c")
rng = np.random.default_rng(0)
ok = True
for M, K, N in ((1, 64, 40), (64, 64, 256), (37, 77, 19), (256, 512, 48)):
    x = rng.integers(-128, 128, (M, K), dtype=np.int8)
    w = rng.integers(-128, 128, (N, K), dtype=np.int8)
    x[0] = -128; w[0] = -128
    ok &= bool(np.array_equal(b.matmul_s8_s32(x, w, None), R.matmul_s8_s32(x, w, None)))
print(json.dumps({"seen": seen, "backend": b.name, "exact": ok}))
"""


def test_the_view_hides_the_wide_features_from_thimble_and_numpy():
    need_view()
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120,
                       env=cpu_view.child_env("avx2"))
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    isas = out["seen"]["thimble_isas_seen"]
    assert isas["avx2"] and not (isas["avx512vnni"] or isas["avxvnni"] or isas["amx"])
    assert "AVX2" in out["seen"]["numpy_features_seen"] and "AVX512F" not in out["seen"]["numpy_features_seen"]
    assert out["backend"].endswith("avx2") and out["exact"]


def test_bench_model_runs_under_the_view_and_records_it(tmp_path, capfd):
    need_view()
    out = tmp_path / "model.json"
    assert thimble(["bench", "model", "--cpu", "avx2", *TINY, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    v = res["machine"]["cpu_view"]
    assert v["name"] == "avx2" and v["cpuid_cleared"] == cpu_view.clear_spec("avx2")
    assert res["c"]["isa"] == "avx2" and not v["thimble_isas_seen"]["amx"]
    assert "CPU view: seen as avx2 through CPUID faulting" in capfd.readouterr().out


def test_cpu_is_refused_with_a_board_and_where_cpuid_cannot_fault(monkeypatch, capsys):
    assert thimble(["bench", "model", "--cpu", "avx2", "--board", "watch_m4"]) == 2
    assert "does not go with --board" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        thimble(["bench", "model", "--cpu", "avx9"])
    monkeypatch.setattr(cpu_view, "_cpu_flags", lambda: set())
    if cpu_view.platform.machine() in ("x86_64", "AMD64") and cpu_view.platform.system() == "Linux":
        assert thimble(["bench", "model", "--cpu", "avx2", *TINY]) == 1
        assert "cpuid_fault" in capsys.readouterr().err


def _preloaded(spec, argv=("/bin/true",)):
    env = {"PATH": "/usr/bin:/bin", "LD_PRELOAD": cpu_view.shim_path(), cpu_view.ENV_CLEAR: spec}
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, env=env)


def need_shim():
    if cpu_view.shim_path() is None:
        pytest.skip("no thimble._cpuid_view here (it is built on x86-64 Linux)")


def test_well_formed_rule_lists_run():
    need_view()
    assert _preloaded(cpu_view.clear_spec("avx2")).returncode == 0
    assert _preloaded("7:0:ebx:0x10000,0xd:0:eax:224,010:0:ecx:1").returncode == 0     # 010 is ten


def test_a_malformed_rule_list_stops_the_process_before_main():
    need_shim()             # the list is read before CPUID faulting is asked for
    for bad in ("", "7", "7:0", "7:0:ebx", "7:0:ebx:", "7:0:rbx:1", "7:0:ebx:1,", ",7:0:ebx:1", "x:0:ebx:1",
                "7:0:ebx:0x100000000", "7:0:ebx:1 ", "-7:0:ebx:1", "7:0:ebx:1;rm", "0x:0:ebx:1", "08x:0:ebx:1",
                ",".join(["7:0:ebx:1"] * 17)):
        r = _preloaded(bad)
        assert r.returncode == 3 and "THIMBLE_CPUID_CLEAR" in r.stderr, (bad, r.returncode, r.stderr)
    # random rule lists: accepted or refused in one line, never a crash
    rng = random.Random(16)
    alphabet = "0123456789abcdefx:,ebcdxa "
    for _ in range(150):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        r = _preloaded(s)
        assert r.returncode in (0, 3), (s, r.returncode, r.stderr)


@pytest.mark.parametrize("crash", ["import ctypes; ctypes.string_at(8)",            # a fault
                                   "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])  # a signal sent
def test_a_real_segmentation_fault_still_kills_the_process(crash):
    need_view()
    r = _preloaded(cpu_view.clear_spec("avx2"), (sys.executable, "-c", crash + "; print('survived')"))
    assert r.returncode == -11 and "survived" not in r.stdout, (r.returncode, r.stdout, r.stderr[-500:])
