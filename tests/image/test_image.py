"""The .thm image: Python writer, Python reader and C reader (under ASan and
UBSan) held against each other, on good images and on hostile ones."""
import hashlib
import pathlib
import re
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from toolchain import HINT, TEST_INCLUDE, component_args
from thimble.image import ImageError, Tensor, build_image, parse_image, read_image, write_image
from thimble.image import format as fmt

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = dict(vocab_size=64, d_model=16, n_enc_layers=2, n_dec_layers=1, n_heads=2, n_kv_heads=1,
              head_dim=8, max_enc_len=32, max_dec_len=16, rope_n_pos=32, pad_id=0, eos_id=1,
              bos_id=2, unk_id=3, tool_call_id=4, tools_id=5, weight_bits=8)


def fnv1a(b):
    h = 2166136261
    for x in b:
        h = ((h ^ x) * 16777619) & 0xFFFFFFFF
    return h


def c_error_codes():
    """THM_IMG_E_* -> value, read from the C reader's header, so a case that
    is refused for another reason than the one it tests fails."""
    text = (ROOT / "runtime" / "device" / "image" / "thm_image.h").read_text()
    codes = {m[0]: int(m[1]) for m in re.findall(r"\bTHM_IMG_(E_\w+|OK)\s*=\s*(-?\d+)", text)}
    assert codes["E_SHORT"] == -2 and len(set(codes.values())) == len(codes), codes
    return codes


ERR = c_error_codes()


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    cc = shutil.which("gcc")
    if not cc:
        pytest.fail(f"gcc not on PATH: cannot build the C image reader; {HINT}", pytrace=False)
    out = tmp_path_factory.mktemp("imgc") / "image_check"
    cmd = [cc, "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
           TEST_INCLUDE, str(ROOT / "tests" / "image" / "image_check.c"), *component_args("image"), "-o", str(out)]
    subprocess.run(cmd, check=True)
    return out


def run_checker(checker, paths, sha=False):
    args = [str(checker)] + (["--sha"] if sha else []) + [str(p) for p in paths]
    r = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=120)
    assert r.returncode == 0, f"C reader crashed or a sanitizer fired:\n{r.stderr[-4000:]}"
    lines = r.stdout.splitlines()
    assert len(lines) == len(paths), r.stdout
    return lines


def sample_tensors(rng):
    return [
        Tensor("embedding", rng.integers(-128, 128, (64, 16), dtype=np.int8)),
        Tensor("enc.0.attn.q.mult", rng.integers(1 << 30, 1 << 31, 16, dtype=np.int64).astype(np.int32)),
        Tensor("rope.cos", rng.integers(-16384, 16385, (32, 4), dtype=np.int16)),
        Tensor("odd", rng.integers(0, 256, (3, 5, 7), dtype=np.uint8)),
        Tensor("packed4", rng.integers(0, 256, (3, 2), dtype=np.uint8), dtype="int4", dims=(3, 3)),
        Tensor("x", np.arange(1, dtype=np.int8)),
    ]


def good_image(seed=0, tokenizer=b"tokenizer blob"):
    return build_image(CONFIG, sample_tensors(np.random.default_rng(seed)), tokenizer, b"model-id")


def describe_py(buf):
    img = parse_image(buf)
    parts = []
    for name, info in img.tensor_info.items():
        code = {n: c for c, (n, _) in fmt.DTYPES.items()}[info["dtype"]]
        dims = "x".join(str(d) for d in info["dims"])
        parts.append(f"{name}:{code}:0:{dims}:{fnv1a(bytes(img.tensors[name].tobytes())):08x}")
    return f"OK 1 {len(parts)} " + " ".join(parts) + f" tok={len(img.tokenizer or b'')}"


def test_round_trip_python_and_c_agree(checker, tmp_path):
    buf = good_image()
    path = tmp_path / "m.thm"
    digest = write_image(path, CONFIG, sample_tensors(np.random.default_rng(0)), b"tokenizer blob", b"model-id")
    assert path.read_bytes() == buf
    img = read_image(path)
    assert img.config == CONFIG
    assert img.sha256 == digest
    assert img.tokenizer == b"tokenizer blob"
    for t in sample_tensors(np.random.default_rng(0)):
        np.testing.assert_array_equal(img.tensors[t.name].reshape(-1), t.data.reshape(-1), err_msg=t.name)
        assert img.tensor_info[t.name]["offset"] % fmt.DATA_ALIGN == 0
    (c_line,) = run_checker(checker, [path])
    assert c_line == describe_py(buf)


