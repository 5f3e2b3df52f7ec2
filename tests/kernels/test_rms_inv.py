"""RMSNorm's row setup on the boards (thm_rms_inv with FPU estimates and
integer corrections, kernels/include/thm_fixedpoint.h) equals the exact
integer form (64-bit division and the digit-by-digit root) on millions of
edge and random inputs: built on the host with THM_TEST_FPU_ESTIMATES, the
same C with the compiler's sqrtf for the boards' VSQRT / FSQRT (both IEEE
single precision). The boards run it in the conformance suite and every
model test."""
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_fpu_estimates_are_exact(tmp_path):
    cc = shutil.which("gcc")
    if not cc:
        pytest.skip("no host gcc")
    exe = tmp_path / "rms_inv_check"
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-math-errno",
                    "-fsanitize=undefined", "-fno-sanitize-recover=all", "-DTHM_TEST_FPU_ESTIMATES",
                    "-I", str(ROOT / "kernels" / "include"), str(pathlib.Path(__file__).with_name("rms_inv_check.c")),
                    "-o", str(exe)], check=True, capture_output=True, text=True, timeout=120)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stdout + r.stderr
