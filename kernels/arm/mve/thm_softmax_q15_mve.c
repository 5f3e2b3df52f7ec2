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

typedef struct {
    uint32x4_t topv, dmax, zlim, mult;
    int32_t left, right;
    uint32_t half;
} thm_sm_params;

/* e[j .. j + 4) for one step; tail: only the lanes t holds exist. Inlined
 * twice, with tail a constant: whole steps go unpredicated (GCC 12 spends
 * about a dozen instructions a step on VCTP's predicate moves). */
__attribute__((always_inline)) static inline uint32x4_t thm_sm_exp4(const int32_t *s, uint32_t *e,
                                                                     const thm_sm_params *q, int tail,
                                                                     mve_pred16_t t)
{
    const int32x4_t sv = tail ? vldrwq_z_s32(s, t) : vldrwq_s32(s);
    const uint32x4_t diff = vsubq_u32(q->topv, vreinterpretq_u32_s32(sv));  /* exact: top >= s */
    const uint32x4_t x = vshlq_r_u32(diff, q->left);
    const uint32x4_t high = vrmulhq_u32(vshlq_n_u32(x, 1), q->mult);
    const uint32x4_t z = vshlq_r_u32(vaddq_n_u32(high, q->half), -q->right);
    /* lanes in the tail, past diff_max or past the table read nothing: e = 0 */
    const mve_pred16_t take = (tail ? vcmpcsq_m_u32(q->dmax, diff, t) : vcmpcsq_u32(q->dmax, diff))
                              & vcmphiq_u32(q->zlim, z);
    const uint32x4_t zc = vminq_u32(z, vsubq_n_u32(q->zlim, 1));
    const uint32x4_t hi = vldrhq_gather_shifted_offset_z_u32(thm_exp_hi, vshrq_n_u32(zc, THM_EXP_FRAC_BITS), take);
    const uint32x4_t lo = vldrwq_gather_shifted_offset_z_u32(thm_exp_lo, vandq_u32(zc, vdupq_n_u32(THM_EXP_LO_LEN - 1)),
                                                             take);
    const uint32x4_t ev = vrshrq_n_u32(vmulq_u32(hi, lo), 15);   /* (hi lo + 2^14) >> 15, hi lo <= 2^30 */
    if (tail) vstrwq_p_u32(e, ev, t);
    else vstrwq_u32(e, ev);
    return ev;
}

static void thm_softmax_row_q15_mve(const int32_t *s, int16_t *p, int32_t n, int32_t mult, int32_t shift,
                                    int32_t diff_max, uint32_t *e)
{
    const int32_t full = n & ~3;
    thm_sm_params q;
    q.left = shift > 0 ? shift : 0;
    q.right = shift > 0 ? 0 : -shift;
    q.half = q.right ? (uint32_t)1 << (q.right - 1) : 0;
    int32_t top = INT32_MIN;
    int32_t j = 0;
    for (; j < full; j += 4) top = vmaxvq_s32(top, vldrwq_s32(s + j));
    if (j < n) {
        const mve_pred16_t t = vctp32q((uint32_t)(n - j));
        top = vmaxvq_p_s32(top, vldrwq_z_s32(s + j, t), t);
    }
    q.topv = vdupq_n_u32((uint32_t)top);
    q.dmax = vdupq_n_u32((uint32_t)diff_max);
    q.zlim = vdupq_n_u32((uint32_t)THM_EXP_HI_LEN << THM_EXP_FRAC_BITS);  /* exp is 0 from here */
    q.mult = vdupq_n_u32((uint32_t)mult);
    uint32_t total = 0;
    for (j = 0; j < full; j += 4) total = vaddvaq_u32(total, thm_sm_exp4(s + j, e + j, &q, 0, 0));
    if (j < n) total = vaddvaq_u32(total, thm_sm_exp4(s + j, e + j, &q, 1, vctp32q((uint32_t)(n - j))));
    const uint32x4_t inv = vdupq_n_u32((uint32_t)thm_div_2p46(total));   /* total >= 2^15: no 64-bit division */
    const uint32x4_t cap = vdupq_n_u32(32767);
    for (j = 0; j < full; j += 4)
        vstrhq_u32((uint16_t *)(void *)(p + j), vminq_u32(vrmulhq_u32(vshlq_n_u32(vldrwq_u32(e + j), 1), inv), cap));
    if (j < n) {
        const mve_pred16_t t = vctp32q((uint32_t)(n - j));
        const uint32x4_t pj = vminq_u32(vrmulhq_u32(vshlq_n_u32(vldrwq_z_u32(e + j, t), 1), inv), cap);
        vstrhq_p_u32((uint16_t *)(void *)(p + j), pj, t);
    }
}

THM_SOFTMAX_ROWS_ENTRY(mve)

#endif /* __ARM_FEATURE_MVE */
