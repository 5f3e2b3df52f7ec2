/* AArch64 NEON dot-product matmul: y[M, N] = x[M, K] . w[N, K]^T (+ bias),
 * int32 or requantized int8 out. Needs the dot-product extension (SDOT;
 * Cortex-A55 and later). docs/kernels-arm.md has the design and the figures.
 *
 * Exact for every int8 input: SDOT adds four int8 x int8 products into an
 * int32 lane; a lane sees K / 4 of them, |lane| <= 2^14 * K / 4 <= 2^28 for
 * K <= 65536, and the lanes of a column add to |x . w| <= 2^30. Adds wrap
 * like the reference's int32 when a bias pushes past the range.
 *
 * Layout: the caller's plain [N, K] rows; nothing is packed (SDOT's
 * vector-by-vector form consumes rows along K as they are). A tile keeps one
 * vector of 4 partial sums per (row of x, row of w) pair and reduces it once
 * at the end of K with pairwise adds, which also transposes 4 columns into
 * one vector for the vector epilogue (bias, exact requantize, saturate).
 *   M >= 4: 4 rows of x x 4 rows of w, 32 k per step: 8 LDP, 32 SDOT.
 *   else (decode, M = 1): 1 row x 8 rows of w, 64 k per step: 9 four-register
 *   loads (LD1 {4 regs}), 32 SDOT.
 * Ragged edges reuse the last row of x or w (results discarded), so there is
 * one tile shape per case; the K tail (K % 16) is read from zero-padded
 * copies, so nothing past a row is read. No memory beyond the stack.
 */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <arm_neon.h>
#include <string.h>

#include "thm_impl.h"
#include "thm_arm_neon_requant.h"

#define THM_NEON_MR 4   /* rows of x per tile when M >= 4 */
#define THM_NEON_NR 4   /* rows of w per tile when M >= 4 */
#define THM_NEON_NV 8   /* rows of w per tile when M < 4 */

/* The K tail of a row, zero-padded to 16 bytes. */
static inline int8x16_t thm_neon_tail(const int8_t *row, int32_t k0, int32_t K)
{
    int8_t t[16];
    memset(t, 0, sizeof t);
    memcpy(t, row + k0, (size_t)(K - k0));
    return vld1q_s8(t);
}

/* Four column sums from four vectors of partial sums. */
static inline int32x4_t thm_neon_reduce4(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d)
{
    return vpaddq_s32(vpaddq_s32(a, b), vpaddq_s32(c, d));
}

/* The epilogue of a ragged edge: columns n0 .. n0 + nv - 1, nv < 4. */
__attribute__((noinline)) static void thm_neon_store_part(int32x4_t s, const int32_t *bias,
                                                          const int32_t *mult,
                                                          const int32_t *shift, int8_t *y8,
                                                          int32_t *y32, int32_t n0, int32_t nv)
{
    int32_t b[4] = {0, 0, 0, 0}, mu[4] = {0, 0, 0, 0}, sh[4] = {0, 0, 0, 0};
    for (int32_t j = 0; j < nv; j++) {
        if (bias) b[j] = bias[n0 + j];
        if (!y32) { mu[j] = mult[n0 + j]; sh[j] = shift[n0 + j]; }
    }
    s = vaddq_s32(s, vld1q_s32(b));
    if (y32) {
        int32_t t[4];
        vst1q_s32(t, s);
        memcpy(y32 + n0, t, (size_t)nv * sizeof(int32_t));
    } else {
        int8_t t[8];
        vst1_s8(t, thm_neon_sat8x4(thm_neon_requant4(s, vld1q_s32(mu), vld1q_s32(sh))));
        memcpy(y8 + n0, t, (size_t)nv);
    }
}

/* The epilogue of 4 columns n0.. (nv valid) of one output row: bias, then
 * int32 out or exact requantize and saturate. Inline: it runs once per 4
 * outputs, and a call costs as much as the work. */
