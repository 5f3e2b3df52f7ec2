/* AArch64 NEON elementwise requantize, int32 in and out (the tied head's
 * logits each decode step): thm_neon_requant4 (thm_arm_neon_requant.h),
 * exact, four lanes a step and the scalar reference for the last n % 4;
 * in == out is allowed. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include "thm_impl.h"
#include "thm_fixedpoint.h"
#include "thm_arm_neon_requant.h"

void thm_requantize_s32_neon(const int32_t *in, const int32_t *mult, const int32_t *shift, int32_t *out, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_s32(out + i, thm_neon_requant4(vld1q_s32(in + i), vld1q_s32(mult + i), vld1q_s32(shift + i)));
    for (; i < n; i++) out[i] = thm_requantize(in[i], mult[i], shift[i]);
}

#endif
