/* Cortex-M55 Helium elementwise requantize, int32 in and out: the tied
 * head's 8192 logits each decode step (portable: about 30 instructions an
 * element with its 64-bit multiply; here a predicated vector of four). The
 * arithmetic is thm_mve_requant's (thm_arm_mve_requant.h), exact; the tail
 * is predicated (nothing past n read or written); in == out is allowed
 * (each vector is loaded before it is stored). */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include "thm_impl.h"
#include "thm_arm_mve_requant.h"

void thm_requantize_s32_mve(const int32_t *in, const int32_t *mult, const int32_t *shift, int32_t *out, int32_t n)
{
    for (int32_t i = 0; i < n; i += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)(n - i));
        const int32x4_t r = thm_mve_requant(vldrwq_z_s32(in + i, p), vldrwq_z_s32(mult + i, p),
                                            vldrwq_z_s32(shift + i, p));
        vstrwq_p_s32(out + i, r, p);
    }
}

#endif