static inline __attribute__((always_inline)) void thm_neon_store4(
    int32x4_t s, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y8,
    int32_t *y32, int32_t n0, int32_t nv)
{
    if (nv < 4) {
        thm_neon_store_part(s, bias, mult, shift, y8, y32, n0, nv);
        return;
    }
    if (bias) s = vaddq_s32(s, vld1q_s32(bias + n0));
    if (y32) {
        vst1q_s32(y32 + n0, s);
        return;
    }
    const int8x8_t r = thm_neon_sat8x4(
        thm_neon_requant4(s, vld1q_s32(mult + n0), vld1q_s32(shift + n0)));
    vst1_lane_s32((int32_t *)(void *)(y8 + n0), vreinterpret_s32_s8(r), 0);
}

/* Rows m0..m0+3 of y (mv valid) x columns n0..n0+3 (nv valid). */
static void thm_neon_tile4x4(const int8_t *x, const int8_t *w, int32_t m0, int32_t mv,
                             int32_t n0, int32_t nv, int32_t K, const int32_t *bias,
                             const int32_t *mult, const int32_t *shift, int8_t *y8,
                             int32_t *y32, int32_t N)
{
    const int8_t *xr[THM_NEON_MR], *wr[THM_NEON_NR];
    #pragma GCC unroll 8
    for (int i = 0; i < THM_NEON_MR; i++) xr[i] = x + (size_t)(m0 + (i < mv ? i : mv - 1)) * K;
    #pragma GCC unroll 8
    for (int j = 0; j < THM_NEON_NR; j++) wr[j] = w + (size_t)(n0 + (j < nv ? j : nv - 1)) * K;
    int32x4_t acc[THM_NEON_MR][THM_NEON_NR];   /* written by the main loop, or zeroed */

    /* Main loop in assembly: GCC 12 recomputes row addresses and adds
     * register moves (58 instructions per step); this is 42: 8 LDP with
     * post-increment, 32 SDOT, SUBS + B.NE. Accumulators live in v16..v31
     * and data in v0..v9, so only d8/d9 are callee-saved. */
    const int32_t steps = K / 32;
    int32_t k = steps * 32;
    if (steps > 0) {
        const int8_t *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3];
        const int8_t *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3];
        int64_t cnt = steps;
        int32x4_t *out = &acc[0][0];  /* [4][4], row-major: v16..v31 */
        __asm__ volatile(
            "movi v16.4s, #0\n" "movi v17.4s, #0\n" "movi v18.4s, #0\n" "movi v19.4s, #0\n"
            "movi v20.4s, #0\n" "movi v21.4s, #0\n" "movi v22.4s, #0\n" "movi v23.4s, #0\n"
            "movi v24.4s, #0\n" "movi v25.4s, #0\n" "movi v26.4s, #0\n" "movi v27.4s, #0\n"
            "movi v28.4s, #0\n" "movi v29.4s, #0\n" "movi v30.4s, #0\n" "movi v31.4s, #0\n"
            "1:\n"
            "ldp q0, q1, [%[x0]], #32\n"
            "ldp q2, q3, [%[x1]], #32\n"
            "ldp q4, q5, [%[x2]], #32\n"
            "ldp q6, q7, [%[x3]], #32\n"
            "ldp q8, q9, [%[w0]], #32\n"
            "sdot v16.4s, v0.16b, v8.16b\n"
            "sdot v20.4s, v2.16b, v8.16b\n"
            "sdot v24.4s, v4.16b, v8.16b\n"
            "sdot v28.4s, v6.16b, v8.16b\n"
            "sdot v16.4s, v1.16b, v9.16b\n"
            "sdot v20.4s, v3.16b, v9.16b\n"
            "sdot v24.4s, v5.16b, v9.16b\n"
            "sdot v28.4s, v7.16b, v9.16b\n"
            "ldp q8, q9, [%[w1]], #32\n"
            "sdot v17.4s, v0.16b, v8.16b\n"
            "sdot v21.4s, v2.16b, v8.16b\n"
            "sdot v25.4s, v4.16b, v8.16b\n"
            "sdot v29.4s, v6.16b, v8.16b\n"
            "sdot v17.4s, v1.16b, v9.16b\n"
            "sdot v21.4s, v3.16b, v9.16b\n"
            "sdot v25.4s, v5.16b, v9.16b\n"
            "sdot v29.4s, v7.16b, v9.16b\n"
            "ldp q8, q9, [%[w2]], #32\n"
            "sdot v18.4s, v0.16b, v8.16b\n"
            "sdot v22.4s, v2.16b, v8.16b\n"
            "sdot v26.4s, v4.16b, v8.16b\n"
            "sdot v30.4s, v6.16b, v8.16b\n"
            "sdot v18.4s, v1.16b, v9.16b\n"
            "sdot v22.4s, v3.16b, v9.16b\n"
            "sdot v26.4s, v5.16b, v9.16b\n"
            "sdot v30.4s, v7.16b, v9.16b\n"
            "ldp q8, q9, [%[w3]], #32\n"
            "subs %[cnt], %[cnt], #1\n"
            "sdot v19.4s, v0.16b, v8.16b\n"
            "sdot v23.4s, v2.16b, v8.16b\n"
            "sdot v27.4s, v4.16b, v8.16b\n"
            "sdot v31.4s, v6.16b, v8.16b\n"
            "sdot v19.4s, v1.16b, v9.16b\n"
            "sdot v23.4s, v3.16b, v9.16b\n"
            "sdot v27.4s, v5.16b, v9.16b\n"
            "sdot v31.4s, v7.16b, v9.16b\n"
            "b.ne 1b\n"
            "st1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[out]], #64\n"
            "st1 {v20.4s, v21.4s, v22.4s, v23.4s}, [%[out]], #64\n"
            "st1 {v24.4s, v25.4s, v26.4s, v27.4s}, [%[out]], #64\n"
            "st1 {v28.4s, v29.4s, v30.4s, v31.4s}, [%[out]], #64\n"
            : [x0] "+r"(x0), [x1] "+r"(x1), [x2] "+r"(x2), [x3] "+r"(x3), [w0] "+r"(w0),
              [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [cnt] "+r"(cnt), [out] "+r"(out)
            :
            : "cc", "memory", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9",
              "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26",
              "v27", "v28", "v29", "v30", "v31");
    } else {
        #pragma GCC unroll 8
        for (int i = 0; i < THM_NEON_MR; i++)
            #pragma GCC unroll 8
            for (int j = 0; j < THM_NEON_NR; j++) acc[i][j] = vdupq_n_s32(0);
    }
    for (; k < K; k += 16) {
        int8x16_t xa[THM_NEON_MR];
        const int full = k + 16 <= K;
        #pragma GCC unroll 8
        for (int i = 0; i < THM_NEON_MR; i++)
            xa[i] = full ? vld1q_s8(xr[i] + k) : thm_neon_tail(xr[i], k, K);
        #pragma GCC unroll 8
        for (int j = 0; j < THM_NEON_NR; j++) {
            const int8x16_t wa = full ? vld1q_s8(wr[j] + k) : thm_neon_tail(wr[j], k, K);
            #pragma GCC unroll 8
            for (int i = 0; i < THM_NEON_MR; i++) acc[i][j] = vdotq_s32(acc[i][j], xa[i], wa);
        }
    }
    #pragma GCC unroll 8
    for (int i = 0; i < mv; i++) {
        const int32x4_t s = thm_neon_reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
        thm_neon_store4(s, bias, mult, shift, y8 ? y8 + (size_t)(m0 + i) * N : 0,
                        y32 ? y32 + (size_t)(m0 + i) * N : 0, n0, nv);
    }
}

