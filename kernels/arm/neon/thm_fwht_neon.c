/* AArch64 NEON thm_fwht_s8_s32 (Needle 2's Hadamard MLP, one row): the same
 * integers as the portable butterflies, in any order, since every sum is
 * exact in int32 (|v| <= n 128 <= 2^19).
 *
 * Why: the portable loop is one butterfly (two loads, an add, a subtract,
 * two stores) per pair and stage, ~28k instructions for n = 512. Here the
 * first two stages run on each 4 inputs as they are widened (a 4-point
 * transform), and every later stage 4 pairs a vector: ~7k. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <arm_neon.h>

#include "thm_fwht.h"
#include "thm_impl.h"

void thm_fwht_s8_s32_neon(const int8_t *x, int32_t n, int32_t *v)
{
    if (n < 8) {                                   /* too short for the vector stages */
        thm_fwht_s8_s32_portable(x, n, v);
        return;
    }
    thm_fwht4_s8_s32(x, n, v);                     /* stages h = 1, 2 */
    for (int32_t h = 4; h < n; h <<= 1)
        for (int32_t i = 0; i < n; i += 2 * h)
            for (int32_t j = i; j < i + h; j += 4) {
                const int32x4_t a = vld1q_s32(v + j), b = vld1q_s32(v + j + h);
                vst1q_s32(v + j, vaddq_s32(a, b));
                vst1q_s32(v + j + h, vsubq_s32(a, b));
            }
}

#endif
