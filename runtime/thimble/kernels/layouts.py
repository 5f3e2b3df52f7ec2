"""Weight layouts the converter writes for the boards' packed matmul
(thm_matmul_s8_packed, kernels/src/thm_matmul_s8_packed.c reads every one).

The host decides how a weight matrix w [N, K] (row = output channel) sits in
the image, so each fast path gets its weights in the order it reads them:
one pointer walks a tile's rows, and no instruction rearranges bytes on the
device. Padding rows and padding k are zero, so the kernels need no edge
cases; y is the same as thm_matmul_s8's on the plain w.

    S8_R8K64  (1, NEON SDOT and Helium MVE): int8. N up to a multiple of 8, K of 64. Tiles of
      8 rows; per tile, 64-k blocks; per block, the 8 rows' 64 bytes in row
      order (one four-register LD1 is one row's block).
    S16_R4K16 (2, Cortex-M DSP): int16 (twice the bytes of int8: the M4 has no
      instruction that multiplies int8 without first widening it, and
      widening the weights on the host saves it on every MAC). N up to a
      multiple of 4, K of 16. Tiles of 4 rows; per tile, 16-k blocks; per
      block, four groups of 4 k; per group, each row's w[k0], w[k0+2],
      w[k0+1], w[k0+3]: the order SXTB16 (plain, then ror #8) leaves x in, so
      two LDM-loaded words meet the two widened x words in SMLAD.
"""
import numpy as np

from . import isa as _isa

S8_R8K64 = _isa.S8_R8K64            # THM_LAYOUT_S8_R8K64 in kernels/include/thimble_kernels.h
S16_R4K16 = _isa.S16_R4K16          # THM_LAYOUT_S16_R4K16

MAX_K = 65536
_SXTB16_ORDER = np.array([0, 2, 1, 3])

# (rows per tile, k per block, element type) of each layout, from the ISA table
_GEOMETRY = {lay.code: (lay.rows, lay.k_block, {1: np.int8, 2: np.int16}[lay.elem_bytes])
             for lay in _isa.LAYOUTS}
NAMES = {lay.code: lay.name for lay in _isa.LAYOUTS}


def _geometry(layout):
    try:
        return _GEOMETRY[layout]
    except KeyError:
        raise ValueError(f"unknown weight layout {layout!r} (known: {sorted(_GEOMETRY)})") from None


def _padded(w, layout):
    rows, kb, dtype = _geometry(layout)
    w = np.asarray(w)
    if w.dtype != np.int8 or w.ndim != 2:
        raise TypeError(f"w must be a 2-D int8 array [N, K], got {w.dtype} with shape {w.shape}")
    N, K = w.shape
    if not 1 <= K <= MAX_K:
        raise ValueError(f"K = {K} outside 1 .. {MAX_K}")
    Np, Kp = -(-N // rows) * rows, -(-K // kb) * kb
    out = np.zeros((Np, Kp), dtype)
    out[:N, :K] = w
    return out, Np, Kp


def packed_size(layout, K, N):
    """Bytes of w [N, K] packed in `layout` (thm_matmul_s8_packed_size)."""
    rows, kb, dtype = _geometry(layout)
    return -(-N // rows) * rows * (-(-K // kb) * kb) * np.dtype(dtype).itemsize


def pack_s8_r8k64(w):
    """w [N, K] int8 -> bytes in THM_LAYOUT_S8_R8K64."""
    p, Np, Kp = _padded(w, S8_R8K64)
    # [tile, row, block, k] -> [tile, block, row, k]
    return p.reshape(Np // 8, 8, Kp // 64, 64).transpose(0, 2, 1, 3).tobytes()


def pack_s16_r4k16(w):
    """w [N, K] int8 -> bytes in THM_LAYOUT_S16_R4K16 (little-endian int16)."""
    p, Np, Kp = _padded(w, S16_R4K16)
    p = p[:, np.arange(Kp).reshape(-1, 4)[:, _SXTB16_ORDER].reshape(-1)]   # SXTB16 order per 4 k
    # [tile, row, block, group, 4] -> [tile, block, group, row, 4]
    p = p.reshape(Np // 4, 4, Kp // 16, 4, 4).transpose(0, 2, 3, 1, 4)
    return p.astype("<i2").tobytes()


PACKERS = {S8_R8K64: pack_s8_r8k64, S16_R4K16: pack_s16_r4k16}
# The layouts each board feature (boards/*.toml) has a fast path for (isa.py).
FEATURE_LAYOUTS = _isa.FEATURE_LAYOUTS


def board_layouts(features):
    """Layouts with a fast path on a board with these features, best first."""
    out = []
    for f in reversed(list(features)):          # boards list the newer feature last
        out += [lay for lay in FEATURE_LAYOUTS.get(f, []) if lay not in out]
    return out


def pack(w, layout):
    """w [N, K] int8 -> the bytes thm_matmul_s8_packed reads for `layout`."""
    _geometry(layout)
    return PACKERS[layout](w)


def unpack(data, layout, N, K):
    """The inverse of pack: the plain w [N, K] back from packed bytes (for
    tests and tools; checks the length and that every padding element is 0)."""
    rows, kb, dtype = _geometry(layout)
    if len(data) != packed_size(layout, K, N):
        raise ValueError(f"{len(data)} bytes; layout {NAMES[layout]} of [{N}, {K}] is "
                         f"{packed_size(layout, K, N)}")
    Np, Kp = -(-N // rows) * rows, -(-K // kb) * kb
    a = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"))
    if layout == S8_R8K64:
        full = a.reshape(Np // 8, Kp // 64, 8, 64).transpose(0, 2, 1, 3).reshape(Np, Kp)
    else:
        grouped = a.reshape(Np // 4, Kp // 16, 4, 4, 4).transpose(0, 3, 1, 2, 4).reshape(Np, Kp)
        full = np.empty_like(grouped)
        full[:, np.arange(Kp).reshape(-1, 4)[:, _SXTB16_ORDER].reshape(-1)] = grouped
    if np.any(full[N:]) or np.any(full[:, K:]):
        raise ValueError("nonzero padding in packed weights")
    if np.any(full < -128) or np.any(full > 127):
        raise ValueError("packed int16 weight outside int8 range")
    return full[:N, :K].astype(np.int8)
