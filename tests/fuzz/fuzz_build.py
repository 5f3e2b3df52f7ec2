"""Builds a fuzz harness (tests/fuzz/<name>/harness.c) with the device
sources it drives, under ASan and UBSan, linked with tests/fuzz/driver.c.
The device sources get gcc's -fsanitize-coverage=trace-pc (the driver's
coverage map); the driver itself does not.

    python tests/fuzz/fuzz_build.py image        # -> build/fuzz/image, its path printed
"""
import hashlib
import pathlib
import shutil
import subprocess
import sys

from thimble.firmware.sources import Components

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parents[1]
DEV = ROOT / "runtime" / "device"
OUT = ROOT / "build" / "fuzz"
HARNESSES = ("image", "request", "link")

# What each harness drives: the app's run-prompt path (model, tokenizer,
# grammar, the app's checks; the image harness also the Needle 2 model) or
# the link server and its journal.
COMPONENTS = {"image": ("app_run", "needle2"), "request": ("app_run",), "link": ("link",)}
_COMPS = Components(ROOT)     # the tree being built: the planted-bug tests build from a copy
SOURCES = {name: _COMPS.sources(*c) + ([FUZZ / "hal_stub.c"] if "app_run" in c else [])
           for name, c in COMPONENTS.items()}
INCLUDES = [FUZZ / "include", *_COMPS.includes("app_run", "link", "needle2"), DEV / "hal"]
FLAGS = ["-O1", "-g", "-std=c11", "-D_DEFAULT_SOURCE", "-fno-omit-frame-pointer",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def build(name, out_dir=OUT):
    """-> path of the harness executable, rebuilt when a source changed."""
    if name not in HARNESSES:
        raise ValueError(f"no fuzz harness {name!r} (known: {', '.join(HARNESSES)})")
    cc = shutil.which("gcc")
    if not cc:
        raise RuntimeError("gcc missing (tools/bootstrap.sh)")
    harness = FUZZ / name / "harness.c"
    srcs = [harness, *SOURCES[name]]
    h = hashlib.sha256()
    for p in [FUZZ / "driver.c", *srcs, *sorted(p for d in INCLUDES for p in d.glob("*.h"))]:
        h.update(p.read_bytes())
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    exe = out / f"{name}_{h.hexdigest()[:16]}"
    if exe.exists():
        return exe
    inc = [f"-I{d}" for d in INCLUDES]
    driver = out / f"driver_{name}.o"
    subprocess.run([cc, *FLAGS, "-c", str(FUZZ / "driver.c"), "-o", str(driver)], check=True)
    subprocess.run([cc, *FLAGS, "-fsanitize-coverage=trace-pc", *inc, *map(str, srcs), str(driver),
                    "-o", str(exe) + ".tmp"], check=True)
    pathlib.Path(str(exe) + ".tmp").rename(exe)
    return exe


if __name__ == "__main__":
    for n in sys.argv[1:] or HARNESSES:
        print(build(n))
