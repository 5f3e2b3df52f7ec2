/* AArch64 NEON RMSNorm of one row, int16 or int8 in, int8 out, bit-exact
 * with thm_rmsnorm_s16 / _s8 (kernels/src/thm_rmsnorm.c); the glasses' form
 * of kernels/arm/mve/thm_rmsnorm_mve.c, whose comment has the argument:
 * with inv <= 2^31 - 1 split as ih 2^15 + il, (x inv + 2^14) >> 15 =
 * x ih + ((x il + 2^14) >> 15) in int32 lanes, then the per-channel
 * requantize of thm_arm_neon_requant.h. Rows with a larger inv (rms < 0.5)
 * and the last D % 4 elements take the scalar form. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <arm_neon.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_arm_neon_requant.h"

/* Four int8 at p (no alignment, nothing past p + 3 read) widened to int16. */
static inline int16x4_t thm_neon_s8x4(const int8_t *p)
{
    int32_t w;
    __builtin_memcpy(&w, p, 4);
    return vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(w))));
}

static void thm_rmsnorm_row_neon(const void *x, int x16, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                                 int8_t *y, int32_t D)
{
    const int16_t *xs = (const int16_t *)x;
    const int8_t *xb = (const int8_t *)x;
    int64x2_t acc = vdupq_n_s64(0);
    int32_t i = 0;
    for (; i + 4 <= D; i += 4) {   /* squares <= 2^30, pairs added into 64-bit lanes */
        const int16x4_t v = x16 ? vld1_s16(xs + i) : thm_neon_s8x4(xb + i);
        acc = vpadalq_s32(acc, vmull_s16(v, v));
    }
    int64_t ss = vaddvq_s64(acc);
    for (int32_t k = i; k < D; k++) {
        const int32_t v = x16 ? xs[k] : xb[k];
        ss += v * v;
    }
    const int64_t inv = thm_rms_inv(ss, D, eps_q16);
    int32_t from = 0;
    if (inv <= INT32_MAX) {
        const int32x4_t ih = vdupq_n_s32((int32_t)(inv >> 15)), il = vdupq_n_s32((int32_t)(inv & 0x7fff));
        for (; from + 4 <= D; from += 4) {
            const int32x4_t xv = vmovl_s16(x16 ? vld1_s16(xs + from) : thm_neon_s8x4(xb + from));
            const int32x4_t n = vaddq_s32(vmulq_s32(xv, ih), vrshrq_n_s32(vmulq_s32(xv, il), 15));
            const int8x8_t r = thm_neon_sat8x4(thm_neon_requant4(n, vld1q_s32(gm + from), vld1q_s32(gs + from)));
            const int32_t four = vget_lane_s32(vreinterpret_s32_s8(r), 0);
            __builtin_memcpy(y + from, &four, 4);   /* y + from need not be 4-aligned */
        }
    }
    for (; from < D; from++) y[from] = thm_rms_apply(x16 ? xs[from] : xb[from], inv, gm[from], gs[from]);
}

THM_RMSNORM_ROW_ENTRIES(neon)

#endif /* __ARM_FEATURE_DOTPROD */
