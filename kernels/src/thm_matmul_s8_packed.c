/* thm_matmul_s8 on converter-packed weights: argument checks, the portable C
 * that reads every layout (the fallback on any build), and the hand-off to
 * the fast path that owns a layout when that ISA is selected (its ops table's
 * matmul_s8_packed[layout] entry).
 *
 * Layouts (runtime/thimble/kernels/layouts.py is the writer; byte orders in
 * docs/kernels-arm.md). Padding rows and padding k are zero:
 *   THM_LAYOUT_S8_R8K64: int8. N rounded up to 8, K to 64. Tile t = rows
 *     8t..8t+7; inside a tile, 64-k blocks in order; inside a block, the 8
 *     rows' 64 bytes one after another. Byte of (n, k):
 *     ((n/8 * Kp/64 + k/64) * 8 + n%8) * 64 + k%64.
 *   THM_LAYOUT_S16_R4K16: int16. N rounded up to 4, K to 16. Tile t = rows
 *     4t..4t+3; 16-k blocks; inside a block four 4-k groups; inside a group
 *     each row's four int16 in SXTB16 order k0, k0+2, k0+1, k0+3. Element of
 *     (n, k): (((n/4 * Kp/16 + k/16) * 4 + k%16/4) * 4 + n%4) * 4 + pos(k%4).
 */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

#define THM_ROUND_UP(v, a) (((v) + (a) - 1) / (a) * (a))

/* (rows per tile, k per block, bytes per element) of a layout; 0 if unknown. */
static int thm_layout_geometry(int32_t layout, int32_t *rows, int32_t *kb, int32_t *eb)
{
    switch (layout) {
    case THM_LAYOUT_S8_R8K64:
        *rows = THM_LAYOUT_S8_R8K64_ROWS, *kb = THM_LAYOUT_S8_R8K64_KBLOCK, *eb = THM_LAYOUT_S8_R8K64_ELEM_BYTES;
        return 1;
    case THM_LAYOUT_S16_R4K16:
        *rows = THM_LAYOUT_S16_R4K16_ROWS, *kb = THM_LAYOUT_S16_R4K16_KBLOCK, *eb = THM_LAYOUT_S16_R4K16_ELEM_BYTES;
        return 1;
    default:
        return 0;
    }
}

size_t thm_matmul_s8_packed_size(int32_t layout, int32_t K, int32_t N)
{
    int32_t R, B, E;
    if (K < 1 || K > THM_MAX_K || N < 0 || !thm_layout_geometry(layout, &R, &B, &E)) return 0;
    const size_t rows = (size_t)THM_ROUND_UP((int64_t)N, R);
    const size_t row_bytes = (size_t)E * (size_t)THM_ROUND_UP(K, B);
    if (rows > (size_t)-1 / row_bytes) return 0;   /* 32-bit targets */
    return rows * row_bytes;
}

/* x . w_n for one row of x, w_n read out of the packed layout. */
static int32_t thm_packed_dot(const int8_t *x, const void *wp, int32_t layout, int32_t n,
                              int32_t K)
{
    int32_t acc = 0;
    if (layout == THM_LAYOUT_S8_R8K64) {
        enum { R = THM_LAYOUT_S8_R8K64_ROWS, B = THM_LAYOUT_S8_R8K64_KBLOCK };
        const int32_t kb = THM_ROUND_UP(K, B) / B;
        const int8_t *row = (const int8_t *)wp + ((size_t)(n / R) * kb * R + n % R) * B;
        for (int32_t k = 0; k < K; k++)
            acc += (int32_t)x[k] * row[(size_t)(k / B) * (R * B) + k % B];
    } else {    /* THM_LAYOUT_S16_R4K16 */
        static const uint8_t pos[4] = {0, 2, 1, 3};
        enum { R = THM_LAYOUT_S16_R4K16_ROWS, B = THM_LAYOUT_S16_R4K16_KBLOCK };
        const int32_t kb = THM_ROUND_UP(K, B) / B;
        const int16_t *row = (const int16_t *)wp + ((size_t)(n / R) * kb * B + n % R) * 4;
        for (int32_t k = 0; k < K; k++)
            acc += (int32_t)x[k] * row[(size_t)(k / 4) * (4 * R) + pos[k % 4]];
    }
    return acc;
}

