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
 * Exact: the sums are 4096 times the true ones, S. With x in [-128, 127] and
 * w in [-8, 7], x w is in [-1016, 1024], so a chunk of n <= 512 k has S in
 * [-1016 n, 1024 n], and S - 4096 in [-2^19, 2^19 - 4096]: a sum started
 * at -4096 * 4096 (one MOV) ends at 4096 (S - 4096), a true int32 whatever
 * SMLAD wrapped on the way, so ASR 12 + 4096 gives S exactly. (Started at 0,
 * 512 k of -128 x -8 = 2^19 would wrap.) Each chunk of up to 512 k is summed
 * so and added to an int32 that wraps like the reference: K <= 512 is one
 * chunk. K % 8 is scalar, only when K % 8 != 0.
 *
 * Passes (inline assembly; 14 registers) fill blocks of 48 int32 sums, one
 * call per block, and a plain loop finishes them (K tail, bias, requantize:
 * 23 instructions an int8 output, about 0.05 per MAC at K = 512 and M = 1).
 * Decode (M = 1, and the last row of an odd M) runs 1 row of x against 3
 * rows of w, 8 steps of 8 k per loop: 8 LDM, 24 LDR, 96 AND, 96 SMLAD,
 * SUBS + BNE for 192 MACs (1.18 per MAC). Prefill runs 2 rows of x against
 * 2 of w, 4 steps per loop: 16 LDRD, 8 LDR, 32 AND, 64 SMLAD, SUBS + BNE
 * for 128 MACs (0.95). A chunk's last steps (K / 8 not a multiple of the
 * loop's) run one by one. Ragged N redoes the last full group's rows and
 * keeps the new ones. Stack: the rearranged x, THM_DSP_S4_XK int16 per row
 * (2 rows: 8 KiB; SXTB16 + PKH, about 2 instructions per k); a larger K takes
 * the portable C.
 */
#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)

#include "thm_arm_dsp.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_s4.h"

#define THM_DSP_S4_XK 2048      /* the largest K the rearranged x holds */
#define THM_DSP_S4_CHUNK 64     /* steps of 8 k one sum holds exactly: 512 k (the header's bound) */
#define THM_DSP_S4_START ((int32_t)0xFF000000)   /* a sum's start, -4096 * 4096 (S - 4096 at the end) */

