"""An image whose projections are packed for a board (s8_r8k64, s16_r4k16)
runs bit-exact on the host: the C runtime (thm_matmul_s8_packed's portable C)
and the Python backends (from_image unpacks) give the plain image's encoder
output, logits and CRC; the C runtime refuses packed images that break the
rules (mixed layouts, a packed embedding, nonzero padding), also under ASan."""
import pathlib

import numpy as np
import pytest

from test_bit_exact import c_run, reference_run
from test_sanitized import checker, run  # noqa: F401 (checker is a fixture)
from thimble.image import Tensor, build_image, parse_image
from thimble.kernels import layouts
from thimble.quant import from_image, to_image
from thimble.quant import tensors as T
from thimble.quant.image import LAYOUT_CODES, image_config, repack
from thimble.quant.tensors import projections as projection_names
from thimble.sim.c_model import CModel, CModelError, lib

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYOUTS = ["s8_r8k64", "s16_r4k16"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_packed_image_matches_plain_and_reference(quant, prompt, layout):
    plain, packed = to_image(quant), to_image(quant, layout=layout)
    img = parse_image(packed)
    assert img.weight_layout == layout
    assert {n for n, i in img.tensor_info.items() if i["layout"] == layout} == set(projection_names(quant.config))
    qm, _ = from_image(packed)                  # what the Python backends run: the same integers
    assert all(np.array_equal(qm.tensors[n], quant.tensors[n]) for n in quant.tensors)
    cp, cq = CModel(plain), CModel(packed)
    for n, steps in ((1, 3), (9, 5), (quant.rope_n_pos, 4)):
        toks = prompt(quant.config, n, seed=n + 1)
        want = c_run(cp, toks, steps)
        got = c_run(cq, toks, steps)
        assert np.array_equal(want[0], got[0]), f"{n} tokens: encoder output differs"
        assert np.array_equal(want[1], got[1]), f"{n} tokens: logits differ"
        assert want[2] == got[2] != 0, f"{n} tokens: hidden crc differs"
    ref = reference_run(qm, toks, steps)
    assert np.array_equal(ref[1], got[1]) and ref[2] == got[2]


def test_repack_round_trips(gqa_quant):
    plain = to_image(gqa_quant, b"tok", b"ckpt")
    for layout in LAYOUTS:
        packed = repack(plain, layout)
        assert packed == to_image(gqa_quant, b"tok", b"ckpt", layout=layout)
        assert repack(packed, "row_major") == plain
    with pytest.raises(ValueError, match="unknown weight layout"):
        repack(plain, "s4_tiles")


def image_with(qm, layout, packed_names, pad=None):
    """qm's image with exactly packed_names packed in layout; pad: (name, byte) to
    set a padding byte of that tensor to 1."""
    code = LAYOUT_CODES[layout]
    ts = []
    for n in T.tensor_table(qm.config, qm.rope_n_pos):
        a = np.ascontiguousarray(qm.tensors[n])
        if n in packed_names:
            raw = bytearray(layouts.pack(a, code))
            if pad and pad[0] == n:
                raw[pad[1]] = 1
            ts.append(Tensor(n, np.frombuffer(bytes(raw), np.uint8), "int8", a.shape, layout))
        else:
            ts.append(Tensor(n, a))
    return build_image(image_config(qm), ts)


def refused(buf, code, tensor):
    with pytest.raises(CModelError) as e:
        CModel(buf)
    assert e.value.code == getattr(lib, code) and e.value.tensor == tensor, str(e.value)
    with pytest.raises(ValueError, match=tensor):      # the Python side refuses it too
        from_image(buf)


def test_bind_refuses_broken_packed_images(gqa_quant):
    projs = projection_names(gqa_quant.config)
    # one projection left plain in a packed image
    refused(image_with(gqa_quant, "s8_r8k64", set(projs) - {"dec.1.cross_attn.o"}), "THM_MODEL_E_SHAPE",
            "dec.1.cross_attn.o")
    # the embedding packed: the lookup and the tied head read it row-major
    refused(image_with(gqa_quant, "s8_r8k64", set(projs) | {"embed"}), "THM_MODEL_E_SHAPE", "embed")


@pytest.mark.parametrize("layout,at", [("s8_r8k64", 40), ("s16_r4k16", 2 * ((2 * 4 + 2) * 4 * 4))])
def test_bind_refuses_nonzero_padding(layout, at):
    """d_model 40 pads k to 64 (s8_r8k64) and to 48 (s16_r4k16); `at` is the byte of
    (row 0, k = 40) of enc.0.attn.q in each layout (docs/kernels-arm.md byte orders)."""
    from thimble.model.synth import random_model, tiny_config
    from thimble.quant import calibrate, quantize, random_prompts
    cfg = tiny_config(vocab_size=64, d_model=40, num_heads=4, num_kv_heads=4, num_encoder_layers=1,
                      num_decoder_layers=1, max_seq_len=16)
    fm = random_model(cfg, seed=2, weight_scale=4)
    qm = quantize(fm, calibrate(fm, random_prompts(cfg, n=2, length=8, seed=2), decode_tokens=2))
    name = "enc.0.attn.q"
    refused(image_with(qm, layout, set(projection_names(qm.config)), pad=(name, at)), "THM_MODEL_E_RANGE", name)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sanitized_packed_run(checker, quant, prompt, tmp_path, layout):  # noqa: F811
    """The ASan build of the runtime on a packed image: the plain image's steps and CRC."""
    toks = prompt(quant.config, 11, seed=3)
    cm = CModel(to_image(quant), max_enc=11, max_dec=5)
    cm.encode(toks)
    want, tok = [], 1
    for _ in range(5):
        tok = int(np.argmax(cm.decode_step(tok)))
        want.append(f"step {tok}")
    path = tmp_path / "p.thm"
    path.write_bytes(to_image(quant, layout=layout))
    out = run(checker, path, 11, 5, 5, toks)
    assert out[1:6] == want and out[6] == f"crc {cm.crc:08x}"


def test_convert_board_and_repack_cli(tmp_path, capsys):
    """thimble convert --board packs for the board's fast path; --repack rewrites
    an image without the checkpoint; both give the image to_image would."""
    from thimble.cli import main as thimble
    model = ROOT / "models" / "watch-tiny"
    m4, plain = tmp_path / "m4.thm", tmp_path / "plain.thm"
    assert thimble(["convert", str(model / "needle.pkl"), "--calib-random", "2", "--board", "watch_m4",
                    "-o", str(m4)]) == 0
    assert parse_image(m4.read_bytes()).weight_layout == "s16_r4k16"
    assert thimble(["convert", "--repack", str(m4), "--layout", "row_major", "-o", str(plain)]) == 0
    assert parse_image(plain.read_bytes()).weight_layout == "row_major"
    for board, layout in (("watch_m55", "s8_r8k64"), ("glasses_a55", "s8_r8k64"), ("watch_m4", "s16_r4k16")):
        out = tmp_path / f"{board}.thm"
        assert thimble(["convert", "--repack", str(plain), "--board", board, "-o", str(out)]) == 0
        assert out.read_bytes() == repack(plain.read_bytes(), layout)
    capsys.readouterr()
    # usage errors: exit 2 (runtime/thimble/core/errors.py)
    assert thimble(["convert", "--repack", str(plain), "--board", "watch_m4", "--layout", "s8_r8k64",
                    "-o", str(tmp_path / "x.thm")]) == 2
    assert thimble(["convert", "--repack", str(tmp_path / "missing.thm"), "-o", str(tmp_path / "x.thm")]) == 2
    assert thimble(["convert", "-o", str(tmp_path / "x.thm")]) == 2
    err = capsys.readouterr().err
    assert "not both" in err and "missing.thm" in err and "CHECKPOINT" in err
    assert not (tmp_path / "x.thm").exists()
