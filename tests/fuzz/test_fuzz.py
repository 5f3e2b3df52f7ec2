"""The fuzz harnesses in CI: each is built under ASan and UBSan (tests/fuzz/
build.py), replays its corpus and every regression (inputs that once found a
defect), then fuzzes for THIMBLE_FUZZ_SECONDS (default 60) from seed
THIMBLE_FUZZ_SEED (default 1). Any sanitizer report, abort (a harness's
invariant) or hang fails the test and leaves the input in the test's folder;
tools/fuzz.sh runs the same harnesses for as long as a person wants."""
import os
import subprocess
import sys

import pytest

from fuzz_build import FUZZ, HARNESSES, build

SECONDS = float(os.environ.get("THIMBLE_FUZZ_SECONDS", "60"))
SEED = int(os.environ.get("THIMBLE_FUZZ_SEED", "1"))
ENV = {"image": {"THM_FUZZ_REQUEST": str(FUZZ / "image" / "request.thrq")},
       "request": {"THM_FUZZ_TOKENIZER": str(FUZZ / "request" / "tokenizer.bin")},
       "link": {}}


def inputs(name):
    return [p for p in (FUZZ / name / "corpus", FUZZ / name / "regressions") if p.is_dir()]


def run(name, args, tmp_path, timeout):
    exe = build(name)
    env = dict(os.environ, **ENV[name])
    r = subprocess.run([str(exe), *args, "--out", str(tmp_path), *map(str, inputs(name))], env=env,
                       capture_output=True, text=True, timeout=timeout)
    found = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "hang-")))
    assert r.returncode == 0 and not found, f"{name}: rc {r.returncode}, {found}\n{r.stderr[-3000:]}"
    return r.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("name", HARNESSES)
def test_corpus_and_regressions_pass(name, tmp_path):
    assert inputs(name), f"{name}: no committed corpus"
    assert run(name, ["--replay"], tmp_path, 120).startswith("fuzz: replayed ")


@pytest.mark.parametrize("name", HARNESSES)
def test_fuzz_for_a_bounded_seeded_time(name, tmp_path):
    line = run(name, ["--seconds", str(SECONDS), "--seed", str(SEED)], tmp_path, SECONDS + 120)
    print(f"{name}: {line}")
    runs = int(line.split()[1])
    assert runs > 0


def test_a_planted_bug_is_found(tmp_path):
    """The driver reports what ASan finds and saves the input: a harness
    build of the link harness with a one-byte overflow planted in the
    journal's reader must fail on its own corpus."""
    import shutil
    src = tmp_path / "src"
    shutil.copytree(FUZZ, src / "tests" / "fuzz", ignore=shutil.ignore_patterns("__pycache__"))
    dev = FUZZ.parents[1] / "runtime" / "device"
    shutil.copytree(dev, src / "runtime" / "device")
    shutil.copytree(FUZZ.parents[1] / "kernels", src / "kernels", ignore=shutil.ignore_patterns("*.so", "build"))
    journal = src / "runtime" / "device" / "link" / "thm_link_journal.c"
    text = journal.read_text()
    assert "int thm_link_journal_load(thm_link_journal *j, const thm_link_flash *f) {" in text
    head = "int thm_link_journal_load(thm_link_journal *j, const thm_link_flash *f) {\n"
    journal.write_text(text.replace(head, head + "    { volatile char planted[4]; planted[4 + (f->sector & 3)] = 1; }\n", 1))
    assert "planted" in journal.read_text()
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import fuzz_build; "
                        "print(fuzz_build.build('link', sys.argv[2]))", str(src / "tests" / "fuzz"), str(tmp_path / "b")],
                       capture_output=True, text=True, env=env, check=True)
    exe = r.stdout.strip()
    out = tmp_path / "found"
    out.mkdir()
    r = subprocess.run([exe, "--replay", "--out", str(out), str(FUZZ / "link" / "corpus")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and ("AddressSanitizer" in r.stderr or "runtime error: index 4 out of bounds" in r.stderr)
    assert [p.name for p in out.iterdir() if p.name.startswith("crash-")]


LOADERS = FUZZ / "loaders" / "harness.py"


def run_loaders(args, tmp_path, timeout):
    r = subprocess.run([sys.executable, str(LOADERS), *args, "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"loaders: rc {r.returncode}\n{r.stderr[-3000:]}"
    return r.stdout.strip().splitlines()[-1]


def test_loaders_corpus_and_regressions_pass(tmp_path):
    line = run_loaders(["--replay"], tmp_path, 300)
    assert line.endswith(" 0 findings") and int(line.split()[6]) >= 10      # 4 seeds + 6 regressions


def test_loaders_fuzz_for_a_bounded_seeded_time(tmp_path):
    line = run_loaders(["--seconds", str(SECONDS), "--seed", str(SEED)], tmp_path, SECONDS + 300)
    print(f"loaders: {line}")
    assert int(line.split()[1]) > 0