def test_no_tokenizer_section(checker, tmp_path):
    path = tmp_path / "notok.thm"
    path.write_bytes(build_image(CONFIG, [Tensor("a", np.ones((2, 2), np.int8))]))
    assert parse_image(path.read_bytes()).tokenizer is None
    assert run_checker(checker, [path])[0].endswith("tok=0")


def test_sha256_matches_hashlib(checker, tmp_path):
    rng = np.random.default_rng(1)
    paths, want = [], []
    for n in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 4097]:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        p = tmp_path / f"s{n}"
        p.write_bytes(data)
        paths.append(p)
        want.append(hashlib.sha256(data).hexdigest())
    assert run_checker(checker, paths, sha=True) == want


def test_every_truncation_is_rejected_by_both(checker, tmp_path):
    buf = good_image()
    paths = []
    for n in sorted(set(list(range(0, 300)) + list(range(0, len(buf), 7)))):
        if n >= len(buf):
            continue
        p = tmp_path / f"t{n}"
        p.write_bytes(buf[:n])
        paths.append(p)
        with pytest.raises(ImageError):
            parse_image(buf[:n], verify_hash=False)
    for p, line in zip(paths, run_checker(checker, paths)):
        # shorter than the header, or than the header's image_size: both are "truncated"
        assert line == f"ERR {ERR['E_SHORT']}", f"truncated image ({p.name}): C reader says {line[:60]}"


def test_bit_flips_same_verdict_in_c_and_python(checker, tmp_path):
    """Without the hash, both readers must accept or reject each corrupted image
    alike; with the hash, every flip is caught."""
    buf = good_image()
    rng = np.random.default_rng(2)
    # flips in the structured part (header, section table, config, tensor table) matter most
    structured = parse_image(buf).tensor_info["embedding"]["offset"]
    positions = sorted(set(rng.integers(0, structured, 400).tolist() + rng.integers(0, len(buf), 100).tolist()))
    paths, py_ok = [], []
    for i, pos in enumerate(positions):
        bad = bytearray(buf)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        p = tmp_path / f"f{i}"
        p.write_bytes(bytes(bad))
        paths.append(p)
        try:
            parse_image(bytes(bad), verify_hash=False)
            py_ok.append(True)
        except ImageError:
            py_ok.append(False)
    for pos, ok, line in zip(positions, py_ok, run_checker(checker, paths)):
        c_ok = line.startswith("OK")
        assert c_ok == ok, f"flip at byte {pos}: Python {'accepts' if ok else 'rejects'}, C says {line[:60]}"
        if c_ok:
            assert line.startswith("OK 0"), f"flip at byte {pos} passed the SHA-256 check"


def _patch(buf, off, code, value):
    b = bytearray(buf)
    struct.pack_into("<" + code, b, off, value)
    return bytes(b)


