/* AArch64 NEON CQ product (Needle 2's codebook weights, computed in place):
 * the bits of thm_matmul_cq_portable for 2- and 4-bit fields (3-bit rows
 * go to the portable C).
 *
 * A group's packed fields are unpacked a vector at a time with shifts and
 * masks and mapped to int8 levels with TBL (the codebook is one 16-byte
 * table), so the levels come out interleaved: for 2-bit fields the k-th
 * field of bytes 0..15 (fields 4j + k), for 4-bit the low or high nibble of
 * 16 bytes (fields 2j, 2j + 1). The activations are read the same way with
 * LD4 / LD2, which de-interleave while loading, so every SDOT pairs a level
 * with its own activation and no permute is needed. Per output and group
 * the 4 lanes are summed (|dot| <= 2^21), shifted by the group's shift and
 * multiplied by the norm into an int64 sum, as the reference does. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <arm_neon.h>
#include <string.h>

#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

#define THM_INLINE_CQ static inline __attribute__((always_inline))

/* One group's levels in 8 registers, interleaved as described above. */
typedef struct {
    int8x16_t l0, l1, l2, l3, l4, l5, l6, l7;
} cq_levels;

THM_INLINE_CQ cq_levels levels2(const uint8_t *src, int8x16_t tbl)
{
    const uint8x16_t three = vdupq_n_u8(3);
    const uint8x16_t a = vld1q_u8(src), b = vld1q_u8(src + 16);
    cq_levels v;
    v.l0 = vqtbl1q_s8(tbl, vandq_u8(a, three));
    v.l1 = vqtbl1q_s8(tbl, vandq_u8(vshrq_n_u8(a, 2), three));
    v.l2 = vqtbl1q_s8(tbl, vandq_u8(vshrq_n_u8(a, 4), three));
    v.l3 = vqtbl1q_s8(tbl, vshrq_n_u8(a, 6));
    v.l4 = vqtbl1q_s8(tbl, vandq_u8(b, three));
    v.l5 = vqtbl1q_s8(tbl, vandq_u8(vshrq_n_u8(b, 2), three));
    v.l6 = vqtbl1q_s8(tbl, vandq_u8(vshrq_n_u8(b, 4), three));
    v.l7 = vqtbl1q_s8(tbl, vshrq_n_u8(b, 6));
    return v;
}

THM_INLINE_CQ cq_levels levels4(const uint8_t *src, int8x16_t tbl)
{
    const uint8x16_t fifteen = vdupq_n_u8(15);
    const uint8x16_t a = vld1q_u8(src), b = vld1q_u8(src + 16), c = vld1q_u8(src + 32), d = vld1q_u8(src + 48);
    cq_levels v;
    v.l0 = vqtbl1q_s8(tbl, vandq_u8(a, fifteen));
    v.l1 = vqtbl1q_s8(tbl, vshrq_n_u8(a, 4));
    v.l2 = vqtbl1q_s8(tbl, vandq_u8(b, fifteen));
    v.l3 = vqtbl1q_s8(tbl, vshrq_n_u8(b, 4));
    v.l4 = vqtbl1q_s8(tbl, vandq_u8(c, fifteen));
    v.l5 = vqtbl1q_s8(tbl, vshrq_n_u8(c, 4));
    v.l6 = vqtbl1q_s8(tbl, vandq_u8(d, fifteen));
    v.l7 = vqtbl1q_s8(tbl, vshrq_n_u8(d, 4));
    return v;
}

/* sum over the group of levels x activations, the activations loaded to match */
THM_INLINE_CQ int32_t dot2(const cq_levels *v, const int8_t *x)
{
    const int8x16x4_t a = vld4q_s8(x), b = vld4q_s8(x + 64);
    int32x4_t s = vdotq_s32(vdupq_n_s32(0), v->l0, a.val[0]);
    int32x4_t t = vdotq_s32(vdupq_n_s32(0), v->l1, a.val[1]);
    s = vdotq_s32(s, v->l2, a.val[2]);
    t = vdotq_s32(t, v->l3, a.val[3]);
    s = vdotq_s32(s, v->l4, b.val[0]);
    t = vdotq_s32(t, v->l5, b.val[1]);
    s = vdotq_s32(s, v->l6, b.val[2]);
    t = vdotq_s32(t, v->l7, b.val[3]);
    return vaddvq_s32(vaddq_s32(s, t));
}

