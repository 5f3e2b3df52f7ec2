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
 *   N >= 16, any M: 1 row of x x 16 rows of w per pass, 128 k per step, in
 *           assembly. x's even and odd k are split once per row of x (the
 *           LD2 order, on the stack when K <= 2048): 2 LD1 of 4 registers.
 *           Each row of w: 1 LD1 of 64 bytes whose post-increment walks down
 *           the rows (the last one's goes back to row 0, 64 bytes on), then
 *           4 SHL + 4 AND + 8 SDOT: 17. 2 + 16 x 17 + SUBS + B.NE = 276
 *           instructions for 2048 MACs (0.135); 278 with 4 LD2 when x is
 *           not split. Leftover 32s of k: 1 x load + 16 x 5 + 2.
 *           4 LD1 from a zero table clear the 16 accumulators, 12 ADDP
 *           leave 4 vectors of 4 columns, SSRA adds the bias and shifts
 *           back at once, then the vector requantize of 16 columns, 6 SQXTN
 *           and one 16-byte store.
 *           int8 out with 32 | K (K <= 2048): the x split, every whole tile
 *           and its epilogue in one assembly piece, 70 instructions a tile
 *           beyond the 128-k steps (thm_s4_neon_row16_fast); a ragged end,
 *           int32 out and odd K through the C tile loop (row16).
 *   N < 16: 4 columns a pass in intrinsics: M >= 4: 4 rows of x x 4 rows of
 *           w, 32 k per step: 4 LD1 + 4 SHL + 4 AND + 4 LD2 + 32 SDOT for
 *           512 MACs (M = 2, 3: 2 rows of x); M = 1: 4 LD1 + 4 SHL + 4 AND
 *           + 1 LD2 + 8 SDOT for 128 (N < 4: the portable C).
 * Lanes reduce with pairwise adds into vectors of 4 columns for the vector
 * epilogue (thm_arm_neon_requant.h). K % 32 is scalar; ragged N redoes the
 * last 16 (or 4) columns and stores the new ones.
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

/* The pass in assembly (the file comment has the counts): x's 128 k in
 * v0..v7 (even k in the even registers), a row of w in v8..v11, SHL results
 * in v13..v15, the 0xF0 mask in v12, one accumulator per row in v16..v31.
 * GCC 12 re-derives row addresses per load (25 instructions per 128 MACs in
 * the intrinsics form). The ADDP tree at the end leaves columns 0..3, 4..7,
 * 8..11, 12..15 in v16, v20, v24, v28, still 16 times the true sums. */
#define THM_S4_NEON_ROW128(a, inc)                                         \
    "ld1 {v8.16b, v9.16b, v10.16b, v11.16b}, [%[w]], %[" inc "]\n"        \
    "shl v13.16b, v8.16b, #4\n"  "and v8.16b, v8.16b, v12.16b\n"           \
    "shl v14.16b, v9.16b, #4\n"  "and v9.16b, v9.16b, v12.16b\n"           \
    "sdot " a ".4s, v13.16b, v0.16b\n" "sdot " a ".4s, v8.16b, v1.16b\n"   \
    "shl v15.16b, v10.16b, #4\n" "and v10.16b, v10.16b, v12.16b\n"         \
    "sdot " a ".4s, v14.16b, v2.16b\n" "sdot " a ".4s, v9.16b, v3.16b\n"   \
    "shl v13.16b, v11.16b, #4\n" "and v11.16b, v11.16b, v12.16b\n"         \
    "sdot " a ".4s, v15.16b, v4.16b\n" "sdot " a ".4s, v10.16b, v5.16b\n"  \
    "sdot " a ".4s, v13.16b, v6.16b\n" "sdot " a ".4s, v11.16b, v7.16b\n"
#define THM_S4_NEON_ROW32(a, inc)                                          \
    "ld1 {v8.16b}, [%[w]], %[" inc "]\n"                                   \
    "shl v13.16b, v8.16b, #4\n"  "and v8.16b, v8.16b, v12.16b\n"           \
    "sdot " a ".4s, v13.16b, v0.16b\n" "sdot " a ".4s, v8.16b, v1.16b\n"
#define THM_S4_NEON_ROWS16(R, last)                                                                \
    R("v16", "rb") R("v17", "rb") R("v18", "rb") R("v19", "rb") R("v20", "rb") R("v21", "rb")       \
    R("v22", "rb") R("v23", "rb") R("v24", "rb") R("v25", "rb") R("v26", "rb") R("v27", "rb")       \
    R("v28", "rb") R("v29", "rb") R("v30", "rb") R("v31", last)

/* Columns n0 + from .. n0 + 15 of one output row from their true sums (bias added). */
static inline __attribute__((always_inline)) void thm_s4_neon_store16(
    int32x4_t s0, int32x4_t s1, int32x4_t s2, int32x4_t s3, const int32_t *mult,
    const int32_t *shift, int8_t *y8, int32_t *y32, int32_t n0, int32_t from)
{
    if (y32) {
        int32_t t[16];
        int32_t *to = from ? t : y32 + n0;   /* a ragged end: the tile overlaps stored columns */
        vst1q_s32_x4(to, (int32x4x4_t){{s0, s1, s2, s3}});
        for (int32_t j = from ? from : 16; j < 16; j++) y32[n0 + j] = t[j];
        return;
    }
    const int32x4x4_t mu = vld1q_s32_x4(mult + n0), sh = vld1q_s32_x4(shift + n0);
    const int16x8_t h01 = vqmovn_high_s32(vqmovn_s32(thm_neon_requant4(s0, mu.val[0], sh.val[0])),
                                          thm_neon_requant4(s1, mu.val[1], sh.val[1]));
    const int16x8_t h23 = vqmovn_high_s32(vqmovn_s32(thm_neon_requant4(s2, mu.val[2], sh.val[2])),
                                          thm_neon_requant4(s3, mu.val[3], sh.val[3]));
    const int8x16_t r = vqmovn_high_s16(vqmovn_s16(h01), h23);
    int8_t t[16];
    vst1q_s8(from ? t : y8 + n0, r);
    for (int32_t j = from ? from : 16; j < 16; j++) y8[n0 + j] = t[j];
}

/* The K tail (K % 32) of 16 columns, in plain C: only odd depths reach it. */
__attribute__((noinline)) static void thm_s4_neon_tail16(const int8_t *x, const uint8_t *w0, size_t rowb,
                                                         int32_t K32, int32_t K, int32_t t[16])
{
    for (int j = 0; j < 16; j++) t[j] = thm_s4_dot_from(x, w0 + (size_t)j * rowb, K32, K);
}

static const int32_t thm_s4_neon_zero[16];
#define THM_S4_NEON_XBUF 2048   /* bytes of split x on the stack (K <= 2048 and the K32 of K < 2080) */

/* One row of y (N >= 16), 16 columns a pass; a ragged N redoes the last 16
 * columns and stores the new ones. */
#define THM_S4_NEON_LOOP(X128, X32)                                                  \
        __asm__(                                                                                              \
            "movi v12.16b, #0xf0\n"                                                                           \
            "ld1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[zero]]\n"   /* 4 registers zeroed a load */             \
            "ld1 {v20.4s, v21.4s, v22.4s, v23.4s}, [%[zero]]\n"                                               \
            "ld1 {v24.4s, v25.4s, v26.4s, v27.4s}, [%[zero]]\n"                                               \
            "ld1 {v28.4s, v29.4s, v30.4s, v31.4s}, [%[zero]]\n"                                               \
            "cbz %[c128], 2f\n"                                                                               \
            "1:\n"                                                                                            \
            X128                                                                                              \
            THM_S4_NEON_ROWS16(THM_S4_NEON_ROW128, "back128")                                                 \
            "subs %[c128], %[c128], #1\n"                                                                     \
            "b.ne 1b\n"                                                                                       \
            "2:\n"                                                                                            \
            "cbz %[c32], 4f\n"                                                                                \
            "3:\n"                                                                                            \
            X32                                                                                               \
            THM_S4_NEON_ROWS16(THM_S4_NEON_ROW32, "back32")                                                   \
            "subs %[c32], %[c32], #1\n"                                                                       \
            "b.ne 3b\n"                                                                                       \
            "4:\n"                                                                                            \
            "addp v16.4s, v16.4s, v17.4s\n" "addp v18.4s, v18.4s, v19.4s\n" "addp v16.4s, v16.4s, v18.4s\n"   \
            "addp v20.4s, v20.4s, v21.4s\n" "addp v22.4s, v22.4s, v23.4s\n" "addp v20.4s, v20.4s, v22.4s\n"   \
            "addp v24.4s, v24.4s, v25.4s\n" "addp v26.4s, v26.4s, v27.4s\n" "addp v24.4s, v24.4s, v26.4s\n"   \
            "addp v28.4s, v28.4s, v29.4s\n" "addp v30.4s, v30.4s, v31.4s\n" "addp v28.4s, v28.4s, v30.4s\n"   \
            : "=w"(o0), "=w"(o1), "=w"(o2), "=w"(o3), [x] "+r"(xp), [w] "+r"(wp), [c128] "+r"(c128),          \
              [c32] "+r"(c32)                                                                                 \
            : [rb] "r"(rowb), [back128] "r"(back128), [back32] "r"(back32), [zero] "r"(thm_s4_neon_zero)      \
            : "cc", "memory", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11",       \
              "v12", "v13", "v14", "v15", "v17", "v18", "v19", "v21", "v22", "v23", "v25", "v26", "v27",      \
              "v29", "v30", "v31");

__attribute__((noinline)) static void thm_s4_neon_row16(const int8_t *x, const uint8_t *w4, size_t rowb, int32_t K, int32_t N,
                              int32_t n_first, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *y8,
                              int32_t *y32)
{
    const int64_t n128 = K / 128, n32 = (K % 128) / 32;
    const int32_t K32 = K & ~31;
    /* the last row's post-increment goes back up to row 0, 64 or 16 bytes on */
    const int64_t back128 = 64 - 15 * (int64_t)rowb, back32 = 16 - 15 * (int64_t)rowb;
    /* x's even and odd k split once for all the row's passes (each 32 k as
     * LD2 leaves them), when it fits on the stack */
    int8_t xbuf[THM_S4_NEON_XBUF] __attribute__((aligned(16)));
    const int8_t *xs = K32 <= THM_S4_NEON_XBUF ? xbuf : 0;
    if (xs)
        for (int32_t k = 0; k < K32; k += 32) vst1q_s8_x2(xbuf + k, vld2q_s8(x + k));
    for (int32_t n = n_first; n < N; n += 16) {
        const int32_t n0 = n + 16 <= N ? n : N - 16;
        const int8_t *xp = xs ? xs : x;
        const uint8_t *wp = w4 + (size_t)n0 * rowb;
        int64_t c128 = n128, c32 = n32;
        register int32x4_t o0 __asm__("v16");
        register int32x4_t o1 __asm__("v20");
        register int32x4_t o2 __asm__("v24");
        register int32x4_t o3 __asm__("v28");
        if (xs) {   /* x split beforehand: its 128 k are 2 four-register loads */
            THM_S4_NEON_LOOP("ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[x]], #64\n"
                             "ld1 {v4.16b, v5.16b, v6.16b, v7.16b}, [%[x]], #64\n",
                             "ld1 {v0.16b, v1.16b}, [%[x]], #32\n");
        } else {
            THM_S4_NEON_LOOP("ld2 {v0.16b, v1.16b}, [%[x]], #32\n" "ld2 {v2.16b, v3.16b}, [%[x]], #32\n"
                             "ld2 {v4.16b, v5.16b}, [%[x]], #32\n" "ld2 {v6.16b, v7.16b}, [%[x]], #32\n",
                             "ld2 {v0.16b, v1.16b}, [%[x]], #32\n");
        }
        int32x4_t s0, s1, s2, s3;
        if (bias) {   /* SSRA: bias + (16 s >> 4) in one */
            s0 = vsraq_n_s32(vld1q_s32(bias + n0), o0, 4); s1 = vsraq_n_s32(vld1q_s32(bias + n0 + 4), o1, 4);
            s2 = vsraq_n_s32(vld1q_s32(bias + n0 + 8), o2, 4); s3 = vsraq_n_s32(vld1q_s32(bias + n0 + 12), o3, 4);
        } else {
            s0 = vshrq_n_s32(o0, 4); s1 = vshrq_n_s32(o1, 4); s2 = vshrq_n_s32(o2, 4); s3 = vshrq_n_s32(o3, 4);
        }
        if (K32 < K) {
            int32_t t[16];
            thm_s4_neon_tail16(x, w4 + (size_t)n0 * rowb, rowb, K32, K, t);
            const int32x4x4_t tv = vld1q_s32_x4(t);
            s0 = vaddq_s32(s0, tv.val[0]); s1 = vaddq_s32(s1, tv.val[1]);
            s2 = vaddq_s32(s2, tv.val[2]); s3 = vaddq_s32(s3, tv.val[3]);
        }
        thm_s4_neon_store16(s0, s1, s2, s3, mult, shift, y8, y32, n0, n - n0);
    }
}

/* The common decode row in one piece: int8 out, 32 | K, K <= THM_S4_NEON_XBUF,
 * the first 16 x tiles columns. Everything between the tiles is in the same
 * assembly, so the tile loop pays no call, no re-derived pointers, and no
 * tests of bias, y32 or a tail: the bias pointer steps 64 bytes a tile, or 0
 * over a zero table when there is none; mult and shift step 64. x is split
 * 128 k a trip (4 LD2 + 2 ST1 + SUBS + B.NE). A tile beyond its k loops:
 * 4 LD1 (zero) + MOV x + MOV count + CBZ + CBZ (32s) + 12 ADDP + LD1 bias
 * + 4 SSRA + 2 LD1 (mult, shift) + MOVI (zero) + 4 x (SMAX, SMIN, SSHL,
 * SQRDMULH, AND, SSHR, SQADD, SRSHL) + 6 SQXTN + STR + ADD (next tile's
 * rows) + SUBS + B.NE = 70 (2 more with leftover 32s of k). The vector
 * requantize is thm_neon_requant4's, step for step (thm_arm_neon_requant.h
 * says why it is exact). */
__attribute__((noinline)) static void thm_s4_neon_row16_fast(const int8_t *x, const uint8_t *w4, size_t rowb,
                                                             int32_t K, int64_t tiles, const int32_t *bias,
                                                             const int32_t *mult, const int32_t *shift, int8_t *y8)
{
    int8_t xbuf[THM_S4_NEON_XBUF] __attribute__((aligned(16)));
    const int64_t n128 = K / 128, n32 = (K % 128) / 32;
    /* the last row's post-increment goes back up to row 0, 64 or 16 bytes on;
     * a tile's k loops leave w K / 2 bytes on, the next tile is 16 rows on */
    const int64_t back128 = 64 - 15 * (int64_t)rowb, back32 = 16 - 15 * (int64_t)rowb;
    const int64_t adv = 16 * (int64_t)rowb - K / 2;
    const int64_t binc = bias ? 64 : 0;
    const int32_t *bp = bias ? bias : thm_s4_neon_zero;
    const int8_t *xq = x, *xp;
    const uint8_t *wp = w4;
    int64_t c128, c32;
    __asm__ volatile(
        "mov %[x], %[xs]\n"                 /* x's even and odd k split, each 32 k as LD2 leaves them */
        "mov %[c128], %[n128]\n"
        "cbz %[c128], 11f\n"
        "10:\n"
        "ld2 {v0.16b, v1.16b}, [%[xq]], #32\n" "ld2 {v2.16b, v3.16b}, [%[xq]], #32\n"
        "ld2 {v4.16b, v5.16b}, [%[xq]], #32\n" "ld2 {v6.16b, v7.16b}, [%[xq]], #32\n"
        "st1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[x]], #64\n"
        "st1 {v4.16b, v5.16b, v6.16b, v7.16b}, [%[x]], #64\n"
        "subs %[c128], %[c128], #1\n"
        "b.ne 10b\n"
        "11:\n"
        "mov %[c32], %[n32]\n"
        "cbz %[c32], 13f\n"
        "12:\n"
        "ld2 {v0.16b, v1.16b}, [%[xq]], #32\n"
        "st1 {v0.16b, v1.16b}, [%[x]], #32\n"
        "subs %[c32], %[c32], #1\n"
        "b.ne 12b\n"
        "13:\n"
        "movi v12.16b, #0xf0\n"
        "20:\n"                             /* a tile of 16 columns */
        "ld1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[zero]]\n"   /* 4 registers zeroed a load */
        "ld1 {v20.4s, v21.4s, v22.4s, v23.4s}, [%[zero]]\n"
        "ld1 {v24.4s, v25.4s, v26.4s, v27.4s}, [%[zero]]\n"
        "ld1 {v28.4s, v29.4s, v30.4s, v31.4s}, [%[zero]]\n"
        "mov %[x], %[xs]\n"
        "mov %[c128], %[n128]\n"
        "cbz %[c128], 2f\n"
        "1:\n"
        "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[x]], #64\n"
        "ld1 {v4.16b, v5.16b, v6.16b, v7.16b}, [%[x]], #64\n"
        THM_S4_NEON_ROWS16(THM_S4_NEON_ROW128, "back128")
        "subs %[c128], %[c128], #1\n"
        "b.ne 1b\n"
        "2:\n"
        "cbz %[n32], 4f\n"
        "mov %[c32], %[n32]\n"
        "3:\n"
        "ld1 {v0.16b, v1.16b}, [%[x]], #32\n"
        THM_S4_NEON_ROWS16(THM_S4_NEON_ROW32, "back32")
        "subs %[c32], %[c32], #1\n"
        "b.ne 3b\n"
        "4:\n"
        /* columns 0..3, 4..7, 8..11, 12..15 into v16, v20, v24, v28 (16 x) */
        "addp v16.4s, v16.4s, v17.4s\n" "addp v18.4s, v18.4s, v19.4s\n" "addp v16.4s, v16.4s, v18.4s\n"
        "addp v20.4s, v20.4s, v21.4s\n" "addp v22.4s, v22.4s, v23.4s\n" "addp v20.4s, v20.4s, v22.4s\n"
        "addp v24.4s, v24.4s, v25.4s\n" "addp v26.4s, v26.4s, v27.4s\n" "addp v24.4s, v24.4s, v26.4s\n"
        "addp v28.4s, v28.4s, v29.4s\n" "addp v30.4s, v30.4s, v31.4s\n" "addp v28.4s, v28.4s, v30.4s\n"
        /* bias + (16 s >> 4) */
        "ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [%[bp]], %[binc]\n"
        "ssra v0.4s, v16.4s, #4\n" "ssra v1.4s, v20.4s, #4\n"
        "ssra v2.4s, v24.4s, #4\n" "ssra v3.4s, v28.4s, #4\n"
        "ld1 {v4.4s, v5.4s, v6.4s, v7.4s}, [%[mp]], #64\n"
        "ld1 {v8.4s, v9.4s, v10.4s, v11.4s}, [%[hp]], #64\n"
        "movi v13.4s, #0\n"
        /* left = max(shift, 0) in v16..v19, right = min(shift, 0) in v8..v11 */
        "smax v16.4s, v8.4s, v13.4s\n" "smax v17.4s, v9.4s, v13.4s\n"
        "smax v18.4s, v10.4s, v13.4s\n" "smax v19.4s, v11.4s, v13.4s\n"
        "smin v8.4s, v8.4s, v13.4s\n" "smin v9.4s, v9.4s, v13.4s\n"
        "smin v10.4s, v10.4s, v13.4s\n" "smin v11.4s, v11.4s, v13.4s\n"
        "sshl v0.4s, v0.4s, v16.4s\n" "sshl v1.4s, v1.4s, v17.4s\n"
        "sshl v2.4s, v2.4s, v18.4s\n" "sshl v3.4s, v3.4s, v19.4s\n"
        "sqrdmulh v0.4s, v0.4s, v4.4s\n" "sqrdmulh v1.4s, v1.4s, v5.4s\n"
        "sqrdmulh v2.4s, v2.4s, v6.4s\n" "sqrdmulh v3.4s, v3.4s, v7.4s\n"
        /* -1 where the product is negative and the shift is right: ties away from zero */
        "and v4.16b, v0.16b, v8.16b\n" "and v5.16b, v1.16b, v9.16b\n"
        "and v6.16b, v2.16b, v10.16b\n" "and v7.16b, v3.16b, v11.16b\n"
        "sshr v4.4s, v4.4s, #31\n" "sshr v5.4s, v5.4s, #31\n"
        "sshr v6.4s, v6.4s, #31\n" "sshr v7.4s, v7.4s, #31\n"
        "sqadd v0.4s, v0.4s, v4.4s\n" "sqadd v1.4s, v1.4s, v5.4s\n"
        "sqadd v2.4s, v2.4s, v6.4s\n" "sqadd v3.4s, v3.4s, v7.4s\n"
        "srshl v0.4s, v0.4s, v8.4s\n" "srshl v1.4s, v1.4s, v9.4s\n"
        "srshl v2.4s, v2.4s, v10.4s\n" "srshl v3.4s, v3.4s, v11.4s\n"
        "sqxtn v0.4h, v0.4s\n" "sqxtn2 v0.8h, v1.4s\n"
        "sqxtn v2.4h, v2.4s\n" "sqxtn2 v2.8h, v3.4s\n"
        "sqxtn v0.8b, v0.8h\n" "sqxtn2 v0.16b, v2.8h\n"
        "str q0, [%[y]], #16\n"
        "add %[w], %[w], %[adv]\n"
        "subs %[tiles], %[tiles], #1\n"
        "b.ne 20b\n"
        : [x] "=&r"(xp), [xq] "+r"(xq), [w] "+r"(wp), [c128] "=&r"(c128), [c32] "=&r"(c32), [tiles] "+r"(tiles),
          [bp] "+r"(bp), [mp] "+r"(mult), [hp] "+r"(shift), [y] "+r"(y8)
        : [xs] "r"(xbuf), [n128] "r"(n128), [n32] "r"(n32), [rb] "r"(rowb), [back128] "r"(back128),
          [back32] "r"(back32), [adv] "r"(adv), [binc] "r"(binc), [zero] "r"(thm_s4_neon_zero)
        : "cc", "memory", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13",
          "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28",
          "v29", "v30", "v31");
}
#undef THM_S4_NEON_ROW128
#undef THM_S4_NEON_ROW32
#undef THM_S4_NEON_ROWS16
#undef THM_S4_NEON_LOOP

static void thm_s4_neon(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                        const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    if (N < 4) {
        if (y32) thm_matmul_s4_s32_portable(x, w4, bias, y32, M, K, N);
        else thm_matmul_s4_portable(x, w4, bias, mult, shift, y, M, K, N);
        return;
    }
    const size_t rowb = (size_t)(K + 1) / 2;
    if (N >= 16) {
        /* int8 out, 32 | K and x fitting the split buffer: whole tiles in one
         * assembly piece, a ragged end through row16 */
        const int fast = !y32 && K % 32 == 0 && K <= THM_S4_NEON_XBUF;
        const int32_t nf = fast ? N & ~15 : 0;
        for (int32_t m = 0; m < M; m++) {
            if (fast)
                thm_s4_neon_row16_fast(x + (size_t)m * K, w4, rowb, K, N / 16, bias, mult, shift, y + (size_t)m * N);
            if (nf < N)
                thm_s4_neon_row16(x + (size_t)m * K, w4, rowb, K, N, nf, bias, mult, shift,
                                  y32 ? 0 : y + (size_t)m * N, y32 ? y32 + (size_t)m * N : 0);
        }
        return;
    }
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
