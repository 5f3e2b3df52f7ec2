/* AArch64 NEON softmax of one unmasked row, bit-exact with thm_softmax_q15
 * (kernels/src/thm_softmax_q15.c), four keys a step; the glasses' form of
 * kernels/arm/mve/thm_softmax_q15_mve.c (same argument, same caller checks).
 *
 * Why: scalar, a key costs ~37 instructions on the A55 and softmax was a
 * fifth of its prefill. Both products are floor((a b + 2^30) / 2^31) of
 * non-negative int32 a, b < 2^31, which is SQRDMULH (2ab + 2^31) >> 32
 * (it saturates only for INT32_MIN squared); the rounding right shift of a
 * non-negative value is SRSHL by -right. NEON has no gather, so the two exp
 * table reads stay scalar, four a step from the vector's lanes. The
 * normalisation's 2^46 / total is 2^31 when only the maximum counts (total
 * 2^15, past int32): then p = min(e, 32767), which is what the kernel's
 * (e 2^31 + 2^30) >> 31 gives. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <arm_neon.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"

static void thm_softmax_row_q15_neon(const int32_t *s, int16_t *p, int32_t n, int32_t mult, int32_t shift,
                                     int32_t diff_max, uint32_t *e)
{
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const uint32_t zlim = (uint32_t)THM_EXP_HI_LEN << THM_EXP_FRAC_BITS;   /* exp is 0 from here */
    int32_t top = s[0];
    int32_t j = 0;
    if (n >= 4) {
        int32x4_t m = vld1q_s32(s);
        for (j = 4; j + 4 <= n; j += 4) m = vmaxq_s32(m, vld1q_s32(s + j));
        top = vmaxvq_s32(m);
    }
    for (; j < n; j++) top = s[j] > top ? s[j] : top;
    const uint32x4_t topv = vdupq_n_u32((uint32_t)top), dmax = vdupq_n_u32((uint32_t)diff_max);
    const int32x4_t lsh = vdupq_n_s32(left), rsh = vdupq_n_s32(-right), mv = vdupq_n_s32(mult);
    uint32x4_t sum = vdupq_n_u32(0);
    for (j = 0; j + 4 <= n; j += 4) {
        const uint32x4_t diff = vsubq_u32(topv, vreinterpretq_u32_s32(vld1q_s32(s + j)));   /* exact: top >= s */
        const uint32x4_t ok = vcleq_u32(diff, dmax);
        const int32x4_t x = vshlq_s32(vreinterpretq_s32_u32(vandq_u32(diff, ok)), lsh);     /* < 2^31 */
        const uint32x4_t z = vreinterpretq_u32_s32(vrshlq_s32(vqrdmulhq_s32(x, mv), rsh));
        const uint32x4_t take = vandq_u32(ok, vcltq_u32(z, vdupq_n_u32(zlim)));
        const uint32x4_t zc = vminq_u32(z, vdupq_n_u32(zlim - 1));
        uint32_t hi[4], lo[4];
        hi[0] = thm_exp_hi[vgetq_lane_u32(zc, 0) >> THM_EXP_FRAC_BITS];
        lo[0] = thm_exp_lo[vgetq_lane_u32(zc, 0) & (THM_EXP_LO_LEN - 1)];
        hi[1] = thm_exp_hi[vgetq_lane_u32(zc, 1) >> THM_EXP_FRAC_BITS];
        lo[1] = thm_exp_lo[vgetq_lane_u32(zc, 1) & (THM_EXP_LO_LEN - 1)];
        hi[2] = thm_exp_hi[vgetq_lane_u32(zc, 2) >> THM_EXP_FRAC_BITS];
        lo[2] = thm_exp_lo[vgetq_lane_u32(zc, 2) & (THM_EXP_LO_LEN - 1)];
        hi[3] = thm_exp_hi[vgetq_lane_u32(zc, 3) >> THM_EXP_FRAC_BITS];
        lo[3] = thm_exp_lo[vgetq_lane_u32(zc, 3) & (THM_EXP_LO_LEN - 1)];
        const uint32x4_t ev = vandq_u32(vrshrq_n_u32(vmulq_u32(vld1q_u32(hi), vld1q_u32(lo)), 15), take);
        vst1q_u32(e + j, ev);
        sum = vaddq_u32(sum, ev);
    }
    uint32_t total = vaddvq_u32(sum);
    for (; j < n; j++) {   /* the tail, as the kernel does it */
        const uint32_t diff = (uint32_t)top - (uint32_t)s[j];
        uint32_t ej = 0;
        if (diff <= (uint32_t)diff_max) {
            const int32_t z = thm_requantize((int32_t)diff, mult, shift);
            ej = thm_exp_q15(z);
        }
        e[j] = ej;
        total += ej;
    }
    const uint64_t inv = thm_div_2p46(total);   /* total >= 2^15: inv <= 2^31 */
    if (inv > INT32_MAX) {
        for (j = 0; j < n; j++) p[j] = (int16_t)(e[j] > 32767 ? 32767 : e[j]);
        return;
    }
    const int32x4_t iv = vdupq_n_s32((int32_t)inv);
    for (j = 0; j + 4 <= n; j += 4) {
        const int32x4_t pj = vminq_s32(vqrdmulhq_s32(vreinterpretq_s32_u32(vld1q_u32(e + j)), iv), vdupq_n_s32(32767));
        vst1_s16(p + j, vmovn_s32(pj));
    }
    for (; j < n; j++) {
        const uint64_t pj = ((uint64_t)e[j] * inv + ((uint64_t)1 << 30)) >> 31;
        p[j] = (int16_t)(pj > 32767 ? 32767 : pj);
    }
}

THM_SOFTMAX_ROWS_ENTRY(neon)

#endif /* __ARM_FEATURE_DOTPROD */
