/* Cortex-M55 Helium dot product of two int8 vectors (attention's QK^T, one
 * score): VMLADAVA.S8, 16 k per step, the tail predicated (VCTP8). */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <arm_mve.h>

#include "thm_impl.h"

int32_t thm_dot_s8_mve(const int8_t *a, const int8_t *b, int32_t K)
{
    int32_t acc = 0;
    for (int32_t k = 0; k < K; k += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(K - k));
        acc = vmladavaq_s8(acc, vldrbq_z_s8(a + k, p), vldrbq_z_s8(b + k, p));
    }
    return acc;
}

#endif /* __ARM_FEATURE_MVE */
