/* Cortex-M55 Helium RMSNorm of one row, int16 or int8 in, int8 out,
 * bit-exact with thm_rmsnorm_s16 / _s8 (kernels/src/thm_rmsnorm.c).
 *
 * Why: scalar, each element costs a 64-bit x * inv and a 64-bit requantize
 * (~50 instructions on the M55); the norms were a fifth of the watch's
 * prefill. Here the sum of squares is VMLALDAVA.S16 (64-bit) or VMLADAVA.S8,
 * and four elements a step are normed without 64-bit lanes: with inv <= 2^31 - 1
 * split as inv = ih 2^15 + il (il < 2^15),
 *   (x inv + 2^14) >> 15 = x ih + ((x il + 2^14) >> 15)
 * exactly (x ih 2^15 is a multiple of 2^15), |x il| < 2^30, and the true
 * result fits int32 for |x| <= 2^15, so the wrapping x ih cannot matter and
 * the kernel's clamp cannot act. The per-channel requantize is
 * thm_arm_mve_requant.h's. A row whose inv is larger (rms < 0.5)
 * takes the scalar form. */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <arm_mve.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_arm_mve_requant.h"

/* Four normed elements: sat8(requantize(x ih + ((x il + 2^14) >> 15), gm, gs)). */
static inline int32x4_t thm_mve_norm4(int32x4_t xv, int32x4_t ih, int32x4_t il, int32x4_t gm, int32x4_t gs)
{
    const int32x4_t n = vaddq_s32(vmulq_s32(xv, ih), vrshrq_n_s32(vmulq_s32(xv, il), 15));
    return thm_mve_requant_sat8(n, gm, gs);
}

static void thm_rmsnorm_row_mve(const void *x, int x16, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                                int8_t *y, int32_t D)
{
    const int16_t *xs = (const int16_t *)x;
    const int8_t *xb = (const int8_t *)x;
    int64_t ss = 0;
    if (x16) {
        for (int32_t i = 0; i < D; i += 8) {
            const int16x8_t v = vldrhq_z_s16(xs + i, vctp16q((uint32_t)(D - i)));
            ss = vmlaldavaq_s16(ss, v, v);
        }
    } else {
        int32_t s8 = 0;   /* D * 2^14 < 2^31 */
        for (int32_t i = 0; i < D; i += 16) {
            const int8x16_t v = vldrbq_z_s8(xb + i, vctp8q((uint32_t)(D - i)));
            s8 = vmladavaq_s8(s8, v, v);
        }
        ss = s8;
    }
    const int64_t inv = thm_rms_inv(ss, D, eps_q16);
    if (inv > INT32_MAX) {
        for (int32_t i = 0; i < D; i++) y[i] = thm_rms_apply(x16 ? xs[i] : xb[i], inv, gm[i], gs[i]);
        return;
    }
    const int32x4_t ih = vdupq_n_s32((int32_t)(inv >> 15)), il = vdupq_n_s32((int32_t)(inv & 0x7fff));
    /* whole vectors unpredicated, one loop per element type: GCC 12 spends a
     * dozen instructions a step on VCTP's predicate moves and the x16 test
     * (35 instructions per 4 elements measured, 21 without) */
    const int32_t full = D & ~3;
    int32_t i = 0;
    if (x16) {
        for (; i < full; i += 4)
            vstrbq_s32(y + i, thm_mve_norm4(vldrhq_s32(xs + i), ih, il, vldrwq_s32(gm + i), vldrwq_s32(gs + i)));
    } else {
        for (; i < full; i += 4)
            vstrbq_s32(y + i, thm_mve_norm4(vldrbq_s32(xb + i), ih, il, vldrwq_s32(gm + i), vldrwq_s32(gs + i)));
    }
    if (i < D) {   /* the last D % 4, predicated */
        const mve_pred16_t t = vctp32q((uint32_t)(D - i));
        const int32x4_t xv = x16 ? vldrhq_z_s32(xs + i, t) : vldrbq_z_s32(xb + i, t);
        vstrbq_p_s32(y + i, thm_mve_norm4(xv, ih, il, vldrwq_z_s32(gm + i, t), vldrwq_z_s32(gs + i, t)), t);
    }
}

THM_RMSNORM_ROW_ENTRIES(mve)

#endif /* __ARM_FEATURE_MVE */
