/* Cortex-M55 Helium CQ product (Needle 2's codebook weights, computed in
 * place): the bits of thm_matmul_cq_portable for 2- and 4-bit fields (3-bit
 * rows go to the portable C).
 *
 * Helium has no table lookup but gathers bytes: a group's packed fields
 * are unpacked 16 at a time with shifts and masks (for 2-bit fields the k-th
 * field of 16 bytes, fields 4j + k; for 4-bit a nibble of 16 bytes, fields
 * 2j or 2j + 1) and their levels gathered from the 16-byte codebook. The
 * activations of the pass's rows are put in that order once a call (VLD4 /
 * VLD2 de-interleave them into a stack copy, up to THM_CQ_MVE_MAX_KP of a
 * row; longer rows take the portable C), so a plain load meets each levels
 * vector and VMLADAVA pairs every level with its own activation. Only a few
 * Q registers are live at a time (Helium has 8): each levels vector serves
 * every row of x in the pass before the next is made. Per output and
 * group the scalar sum (|dot| <= 2^21) is shifted by the group's shift and
 * multiplied by the norm into an int64 sum (SMLAL), as the reference does. */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <arm_mve.h>
#include <string.h>

#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

#define THM_INLINE_CQ static inline __attribute__((always_inline))
#define THM_CQ_MVE_MAX_KP 2048   /* rows' stack copies: 2 x 2 KiB (Needle 2's widest input is 4 d) */

/* n bytes of x (whole groups) in the order the levels come out */
static void deinterleave(const int8_t *x, int32_t n, int32_t bits, int8_t *out)
{
    if (bits == 2) {
        for (int32_t i = 0; i < n; i += 64) {
            const int8x16x4_t v = vld4q_s8(x + i);
            vstrbq_s8(out + i, v.val[0]);
            vstrbq_s8(out + i + 16, v.val[1]);
            vstrbq_s8(out + i + 32, v.val[2]);
            vstrbq_s8(out + i + 48, v.val[3]);
        }
    } else {
        for (int32_t i = 0; i < n; i += 32) {
            const int8x16x2_t v = vld2q_s8(x + i);
            vstrbq_s8(out + i, v.val[0]);
            vstrbq_s8(out + i + 16, v.val[1]);
        }
    }
}


/* one chunk of 16 fields: their levels, then each row's (reordered) activations at base */
#define CQ_CHUNK(FIELDS, BASE)                                                            \
    do {                                                                                  \
        const int8x16_t lev = vldrbq_gather_offset_s8(table, (FIELDS));                  \
        d0 = vmladavaq_s8(d0, lev, vldrbq_s8(x0 + (BASE)));                               \
        if (mr > 1) d1 = vmladavaq_s8(d1, lev, vldrbq_s8(x1 + (BASE)));                   \
        __asm__ volatile("" ::: "memory");   /* no hoisting: 8 Q registers spill otherwise */ \
    } while (0)

#define CQ_PASS(NAME, BITS, MR)                                                                         \
    static void NAME(const int8_t *xp, const uint8_t *sh, const uint8_t *w, const int8_t *table,        \
                     const uint16_t *norm_q, const int32_t *mult, const int32_t *rshift, int8_t *y8,    \
                     int32_t *y32, int32_t m0, int32_t G, int32_t N)                                    \
    {                                                                                                   \
        const size_t gb = (size_t)THM_CQ_GROUP * (BITS) / 8u;                                           \
        const int mr = (MR);                                                                            \
        const uint8x16_t mask = vdupq_n_u8((1u << (BITS)) - 1u);                                        \
        for (int32_t n = 0; n < N; n++) {                                                               \
            const uint8_t *row = w + (size_t)n * (size_t)G * gb;                                        \
            const uint16_t *nq = norm_q + (size_t)n * G;                                                \
            int64_t a0 = 0, a1 = 0;                                                                     \
            for (int32_t g = 0; g < G; g++) {                                                           \
                const int8_t *x0 = xp + (size_t)g * THM_CQ_GROUP;                                       \
                const int8_t *x1 = x0 + THM_CQ_MVE_MAX_KP;                                              \
                const uint8_t *src = row + (size_t)g * gb;                                              \
                int32_t d0 = 0, d1 = 0;                                                                 \
                if ((BITS) == 2) {                                                                      \
                    for (int h = 0; h < 2; h++) {                                                       \
                        const uint8x16_t b = vldrbq_u8(src + 16 * h);                                   \
                        CQ_CHUNK(vandq_u8(b, mask), 64 * h);                                            \
                        CQ_CHUNK(vandq_u8(vshrq_n_u8(b, 2), mask), 64 * h + 16);                        \
                        CQ_CHUNK(vandq_u8(vshrq_n_u8(b, 4), mask), 64 * h + 32);                        \
                        CQ_CHUNK(vshrq_n_u8(b, 6), 64 * h + 48);                                        \
                    }                                                                                   \
                } else {                                                                                \
                    for (int q = 0; q < 4; q++) {                                                       \
                        const uint8x16_t b = vldrbq_u8(src + 16 * q);                                   \
                        CQ_CHUNK(vandq_u8(b, mask), 32 * q);                                            \
                        CQ_CHUNK(vshrq_n_u8(b, 4), 32 * q + 16);                                        \
                    }                                                                                   \
                }                                                                                       \
                const int64_t q = nq[g];                                                                \
                a0 += (int64_t)(int32_t)((uint32_t)d0 << sh[(size_t)m0 * G + (size_t)g]) * q;           \
                if (MR > 1) a1 += (int64_t)(int32_t)((uint32_t)d1 << sh[(size_t)(m0 + 1) * G + (size_t)g]) * q; \
            }                                                                                           \
            thm_cq_store(a0, mult, rshift, n, y8, y32, (size_t)m0 * N + n);                                    \
            if (MR > 1) thm_cq_store(a1, mult, rshift, n, y8, y32, (size_t)(m0 + 1) * N + n);                  \
        }                                                                                               \
    }
CQ_PASS(pass2_1, 2, 1)
CQ_PASS(pass2_2, 2, 2)
CQ_PASS(pass4_1, 4, 1)
CQ_PASS(pass4_2, 4, 2)

void thm_matmul_cq_mve(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits,
                       const int8_t *lut, const uint16_t *norm_q, const int32_t *mult,
                       const int32_t *rshift, int8_t *y8, int32_t *y32, int32_t M, int32_t Kp, int32_t N)
{
    if (bits == 3 || Kp > THM_CQ_MVE_MAX_KP) {
        thm_matmul_cq_portable(xr, sh, w, bits, lut, norm_q, mult, rshift, y8, y32, M, Kp, N);
        return;
    }
    int8_t table[16];
    memset(table, 0, sizeof table);
    memcpy(table, lut, (size_t)1 << bits);
    int8_t xp[2 * THM_CQ_MVE_MAX_KP];
    const int32_t G = Kp / THM_CQ_GROUP;
    for (int32_t m = 0; m < M; m += 2) {
        const int32_t mr = M - m < 2 ? M - m : 2;
        for (int32_t i = 0; i < mr; i++) deinterleave(xr + (size_t)(m + i) * Kp, Kp, bits, xp + i * THM_CQ_MVE_MAX_KP);
        if (mr == 2) (bits == 2 ? pass2_2 : pass4_2)(xp, sh, w, table, norm_q, mult, rshift, y8, y32, m, G, N);
        else (bits == 2 ? pass2_1 : pass4_1)(xp, sh, w, table, norm_q, mult, rshift, y8, y32, m, G, N);
    }
}

#endif /* __ARM_FEATURE_MVE */
