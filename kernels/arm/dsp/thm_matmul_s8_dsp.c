/* Cortex-M DSP matmul (Cortex-M4/M7/M33/M55 scalar DSP extension):
 * y[M, N] = x[M, K] . w[N, K]^T (+ bias), int32 or requantized int8 out.
 *
 * Exact: SXTB16 sign-extends two int8 of a word into int16 halves and SMLAD
 * adds both int16 products to an int32 accumulator, wrapping like the
 * reference; |x . w| <= 2^14 * K <= 2^30.
 *
 * Layout: the caller's plain [N, K] rows. A pass covers 2 rows of x and 2
 * rows of w, 4 k per step: 4 word loads, 8 SXTB16 (each operand extended
 * once, used twice), 8 SMLAD for 16 MACs, 4 accumulators in registers.
 * Decode (M = 1, and the last row of an odd M) takes 1 x 4 passes (1 x 2
 * for the last columns); an odd N redoes column
 * N - 2 in its last pass; the K tail (K % 4) is scalar. docs/kernels-arm.md has the figures.
 */
#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_arm_dsp.h"

/* s[i][j] = x_i . w_j for rows x0, x0 + K of x and w0, w0 + K of w. The
 * loop is inline assembly: GCC 12 spills the row pointers (26 instructions
 * per 16 MACs); this is 22 (4 LDR, 8 SXTB16, 8 SMLAD, SUBS + BNE), with the
 * second rows read at a register offset so 14 registers suffice. Not
 * inlined, so that the loop has every register. */
__attribute__((noinline)) static void thm_dsp_tile2x2(const int8_t *x0, const int8_t *w0,
                                                      int32_t K, int32_t s[2][2])
{
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    const int32_t steps = K / 4;
    const int8_t *px = x0, *pw = w0;
    if (steps > 0) {
        int32_t cnt = steps;
        uint32_t t0, t1, t2, t3, t4, t5;
        __asm__ volatile(
            "1:\n"
            "ldr %[t0], [%[px], %[ks]]\n"           /* x1 */
            "ldr %[t1], [%[px]], #4\n"              /* x0 */
            "sxtb16 %[t2], %[t1]\n"                 /* x0 bytes 0, 2 */
            "sxtb16 %[t1], %[t1], ror #8\n"         /* x0 bytes 1, 3 */
            "sxtb16 %[t3], %[t0]\n"
            "sxtb16 %[t0], %[t0], ror #8\n"
            "ldr %[t4], [%[pw], %[ks]]\n"           /* w1 */
            "sxtb16 %[t5], %[t4]\n"
            "smlad %[a01], %[t2], %[t5], %[a01]\n"
            "smlad %[a11], %[t3], %[t5], %[a11]\n"
            "sxtb16 %[t5], %[t4], ror #8\n"
            "smlad %[a01], %[t1], %[t5], %[a01]\n"
            "smlad %[a11], %[t0], %[t5], %[a11]\n"
            "ldr %[t4], [%[pw]], #4\n"              /* w0 */
            "sxtb16 %[t5], %[t4]\n"
            "smlad %[a00], %[t2], %[t5], %[a00]\n"
            "smlad %[a10], %[t3], %[t5], %[a10]\n"
            "sxtb16 %[t5], %[t4], ror #8\n"
            "smlad %[a00], %[t1], %[t5], %[a00]\n"
            "smlad %[a10], %[t0], %[t5], %[a10]\n"
            "subs %[cnt], %[cnt], #1\n"
            "bne 1b\n"
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
              [px] "+r"(px), [pw] "+r"(pw), [cnt] "+r"(cnt), [t0] "=&r"(t0), [t1] "=&r"(t1),
              [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4), [t5] "=&r"(t5)
            : [ks] "r"(K)
            : "cc", "memory");
    }
    for (int32_t k = steps * 4; k < K; k++) {
        const int32_t p0 = x0[k], p1 = x0[K + k], q0 = w0[k], q1 = w0[K + k];
        a00 += p0 * q0; a01 += p0 * q1; a10 += p1 * q0; a11 += p1 * q1;
    }
    s[0][0] = a00; s[0][1] = a01; s[1][0] = a10; s[1][1] = a11;
}