static void thm_matmul_s8_packed_portable(const int8_t *x, const void *wp, int32_t layout,
                                          const int32_t *bias, const int32_t *mult,
                                          const int32_t *shift, int8_t *y, int32_t M,
                                          int32_t K, int32_t N)
{
    for (int32_t m = 0; m < M; m++)
        for (int32_t n = 0; n < N; n++) {
            int32_t acc = thm_packed_dot(x + (size_t)m * K, wp, layout, n, K);
            if (bias) acc = (int32_t)((uint32_t)acc + (uint32_t)bias[n]);
            y[(size_t)m * N + n] = thm_sat8(thm_requantize(acc, mult[n], shift[n]));
        }
}

/* Every shift in [-31, 30], in one pass (a compare and branch per column
 * costs 7 instructions: 0.014 per MAC at K = 512, M = 1). With a vector
 * unit: a min/max in 4 independent lanes, which compilers turn into vector
 * min/max (1 instruction a column). Scalar cores: s + 31 >= 0 and 30 - s >= 0
 * for every s, so the OR of both has its sign bit clear (neither side can
 * wrap), 4 columns a step (5.5 instructions a column). */
int thm_shifts_ok(const int32_t *shift, int32_t N)
{
    int32_t n = 0;
#if defined(__ARM_NEON) || defined(__ARM_FEATURE_MVE) || defined(__SSE2__)
    int32_t lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0};
    for (; n + 4 <= N; n += 4)
        for (int j = 0; j < 4; j++) {
            lo[j] = shift[n + j] < lo[j] ? shift[n + j] : lo[j];
            hi[j] = shift[n + j] > hi[j] ? shift[n + j] : hi[j];
        }
    int ok = 1;
    for (int j = 0; j < 4; j++) ok &= thm_shift_ok(lo[j]) & thm_shift_ok(hi[j]);
    for (; n < N; n++) ok &= thm_shift_ok(shift[n]);
    return ok;
#else
#define THM_SHIFT_BAD(s) (((uint32_t)(s) + 31u) | (30u - (uint32_t)(s)))
    uint32_t bad = 0;
    for (; n + 4 <= N; n += 4)
        bad |= THM_SHIFT_BAD(shift[n]) | THM_SHIFT_BAD(shift[n + 1]) |
               THM_SHIFT_BAD(shift[n + 2]) | THM_SHIFT_BAD(shift[n + 3]);
    for (; n < N; n++) bad |= THM_SHIFT_BAD(shift[n]);
#undef THM_SHIFT_BAD
    return (int32_t)bad >= 0;
#endif
}

int thm_matmul_s8_packed(const int8_t *x, const void *wp, int32_t layout, const int32_t *bias,
                         const int32_t *mult, const int32_t *shift, int8_t *y, int32_t M,
                         int32_t K, int32_t N)
{
    if (M < 0 || thm_matmul_s8_packed_size(layout, K, N) == 0) return THM_E_ARG;
    if (M == 0 || N == 0) return THM_OK;
    if (!x || !wp || !y || !mult || !shift || ((uintptr_t)wp & 3u)) return THM_E_ARG;
    if (!thm_shifts_ok(shift, N)) return THM_E_ARG;
    const thm_matmul_packed_fn fast = thm_ops_now->matmul_s8_packed[layout];   /* layout: checked above */
    if (fast) {
        fast(x, wp, bias, mult, shift, y, M, K, N);
        return THM_OK;
    }
    thm_matmul_s8_packed_portable(x, wp, layout, bias, mult, shift, y, M, K, N);
    return THM_OK;
}
