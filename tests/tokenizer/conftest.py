"""Fixtures for the tokenizer tests: small SentencePiece models trained here,
and the C tokenizer harness built with AddressSanitizer and UBSan."""
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from tok_harness import VARIANTS  # noqa: E402
from toolchain import HINT, TEST_INCLUDE, component_args, need_module  # noqa: E402
from tok_spm_train import train  # noqa: E402


@pytest.fixture(scope="session")
def spm_models(tmp_path_factory):
    need_module("sentencepiece")
    out = {}
    for name, overrides in VARIANTS.items():
        out[name] = train(tmp_path_factory.mktemp(f"spm_{name}"), **overrides)
    return out


@pytest.fixture(scope="session")
def tok_checker(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.fail(f"no C compiler on PATH: cannot build the C tokenizer; {HINT}", pytrace=False)
    out = tmp_path_factory.mktemp("tokc") / "tok_check"
    cmd = [cc, "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
           TEST_INCLUDE, str(pathlib.Path(__file__).parent / "tok_check.c"), *component_args("tokenizer"), "-o", str(out)]
    subprocess.run(cmd, check=True)
    return out
