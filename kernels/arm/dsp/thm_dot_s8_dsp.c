/* Cortex-M DSP dot product of two int8 vectors (attention's QK^T, one score):
 * 4 k per step, SXTB16 (plain and rotated) + SMLAD; scalar tail. */
#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)

#include "thm_impl.h"
#include "thm_arm_dsp.h"

int32_t thm_dot_s8_dsp(const int8_t *a, const int8_t *b, int32_t K)
{
    int32_t acc = 0, k = 0;
    for (; k + 4 <= K; k += 4) {
        const uint32_t va = thm_ld32(a + k), vb = thm_ld32(b + k);
        acc = thm_smlad(thm_sxtb16(va), thm_sxtb16(vb), acc);
        acc = thm_smlad(thm_sxtb16_ror8(va), thm_sxtb16_ror8(vb), acc);
    }
    for (; k < K; k++) acc += (int32_t)a[k] * (int32_t)b[k];
    return acc;
}

#endif /* __ARM_FEATURE_DSP */
