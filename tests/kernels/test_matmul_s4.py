"""matmul_s4 (int4 weights, int8 activations) on every backend against the
reference: every x86 path (few rows: nibbles in place; 16 rows or more: the
VNNI panels packed from nibbles, or AVX2's int8 matmul on unpacked chunks;
K past 512 for the panels' partial sums), odd K with garbage in the padding nibble,
K past the nibble path's limit, the -8 / 7 ends, saturating requantization,
and the packing itself."""
import numpy as np
import pytest

from kernel_check import same
from thimble.kernels import get_backend
from thimble.kernels.reference import pack_s4, unpack_s4

MS = [1, 3, 4, 5, 15, 16, 17, 64, 65]
KS = [1, 2, 63, 64, 65, 127, 128, 129, 512, 513]
NS = [1, 7, 64, 65]


@pytest.mark.parametrize("M", MS)
def test_every_m_across_k_and_n(kernel, M):
    for K in KS:
        for N in NS:
            same(kernel, "matmul_s4", "matmul_s4", seed=M * 1000 + K + N, M=M, K=K, N=N)


@pytest.mark.parametrize("M,K,N", [(1, 4095, 3), (2, 4097, 5), (17, 4097, 3), (64, 8191, 9),
                                   (3, 65535, 2), (0, 5, 3), (3, 5, 0)])
def test_deep_and_empty(kernel, M, K, N):
    same(kernel, "matmul_s4", "matmul_s4", seed=M + K + N, M=M, K=K, N=N)


@pytest.mark.parametrize("x,w", [("min", "min"), ("max", "min"), ("min", "max"), ("max", "max"),
                                 ("corners", "corners"), ("zero", "random")])
@pytest.mark.parametrize("M", [1, 20])
@pytest.mark.parametrize("bias", ["none", "extreme"])
def test_int4_corners(kernel, x, w, M, bias):
    same(kernel, "matmul_s4", "matmul_s4", seed=11, M=M, K=259, N=19, x=x, w=w, bias=bias)


@pytest.mark.parametrize("rq", ["extreme", "wrap", "zero"])
@pytest.mark.parametrize("M,K,N", [(1, 129, 33), (33, 65, 17)])
def test_requantization_edges(kernel, rq, M, K, N):
    same(kernel, "matmul_s4", "matmul_s4", seed=K, M=M, K=K, N=N, bias="extreme", rq=rq)


@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (1, 512, 9), (3, 129, 70), (16, 512, 64), (70, 65, 5),
                                   (2, 4097, 5), (0, 5, 3)])
@pytest.mark.parametrize("bias", ["random", "extreme", "none"])
def test_int32_out(kernel, M, K, N, bias):
    """matmul_s4_s32: the int4 tied head (int32 logits), bias wrapping like int32."""
    same(kernel, "matmul_s4_s32", "matmul_s4", seed=M + K + N, M=M, K=K, N=N, bias=bias)
    same(kernel, "matmul_s4_s32", "matmul_s4", seed=3, M=M, K=K, N=N, x="min", w="min", bias=bias)


@pytest.mark.parametrize("T,V,D", [(1, 1, 1), (5, 3, 7), (64, 1000, 33), (0, 4, 8), (9, 8192, 512)])
@pytest.mark.parametrize("rq", ["typical", "extreme"])
def test_embed_from_int4_rows(kernel, T, V, D, rq):
    same(kernel, "embed_s16_s4", "embed_s4", seed=T + V + D, T=T, V=V, D=D, rq=rq)


@pytest.mark.parametrize("backend", ["reference", "c"])
def test_embed_s4_refuses_bad_tables_and_tokens(backend):
    k = get_backend(backend)
    one = np.ones(4, np.int32)
    with pytest.raises(ValueError, match="3 bytes"):
        k.embed_s16_s4(np.zeros(2, np.int32), np.zeros((4, 4), np.uint8), 5, one << 30, -one)
    with pytest.raises(ValueError, match="token"):
        k.embed_s16_s4(np.array([4], np.int32), np.zeros((4, 3), np.uint8), 5, one << 30, -one)


@pytest.mark.parametrize("K", [1, 2, 7, 8, 33])
def test_pack_roundtrip_and_byte_order(K):
    rng = np.random.default_rng(K)
    w = rng.integers(-8, 8, (5, K))
    w4 = pack_s4(w)
    assert w4.shape == (5, (K + 1) // 2) and w4.dtype == np.uint8
    assert np.array_equal(unpack_s4(w4, K), w)
    # weight k of a row in byte k // 2, low nibble for even k, two's complement
    assert pack_s4(np.array([[1, -1]]))[0, 0] == 0xF1
    assert pack_s4(np.array([[-8]]))[0, 0] == 0x08


def test_pack_refuses_out_of_range():
    with pytest.raises(ValueError, match=r"\[-8, 7\]"):
        pack_s4(np.array([[8]]))


@pytest.mark.parametrize("backend", ["reference", "c"])
def test_wrong_packed_width_is_refused(backend):
    k = get_backend(backend)
    x = np.zeros((2, 9), np.int8)
    one = np.ones(3, np.int32)
    with pytest.raises(ValueError, match="5 bytes"):
        k.matmul_s4(x, np.zeros((3, 4), np.uint8), one << 30, -one)
    with pytest.raises(TypeError, match="uint8"):
        k.matmul_s4(x, np.zeros((3, 5), np.int8), one << 30, -one)


@pytest.mark.parametrize("M", [1, 5, 16])
@pytest.mark.parametrize("K", [63, 127, 4095])
def test_odd_k_after_a_longer_row(kernel, M, K):
    """An odd K's padding nibble meets x's odd element K // 2, which the x86
    decode path must zero itself: a call with K + 1 and x = max first leaves
    its split x (on the stack) full of 127s where that zero belongs."""
    same(kernel, "matmul_s4", "matmul_s4", seed=K + 1, M=M, K=K + 1, N=9, x="max")
    same(kernel, "matmul_s4", "matmul_s4", seed=K, M=M, K=K, N=9, w="max")
