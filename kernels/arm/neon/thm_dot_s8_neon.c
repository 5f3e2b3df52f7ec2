/* AArch64 NEON dot product of two int8 vectors (attention's QK^T, one score):
 * SDOT on 16 bytes at a time, the tail (K % 16) from zero-padded copies.
 * Exact: |a . b| <= 2^14 * K fits int32 for K <= 2^16 (head_dim <= 256). */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <arm_neon.h>
#include <string.h>

#include "thm_impl.h"

int32_t thm_dot_s8_neon(const int8_t *a, const int8_t *b, int32_t K)
{
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
    int32_t k = 0;
    for (; k + 32 <= K; k += 32) {
        acc0 = vdotq_s32(acc0, vld1q_s8(a + k), vld1q_s8(b + k));
        acc1 = vdotq_s32(acc1, vld1q_s8(a + k + 16), vld1q_s8(b + k + 16));
    }
    if (k + 16 <= K) {
        acc0 = vdotq_s32(acc0, vld1q_s8(a + k), vld1q_s8(b + k));
        k += 16;
    }
    if (k < K) {
        int8_t ta[16], tb[16];
        memset(ta, 0, sizeof ta);
        memset(tb, 0, sizeof tb);
        memcpy(ta, a + k, (size_t)(K - k));
        memcpy(tb, b + k, (size_t)(K - k));
        acc1 = vdotq_s32(acc1, vld1q_s8(ta), vld1q_s8(tb));
    }
    return vaddvq_s32(vaddq_s32(acc0, acc1));
}

#endif /* __aarch64__ && __ARM_FEATURE_DOTPROD */
