/* Cortex-M DSP int4-weight matmul (W4A8): the bits of thm_matmul_s4, with the
 * weights read as they lie (row-major, two a byte: no board layout, so int4
 * costs half of int8's flash and no copy).
 *
 * The nibbles are never shifted down. A 32-bit word of a weight row holds
 * k0..k3 in its low halfword and k4..k7 in its high one, nibble by nibble.
 * AND with 0xF000F000 keeps k3 and k7 at the top of their halfwords, where
 * they are two int16 values 4096 * w, signed as they should be; the same AND
 * of the word shifted left by 4, 8, 12 gives (k2, k6), (k1, k5), (k0, k4).
 * SMLAD multiplies each pair by a word of x holding (x_i, x_i+4) as int16,
 * so the activations are rearranged once per row of x into a stack buffer,
 * and 8 weights cost 1 LDR + 4 AND + 4 SMLAD per row of w.
 *
 * Exact: the sums are 4096 times the true ones. 256 k add at most
 * 4096 * 1024 * 256 = 2^30 to a lane, so each chunk of 256 k is summed from
 * zero and added, shifted back by 12 (exact: a multiple of 4096), to an int32
 * accumulator that wraps like the reference. K % 8 is scalar.
 *
 * Passes (inline assembly; 14 registers): decode (M = 1, and the last row of
 * an odd M) runs 1 row of x against 3 rows of w, 2 steps of 8 k per loop:
 * 2 LDM, 6 LDR, 24 AND, 24 SMLAD, SUBS + BNE for 48 MACs (1.21 per MAC);
 * prefill runs 2 rows of x against 2 of w: 4 LDRD, 2 LDR, 8 AND, 16 SMLAD
 * per 32 MACs. Ragged N redoes the last full group's rows and stores the new
 * ones. Stack: the rearranged x, THM_DSP_S4_XK int16 per row (2 rows: 8 KiB);
 * a larger K takes the portable C.
 */
#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_s4.h"

#define THM_DSP_S4_XK 2048      /* the largest K the rearranged x holds */
#define THM_DSP_S4_CHUNK 32     /* steps of 8 k summed from zero: 256 k, |sum| <= 2^30 */


/* x [K] -> xp [K / 8][4] words (x[8j + i], x[8j + i + 4]) as int16 halves;
 * rows > 1: rows interleaved, xp [K / 8][4][rows]. */
static void thm_s4_arrange(const int8_t *x, size_t ldx, int rows, int32_t steps, uint32_t *xp)
{
    for (int32_t j = 0; j < steps; j++)
        for (int i = 0; i < 4; i++)
            for (int r = 0; r < rows; r++) {
                const int8_t *xr = x + (size_t)r * ldx + 8 * j + i;
                *xp++ = (uint32_t)(uint16_t)(int16_t)xr[0] | (uint32_t)(uint16_t)(int16_t)xr[4] << 16;
            }
}

/* One step of the 1 x 3 pass: x words in r0..r3 (LDM needs ascending
 * registers), rows 1 and 2 at ks and 2 ks from row 0, which comes last. */
#define THM_S4_ROW(acc, addr)                                 \
    "ldr %[w], " addr "\n"                                   \
    "and %[t], %[w], #0xF000F000\n"                           \
    "smlad %[" acc "], r3, %[t], %[" acc "]\n"                \
    "and %[t], %[m], %[w], lsl #4\n"                          \
    "smlad %[" acc "], r2, %[t], %[" acc "]\n"                \
    "and %[t], %[m], %[w], lsl #8\n"                          \
    "smlad %[" acc "], r1, %[t], %[" acc "]\n"                \
    "and %[t], %[m], %[w], lsl #12\n"                         \
    "smlad %[" acc "], r0, %[t], %[" acc "]\n"
#define THM_S4_STEP_1X3                                       \
    "ldm %[px]!, {r0, r1, r2, r3}\n"                          \
    THM_S4_ROW("a1", "[%[pw], %[ks]]")                        \
    THM_S4_ROW("a2", "[%[pw], %[ks], lsl #1]")                \
    THM_S4_ROW("a0", "[%[pw]], #4")

/* acc[j] = x . w_j over `steps` steps of xp for rows w0, w0 + ks, w0 + 2 ks:
 * each chunk summed from zero (4096 times the truth), then shifted back. */
