"""The arena plan and the image checks in 32-bit arithmetic. The boards'
size_t is 32 bits: an outside pass made a SHA-valid image (2^20 positions,
26 decoder layers, heads of width 2) whose true arena is over 4 GiB, which
the old plan wrapped to 80 MB on a 32-bit core while the 64-bit host planned
it whole. The plan now runs in 64 bits and refuses anything over
THM_MODEL_ARENA_MAX (2 GiB) on every target: these tests run it on the
Cortex-M4 (plan32_check.c under qemu-arm) and on the host, image by image."""
import pathlib
import subprocess

import pytest

from thimble.cli import main as thimble
from thimble.model.synth import random_model, tiny_config
from thimble.quant import calibrate, quantize, random_prompts, to_image
from thimble.sim.c_model import CModel, CModelError, app_check
from thimble.sim.device_checks import check_image as check_like_device
from toolchain import component_args, need

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEV = ROOT / "runtime" / "device"
CC, QEMU = "arm-none-eabi-gcc", "qemu-arm"
MAX_NEW = 96


def wrapping_image():
    """7.2 MB: d_model 128 in 64 heads of 2, 32 KV heads, 1 + 26 layers, 2^20
    RoPE positions. Arena for the app's limits: 2^20 x 4,544 bytes + ~1 MB.
    It carries watch-tiny's tokenizer (768 pieces, the model's vocabulary), so
    the app's check gets as far as the plan. It cannot be much smaller: the
    RoPE table takes 4 bytes a position, and a plan over 4 GiB needs ~2^20 of
    them (so no copy under tests/fuzz/image/regressions)."""
    from thimble.tokenizer import load_model
    from thimble.tokenizer.payload import build_payload
    cfg = tiny_config(vocab_size=768, d_model=128, num_heads=64, num_kv_heads=32, num_encoder_layers=1,
                      num_decoder_layers=26, d_ff=8, max_seq_len=64)
    fm = random_model(cfg, seed=1)
    return to_image(quantize(fm, calibrate(fm, random_prompts(cfg, n=1, length=8, seed=1), decode_tokens=2),
                             rope_n_pos=1 << 20),
                    build_payload(load_model(str(ROOT / "models" / "watch-tiny" / "tokenizer.model"))))


@pytest.fixture(scope="module")
def plan32(tmp_path_factory):
    need(CC, QEMU)
    inc = subprocess.run([CC, "-print-file-name=include"], capture_output=True, text=True, check=True).stdout.strip()
    out = tmp_path_factory.mktemp("plan32") / "plan32"
    # the app's whole image check (thm_app_check) as a watch links it, with its mem* and strlen
    srcs = [ROOT / "tests" / "cmodel" / "plan32_check.c", DEV / "hal" / "thm_libc.c", DEV / "app" / "thm_app_strlen.c"]
    # as the watch firmware is built: freestanding, the project's string.h, the compiler's own headers
    cmd = [CC, "-mcpu=cortex-m4", "-mthumb", "-O2", "-std=c11", "-Wall", "-Werror", "-ffreestanding", "-nostdlib",
           "-static", "-nostdinc", "-isystem", str(DEV / "libc" / "include"), "-isystem", inc,
           "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections",
           *map(str, srcs), *component_args("app_checks"), "-lgcc", "-o", str(out)]
    subprocess.run(cmd, check=True)
    return out


def run32(plan32, image):
    r = subprocess.run([QEMU, str(plan32)], input=image, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return dict(line.split() for line in r.stdout.decode().splitlines())


def host_arena(image):
    m = CModel(image, with_arena=False)
    try:
        return str(m.arena_size(m.max_enc_len, min(m.max_dec_len, MAX_NEW)))
    except CModelError as e:
        assert e.code == -8            # THM_MODEL_E_ARENA
        return "0"


def test_a_plan_over_4_gib_is_refused_on_the_32_bit_core_and_on_the_host(plan32):
    img = wrapping_image()
    got = run32(plan32, img)
    # before: "arena 80012736"; the app's check refuses it as a plan over the cap (THM_APP_E_ARENA)
    assert got == {"open": "0", "verify": "0", "bind": "0", "arena": "0", "app": "-3"}
    assert host_arena(img) == "0"
    with pytest.raises(CModelError, match="^model refused: its arena plan exceeds 2 GiB") as e:
        app_check(img)
    assert e.value.code == -3
    with pytest.raises(CModelError, match="exceeds 2 GiB"):
        check_like_device(img)


def test_the_32_bit_plan_equals_the_host_plan(plan32, quant):
    img = to_image(quant)
    got = run32(plan32, img)
    assert got["bind"] == "0" and int(got["arena"]) > 0
    assert got["arena"] == host_arena(img)


def test_hostile_images_fail_the_same_check_on_32_bit_and_host(plan32, gqa_image):
    # a flipped hash and a truncated image: refused by open/verify with the host's codes
    flipped = bytearray(gqa_image)
    flipped[-1] ^= 1
    for img in (bytes(flipped), gqa_image[:len(gqa_image) // 2]):
        got = run32(plan32, img)
        with pytest.raises(CModelError) as e:
            CModel(img, with_arena=False)
        assert int(got.get("verify", got["open"])) == e.value.code != 0


def host_app(image):
    try:
        return {"app": "0", "need": str(app_check(image)["need"])}
    except CModelError as e:
        return {"app": str(e.code)}


FUZZ_IMAGE = ROOT / "tests" / "fuzz" / "image"


def test_the_app_check_gives_the_same_code_and_need_on_32_bit_and_host(plan32, gqa_image):
    """thm_app_check (image, bind, tokenizer, vocabulary, positions, the app's
    whole arena layout) on the Cortex-M4 and through cffi: one answer."""
    cases = {"tiny": (FUZZ_IMAGE / "corpus" / "tiny.thm").read_bytes(),        # loads: need > 0
             "no tokenizer": gqa_image,                                           # -2
             "partial UTF-8 piece": (FUZZ_IMAGE / "regressions" / "tok_partial_utf8_user_piece.thm").read_bytes()}
    want = {"tiny": "0", "no tokenizer": "-2", "partial UTF-8 piece": "-2"}
    for name, img in cases.items():
        got = run32(plan32, img)
        host = host_app(img)
        assert {k: got.get(k) for k in host} == host and host["app"] == want[name], name
    assert int(host_app(cases["tiny"])["need"]) > 0


def test_thimble_sim_refuses_the_image(tmp_path, capsys):
    path = tmp_path / "wraps.thm"
    path.write_bytes(wrapping_image())
    rc = thimble(["sim", str(path), "set a timer", "--tools", str(ROOT / "models" / "watch-tiny" / "tools.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "exceeds 2 GiB" in err


def test_convert_refuses_more_positions_than_any_runtime_binds(tmp_path, capsys):
    from thimble.model.synth import save_needle_pickle
    ckpt = tmp_path / "m.pkl"
    save_needle_pickle(random_model(tiny_config(), seed=2), ckpt)
    out = tmp_path / "o.thm"
    assert thimble(["convert", str(ckpt), "-o", str(out), "--max-len", str(1 << 21)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --max-len {1 << 21}: an image supports 2..{1 << 20} positions\n" and not out.exists()