/* The single-row pass (decode, M = 1): s[j] = x . w_j for 4 rows of w from
 * w0 at stride K. Inline assembly, 4 k per step: 5 LDR, 10 SXTB16, 8 SMLAD,
 * SUBS + BNE for 16 MACs; rows 1 and 3 are read at a register offset from
 * rows 0 and 2. Not inlined, so that the loop has every register. */
__attribute__((noinline)) static void thm_dsp_tile1x4(const int8_t *x0, const int8_t *w0,
                                                      int32_t K, int32_t s[4])
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const int32_t steps = K / 4;
    const int8_t *px = x0, *pw = w0, *pw2 = w0 + 2 * (size_t)K;
    if (steps > 0) {
        int32_t cnt = steps;
        uint32_t xe, xo, t, e;
        __asm__ volatile(
            "1:\n"
            "ldr %[xo], [%[px]], #4\n"
            "sxtb16 %[xe], %[xo]\n"
            "sxtb16 %[xo], %[xo], ror #8\n"
            "ldr %[t], [%[pw], %[ks]]\n"            /* row 1 */
            "sxtb16 %[e], %[t]\n"
            "smlad %[a1], %[xe], %[e], %[a1]\n"
            "sxtb16 %[e], %[t], ror #8\n"
            "smlad %[a1], %[xo], %[e], %[a1]\n"
            "ldr %[t], [%[pw]], #4\n"               /* row 0 */
            "sxtb16 %[e], %[t]\n"
            "smlad %[a0], %[xe], %[e], %[a0]\n"
            "sxtb16 %[e], %[t], ror #8\n"
            "smlad %[a0], %[xo], %[e], %[a0]\n"
            "ldr %[t], [%[pw2], %[ks]]\n"           /* row 3 */
            "sxtb16 %[e], %[t]\n"
            "smlad %[a3], %[xe], %[e], %[a3]\n"
            "sxtb16 %[e], %[t], ror #8\n"
            "smlad %[a3], %[xo], %[e], %[a3]\n"
            "ldr %[t], [%[pw2]], #4\n"              /* row 2 */
            "sxtb16 %[e], %[t]\n"
            "smlad %[a2], %[xe], %[e], %[a2]\n"
            "sxtb16 %[e], %[t], ror #8\n"
            "smlad %[a2], %[xo], %[e], %[a2]\n"
            "subs %[cnt], %[cnt], #1\n"
            "bne 1b\n"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [px] "+r"(px),
              [pw] "+r"(pw), [pw2] "+r"(pw2), [cnt] "+r"(cnt), [xe] "=&r"(xe),
              [xo] "=&r"(xo), [t] "=&r"(t), [e] "=&r"(e)
            : [ks] "r"(K)
            : "cc", "memory");
    }
    for (int32_t k = steps * 4; k < K; k++) {
        const int32_t p = x0[k];
        a0 += p * w0[k];
        a1 += p * w0[K + k];
        a2 += p * w0[2 * K + k];
        a3 += p * w0[3 * K + k];
    }
    s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3;
}

/* One row of x against 1 or 2 rows of w (ragged N at decode), in C. */
static void thm_dsp_tile1x2(const int8_t *x0, const int8_t *w0, const int8_t *w1,
                            int32_t K, int32_t s[2])
{
    int32_t a0 = 0, a1 = 0, k = 0;
    for (; k + 4 <= K; k += 4) {
        const uint32_t vx = thm_ld32(x0 + k), vw0 = thm_ld32(w0 + k), vw1 = thm_ld32(w1 + k);
        const uint32_t xe = thm_sxtb16(vx), xo = thm_sxtb16_ror8(vx);
        a0 = thm_smlad(xe, thm_sxtb16(vw0), a0); a0 = thm_smlad(xo, thm_sxtb16_ror8(vw0), a0);
        a1 = thm_smlad(xe, thm_sxtb16(vw1), a1); a1 = thm_smlad(xo, thm_sxtb16_ror8(vw1), a1);
    }
    for (; k < K; k++) {
        const int32_t p = x0[k];
        a0 += p * w0[k];
        a1 += p * w1[k];
    }
    s[0] = a0; s[1] = a1;
}