/* Row m of y x columns n0..n0+7 (nv valid): the decode GEMV, which streams w. */
static void thm_neon_tile1x8(const int8_t *x, const int8_t *w, int32_t m, int32_t n0,
                             int32_t nv, int32_t K, const int32_t *bias, const int32_t *mult,
                             const int32_t *shift, int8_t *y8, int32_t *y32, int32_t N)
{
    const int8_t *xr = x + (size_t)m * K;
    const int8_t *wr[THM_NEON_NV];
    #pragma GCC unroll 8
    for (int j = 0; j < THM_NEON_NV; j++) wr[j] = w + (size_t)(n0 + (j < nv ? j : nv - 1)) * K;
    int32x4_t acc[THM_NEON_NV];   /* written by the main loop, or zeroed */

    /* Main loop in assembly (GCC 12 adds an address computation per LD1:
     * 53 instructions per step); this is 43: 9 four-register LD1 with
     * post-increment, 32 SDOT, SUBS + B.NE. */
    const int32_t steps = K / 64;
    int32_t k = steps * 64;
    if (steps > 0) {
        const int8_t *xp = xr;
        const int8_t *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3];
        const int8_t *w4 = wr[4], *w5 = wr[5], *w6 = wr[6], *w7 = wr[7];
        int64_t cnt = steps;
        int32x4_t *out = acc;  /* [8]: v0..v7 */
/* a += x . w over 64 k: x in v16..v19, w in v20..v23 (LO) or v24..v27 (HI). */
#define THM_NEON_SDOT_LO(a) \
            "sdot " a ".4s, v16.16b, v20.16b\n" \
            "sdot " a ".4s, v17.16b, v21.16b\n" \
            "sdot " a ".4s, v18.16b, v22.16b\n" \
            "sdot " a ".4s, v19.16b, v23.16b\n"
#define THM_NEON_SDOT_HI(a) \
            "sdot " a ".4s, v16.16b, v24.16b\n" \
            "sdot " a ".4s, v17.16b, v25.16b\n" \
            "sdot " a ".4s, v18.16b, v26.16b\n" \
            "sdot " a ".4s, v19.16b, v27.16b\n"
        __asm__ volatile(
            "movi v0.4s, #0\n" "movi v1.4s, #0\n" "movi v2.4s, #0\n" "movi v3.4s, #0\n"
            "movi v4.4s, #0\n" "movi v5.4s, #0\n" "movi v6.4s, #0\n" "movi v7.4s, #0\n"
            "1:\n"
            "ld1 {v16.16b, v17.16b, v18.16b, v19.16b}, [%[x]], #64\n"
            "ld1 {v20.16b, v21.16b, v22.16b, v23.16b}, [%[w0]], #64\n"
            "ld1 {v24.16b, v25.16b, v26.16b, v27.16b}, [%[w1]], #64\n"
            THM_NEON_SDOT_LO("v0")
            "ld1 {v20.16b, v21.16b, v22.16b, v23.16b}, [%[w2]], #64\n"
            THM_NEON_SDOT_HI("v1")
            "ld1 {v24.16b, v25.16b, v26.16b, v27.16b}, [%[w3]], #64\n"
            THM_NEON_SDOT_LO("v2")
            "ld1 {v20.16b, v21.16b, v22.16b, v23.16b}, [%[w4]], #64\n"
            THM_NEON_SDOT_HI("v3")
            "ld1 {v24.16b, v25.16b, v26.16b, v27.16b}, [%[w5]], #64\n"
            THM_NEON_SDOT_LO("v4")
            "ld1 {v20.16b, v21.16b, v22.16b, v23.16b}, [%[w6]], #64\n"
            THM_NEON_SDOT_HI("v5")
            "ld1 {v24.16b, v25.16b, v26.16b, v27.16b}, [%[w7]], #64\n"
            THM_NEON_SDOT_LO("v6")
            "subs %[cnt], %[cnt], #1\n"
            THM_NEON_SDOT_HI("v7")
            "b.ne 1b\n"
            "st1 {v0.4s, v1.4s, v2.4s, v3.4s}, [%[out]], #64\n"
            "st1 {v4.4s, v5.4s, v6.4s, v7.4s}, [%[out]], #64\n"
            : [x] "+r"(xp), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3),
              [w4] "+r"(w4), [w5] "+r"(w5), [w6] "+r"(w6), [w7] "+r"(w7), [cnt] "+r"(cnt),
              [out] "+r"(out)
            :
            : "cc", "memory", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16", "v17",
              "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27");
