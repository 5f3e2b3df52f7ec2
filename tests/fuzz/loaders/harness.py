"""Fuzz harness (d): the checkpoint loaders (Needle pickle, safetensors, a
Cactus .weights file, a Cactus config.txt, a Needle 2 .cact) under seeded mutations, each input
loaded in a forked child under an address-space limit and a time limit.

Allowed outcomes: the loader returns, or raises CheckpointError (the one-line
refusal `thimble convert` prints). Anything else is a finding, saved under
--out: another exception type (its last line in a .txt beside it), a child
killed by the memory limit or a signal, or a load past --timeout.

    .venv/bin/python tests/fuzz/loaders/harness.py --seconds 60 --seed 1 [--out DIR]
    .venv/bin/python tests/fuzz/loaders/harness.py --replay FILE...

Corpus: tests/fuzz/loaders/corpus (made by --make-corpus); regressions:
tests/fuzz/loaders/regressions (replayed in CI). The kind of an input is its
file extension: .pkl, .safetensors, .weights, .txt, .cact."""
import argparse
import hashlib
import os
import pathlib
import random
import resource
import signal
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
MEMORY_LIMIT = 1 << 30          # bytes of address space per load (seeds are a few KB)
# A load may grow the child's peak RSS by at most this much plus GROWTH_PER_BYTE
# times the input's size; more is a finding even when the load is refused in
# the end, since a refusal that first takes 100x the file is how a larger
# file of the same shape takes the machine (a shared byte string handed to
# numpy 2,000 times, a long key repeated in every path).
GROWTH_SLACK = 16 << 20
GROWTH_PER_BYTE = 64
KINDS = (".pkl", ".safetensors", ".weights", ".txt", ".cact")
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**62, 2**64 - 1]


def load(path):
    """Load one input the way convert does; CheckpointError is the only refusal."""
    from thimble.model import load_checkpoint
    from thimble.model.cactus_weights import config_from_txt, parse_config_txt, read_weights_file
    if path.suffix == ".weights":
        read_weights_file(path)
    elif path.suffix == ".cact":
        from thimble.needle2 import read_cact
        read_cact(path).params()          # every blob dequantized too
    elif path.suffix == ".txt":
        config_from_txt(parse_config_txt(path.read_text(errors="strict")))
    else:
        load_checkpoint(path)


def _mapped_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def run_child(path, timeout):
    """-> None when the outcome is allowed, else a one-line description of the finding."""
    from thimble.model import CheckpointError
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the child: limits, load, report by exit status
        os.close(r)
        try:
            # on top of what is mapped already (numpy's thread pools map ~1 GB of
            # address space they never touch), or every load fails its first allocation
            limit = _mapped_bytes() + MEMORY_LIMIT
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            signal.alarm(int(timeout) + 1)
            # convert promises one stderr line: a warning a loader lets through (numpy's
            # "invalid value" on an inf scale) is extra lines, so here it is an exception
            import warnings
            warnings.simplefilter("error")
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            try:
                load(path)
            except (CheckpointError, UnicodeDecodeError) as e:
                # the loaders' catch-alls turn anything into CheckpointError; one that
                # names MemoryError or RecursionError was refused by running out
                if any(x in str(e) for x in ("MemoryError", "RecursionError")):
                    os.write(w, f"refused only by running out: {e}"[:500].encode())
                    os._exit(5)
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
            if grown > GROWTH_SLACK + GROWTH_PER_BYTE * path.stat().st_size:
                os.write(w, f"peak RSS grew {grown >> 20} MiB for {path.stat().st_size} bytes".encode())
                os._exit(4)
            os._exit(0)
        except CheckpointError:
            os._exit(0)
        except UnicodeDecodeError:                  # config.txt that is not text: refused by the reader
            os._exit(0)
        except BaseException as e:                  # noqa: BLE001 - every other outcome is a finding
            os.write(w, f"{type(e).__name__}: {e}"[:500].encode())
            os._exit(3)
    os.close(w)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            return f"no answer within {timeout} s"
        time.sleep(0.002)
    msg = os.read(r, 1000).decode(errors="replace")
    os.close(r)
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    code = os.WEXITSTATUS(status)
    return None if code == 0 else msg or f"exit status {code}"


def mutate(data, rng, corpus):
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2 and len(b) >= 8:
            v, w = rng.choice(INTERESTING), rng.choice((1, 2, 4, 8))
            at = rng.randrange(len(b) - w + 1)
            b[at:at + w] = (v & ((1 << (8 * w)) - 1)).to_bytes(w, "little")
        elif op == 3:
            at = rng.randrange(len(b) + 1)
            b[at:at] = bytes([rng.randrange(256)]) * rng.choice((1, 1, 4, 64))
        elif op == 4 and len(b) > 1:
            at = rng.randrange(len(b))
            del b[at:at + rng.randint(1, 64)]
        elif op == 5 and corpus:
            other = rng.choice(corpus)[1]
            at, frm = rng.randrange(len(b) + 1), rng.randrange(len(other) + 1)
            b[at:] = other[frm:frm + rng.randint(1, 256)]
    return bytes(b)