/* THM_DEFECT_ROUNDING: a deliberate defect for `thimble selftest`'s own test
 * (tests/device/test_device_selftest.py builds it): this fast path's
 * requantize off by one. Never defined in a real build. */
#ifdef THM_DEFECT_ROUNDING
#define THM_DSP_ROUND_DEFECT 1
#else
#define THM_DSP_ROUND_DEFECT 0
#endif

static inline void thm_dsp_out(int32_t acc, int32_t n, const int32_t *bias, const int32_t *mult,
                               const int32_t *shift, int8_t *y8, int32_t *y32, size_t at)
{
    if (bias) acc = (int32_t)((uint32_t)acc + (uint32_t)bias[n]);
    if (y32) y32[at] = acc;
    else y8[at] = thm_sat8(thm_requantize(acc, mult[n], shift[n]) + THM_DSP_ROUND_DEFECT);
}

/* Inlined into each entry point: the int8 and int32 outputs get a copy each,
 * with the output branch folded away (one shared copy made the int32 path
 * pay for the requantize's registers). */
static inline __attribute__((always_inline)) void thm_dsp_matmul(const int8_t *x, const int8_t *w,
                                                                 const int32_t *bias, const int32_t *mult,
                                                                 const int32_t *shift, int8_t *y8, int32_t *y32,
                                                                 int32_t M, int32_t K, int32_t N)
{
    int32_t m = 0;
    for (; m + 2 <= M; m += 2) {
        const int8_t *x0 = x + (size_t)m * K;
        for (int32_t n = 0; n < N; n += 2) {
            /* odd N: the last pass covers rows N-2, N-1 and stores only N-1 */
            const int two = n + 1 < N;
            const int32_t nb = two || N == 1 ? n : n - 1;
            int32_t s[2][2];
            if (N == 1) {   /* a single row of w: a 2 x 1 pass from two 1 x 2 halves */
                int32_t r0[2], r1[2];
                thm_dsp_tile1x2(x0, w, w, K, r0);
                thm_dsp_tile1x2(x0 + K, w, w, K, r1);
                s[0][0] = r0[0]; s[1][0] = r1[0];
            } else {
                thm_dsp_tile2x2(x0, w + (size_t)nb * K, K, s);
                if (!two) { s[0][0] = s[0][1]; s[1][0] = s[1][1]; }
            }
            for (int i = 0; i < 2; i++)
                for (int j = 0; j <= two; j++)
                    thm_dsp_out(s[i][j], n + j, bias, mult, shift, y8, y32,
                                (size_t)(m + i) * N + (size_t)(n + j));
        }
    }
    for (; m < M; m++) {
        const int8_t *x0 = x + (size_t)m * K;
        int32_t n = 0;
        for (; n + 4 <= N; n += 4) {
            int32_t s[4];
            thm_dsp_tile1x4(x0, w + (size_t)n * K, K, s);
            for (int j = 0; j < 4; j++)
                thm_dsp_out(s[j], n + j, bias, mult, shift, y8, y32, (size_t)m * N + (size_t)(n + j));
        }
        for (; n < N; n += 2) {
            const int two = n + 1 < N;
            const int8_t *w0 = w + (size_t)n * K, *w1 = two ? w0 + K : w0;
            int32_t s[2];
            thm_dsp_tile1x2(x0, w0, w1, K, s);
            for (int j = 0; j <= two; j++)
                thm_dsp_out(s[j], n + j, bias, mult, shift, y8, y32, (size_t)m * N + (size_t)(n + j));
        }
    }
}

THM_MATMUL_ENTRIES(dsp, thm_dsp_matmul)

#endif /* __ARM_FEATURE_DSP */