/* Halves (lo of a, lo of b) and (hi of a, hi of b): PKHBT / PKHTB. */
static inline uint32_t thm_s4_pk_lo(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline uint32_t thm_s4_pk_hi(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* x [K] -> xp [K / 8][4] words (x[8j + i], x[8j + i + 4]) as int16 halves;
 * rows = 2: the two rows interleaved, xp [K / 8][4][2]. SXTB16 widens bytes
 * 0, 2 (ror 8: 1, 3) of a word, so 8 k cost 2 LDR, 4 SXTB16 and 4 PKH. */
static void thm_s4_arrange(const int8_t *x, size_t ldx, int rows, int32_t steps, uint32_t *xp)
{
    for (int r = 0; r < rows; r++) {
        const int8_t *xr = x + (size_t)r * ldx;
        uint32_t *o = xp + r;
        for (int32_t j = 0; j < steps; j++, xr += 8, o += 4 * rows) {
            const uint32_t a = thm_ld32(xr), b = thm_ld32(xr + 4);
            const uint32_t a02 = thm_sxtb16(a), b02 = thm_sxtb16(b);
            const uint32_t a13 = thm_sxtb16_ror8(a), b13 = thm_sxtb16_ror8(b);
            o[0] = thm_s4_pk_lo(a02, b02);
            o[rows] = thm_s4_pk_lo(a13, b13);
            o[2 * rows] = thm_s4_pk_hi(a02, b02);
            o[3 * rows] = thm_s4_pk_hi(a13, b13);
        }
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

/* The K loop of a pass over `cnt` blocks of `STEPS` (ASM) steps each. */
#define THM_S4_LOOP(ASM) "1:\n" ASM "subs %[cnt], %[cnt], #1\n" "bne 1b\n"

/* Into s [3 groups] (added to s when `add`), the sums of `groups` groups of 3
 * rows of w (rows w0 + 3 g ks, + ks, + 2 ks) against one row of xp over one
 * chunk of `steps` <= THM_DSP_S4_CHUNK steps: summed from -4096^2, they end
 * at 4096 (S - 4096), exact (see the header). 8 steps a loop, then the last
 * steps % 8 one by one. */
__attribute__((noinline)) static void thm_s4_sums1x3(const uint32_t *xp, const uint8_t *w0, int32_t ks,
                                                     int32_t steps, int32_t groups, uint32_t *s, int add)
{
    const uint32_t m = 0xF000F000u;
    const int32_t octs = steps >> 3, rest = steps & 7;
    for (int32_t g = 0; g < groups; g++, w0 += 3 * ks, s += 3) {
        const uint32_t *px = xp;
        const uint8_t *pw = w0;
        int32_t a0 = THM_DSP_S4_START, a1 = THM_DSP_S4_START, a2 = THM_DSP_S4_START, cnt = octs;
        uint32_t w, t;
        if (cnt > 0) {
            __asm__ volatile(
                THM_S4_LOOP(THM_S4_STEP_1X3 THM_S4_STEP_1X3 THM_S4_STEP_1X3 THM_S4_STEP_1X3
                            THM_S4_STEP_1X3 THM_S4_STEP_1X3 THM_S4_STEP_1X3 THM_S4_STEP_1X3)
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [px] "+r"(px), [pw] "+r"(pw),
                  [cnt] "+r"(cnt), [w] "=&r"(w), [t] "=&r"(t)
                : [ks] "r"(ks), [m] "r"(m)
                : "r0", "r1", "r2", "r3", "cc", "memory");
        }
        cnt = rest;
        if (cnt > 0) {
            __asm__ volatile(
                THM_S4_LOOP(THM_S4_STEP_1X3)
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [px] "+r"(px), [pw] "+r"(pw),
                  [cnt] "+r"(cnt), [w] "=&r"(w), [t] "=&r"(t)
                : [ks] "r"(ks), [m] "r"(m)
                : "r0", "r1", "r2", "r3", "cc", "memory");
        }
        const uint32_t v0 = (uint32_t)(a0 >> 12) + 4096u, v1 = (uint32_t)(a1 >> 12) + 4096u,
                       v2 = (uint32_t)(a2 >> 12) + 4096u;
        if (add) {
            s[0] += v0; s[1] += v1; s[2] += v2;
        } else {
            s[0] = v0; s[1] = v1; s[2] = v2;
        }
    }
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

/* Into s0 [2 pairs] and s1 [2 pairs] (added when `add`), the sums of `pairs`
 * pairs of rows of w (w0 + 2 p ks, + ks) against the 2 interleaved rows of xp
 * over one chunk, as thm_s4_sums1x3. */
__attribute__((noinline)) static void thm_s4_sums2x2(const uint32_t *xp, const uint8_t *w0, int32_t ks,
                                                     int32_t steps, int32_t pairs, uint32_t *s0, uint32_t *s1,
                                                     int add)
{
    const uint32_t m = 0xF000F000u;
    const int32_t quads = steps >> 2, rest = steps & 3;
    for (int32_t p = 0; p < pairs; p++, w0 += 2 * ks, s0 += 2, s1 += 2) {
        const uint32_t *px = xp;
        const uint8_t *pw = w0;
        int32_t a00 = THM_DSP_S4_START, a01 = THM_DSP_S4_START, a10 = THM_DSP_S4_START,
                a11 = THM_DSP_S4_START, cnt = quads;
        uint32_t wa, wb, xa, xb, t;
        if (cnt > 0) {
            __asm__ volatile(
                THM_S4_LOOP(THM_S4_STEP_2X2 THM_S4_STEP_2X2 THM_S4_STEP_2X2 THM_S4_STEP_2X2)
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [px] "+r"(px),
                  [pw] "+r"(pw), [cnt] "+r"(cnt), [wa] "=&r"(wa), [wb] "=&r"(wb), [xa] "=&r"(xa),
                  [xb] "=&r"(xb), [t] "=&r"(t)
                : [ks] "r"(ks), [m] "r"(m)
                : "cc", "memory");
        }
        cnt = rest;
        if (cnt > 0) {
            __asm__ volatile(
                THM_S4_LOOP(THM_S4_STEP_2X2)
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [px] "+r"(px),
                  [pw] "+r"(pw), [cnt] "+r"(cnt), [wa] "=&r"(wa), [wb] "=&r"(wb), [xa] "=&r"(xa),
                  [xb] "=&r"(xb), [t] "=&r"(t)
                : [ks] "r"(ks), [m] "r"(m)
                : "cc", "memory");
        }
        const uint32_t v00 = (uint32_t)(a00 >> 12) + 4096u, v01 = (uint32_t)(a01 >> 12) + 4096u,
                       v10 = (uint32_t)(a10 >> 12) + 4096u, v11 = (uint32_t)(a11 >> 12) + 4096u;
        if (add) {
            s0[0] += v00; s0[1] += v01; s1[0] += v10; s1[1] += v11;
        } else {
            s0[0] = v00; s0[1] = v01; s1[0] = v10; s1[1] = v11;
        }
    }
}

/* sat8(thm_requantize(acc, mult, shift)), exact for every int32 (the
 * reasoning of thm_matmul_s8_packed_dsp.c's THM_DSP_OUT): SMULL + the 2^30
 * nudge, QADD doubling the high word (its one overflow, acc = mult =
 * INT32_MIN, saturates as the reference does), then the rounding right
 * shift as ASRS (C = the last bit out) + ADC, x - 1 first for negative x. */
static inline int32_t thm_s4_requant8(int32_t acc, int32_t mult, int32_t shift)
{
    int32_t lo, hi, e;
    __asm__("usat %[e], #5, %[sh]\n"              /* left = max(shift, 0) */
            "lsl %[a], %[a], %[e]\n"
            "smull %[lo], %[hi], %[a], %[m]\n"
            "adds %[lo], %[lo], #0x40000000\n"
            "adc %[hi], %[hi], #0\n"
            "qadd %[hi], %[hi], %[hi]\n"
            "orr %[hi], %[hi], %[lo], lsr #31\n"
            "rsb %[e], %[sh], #0\n"
            "usat %[e], #5, %[e]\n"               /* right = max(-shift, 0) */
            "cmn %[e], #0\n"                      /* Z = (right == 0), C = 0 */
            "it ne\n"
            "addne %[hi], %[hi], %[hi], asr #31\n"
            "asrs %[hi], %[hi], %[e]\n"
            "adc %[hi], %[hi], #0\n"
            "ssat %[hi], #8, %[hi]\n"
            : [a] "+r"(acc), [lo] "=&r"(lo), [hi] "=&r"(hi), [e] "=&r"(e)
            : [m] "r"(mult), [sh] "r"(shift)
            : "cc");
    return hi;
}

/* y [n] for n < cnt from the sums s of one row of x (xr) and rows w of w
 * (rowb bytes apart): + the K % 8 tail, + bias, then int32 (y32) or
 * requantized int8 (y8); bias, mult, shift start at the block's column.
 * One plain loop per case: a test per output costs more than the loop. */
static void thm_s4_out(uint32_t *s, int32_t cnt, const int8_t *xr, const uint8_t *w, size_t rowb,
                       int32_t K8, int32_t K, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                       int8_t *y8, int32_t *y32)
{
    if (K8 < K)
        for (int32_t n = 0; n < cnt; n++) s[n] += (uint32_t)thm_s4_dot_from(xr, w + (size_t)n * rowb, K8, K);
    if (y32) {
        if (bias)
            for (int32_t n = 0; n < cnt; n++) y32[n] = (int32_t)(s[n] + (uint32_t)bias[n]);
        else
            for (int32_t n = 0; n < cnt; n++) y32[n] = (int32_t)s[n];
    } else if (bias) {
        for (int32_t n = 0; n < cnt; n++)
            y8[n] = (int8_t)thm_s4_requant8((int32_t)(s[n] + (uint32_t)bias[n]), mult[n], shift[n]);
    } else {
        for (int32_t n = 0; n < cnt; n++) y8[n] = (int8_t)thm_s4_requant8((int32_t)s[n], mult[n], shift[n]);
    }
}

#define THM_DSP_S4_BLOCK 48     /* outputs summed before they are written: a multiple of 2 and 3 */

static void thm_s4_dsp(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                       const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    if (K > THM_DSP_S4_XK || N < 3) {
        if (y32) thm_matmul_s4_s32_portable(x, w4, bias, y32, M, K, N);
        else thm_matmul_s4_portable(x, w4, bias, mult, shift, y, M, K, N);
        return;
    }
    uint32_t xp[THM_DSP_S4_XK];     /* K / 8 steps x 4 words x up to 2 rows */
    uint32_t s[2][THM_DSP_S4_BLOCK];
    const size_t rowb = (size_t)(K + 1) / 2;
    const int32_t steps = K / 8, K8 = steps * 8, ks = (int32_t)rowb;
#define THM_S4_OUT(sums, cnt, xr, m, n)                                                              \
    thm_s4_out(sums, cnt, xr, w4 + (size_t)(n) * rowb, rowb, K8, K, bias ? bias + (n) : 0,            \
               mult ? mult + (n) : 0, shift ? shift + (n) : 0, y32 ? 0 : y + (size_t)(m) * N + (n),  \
               y32 ? y32 + (size_t)(m) * N + (n) : 0)
    int32_t m = 0;
    for (; m + 2 <= M; m += 2) {
        const int8_t *x0 = x + (size_t)m * K;
        thm_s4_arrange(x0, (size_t)K, 2, steps, xp);
        for (int32_t n = 0; n < N; n += THM_DSP_S4_BLOCK) {
            const int32_t cnt = N - n < THM_DSP_S4_BLOCK ? N - n : THM_DSP_S4_BLOCK, pairs = cnt / 2;
            uint32_t r0[2] = {0, 0}, r1[2] = {0, 0};
            if (steps == 0)
                for (int32_t j = 0; j < cnt; j++) s[0][j] = s[1][j] = 0;
            for (int32_t c = 0; c < steps; c += THM_DSP_S4_CHUNK) {   /* 8 words of xp a step */
                const int32_t sc = steps - c < THM_DSP_S4_CHUNK ? steps - c : THM_DSP_S4_CHUNK;
                thm_s4_sums2x2(xp + 8 * c, w4 + (size_t)n * rowb + 4 * c, ks, sc, pairs, s[0], s[1], c > 0);
                if (cnt & 1)                /* odd N: redo rows N - 2, N - 1, keep N - 1 */
                    thm_s4_sums2x2(xp + 8 * c, w4 + (size_t)(N - 2) * rowb + 4 * c, ks, sc, 1, r0, r1, c > 0);
            }
            if (cnt & 1) { s[0][cnt - 1] = r0[1]; s[1][cnt - 1] = r1[1]; }
            THM_S4_OUT(s[0], cnt, x0, m, n);
            THM_S4_OUT(s[1], cnt, x0 + K, m + 1, n);
        }
    }
    for (; m < M; m++) {
        const int8_t *xr = x + (size_t)m * K;
        thm_s4_arrange(xr, (size_t)K, 1, steps, xp);
        for (int32_t n = 0; n < N; n += THM_DSP_S4_BLOCK) {
            const int32_t cnt = N - n < THM_DSP_S4_BLOCK ? N - n : THM_DSP_S4_BLOCK, groups = cnt / 3;
            uint32_t r[3] = {0, 0, 0};
            if (steps == 0)
                for (int32_t j = 0; j < cnt; j++) s[0][j] = 0;
            for (int32_t c = 0; c < steps; c += THM_DSP_S4_CHUNK) {   /* 4 words of xp a step */
                const int32_t sc = steps - c < THM_DSP_S4_CHUNK ? steps - c : THM_DSP_S4_CHUNK;
                thm_s4_sums1x3(xp + 4 * c, w4 + (size_t)n * rowb + 4 * c, ks, sc, groups, s[0], c > 0);
                if (cnt % 3)                /* ragged N: redo rows N - 3 .. N - 1, keep the new ones */
                    thm_s4_sums1x3(xp + 4 * c, w4 + (size_t)(N - 3) * rowb + 4 * c, ks, sc, 1, r, c > 0);
            }
            for (int32_t j = 3 * groups; j < cnt; j++) s[0][j] = r[3 - cnt + j];
            THM_S4_OUT(s[0], cnt, xr, m, n);
        }
    }
#undef THM_S4_OUT
}

THM_MATMUL_S4_ENTRIES(dsp, thm_s4_dsp)

#endif /* __ARM_FEATURE_DSP */