#undef THM_NEON_SDOT_LO
#undef THM_NEON_SDOT_HI
    } else {
        #pragma GCC unroll 8
        for (int j = 0; j < THM_NEON_NV; j++) acc[j] = vdupq_n_s32(0);
    }
    for (; k < K; k += 16) {
        const int full = k + 16 <= K;
        const int8x16_t xa = full ? vld1q_s8(xr + k) : thm_neon_tail(xr, k, K);
        #pragma GCC unroll 8
        for (int j = 0; j < THM_NEON_NV; j++)
            acc[j] = vdotq_s32(acc[j], xa, full ? vld1q_s8(wr[j] + k) : thm_neon_tail(wr[j], k, K));
    }
    int8_t *y8r = y8 ? y8 + (size_t)m * N : 0;
    int32_t *y32r = y32 ? y32 + (size_t)m * N : 0;
    thm_neon_store4(thm_neon_reduce4(acc[0], acc[1], acc[2], acc[3]), bias, mult, shift, y8r,
                    y32r, n0, nv < 4 ? nv : 4);
    if (nv > 4)
        thm_neon_store4(thm_neon_reduce4(acc[4], acc[5], acc[6], acc[7]), bias, mult, shift,
                        y8r, y32r, n0 + 4, nv - 4);
}

