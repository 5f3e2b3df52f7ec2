/* Cortex-M55 Helium softmax of one unmasked row, bit-exact with
 * thm_softmax_q15 (kernels/src/thm_softmax_q15.c), four keys a step.
 *
 * Why: scalar, each key costs a 64-bit multiply, two table loads and a
 * second 64-bit multiply for the normalisation (~50 instructions on the
 * M55); softmax was the largest share of the watch's prefill. Both 64-bit
 * products here are of the form floor((a b + 2^30) / 2^31) with unsigned
 * a < 2^31, b < 2^32, which is VRMULH.U32 (2a, b) = (2ab + 2^31) >> 32, and
 * the exp tables are read with gather loads (VLDRH/VLDRW, shifted offsets).
 * The caller has checked what the general kernel checks, and more:
 * 1 <= n <= THM_SOFTMAX_ROW_MAX_N (so the exp sum fits 32 bits), mult >= 0, and
 * thm_softmax_range_ok(shift, diff_max), so diff << max(shift, 0) < 2^31. */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <arm_mve.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"

static void thm_softmax_row_q15_mve(const int32_t *s, int16_t *p, int32_t n, int32_t mult, int32_t shift,
                                    int32_t diff_max, uint32_t *e)
{
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const uint32_t half = right ? (uint32_t)1 << (right - 1) : 0;
    int32_t top = INT32_MIN;
    for (int32_t j = 0; j < n; j += 4) {
        const mve_pred16_t t = vctp32q((uint32_t)(n - j));
        top = vmaxvq_p_s32(top, vldrwq_z_s32(s + j, t), t);
    }
    const uint32x4_t topv = vdupq_n_u32((uint32_t)top), dmax = vdupq_n_u32((uint32_t)diff_max);
    const uint32x4_t zlim = vdupq_n_u32((uint32_t)THM_EXP_HI_LEN << THM_EXP_FRAC_BITS);  /* exp is 0 from here */
    uint32_t total = 0;
    for (int32_t j = 0; j < n; j += 4) {
        const mve_pred16_t t = vctp32q((uint32_t)(n - j));
        const uint32x4_t diff = vsubq_u32(topv, vreinterpretq_u32_s32(vldrwq_z_s32(s + j, t)));  /* exact: top >= s */
        const uint32x4_t x = vshlq_r_u32(diff, left);
        const uint32x4_t high = vrmulhq_u32(vshlq_n_u32(x, 1), vdupq_n_u32((uint32_t)mult));
        const uint32x4_t z = vshlq_r_u32(vaddq_n_u32(high, half), -right);
        /* lanes in the tail, past diff_max or past the table read nothing: e = 0 */
        const mve_pred16_t take = vcmpcsq_m_u32(dmax, diff, t) & vcmphiq_u32(zlim, z);
        const uint32x4_t zc = vminq_u32(z, vsubq_n_u32(zlim, 1));
        const uint32x4_t hi = vldrhq_gather_shifted_offset_z_u32(thm_exp_hi, vshrq_n_u32(zc, THM_EXP_FRAC_BITS), take);
        const uint32x4_t lo = vldrwq_gather_shifted_offset_z_u32(thm_exp_lo, vandq_u32(zc, vdupq_n_u32(THM_EXP_LO_LEN - 1)),
                                                                 take);
        const uint32x4_t ev = vrshrq_n_u32(vmulq_u32(hi, lo), 15);   /* (hi lo + 2^14) >> 15, hi lo <= 2^30 */
        vstrwq_p_u32(e + j, ev, t);
        total = vaddvaq_u32(total, ev);
    }
    const uint32x4_t inv = vdupq_n_u32((uint32_t)(((uint64_t)1 << 46) / total));   /* total >= 2^15 */
    for (int32_t j = 0; j < n; j += 4) {
        const mve_pred16_t t = vctp32q((uint32_t)(n - j));
        const uint32x4_t ev = vldrwq_z_u32(e + j, t);
        const uint32x4_t pj = vminq_u32(vrmulhq_u32(vshlq_n_u32(ev, 1), inv), vdupq_n_u32(32767));
        vstrhq_p_u32((uint16_t *)(void *)(p + j), pj, t);
    }
}

THM_SOFTMAX_ROWS_ENTRY(mve)

#endif /* __ARM_FEATURE_MVE */