__attribute__((noinline)) static void thm_s4_pass1x3(const uint32_t *xp, const uint8_t *w0, int32_t ks,
                                                     int32_t steps, uint32_t acc[3])
{
    const uint32_t m = 0xF000F000u;
    const uint32_t *px = xp;
    const uint8_t *pw = w0;
    uint32_t s0 = 0, s1 = 0, s2 = 0;
    for (int32_t c = 0; c < steps; c += THM_DSP_S4_CHUNK) {
        const int32_t n = steps - c < THM_DSP_S4_CHUNK ? steps - c : THM_DSP_S4_CHUNK;
        int32_t a0 = 0, a1 = 0, a2 = 0, pairs = n >> 1;
        uint32_t w, t;
        if (pairs > 0) {
            __asm__ volatile(
                "1:\n" THM_S4_STEP_1X3 THM_S4_STEP_1X3
                "subs %[cnt], %[cnt], #1\n"
                "bne 1b\n"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [px] "+r"(px), [pw] "+r"(pw),
                  [cnt] "+r"(pairs), [w] "=&r"(w), [t] "=&r"(t)
                : [ks] "r"(ks), [m] "r"(m)
                : "r0", "r1", "r2", "r3", "cc", "memory");
        }
        if (n & 1) {
            __asm__ volatile(THM_S4_STEP_1X3
                             : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [px] "+r"(px), [pw] "+r"(pw),
                               [w] "=&r"(w), [t] "=&r"(t)
                             : [ks] "r"(ks), [m] "r"(m)
                             : "r0", "r1", "r2", "r3", "cc", "memory");
        }
        s0 += (uint32_t)(a0 >> 12); s1 += (uint32_t)(a1 >> 12); s2 += (uint32_t)(a2 >> 12);
    }
    acc[0] = s0; acc[1] = s1; acc[2] = s2;
}

/* One x word pair (both rows) against both weight words, nibble shift `sh`. */
#define THM_S4_PAIR(andA, andB)                                   \
    "ldrd %[xa], %[xb], [%[px]], #8\n"                            \
    andA                                                          \
    "smlad %[a00], %[xa], %[t], %[a00]\n"                         \
    "smlad %[a10], %[xb], %[t], %[a10]\n"                         \
    andB                                                          \
    "smlad %[a01], %[xa], %[t], %[a01]\n"                         \
    "smlad %[a11], %[xb], %[t], %[a11]\n"
#define THM_S4_STEP_2X2                                                                    \
    "ldr %[wb], [%[pw], %[ks]]\n"                                                          \
    "ldr %[wa], [%[pw]], #4\n"                                                             \
    THM_S4_PAIR("and %[t], %[m], %[wa], lsl #12\n", "and %[t], %[m], %[wb], lsl #12\n")   \
    THM_S4_PAIR("and %[t], %[m], %[wa], lsl #8\n", "and %[t], %[m], %[wb], lsl #8\n")     \
    THM_S4_PAIR("and %[t], %[m], %[wa], lsl #4\n", "and %[t], %[m], %[wb], lsl #4\n")     \
    THM_S4_PAIR("and %[t], %[wa], #0xF000F000\n", "and %[t], %[wb], #0xF000F000\n")

/* acc[i][j] = x_i . w_j for the 2 interleaved rows of xp and rows w0, w0 + ks,
 * chunk by chunk as thm_s4_pass1x3. */
__attribute__((noinline)) static void thm_s4_pass2x2(const uint32_t *xp, const uint8_t *w0, int32_t ks,
                                                     int32_t steps, uint32_t acc[2][2])
{
    const uint32_t m = 0xF000F000u;
    const uint32_t *px = xp;
    const uint8_t *pw = w0;
    uint32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0;
    for (int32_t c = 0; c < steps; c += THM_DSP_S4_CHUNK) {
        int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
        int32_t cnt = steps - c < THM_DSP_S4_CHUNK ? steps - c : THM_DSP_S4_CHUNK;
        uint32_t wa, wb, xa, xb, t;
        __asm__ volatile(
            "1:\n" THM_S4_STEP_2X2
            "subs %[cnt], %[cnt], #1\n"
            "bne 1b\n"
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [px] "+r"(px),
              [pw] "+r"(pw), [cnt] "+r"(cnt), [wa] "=&r"(wa), [wb] "=&r"(wb), [xa] "=&r"(xa),
              [xb] "=&r"(xb), [t] "=&r"(t)
            : [ks] "r"(ks), [m] "r"(m)
            : "cc", "memory");
        s00 += (uint32_t)(a00 >> 12); s01 += (uint32_t)(a01 >> 12);
        s10 += (uint32_t)(a10 >> 12); s11 += (uint32_t)(a11 >> 12);
    }
    acc[0][0] = s00; acc[0][1] = s01; acc[1][0] = s10; acc[1][1] = s11;
}