THM_INLINE_CQ int32_t dot4(const cq_levels *v, const int8_t *x)
{
    const int8x16x2_t a = vld2q_s8(x), b = vld2q_s8(x + 32), c = vld2q_s8(x + 64), d = vld2q_s8(x + 96);
    int32x4_t s = vdotq_s32(vdupq_n_s32(0), v->l0, a.val[0]);
    int32x4_t t = vdotq_s32(vdupq_n_s32(0), v->l1, a.val[1]);
    s = vdotq_s32(s, v->l2, b.val[0]);
    t = vdotq_s32(t, v->l3, b.val[1]);
    s = vdotq_s32(s, v->l4, c.val[0]);
    t = vdotq_s32(t, v->l5, c.val[1]);
    s = vdotq_s32(s, v->l6, d.val[0]);
    t = vdotq_s32(t, v->l7, d.val[1]);
    return vaddvq_s32(vaddq_s32(s, t));
}


/* rows m0 .. m0 + MR - 1 of x against every output (MR = 1 or 2, fully unrolled) */
#define CQ_PASS(NAME, LEVELS, DOT, MR)                                                                   \
    static void NAME(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int8x16_t tbl,               \
                     const uint16_t *norm_q, const int32_t *mult, const int32_t *rshift, int8_t *y8,     \
                     int32_t *y32, int32_t m0, int32_t G, size_t group_bytes, int32_t N)                 \
    {                                                                                                    \
        const int8_t *x0 = xr + (size_t)m0 * G * THM_CQ_GROUP, *x1 = x0 + (size_t)G * THM_CQ_GROUP;      \
        const uint8_t *s0 = sh + (size_t)m0 * G, *s1 = s0 + G;                                           \
        for (int32_t n = 0; n < N; n++) {                                                                \
            const uint8_t *row = w + (size_t)n * G * group_bytes;                                        \
            const uint16_t *nq = norm_q + (size_t)n * G;                                                 \
            int64_t a0 = 0, a1 = 0;                                                                      \
            for (int32_t g = 0; g < G; g++) {                                                            \
                const cq_levels v = LEVELS(row + (size_t)g * group_bytes, tbl);                          \
                const int64_t q = nq[g];                                                                 \
                a0 += (int64_t)(int32_t)((uint32_t)DOT(&v, x0 + (size_t)g * THM_CQ_GROUP) << s0[g]) * q;  \
                if (MR > 1)                                                                              \
                    a1 += (int64_t)(int32_t)((uint32_t)DOT(&v, x1 + (size_t)g * THM_CQ_GROUP) << s1[g]) * q; \
            }                                                                                            \
            thm_cq_store(a0, mult, rshift, n, y8, y32, (size_t)m0 * N + n);                                     \
            if (MR > 1) thm_cq_store(a1, mult, rshift, n, y8, y32, (size_t)(m0 + 1) * N + n);                   \
        }                                                                                                \
    }
CQ_PASS(pass2_1, levels2, dot2, 1)
CQ_PASS(pass2_2, levels2, dot2, 2)
CQ_PASS(pass4_1, levels4, dot4, 1)
CQ_PASS(pass4_2, levels4, dot4, 2)

void thm_matmul_cq_neon(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits,
                        const int8_t *lut, const uint16_t *norm_q, const int32_t *mult,
                        const int32_t *rshift, int8_t *y8, int32_t *y32, int32_t M, int32_t Kp, int32_t N)
{
    if (bits == 3) {
        thm_matmul_cq_portable(xr, sh, w, bits, lut, norm_q, mult, rshift, y8, y32, M, Kp, N);
        return;
    }
    int8_t table[16];
    memset(table, 0, sizeof table);
    memcpy(table, lut, (size_t)1 << bits);
    const int8x16_t tbl = vld1q_s8(table);
    const int32_t G = Kp / THM_CQ_GROUP;
    const size_t group_bytes = (size_t)THM_CQ_GROUP * (size_t)bits / 8u;
    int32_t m = 0;
    for (; m + 2 <= M; m += 2)
        (bits == 2 ? pass2_2 : pass4_2)(xr, sh, w, tbl, norm_q, mult, rshift, y8, y32, m, G, group_bytes, N);
    if (m < M)
        (bits == 2 ? pass2_1 : pass4_1)(xr, sh, w, tbl, norm_q, mult, rshift, y8, y32, m, G, group_bytes, N);
}

#endif /* __aarch64__ && __ARM_FEATURE_DOTPROD */