def test_hostile_fields_rejected(checker, tmp_path):
    buf = good_image()
    img = parse_image(buf)
    h = img.header
    tens_off = next(struct.unpack_from("<IIQQ", buf, h["section_table"] + i * fmt.SECTION_SIZE)[2]
                    for i in range(h["section_count"])
                    if struct.unpack_from("<I", buf, h["section_table"] + i * fmt.SECTION_SIZE)[0]
                    == fmt.SECTION_KINDS["TENSORS"])
    sec0 = h["section_table"]
    notok = build_image(CONFIG, [Tensor("a", np.ones((2, 2), np.int8))])
    nh = parse_image(notok).header
    data_kind_at = next(nh["section_table"] + i * fmt.SECTION_SIZE for i in range(nh["section_count"])
                        if struct.unpack_from("<I", notok, nh["section_table"] + i * fmt.SECTION_SIZE)[0]
                        == fmt.SECTION_KINDS["DATA"])
    cases = {
        "magic": ("E_MAGIC", _patch(buf, 0, "4s", b"GGUF")),
        "major version": ("E_VERSION", _patch(buf, 4, "H", 2)),
        "image_size larger": ("E_SHORT", _patch(buf, 16, "Q", len(buf) + 64)),
        "image_size huge": ("E_SHORT", _patch(buf, 16, "Q", 2**63)),
        "image_size smaller": ("E_HEADER", _patch(buf, 16, "Q", len(buf) - 8)),
        "header_size not 128": ("E_HEADER", _patch(buf, 8, "I", 64)),
        "DATA section missing": ("E_MISSING", _patch(notok, data_kind_at, "I", fmt.SECTION_KINDS["TOKENIZER"])),
        "section count 0": ("E_SECTION", _patch(buf, 24, "I", 0)),
        "section count huge": ("E_SECTION", _patch(buf, 24, "I", 0xFFFFFFFF)),
        "section table past end": ("E_SECTION", _patch(buf, 28, "I", len(buf) - 8)),
        "section offset huge": ("E_SECTION", _patch(buf, sec0 + 8, "Q", 2**64 - 64)),
        "section size wraps": ("E_SECTION", _patch(buf, sec0 + 16, "Q", 2**64 - 1)),
        "section kind unknown": ("E_SECTION", _patch(buf, sec0, "I", 99)),
        "tensor name past strings": ("E_TENSOR", _patch(buf, tens_off + 0, "I", 0xFFFFFFF0)),
        "tensor name_len 0": ("E_TENSOR", _patch(buf, tens_off + 4, "H", 0)),
        "tensor dtype unknown": ("E_TENSOR", _patch(buf, tens_off + 6, "B", 77)),
        "tensor layout unknown": ("E_TENSOR", _patch(buf, tens_off + 7, "B", 9)),
        "tensor ndim 0": ("E_TENSOR", _patch(buf, tens_off + 8, "B", 0)),
        "tensor ndim 9": ("E_TENSOR", _patch(buf, tens_off + 8, "B", 9)),
        "tensor dims overflow": ("E_TENSOR", _patch(_patch(buf, tens_off + 12, "I", 0xFFFFFFFF),
                                                    tens_off + 16, "I", 0xFFFFFFFF)),
        "tensor dim zero": ("E_TENSOR", _patch(buf, tens_off + 12, "I", 0)),
        "tensor data offset huge": ("E_TENSOR", _patch(buf, tens_off + 32, "Q", 2**64 - 64)),
        "tensor data size wraps": ("E_TENSOR", _patch(buf, tens_off + 40, "Q", 2**64 - 1)),
        "tensor data misaligned": ("E_TENSOR", _patch(buf, tens_off + 32, "Q",
                                                      img.tensor_info["embedding"]["offset"] + 1)),
        "duplicate name": ("E_TENSOR", _patch(_patch(buf, tens_off + fmt.TENSOR_SIZE + 0, "I", 0),
                                              tens_off + fmt.TENSOR_SIZE + 4, "H", 9)),
    }
    refused_by_both(checker, tmp_path, cases)


def refused_by_both(checker, tmp_path, cases):
    """cases: {label: (THM_IMG_ error name, image bytes)}: Python raises, C returns that error."""
    paths = []
    for i, (label, (_, bad)) in enumerate(cases.items()):
        with pytest.raises(ImageError):
            parse_image(bad, verify_hash=False)
        p = tmp_path / f"h{i}"
        p.write_bytes(bad)
        paths.append(p)
    for (label, (code, _)), line in zip(cases.items(), run_checker(checker, paths)):
        assert line == f"ERR {ERR[code]}", f"{label}: want ERR {ERR[code]} ({code}), C reader says {line[:80]}"


def test_writer_refuses_bad_tensors():
    with pytest.raises(ImageError, match="duplicate"):
        build_image(CONFIG, [Tensor("a", np.zeros(2, np.int8)), Tensor("a", np.zeros(2, np.int8))])
    with pytest.raises(ImageError, match="dtype"):
        Tensor("f", np.zeros(2, np.float32))
    for bad_name in ("x" * 200, "", "has space", "ünïcode", "nul\x00"):
        with pytest.raises(ImageError, match="name"):
            Tensor(bad_name, np.zeros(2, np.int8))
    with pytest.raises(ImageError, match="bytes of data"):
        Tensor("p", np.zeros(3, np.uint8), dtype="int4", dims=(3, 3))
    with pytest.raises(ImageError, match="missing fields"):
        build_image({"d_model": 4}, [])


def test_hash_mismatch_message():
    bad = bytearray(good_image())
    bad[-1] ^= 0xFF
    with pytest.raises(ImageError, match="SHA-256"):
        parse_image(bytes(bad))


def test_empty_file(tmp_path):
    p = tmp_path / "empty.thm"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        read_image(p)


def test_generated_header_is_current():
    # the interpreter running the tests (the venv's, with numpy), not whatever python is on PATH
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_image_format.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
