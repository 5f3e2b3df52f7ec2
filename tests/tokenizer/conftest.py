"""Fixtures for the tokenizer tests: small SentencePiece models trained here,
and the C tokenizer harness built with AddressSanitizer and UBSan."""
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from tok_harness import DEV, VARIANTS  # noqa: E402
from tok_spm_train import train  # noqa: E402


@pytest.fixture(scope="session")
def spm_models(tmp_path_factory):
    pytest.importorskip("sentencepiece")
    out = {}
    for name, overrides in VARIANTS.items():
        out[name] = train(tmp_path_factory.mktemp(f"spm_{name}"), **overrides)
    return out


@pytest.fixture(scope="session")
def tok_checker(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler on PATH: cannot build the C tokenizer")
    out = tmp_path_factory.mktemp("tokc") / "tok_check"
    src = DEV / "tokenizer"
    cmd = [cc, "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
           f"-I{DEV / 'include'}", f"-I{src}", f"-I{DEV / 'image'}", f"-I{DEV / 'crypto'}",
           str(pathlib.Path(__file__).parent / "tok_check.c"),
           str(src / "thm_tok_open.c"), str(src / "thm_tok_encode.c"), str(src / "thm_tok_decode.c"),
           str(DEV / "image" / "thm_image.c"), str(DEV / "crypto" / "thm_sha256.c"),
           "-o", str(out)]
    subprocess.run(cmd, check=True)
    return out
