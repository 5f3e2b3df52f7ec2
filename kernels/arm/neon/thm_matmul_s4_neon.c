/* AArch64 NEON dot-product int4-weight matmul (W4A8): the bits of
 * thm_matmul_s4, weights read as they lie (row-major, two a byte).
 *
 * 16 bytes of a weight row hold 32 weights, byte j weights 2j (low nibble)
 * and 2j + 1 (high nibble). SHL #4 moves the low nibble to the top of its
 * byte and AND 0xF0 keeps the high one there: two int8 vectors of 16 w,
 * signed as they should be, with no sign extension. LD2 splits 32 bytes of x
 * into its even and odd elements, which pair with them under SDOT. The sums
 * are 16 times the true ones, |16 x . w| <= 2^14 K <= 2^30, so they are exact
 * in int32 and shift back exactly.
 *   M >= 4: 4 rows of x x 4 rows of w per pass, 32 k per step: 4 LD1 + 4 SHL
 *           + 4 AND (the weights, shared by the rows of x) + 4 LD2 + 32 SDOT
 *           for 512 MACs (M = 2, 3: 2 rows of x).
 *   M = 1 (decode): 1 x 4: 4 LD1 + 4 SHL + 4 AND + 1 LD2 + 8 SDOT for 128.
 * Lanes reduce with pairwise adds into one vector of 4 columns for the vector
 * epilogue (thm_arm_neon_requant.h). K % 32 is scalar; ragged N redoes the
 * last 4 rows and stores the new ones (N < 4: the portable C).
 */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <arm_neon.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_s4.h"
#include "thm_arm_neon_requant.h"



/* MR rows of x (1 or 2) from x0 against rows n0 .. n0 + 3; stores columns
 * from `from` on into y (row stride N). */
static inline __attribute__((always_inline)) void thm_s4_neon_pass(
    const int8_t *x0, int MR, const uint8_t *w4, size_t rowb, int32_t K, int32_t N, int32_t n0, int32_t from,
    const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y0, int32_t *y32)
{
    const int32_t K32 = K & ~31;
    const uint8_t *w[4];
    for (int j = 0; j < 4; j++) w[j] = w4 + (size_t)(n0 + j) * rowb;
    /* GCC 12 at -O2 keeps arrays of vectors in memory: every one is named */
    int32x4_t a00 = vdupq_n_s32(0), a01 = a00, a02 = a00, a03 = a00;
    int32x4_t a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    int32x4_t a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    int32x4_t a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    const int8x16_t hi_mask = vdupq_n_s8((int8_t)0xF0);
    const uint8_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    const int8_t *x1 = x0 + (MR > 1 ? (size_t)K : 0), *x2 = x0 + (MR > 2 ? 2 * (size_t)K : 0);
    const int8_t *x3 = x0 + (MR > 3 ? 3 * (size_t)K : 0);
    for (int32_t k = 0; k < K32; k += 32) {
#define THM_S4_NIBBLES(j)                                                   \
        const int8x16_t b##j = vreinterpretq_s8_u8(vld1q_u8(w##j + k / 2)); \
        const int8x16_t lo##j = vshlq_n_s8(b##j, 4), hi##j = vandq_s8(b##j, hi_mask);
        THM_S4_NIBBLES(0) THM_S4_NIBBLES(1) THM_S4_NIBBLES(2) THM_S4_NIBBLES(3)
#undef THM_S4_NIBBLES
#define THM_S4_ROW(i, xr)                                                   \
        {                                                                   \
            const int8x16x2_t xv = vld2q_s8(xr + k);                        \
            a##i##0 = vdotq_s32(vdotq_s32(a##i##0, lo0, xv.val[0]), hi0, xv.val[1]); \
            a##i##1 = vdotq_s32(vdotq_s32(a##i##1, lo1, xv.val[0]), hi1, xv.val[1]); \
            a##i##2 = vdotq_s32(vdotq_s32(a##i##2, lo2, xv.val[0]), hi2, xv.val[1]); \
            a##i##3 = vdotq_s32(vdotq_s32(a##i##3, lo3, xv.val[0]), hi3, xv.val[1]); \
        }
        THM_S4_ROW(0, x0)
        if (MR > 1) THM_S4_ROW(1, x1)
        if (MR > 2) THM_S4_ROW(2, x2)
        if (MR > 3) THM_S4_ROW(3, x3)
#undef THM_S4_ROW
    }
    const int32x4_t acc[4][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23},
                                 {a30, a31, a32, a33}};
    const int32x4_t b4 = bias ? vld1q_s32(bias + n0) : vdupq_n_s32(0);
    for (int i = 0; i < MR; i++) {
        const int8_t *xi = x0 + (size_t)i * K;
        int32x4_t v = vshrq_n_s32(vpaddq_s32(vpaddq_s32(acc[i][0], acc[i][1]), vpaddq_s32(acc[i][2], acc[i][3])), 4);
        if (K32 < K) {
            int32_t t[4];
            for (int j = 0; j < 4; j++) t[j] = thm_s4_dot_from(xi, w[j], K32, K);
            v = vaddq_s32(v, vld1q_s32(t));
        }
        v = vaddq_s32(v, b4);
        if (y32) {
            int32_t out[4];
            vst1q_s32(out, v);
            for (int32_t j = from; j < 4; j++) y32[(size_t)i * N + n0 + j] = out[j];
            continue;
        }
        int8_t out[8];
        vst1_s8(out, thm_neon_sat8x4(thm_neon_requant4(v, vld1q_s32(mult + n0), vld1q_s32(shift + n0))));
        for (int32_t j = from; j < 4; j++) y0[(size_t)i * N + n0 + j] = out[j];
    }
}

static void thm_s4_neon(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                        const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    if (N < 4) {
        if (y32) thm_matmul_s4_s32_portable(x, w4, bias, y32, M, K, N);
        else thm_matmul_s4_portable(x, w4, bias, mult, shift, y, M, K, N);
        return;
    }
    const size_t rowb = (size_t)(K + 1) / 2;
    int32_t m = 0;
#define THM_S4_NEON_ROWS(MR)                                                                          \
    for (; m + (MR) <= M; m += (MR))                                                                  \
        for (int32_t n = 0; n < N; n += 4) {                                                          \
            const int32_t n0 = n + 4 <= N ? n : N - 4;                                                \
            thm_s4_neon_pass(x + (size_t)m * K, (MR), w4, rowb, K, N, n0, n - n0, bias, mult, shift,  \
                             y32 ? 0 : y + (size_t)m * N, y32 ? y32 + (size_t)m * N : 0);             \
        }
    THM_S4_NEON_ROWS(4)
    THM_S4_NEON_ROWS(2)
    THM_S4_NEON_ROWS(1)
#undef THM_S4_NEON_ROWS
}

THM_MATMUL_S4_ENTRIES(neon, thm_s4_neon)

#endif /* __aarch64__ && __ARM_FEATURE_DOTPROD */
