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

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parents[1]
DEV = ROOT / "runtime" / "device"
OUT = ROOT / "build" / "fuzz"
HARNESSES = ("image", "request", "link")

_MODEL = [DEV / "image" / "thm_image.c", DEV / "crypto" / "thm_sha256.c",
          *sorted((DEV / "model").glob("*.c")), *sorted((DEV / "tokenizer").glob("*.c")),
          *sorted((DEV / "decode").glob("*.c")), DEV / "app" / "thm_app.c", DEV / "app" / "thm_app_request.c",
          DEV / "app" / "thm_app_image.c", DEV / "app" / "thm_app_vocab.c",
          *sorted((ROOT / "kernels" / "src").glob("*.c")), FUZZ / "hal_stub.c"]
SOURCES = {
    "image": _MODEL,
    "request": _MODEL,
    "link": [DEV / "link" / "thm_link_server.c", DEV / "link" / "thm_link_frame.c",
             DEV / "link" / "thm_link_journal.c", DEV / "link" / "thm_crc32.c", DEV / "crypto" / "thm_sha256.c"],
}
INCLUDES = [FUZZ / "include", DEV / "include", DEV / "image", DEV / "crypto", DEV / "model", DEV / "tokenizer",
            DEV / "decode", DEV / "app", DEV / "link", DEV / "hal", ROOT / "kernels" / "include"]
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
