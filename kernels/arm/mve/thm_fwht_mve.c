/* Cortex-M55 Helium thm_fwht_s8_s32 (Needle 2's Hadamard MLP, one row): the
 * plan of the NEON one (kernels/arm/neon/thm_fwht_neon.c): the first two
 * stages on each 4 inputs as they are widened, every later stage 4 pairs a
 * vector; every sum is exact in int32, so any order gives the same integers. */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <arm_mve.h>

#include "thm_fwht.h"
#include "thm_impl.h"

void thm_fwht_s8_s32_mve(const int8_t *x, int32_t n, int32_t *v)
{
    if (n < 8) {
        thm_fwht_s8_s32_portable(x, n, v);
        return;
    }
    thm_fwht4_s8_s32(x, n, v);                     /* stages h = 1, 2 */
    for (int32_t h = 4; h < n; h <<= 1)
        for (int32_t i = 0; i < n; i += 2 * h)
            for (int32_t j = i; j < i + h; j += 4) {
                const int32x4_t a = vldrwq_s32(v + j), b = vldrwq_s32(v + j + h);
                vstrwq_s32(v + j, vaddq_s32(a, b));
                vstrwq_s32(v + j + h, vsubq_s32(a, b));
            }
}

#endif