/* Output at `at` of column n: + bias, then int32 (y32) or requantized int8. */
static inline void thm_s4_out(uint32_t acc, int32_t n, const int32_t *bias, const int32_t *mult,
                              const int32_t *shift, int8_t *y8, int32_t *y32, size_t at)
{
    if (bias) acc += (uint32_t)bias[n];
    if (y32) y32[at] = (int32_t)acc;
    else y8[at] = thm_sat8(thm_requantize((int32_t)acc, mult[n], shift[n]));
}

/* Rows n0, n0 + 1, n0 + 2 of w for one row of x (xp rearranged); stores the
 * rows from `from` on. */
static void thm_s4_rows3(const int8_t *x, const uint32_t *xp, const uint8_t *w4, size_t rowb, int32_t K,
                         int32_t n0, int32_t from, const int32_t *bias, const int32_t *mult,
                         const int32_t *shift, int8_t *y, int32_t *y32)
{
    const int32_t steps = K / 8, K8 = steps * 8;
    const uint8_t *w0 = w4 + (size_t)n0 * rowb;
    uint32_t acc[3] = {0, 0, 0};
    if (steps > 0) thm_s4_pass1x3(xp, w0, (int32_t)rowb, steps, acc);
    for (int32_t j = from; j < 3; j++) {
        const uint8_t *wj = w0 + (size_t)j * rowb;
        thm_s4_out(acc[j] + (uint32_t)thm_s4_dot_from(x, wj, K8, K), n0 + j, bias, mult, shift, y, y32,
                   (size_t)(n0 + j));
    }
}

/* Rows m0, m0 + 1 of x (xp interleaved) against rows n0, n0 + 1 of w; stores
 * columns from `from` on. */
static void thm_s4_tile2x2(const int8_t *x, const uint32_t *xp, const uint8_t *w4, size_t rowb, int32_t K,
                           int32_t N, int32_t m0, int32_t n0, int32_t from, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, int8_t *y, int32_t *y32)
{
    const int32_t steps = K / 8, K8 = steps * 8;
    const uint8_t *w0 = w4 + (size_t)n0 * rowb;
    uint32_t acc[2][2] = {{0, 0}, {0, 0}};
    if (steps > 0) thm_s4_pass2x2(xp, w0, (int32_t)rowb, steps, acc);
    for (int i = 0; i < 2; i++) {
        const int8_t *xi = x + (size_t)(m0 + i) * K;
        for (int32_t j = from; j < 2; j++) {
            const uint8_t *wj = w0 + (size_t)j * rowb;
            thm_s4_out(acc[i][j] + (uint32_t)thm_s4_dot_from(xi, wj, K8, K), n0 + j, bias, mult, shift, y, y32,
                       (size_t)(m0 + i) * N + (size_t)(n0 + j));
        }
    }
}

static void thm_s4_dsp(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                       const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    if (K > THM_DSP_S4_XK || N < 3) {
        if (y32) thm_matmul_s4_s32_portable(x, w4, bias, y32, M, K, N);
        else thm_matmul_s4_portable(x, w4, bias, mult, shift, y, M, K, N);
        return;
    }
    uint32_t xp[THM_DSP_S4_XK];     /* K / 8 steps x 4 words x up to 2 rows */
    const size_t rowb = (size_t)(K + 1) / 2;
    const int32_t steps = K / 8;
    int32_t m = 0;
    for (; m + 2 <= M; m += 2) {
        thm_s4_arrange(x + (size_t)m * K, (size_t)K, 2, steps, xp);
        for (int32_t n = 0; n < N; n += 2) {
            const int32_t n0 = n + 2 <= N ? n : N - 2;   /* odd N: redo row N - 2, store N - 1 */
            thm_s4_tile2x2(x, xp, w4, rowb, K, N, m, n0, n - n0, bias, mult, shift, y, y32);
        }
    }
    for (; m < M; m++) {
        const int8_t *xr = x + (size_t)m * K;
        thm_s4_arrange(xr, (size_t)K, 1, steps, xp);
        for (int32_t n = 0; n < N; n += 3) {
            const int32_t n0 = n + 3 <= N ? n : N - 3;   /* ragged N: redo, store the new rows */
            thm_s4_rows3(xr, xp, w4, rowb, K, n0, n - n0, bias, mult, shift, y32 ? 0 : y + (size_t)m * N,
                         y32 ? y32 + (size_t)m * N : 0);
        }
    }
}

THM_MATMUL_S4_ENTRIES(dsp, thm_s4_dsp)

#endif /* __ARM_FEATURE_DSP */
