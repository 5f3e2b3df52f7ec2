"""thm_matmul_s8_packed: the converter's weight layouts (runtime/thimble/kernels/layouts.py)
give the same y as thm_matmul_s8 on the plain weights, bit for bit with the numpy
reference: the byte orders, the host's portable C that reads every layout, and the
board fast paths (NEON SDOT and Helium on S8_R8K64, Cortex-M DSP on S16_R4K16)."""
import numpy as np
import pytest

from thimble._kernels import ffi, lib
from thimble.firmware import cases as C
from thimble.firmware import job as J
from thimble.firmware import run_job
from thimble.kernels import layouts as L
from thimble.kernels import reference as ref
from thimble.boards import board_names

LAYOUTS = [L.S8_R8K64, L.S16_R4K16]
NULL = ffi.NULL


def _p(ctype, a):
    return NULL if a is None else ffi.cast(ctype, ffi.from_buffer(a))


def _c_packed(x, wp, layout, bias, mult, shift, M, K, N, y=None):
    y = np.zeros((M, N), np.int8) if y is None else y
    rc = lib.thm_matmul_s8_packed(_p("int8_t *", x), _p("void *", wp), layout, _p("int32_t *", bias),
                                  _p("int32_t *", mult), _p("int32_t *", shift), _p("int8_t *", y),
                                  M, K, N)
    return rc, y


# --- the layouts, byte by byte ------------------------------------------------------------

