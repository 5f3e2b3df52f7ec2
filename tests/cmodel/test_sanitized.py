"""The C runtime under AddressSanitizer + UBSan, in its own host executable
(portable kernels, exact-size arena): the same tokens and CRC as CModel, and
a hostile image is refused without a sanitizer report."""
import pathlib
import subprocess

import numpy as np
import pytest

from thimble.sim.c_model import CModel
from toolchain import component_args, need

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    (cc,) = need("gcc")
    out = tmp_path_factory.mktemp("modelc") / "model_check"
    cmd = [cc, "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
           str(ROOT / "tests" / "cmodel" / "model_check.c"), *component_args("model"), "-o", str(out)]
    subprocess.run(cmd, check=True, timeout=300)
    return out


def run(checker, path, max_enc, max_dec, steps, tokens):
    args = [str(checker), str(path), str(max_enc), str(max_dec), str(steps)] + [str(int(t)) for t in tokens]
    r = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=120)
    assert r.returncode == 0, f"C runtime failed or a sanitizer fired:\n{r.stderr[-4000:]}"
    return r.stdout.split("\n")


@pytest.mark.parametrize("weights", ["int8", "int4", "int4 and embedding"])
def test_sanitized_matches_cmodel(checker, gqa_image, gqa_quant, prompt, tmp_path, weights):
    from cmodel_models import SHAPES, make_quant
    from thimble.quant import to_image
    image = gqa_image if weights == "int8" else \
        to_image(make_quant(SHAPES[0][1], seed=5, int4="all", embed_int4=weights != "int4"))
    path = tmp_path / "m.thm"
    path.write_bytes(image)
    toks = prompt(gqa_quant.config, 13, seed=4)
    out = run(checker, path, 13, 6, 6, toks)
    cm = CModel(image, max_enc=13, max_dec=6)
    cm.encode(toks)
    want, tok = [], 1
    for _ in range(6):
        tok = int(np.argmax(cm.decode_step(tok)))
        want.append(f"step {tok}")
    assert out[0] == f"arena {cm.arena_bytes}"
    assert out[1:7] == want
    assert out[7] == f"crc {cm.crc:08x}"


def test_sanitized_refuses_truncated_tensor_table(checker, gqa_quant, tmp_path):
    from thimble.image import Tensor, build_image
    from thimble.quant import tensors as T
    from thimble.quant.image import image_config
    names = [n for n in T.tensor_table(gqa_quant.config, gqa_quant.rope_n_pos) if n != "logits.mult"]
    path = tmp_path / "bad.thm"
    path.write_bytes(build_image(image_config(gqa_quant), [Tensor(n, gqa_quant.tensors[n]) for n in names]))
    out = run(checker, path, 4, 2, 1, [6])
    assert out[0] == "bind -3 logits.mult"