def make_corpus(folder):
    """Small valid inputs of each kind, from a tiny random model."""
    from thimble.model.safetensors import save_safetensors
    from thimble.model.synth import random_model, save_cactus_folder, save_needle_pickle, tiny_config
    model = random_model(tiny_config(vocab_size=32, d_model=8, num_heads=2, num_kv_heads=1, num_encoder_layers=1,
                                     num_decoder_layers=1, d_ff=8, max_seq_len=8), seed=1)
    folder.mkdir(parents=True, exist_ok=True)
    save_needle_pickle(model, folder / "tiny.pkl")
    save_safetensors(model, folder / "tiny.safetensors")
    with tempfile.TemporaryDirectory() as tmp:
        save_cactus_folder(model, tmp, precision="INT8")
        files = sorted(pathlib.Path(tmp).glob("*.weights"))
        (folder / "tiny_int8.weights").write_bytes(files[0].read_bytes())
        (folder / "config.txt").write_bytes((pathlib.Path(tmp) / "config.txt").read_bytes())
    (folder / "tiny.cact").write_bytes(_tiny_cact())
    return sorted(folder.iterdir())


def _tiny_cact():
    """A Needle 2 .cact with every dtype and width (2, 3, 4 bits, ternary, fp16) and a tokenizer."""
    import numpy as np
    from thimble.needle2 import Needle2Config, build_cact
    from thimble.needle2.cact_format import tensor_order
    cfg = Needle2Config(vocab_size=16, d_model=16, num_heads=2, num_kv_heads=1, num_layers=2,
                        engram_layers=(1,), engram_slots=8, max_seq_len=16)
    rng = np.random.default_rng(1)
    params = {n: rng.standard_normal(shape) * 0.2 for n, shape, _ in tensor_order(cfg)}
    widths = {"q_proj": 4, "k_proj": 3, "gate_proj": 5, "value_proj": None}

    def bits(name):
        return widths.get(name.split(".")[-1], 2)
    pieces = [(f"p{i}".encode(), -float(i), "control" if i < 4 else "normal") for i in range(16)]
    return build_cact(cfg, params, bits=bits, tokenizer=pieces)


def read_inputs(paths):
    out = []
    for p in paths:
        p = pathlib.Path(p)
        for f in (sorted(p.iterdir()) if p.is_dir() else [p]):
            if f.suffix in KINDS:
                out.append((f.suffix, f.read_bytes()))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="corpus files or folders (default: the committed corpus and regressions)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to fuzz (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="the mutation RNG's seed (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds one load may take (default: %(default)s)")
    p.add_argument("--out", default=".", help="where findings are saved (default: the current folder)")
    p.add_argument("--replay", action="store_true", help="load each input once, no mutation")
    p.add_argument("--make-corpus", action="store_true", help="write the seed corpus into tests/fuzz/loaders/corpus")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "runtime"))
    if args.make_corpus:
        for f in make_corpus(HERE / "corpus"):
            print(f"{f.relative_to(ROOT)}: {f.stat().st_size} bytes")
        return 0
    corpus = read_inputs(args.inputs or [d for d in (HERE / "corpus", HERE / "regressions") if d.is_dir()])
    if not corpus:
        print("fuzz: no inputs", file=sys.stderr)
        return 2
    import thimble.model  # noqa: F401 - imported once here, so each fork starts warm
    out = pathlib.Path(args.out)
    findings = []
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="thm_fuzz_loaders_"))

    def check(kind, data):
        path = tmp / f"input{kind}"
        path.write_bytes(data)
        what = run_child(path, args.timeout)
        if what:
            name = f"crash-{hashlib.sha256(data).hexdigest()[:16]}{kind}"
            (out / name).write_bytes(data)
            (out / (name + ".txt")).write_text(what + "\n")
            findings.append((name, what))
            print(f"fuzz: {name}: {what}", file=sys.stderr)

    for kind, data in corpus:
        check(kind, data)
    runs, t0 = 0, time.monotonic()
    if not args.replay:
        rng = random.Random(args.seed)
        while time.monotonic() - t0 < args.seconds:
            kind, data = rng.choice(corpus)
            check(kind, mutate(data, rng, corpus))
            runs += 1
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    print(f"fuzz: {runs} runs in {time.monotonic() - t0:.1f} s, {len(corpus)} inputs, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