def test_s8_r8k64_byte_order():
    w = (np.arange(9 * 70) % 251 - 125).astype(np.int8).reshape(9, 70)       # N = 9, K = 70
    p = np.frombuffer(L.pack(w, L.S8_R8K64), np.int8)
    assert p.size == 16 * 128 == L.packed_size(L.S8_R8K64, 70, 9)            # 2 tiles x 2 blocks
    for n, k in [(0, 0), (3, 5), (7, 63), (0, 64), (5, 69), (8, 0), (8, 69)]:
        assert p[((n // 8 * 2 + k // 64) * 8 + n % 8) * 64 + k % 64] == w[n, k]
    pad = np.ones(p.size, bool)
    for n in range(9):
        for k in range(70):
            pad[((n // 8 * 2 + k // 64) * 8 + n % 8) * 64 + k % 64] = False
    assert not p[pad].any(), "padding rows and k are zero"


def test_s16_r4k16_byte_order():
    w = (np.arange(5 * 20) * 7 % 256 - 128).astype(np.int8).reshape(5, 20)   # N = 5, K = 20
    raw = L.pack(w, L.S16_R4K16)
    p = np.frombuffer(raw, "<i2")
    assert len(raw) == 2 * 8 * 32 == L.packed_size(L.S16_R4K16, 20, 5)
    pos = [0, 2, 1, 3]                                  # k0, k0+2, k0+1, k0+3: SXTB16's order
    for n, k in [(0, 0), (0, 1), (0, 2), (0, 3), (3, 6), (1, 15), (2, 16), (4, 19)]:
        assert p[(((n // 4 * 2 + k // 16) * 4 + k % 16 // 4) * 4 + n % 4) * 4 + pos[k % 4]] == w[n, k]
    assert raw[0:2] == int(w[0, 0]).to_bytes(2, "little", signed=True)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("N,K", [(1, 1), (5, 37), (8, 64), (9, 65), (17, 129), (3, 4101)])
def test_pack_unpack_and_the_c_size_agree(layout, N, K):
    w = C._i8(np.random.default_rng(N * K), (N, K), edge=True)
    data = L.pack(w, layout)
    assert len(data) == L.packed_size(layout, K, N) == lib.thm_matmul_s8_packed_size(layout, K, N)
    assert np.array_equal(L.unpack(data, layout, N, K), w)


def test_pack_and_unpack_refuse_bad_input():
    with pytest.raises(ValueError, match="unknown weight layout"):
        L.pack(np.zeros((2, 2), np.int8), 9)
    with pytest.raises(TypeError, match="int8"):
        L.pack(np.zeros((2, 2), np.int16), L.S8_R8K64)
    with pytest.raises(ValueError, match="K = 0"):
        L.pack(np.zeros((2, 0), np.int8), L.S8_R8K64)
    data = bytearray(L.pack(np.ones((3, 5), np.int8), L.S8_R8K64))
    with pytest.raises(ValueError, match="bytes"):
        L.unpack(bytes(data[:-1]), L.S8_R8K64, 3, 5)
    data[-1] = 1                                        # a padding byte
    with pytest.raises(ValueError, match="nonzero padding"):
        L.unpack(bytes(data), L.S8_R8K64, 3, 5)
    assert lib.thm_matmul_s8_packed_size(9, 5, 3) == 0
    assert lib.thm_matmul_s8_packed_size(L.S8_R8K64, 0, 3) == 0
    assert lib.thm_matmul_s8_packed_size(L.S16_R4K16, 65537, 3) == 0


# --- the host's portable C, against the reference --------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
def test_host_packed_matches_the_reference(layout):
    rng = np.random.default_rng(layout)
    cs = [C.matmul_s8_packed(rng, M, K, N, layout, bias=bias, edge=edge)
          for M, K, N, bias, edge in [(1, 1, 1, True, False), (3, 37, 5, True, True), (2, 129, 17, "wrap", True),
                                      (4, 64, 8, False, False), (5, 200, 13, True, True), (1, 512, 64, True, False)]]
    for c in cs + [C.matmul_s8_packed_extremes(rng, layout)]:
        M, K, N = c.params[:3]
        x, wp, b, mult, shift = c.inputs
        rc, y = _c_packed(x, wp, layout, b, mult, shift, M, K, N)
        assert rc == 0 and np.array_equal(y, c.expect), c.name


def test_host_packed_refuses_bad_arguments():
    rng = np.random.default_rng(1)
    c = C.matmul_s8_packed(rng, 2, 40, 6, L.S8_R8K64)
    x, wp, b, mult, shift = c.inputs
    y = np.full((2, 6), 7, np.int8)
    assert _c_packed(x, wp, 3, b, mult, shift, 2, 40, 6, y)[0] == lib.THM_E_ARG       # unknown layout
    bad = shift.copy()
    bad[5] = 31
    assert _c_packed(x, wp, L.S8_R8K64, b, mult, bad, 2, 40, 6, y)[0] == lib.THM_E_ARG
    bad[5] = -32
    assert _c_packed(x, wp, L.S8_R8K64, b, mult, bad, 2, 40, 6, y)[0] == lib.THM_E_ARG
    odd = np.zeros(wp.size + 1, np.uint8)
    odd[1:] = wp
    assert _c_packed(x, odd[1:], L.S8_R8K64, b, mult, shift, 2, 40, 6, y)[0] == lib.THM_E_ARG  # misaligned
    assert _c_packed(x, wp, L.S8_R8K64, b, None, shift, 2, 40, 6, y)[0] == lib.THM_E_ARG
    assert _c_packed(x, wp, L.S8_R8K64, b, mult, shift, -1, 40, 6, y)[0] == lib.THM_E_ARG
    assert (y == 7).all(), "a refused call writes nothing"
    assert _c_packed(x, wp, L.S8_R8K64, b, mult, shift, 0, 40, 6, y)[0] == 0


# --- every board, every ISA ------------------------------------------------------------------

FAST = {"watch_m4": {L.S16_R4K16: "arm_dsp"},
        "watch_m55": {L.S16_R4K16: "arm_dsp", L.S8_R8K64: "arm_mve"},
        "glasses_a55": {L.S8_R8K64: "arm_neon_dot"}}


def packed_suite(layout, big):
    """Odd sizes, -128/127 extremes with saturating outputs, wrapping and absent biases,
    and every loop variant of the fast paths (K below and above one block, with and
    without a remainder, odd and even block counts; M = 1, 2 and odd)."""
    rng = np.random.default_rng(100 + layout)
    P = lambda M, K, N, **kw: C.matmul_s8_packed(rng, M, K, N, layout, **kw)  # noqa: E731
    cs = [P(1, 1, 1), P(3, 37, 5, edge=True), P(2, 129, 17, bias="wrap", edge=True), P(1, 64, 8, bias=False),
          P(1, 192, 9, edge=True), P(1, 200, 24, bias="wrap"), P(1, 300, 40, edge=True), P(3, 16, 9, edge=True),
          P(5, 200, 13, edge=True), P(2, 4101, 3, edge=True), P(1, 512, 264, bias=False),
          P(1, 512, 256), P(2, 512, 64, edge=True), C.matmul_s8_packed_extremes(rng, layout),
          C.matmul_s8_packed_extremes(rng, layout, K=300, N=17)]
    if big:
        cs += [P(1, 512, 512), P(8, 512, 256)]
    return cs


@pytest.mark.parametrize("board_name", board_names())
def test_packed_bit_exact_on_board(board_name, firmware):
    board, elf = firmware(board_name)
    cases = [c for lay in LAYOUTS for c in packed_suite(lay, big=board_name != "watch_m55")]
    refused = C.matmul_s8_packed(np.random.default_rng(3), 2, 40, 6, L.S8_R8K64)
    refused.params[3], refused.expect, refused.status = 7, None, lib.THM_E_ARG   # unknown layout
    cases.append(refused)
    records = run_job(board, elf, cases, timeout=300)
    ran = {J.ISA_NAMES.get(r.isa) for r in records}
    assert set(FAST[board_name].values()) <= ran, f"a fast path did not run on {board_name}"
    failures = [f"{J.ISA_NAMES.get(r.isa)} {cases[r.case_index].name}: {why}"
                for r in records if (why := C.check(cases[r.case_index], r))]
    assert not failures, "\n".join(failures)


def test_a_wrong_packed_answer_is_caught(firmware):
    """The check can fail: weights packed in the other layout give other outputs."""
    board, elf = firmware("glasses_a55")
    rng = np.random.default_rng(11)
    c = C.matmul_s8_packed(rng, 1, 128, 16, L.S8_R8K64)
    x, w = c.inputs[0], rng.integers(-128, 128, (16, 128)).astype(np.int8)
    c.inputs[1] = np.frombuffer(L.pack(w, L.S8_R8K64), np.uint8)
    c.expect = ref.matmul_s8(x, np.roll(w, 1, axis=1), c.inputs[3], c.inputs[4], c.inputs[2])
    recs = run_job(board, elf, [c])
    assert recs and all("differ" in C.check(c, r) for r in recs)
