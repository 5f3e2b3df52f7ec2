"""The firmware's own memcpy, memmove, memset and memcmp (runtime/device/hal/
thm_libc.c: word copies where the alignment allows) are checked on the
host against byte loops at every alignment and length up to 80, under ASan
and UBSan; the boards run the same C in every model test."""
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RENAME = [f"-D{f}=t_{f}" for f in ("memcpy", "memmove", "memset", "memcmp")]


def test_firmware_libc_matches_byte_loops(tmp_path):
    cc = shutil.which("gcc")
    if not cc:
        pytest.skip("no host gcc")
    exe = tmp_path / "libc_check"
    # -fno-builtin: the renamed functions stay calls; the firmware's string.h declares them
    subprocess.run([cc, "-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-fno-builtin",
                    "-fsanitize=address,undefined", "-fno-sanitize-recover=all", *RENAME,
                    "-isystem", str(ROOT / "runtime" / "device" / "libc" / "include"),
                    str(ROOT / "runtime" / "device" / "hal" / "thm_libc.c"), str(pathlib.Path(__file__).with_name("libc_check.c")),
                    "-o", str(exe)], check=True, capture_output=True, text=True, timeout=120)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stdout + r.stderr
