"""The AMX and AVX-VNNI matmul paths (issue 16) on every backend against the
reference, at the shapes where their blocking changes: AMX tiles of 16 rows and
16 channels in 2 x 2 blocks (M 16 .. 300, the last rows of x read through a
padded copy), 64-k tiles (K not a multiple of 64, K past the 1024-deep panel
so partial sums cross chunks, M past the 128-row block), N not a multiple of
16 or 32; AVX-VNNI's 32-k steps, 6-row tiles and 48-column strips; AVX2's
packed path (from M = 8 to K = 1024: 16-channel panels packed 32 k at a time,
rows widened in blocks of 256 KiB, so 128 rows at K = 1024). Also the
AMX availability report: a machine without AMX, or whose kernel refuses the
tile permission, skips c:amx with the reason (tests/kernels/conftest.py)."""
import pytest

from kernel_check import same
from thimble.kernels import c_backend

SHAPES = [(16, 64, 16), (16, 1, 1), (17, 63, 15), (31, 65, 17), (32, 128, 32), (33, 3, 33),
          (48, 100, 48), (63, 1023, 31), (64, 1025, 47), (100, 2049, 20), (129, 1100, 33),
          (160, 3000, 65), (255, 640, 50), (300, 700, 100), (300, 2050, 18),
          (7, 33, 16), (8, 31, 17), (8, 32, 1), (200, 1024, 33), (257, 512, 16), (130, 1024, 7)]


@pytest.mark.parametrize("M,K,N", SHAPES)
@pytest.mark.parametrize("op", ["matmul_s8", "matmul_s8_s32"])
def test_tile_edges(kernel, op, M, K, N):
    same(kernel, op, "matmul", seed=M * 7 + K + N, M=M, K=K, N=N, bias="extreme",
         **({"rq": "extreme"} if op == "matmul_s8" else {}))


@pytest.mark.parametrize("M,K,N", SHAPES + [(64, 64, 256), (256, 64, 256), (6, 64, 32)])
def test_raw_sums_without_bias(kernel, M, K, N):
    """int32 results and no bias, as attention's QK^T: AVX2's packed path
    stores full panels straight from its accumulators, unrolls K = 64 whole."""
    same(kernel, "matmul_s8_s32", "matmul", seed=M + 3 * K + N, M=M, K=K, N=N, bias="none")


@pytest.mark.parametrize("x,w", [("min", "min"), ("max", "min"), ("corners", "corners")])
@pytest.mark.parametrize("M,K,N", [(16, 64, 16), (45, 1030, 37), (300, 131, 19)])
def test_saturation_and_minus_128(kernel, x, w, M, K, N):
    same(kernel, "matmul_s8_s32", "matmul", seed=3, M=M, K=K, N=N, x=x, w=w, bias="none")
    same(kernel, "matmul_s8", "matmul", seed=3, M=M, K=K, N=N, x=x, w=w, rq="wrap")


def test_amx_status_is_reported():
    status = c_backend.amx_status()
    print(f"AMX: {status}")
    assert (status == "available") == c_backend.isa_available("amx")
    if not c_backend.isa_available("amx"):
        pytest.skip(f"AMX unavailable here: {status}")
    assert c_backend.best_isa() == "amx"
