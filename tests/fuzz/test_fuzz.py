"""The fuzz harnesses in CI: each is built under ASan and UBSan (tests/fuzz/
build.py), replays its corpus and every regression (inputs that once found a
defect), then fuzzes for THIMBLE_FUZZ_SECONDS (default 20: four harnesses are
80 s of the suite's 25-minute budget on a 2-core machine) from seed
THIMBLE_FUZZ_SEED (default 1). Any sanitizer report, abort (a harness's
invariant) or hang fails the test and leaves the input in the test's folder;
tools/fuzz.sh runs the same harnesses for as long as a person wants."""
import os
import subprocess
import sys

import pytest

from fuzz_build import FUZZ, HARNESSES, build

SECONDS = float(os.environ.get("THIMBLE_FUZZ_SECONDS", "20"))
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


# Defects planted in a copy of the device sources (file, the text the plant
# follows, the plant, what the report must say), each where only a harness
# that gets deep enough can reach it: a one-byte stack overflow in the
# journal's reader (link), the grammar's frame stack (request: reached only
# once a request parses and decoding starts) and the decoder step (image:
# only once an image opens, verifies, binds, plans and its prompt is
# tokenized and encoded); a journal that writes its GEN record before the
# live records, which loses the committed model when the power fails in a
# compaction (link-journal: the compaction_cut seed); a COMMIT that skips the
# application's check (link-check: the refused_commit seed). "link-fuzzed" is off
# the corpus's path (a DATA frame whose offset is not a chunk multiple): only
# the mutation loop can find it, within a fixed number of runs from a fixed seed;
# so is "link-req", a REQ bound that lets a part run past the request's
# total (replacing the check): inside the server's struct, where only the
# harness's counter checks can see it. A sixth field "replace" puts the plant
# in the anchor's place instead of after it.
OVERFLOW = "    {{ volatile char planted[4]; planted[4 + ({})] = 1; }}\n"
SANITIZER = ("AddressSanitizer", "out of bounds")
PLANTS = {
    "link": ("link/thm_link_journal.c",
             "int thm_link_journal_load(thm_link_journal *j, const thm_link_flash *f) {\n",
             OVERFLOW.format("f->sector & 3"), SANITIZER, False),
    "link-journal": ("link/thm_link_journal.c",
                     "    if (f->erase(f->ctx, other * f->sector, f->sector)) return THM_JOURNAL_E_FLASH;\n",
                     "    encode(r, THM_LINK_REC_GEN, 0, j->gen + 1, 0, 0, 0);\n"
                     "    if (write_rec(j, other, 0, r)) return THM_JOURNAL_E_FLASH;\n",
                     ("a power cut lost the newest commit",), False),
    "link-check": ("link/thm_link_server.c", "static int on_commit(thm_link_server *s, uint16_t seq) {\n",
                   "    s->check = 0;\n", ("an image COMMIT's check refused is VALID",), False),
    "request": ("decode/thm_grammar.c",
                "static int push(thm_grammar_state *st, uint8_t kind, uint8_t phase, uint8_t a)\n{\n",
                OVERFLOW.format("st->n & 3"), SANITIZER, False),
    "image": ("model/thm_model_forward.c",
              "int thm_model_decode_step(thm_model *m, int32_t token, int32_t *logits_out, int32_t *argmax_out)\n{\n",
              OVERFLOW.format("token & 3"), SANITIZER, False),
    "link-fuzzed": ("link/thm_link_server.c",
                    "    uint32_t off = thm_le32(p + THM_LINK_DATA_OFFSET), n = len - THM_LINK_DATA_SIZE;\n",
                    "    if (off % THM_LINK_DATA_CHUNK)" + OVERFLOW.format("off & 3")[3:], SANITIZER, True),
    "link-req": ("link/thm_link_server.c",
                 "    if (off > total || n > total - off) return error(s, seq, THM_LINK_CMD_REQ, THM_LINK_ST_E_LENGTH);\n",
                 "    if (off > total) return error(s, seq, THM_LINK_CMD_REQ, THM_LINK_ST_E_LENGTH);\n",
                 ("the staged request outgrew its buffer",), True, "replace"),
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_a_planted_bug_is_found(plant, tmp_path):
    """The harness reaches the planted defect, the driver reports what the
    sanitizers (or the harness's invariants) find and saves the input: a
    build with the plant must fail, and so must its saved input alone."""
    import shutil
    name = plant.split("-")[0]
    rel, head, planted, report, fuzzed, *how = PLANTS[plant]
    root = FUZZ.parents[1]
    src = tmp_path / "src"
    shutil.copytree(FUZZ, src / "tests" / "fuzz", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root / "runtime" / "device", src / "runtime" / "device")
    shutil.copytree(root / "kernels", src / "kernels", ignore=shutil.ignore_patterns("*.so", "build"))
    target = src / "runtime" / "device" / rel
    text = target.read_text()
    assert text.count(head) == 1, f"the plant's anchor moved in {rel}: update PLANTS"
    target.write_text(text.replace(head, planted if how == ["replace"] else head + planted, 1))
    r = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import fuzz_build; "
                        "print(fuzz_build.build(sys.argv[3], sys.argv[2]))", str(src / "tests" / "fuzz"),
                        str(tmp_path / "b"), name], capture_output=True, text=True, check=True)
    exe = r.stdout.strip()
    out = tmp_path / "found"
    out.mkdir()
    env = dict(os.environ, **ENV[name])
    corpus = str(FUZZ / name / "corpus")
    if fuzzed:
        r = subprocess.run([exe, "--replay", "--out", str(out), corpus], capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0, f"the corpus must not reach the plant:\n{r.stderr[-2000:]}"
    args = ["--runs", "30000", "--seed", "1"] if fuzzed else ["--replay"]
    r = subprocess.run([exe, *args, "--out", str(out), corpus], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode != 0 and any(s in r.stderr for s in report), f"{plant}: rc {r.returncode}\n{r.stderr[-2000:]}"
    crashes = [p for p in out.iterdir() if p.name.startswith("crash-")]
    assert crashes
    # the saved input is the reproducer: replayed alone, it fails the same way
    r = subprocess.run([exe, "--replay", "--out", str(tmp_path), str(crashes[0])], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode != 0 and any(s in r.stderr for s in report)


LOADERS = FUZZ / "loaders" / "harness.py"


def run_loaders(args, tmp_path, timeout):
    r = subprocess.run([sys.executable, str(LOADERS), *args, "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"loaders: rc {r.returncode}\n{r.stderr[-3000:]}"
    return r.stdout.strip().splitlines()[-1]


def test_loaders_corpus_and_regressions_pass(tmp_path):
    line = run_loaders(["--replay"], tmp_path, 300)
    assert line.endswith(" 0 findings") and int(line.split()[6]) >= 10      # 5 seeds + the regressions


def test_loaders_fuzz_for_a_bounded_seeded_time(tmp_path):
    line = run_loaders(["--seconds", str(SECONDS), "--seed", str(SEED)], tmp_path, SECONDS + 300)
    print(f"loaders: {line}")
    assert int(line.split()[1]) > 0
