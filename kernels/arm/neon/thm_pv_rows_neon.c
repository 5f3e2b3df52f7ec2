/* AArch64 NEON thm_pv_rows_s8 (the fast attention's P.V on glasses_a55):
 * out [r, d] = sat8(requantize(sum_j p[r, j] vt[d, j])) for Q15 probabilities
 * p [bq, Tk] and one head's V^T [D, Tk], bit-exact with the portable digit
 * split (kernels/src/thm_pv_rows_s8.c), which it keeps: two int8 digits of p
 * through the SDOT matmul (thm_matmul_s8_s32_neon), since SDOT's 16 int8
 * products an instruction beat any int16 x int8 form NEON has (SMLAL: 4).
 *
 * Why: the portable form ran its three passes around the matmul in scalar C
 * (the largest of p, the digits, the recombination), which cost more than
 * the two matmuls (0.57 instructions per MAC of P.V on the A55). Here each is
 * vector: the largest p with SMAX over 8 lanes; the digits of 8 p in two
 * narrowing instructions, lo = XTN(p) (p's low byte, p - 256 hi in -128..127)
 * and hi = ADDHN(p, 128) ((p + 128) >> 8, 0..127; p + 128 <= 32767 below
 * THM_PV_TWO_DIGIT_MAX, so the int16 add cannot wrap); and 256 s1 + s0 in
 * wrapping int32 (SHL, ADD) before the vector requantize of the matmul
 * epilogues. A block with a p at or above THM_PV_TWO_DIGIT_MAX (three
 * digits: a near one-hot row) takes the portable form. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <arm_neon.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_arm_neon_requant.h"

#define THM_PV_TWO_DIGIT_MAX 32640   /* as kernels/src/thm_pv_rows_s8.c */

static size_t thm_al64(size_t n) { return (n + 63u) & ~(size_t)63u; }

void thm_pv_rows_s8_neon(const int16_t *p, int32_t bq, int32_t Tk, const int8_t *vt, int32_t D, int32_t mult,
                         int32_t shift, int8_t *out, size_t out_stride, void *scratch)
{
    const size_t np = (size_t)bq * (size_t)Tk;
    size_t j = 0;
    int16x8_t mx = vdupq_n_s16(0);
    for (; j + 8 <= np; j += 8) mx = vmaxq_s16(mx, vld1q_s16(p + j));
    int32_t pmax = vmaxvq_s16(mx);
    for (; j < np; j++) pmax = p[j] > pmax ? p[j] : pmax;
    if (pmax >= THM_PV_TWO_DIGIT_MAX) {
        thm_pv_rows_s8_portable(p, bq, Tk, vt, D, mult, shift, out, out_stride, scratch);
        return;
    }
    /* the portable form's scratch layout: digit[0..2] [bq, Tk], then s[0..2] [bq, D] */
    uint8_t *at = (uint8_t *)scratch;
    int8_t *lo = (int8_t *)at, *hi = (int8_t *)(at + thm_al64(np));
    int32_t *s0 = (int32_t *)(void *)(at + 3 * thm_al64(np));
    int32_t *s1 = (int32_t *)(void *)((uint8_t *)s0 + thm_al64((size_t)bq * (size_t)D * 4));
    const int16x8_t half = vdupq_n_s16(128);
    for (j = 0; j + 8 <= np; j += 8) {
        const int16x8_t v = vld1q_s16(p + j);
        vst1_s8(lo + j, vmovn_s16(v));
        vst1_s8(hi + j, vaddhn_s16(v, half));
    }
    for (; j < np; j++) {
        const int32_t h = (p[j] + 128) >> 8;
        lo[j] = (int8_t)(p[j] - h * 256);
        hi[j] = (int8_t)h;
    }
    thm_matmul_s8_s32_neon(lo, vt, 0, s0, bq, Tk, D);
    thm_matmul_s8_s32_neon(hi, vt, 0, s1, bq, Tk, D);
    const int32x4_t mv = vdupq_n_s32(mult), sv = vdupq_n_s32(shift);
    for (int32_t r = 0; r < bq; r++) {
        const int32_t *a = s0 + (size_t)r * D, *b = s1 + (size_t)r * D;
        int8_t *o = out + (size_t)r * out_stride;
        int32_t d = 0;
        for (; d + 4 <= D; d += 4) {
            const int32x4_t acc = vaddq_s32(vshlq_n_s32(vld1q_s32(b + d), 8), vld1q_s32(a + d));
            const int8x8_t y = thm_neon_sat8x4(thm_neon_requant4(acc, mv, sv));
            vst1_lane_s32((int32_t *)(void *)(o + d), vreinterpret_s32_s8(y), 0);
        }
        for (; d < D; d++)
            o[d] = thm_sat8(thm_requantize((int32_t)(((uint32_t)b[d] << 8) + (uint32_t)a[d]), mult, shift));
    }
}

#endif /* __aarch64__ && __ARM_FEATURE_DOTPROD */
