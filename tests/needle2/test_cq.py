"""CQ's bit layout and float meaning against plain loops (needle-v2.md section 2)."""
import numpy as np
import pytest

from thimble.needle2 import cq


def loop_pack(idx, nbits):
    """One row's indices as an LSB-first bitstream, bit by bit."""
    out = bytearray(len(idx) * nbits // 8)
    for k, v in enumerate(idx):
        for b in range(nbits):
            if (int(v) >> b) & 1:
                pos = k * nbits + b
                out[pos // 8] |= 1 << (pos % 8)
    return bytes(out)


@pytest.mark.parametrize("nbits", [2, 3, 4])
def test_pack_is_one_lsb_first_bitstream_per_row(nbits):
    rng = np.random.default_rng(nbits)
    idx = rng.integers(0, 1 << nbits, (3, 256)).astype(np.uint8)
    packed = cq.pack_rows(idx, nbits)
    for r in range(3):
        assert packed[r].tobytes() == loop_pack(idx[r], nbits)
    assert np.array_equal(cq.unpack_rows(packed, nbits, 256), idx)


def test_four_bit_is_low_nibble_first():
    assert cq.pack_rows(np.array([[1, 2, 15, 0]], np.uint8), 4).tobytes() == bytes([0x21, 0x0F])


def test_ternary_crumbs_are_signed_levels_and_crumb_two_is_refused():
    idx = np.array([[0, 1, 2, 0] * 32], np.uint8)
    w = cq.codebook(cq.TERNARY, 128)[idx] @ cq.hadamard(128) * 3.0
    packed, norms = cq.quantize(w, cq.TERNARY, 128)
    assert packed[0, 0] == 0b11_01_00_11          # crumbs 3, 0, 1, 3 (LSB first): -c, 0, +c, -c
    assert np.array_equal(cq.indices(packed, cq.TERNARY, 128, 128), idx)
    bad = packed.copy()
    bad[0, 5] = 0b10 << 2
    with pytest.raises(ValueError, match="crumb 2"):
        cq.indices(bad, cq.TERNARY, 128, 128)


def test_hadamard_is_orthonormal_and_symmetric():
    h = cq.hadamard(128)
    assert np.allclose(h @ h, np.eye(128)) and np.array_equal(h, h.T)


@pytest.mark.parametrize("bits", [2, 3, 4, cq.TERNARY])
def test_dequantize_is_levels_times_norm_rotated_back(bits):
    """w_group = (codebook[idx] * norm) @ H, group by group, by hand; a padded tail is cut."""
    rng = np.random.default_rng(bits)
    w = rng.standard_normal((4, 200))
    packed, norms = cq.quantize(w, bits, 128)
    assert packed.shape == (4, cq.row_bytes(200, bits, 128)) and norms.shape == (4, 2)
    got = cq.dequantize(packed, norms, bits, 200, 128)
    idx = cq.indices(packed, bits, 200, 128)
    cb, h = cq.codebook(bits, 128), cq.hadamard(128)
    for r in range(4):
        row = np.concatenate([(cb[idx[r, g * 128:(g + 1) * 128]] * float(norms[r, g])) @ h for g in range(2)])
        assert np.allclose(got[r], row[:200], rtol=0, atol=1e-12)
    # the code is a good one: each width tracks the weights better than the one below it
    assert np.corrcoef(got.ravel(), w.ravel())[0, 1] > {cq.TERNARY: 0.85, 2: 0.9, 3: 0.97, 4: 0.99}[bits]


def test_lloyd_max_levels_are_the_gaussian_quantizer():
    """Known 4- and 8-level Lloyd-Max levels of N(0, 1) (Max, 1960)."""
    assert np.allclose(cq.lloyd_max_gaussian(2)[2:], [0.4528, 1.510], atol=1e-3)
    assert np.allclose(cq.lloyd_max_gaussian(3)[4:], [0.2451, 0.7560, 1.344, 2.152], atol=1e-3)