/* int32 out at K = 64 (attention's QK^T: K = head_dim, keys head-major so
 * the rows of w follow each other), N >= 4. Why: the 4 x 4 tiles run only
 * two steps at K = 64 and their setup, reduction and epilogue outweigh the
 * 32 SDOT (0.26 instructions per MAC on the A55). Here a row of x stays in
 * four registers for the whole row, and 4 rows of w a step cost 4 LD1
 * {4 regs}, 16 SDOT (one accumulator per row of w), 3 ADDP to reduce and
 * transpose them, one store of the 4 sums: 0.11 per MAC. A ragged N % 4 is
 * one more step over the last 4 rows (overlapping, nothing past w read). */
static inline int32x4_t thm_neon_qk4(int8x16_t x0, int8x16_t x1, int8x16_t x2, int8x16_t x3,
                                     const int8_t *w)
{
    int32x4_t a[4];
    for (int j = 0; j < 4; j++) {
        const int8_t *r = w + 64 * j;
        int32x4_t s = vdotq_s32(vdupq_n_s32(0), x0, vld1q_s8(r));
        s = vdotq_s32(s, x1, vld1q_s8(r + 16));
        s = vdotq_s32(s, x2, vld1q_s8(r + 32));
        a[j] = vdotq_s32(s, x3, vld1q_s8(r + 48));
    }
    return thm_neon_reduce4(a[0], a[1], a[2], a[3]);
}

static void thm_neon_qk64(const int8_t *x, const int8_t *w, const int32_t *bias, int32_t *y,
                          int32_t M, int32_t N)
{
    for (int32_t m = 0; m < M; m++) {
        const int8_t *xm = x + (size_t)m * 64;
        int32_t *ym = y + (size_t)m * N;
        const int8x16_t x0 = vld1q_s8(xm), x1 = vld1q_s8(xm + 16), x2 = vld1q_s8(xm + 32),
                        x3 = vld1q_s8(xm + 48);
        int32_t n = 0;
        for (; n + 4 <= N; n += 4) vst1q_s32(ym + n, thm_neon_qk4(x0, x1, x2, x3, w + (size_t)n * 64));
        if (n < N) {
            int32_t t[4];
            vst1q_s32(t, thm_neon_qk4(x0, x1, x2, x3, w + (size_t)(N - 4) * 64));
            for (int32_t j = 4 - (N - n); j < 4; j++) ym[N - 4 + j] = t[j];
        }
        if (bias)
            for (int32_t j = 0; j < N; j++) ym[j] = (int32_t)((uint32_t)ym[j] + (uint32_t)bias[j]);
    }
}

static void thm_neon_matmul(const int8_t *x, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, int8_t *y8,
                            int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    if (y32 && K == 64 && N >= 4) {
        thm_neon_qk64(x, w, bias, y32, M, N);
        return;
    }
    int32_t m = 0;
    if (M >= THM_NEON_MR) {
        /* leftover rows ride along in the last tile (re-computing its rows) */
        for (; m < M; m += THM_NEON_MR) {
            const int32_t m0 = m + THM_NEON_MR <= M ? m : M - THM_NEON_MR;
            for (int32_t n = 0; n < N; n += THM_NEON_NR) {
                const int32_t nv = N - n < THM_NEON_NR ? N - n : THM_NEON_NR;
                thm_neon_tile4x4(x, w, m0, THM_NEON_MR, n, nv, K, bias, mult, shift, y8, y32, N);
            }
        }
        return;
    }
    for (; m < M; m++)
        for (int32_t n = 0; n < N; n += THM_NEON_NV) {
            const int32_t nv = N - n < THM_NEON_NV ? N - n : THM_NEON_NV;
            thm_neon_tile1x8(x, w, m, n, nv, K, bias, mult, shift, y8, y32, N);
        }
}

THM_MATMUL_ENTRIES(neon, thm_neon_matmul)

#endif /* __aarch64__ && __ARM_FEATURE_DOTPROD */
