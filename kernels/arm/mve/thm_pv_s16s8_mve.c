/* Cortex-M55 Helium thm_pv_s16s8: acc[d] += sum_{j < n} p[j] v[j ldv + d]
 * (the decoder's streaming self-attention, thm_attention_s8: one query row
 * against the KV cache rows, V not transposed), the same int32 sums as the
 * portable loop (|acc| <= 2^15 128 n: nothing wraps).
 *
 * Why: the portable loop spends a load, a multiply-add and a store of the
 * accumulator per MAC. Here 16 accumulators of d stay in four vector
 * registers for the whole run over j: per key, four VLDRB.S32 (V widened
 * while loading) and four VMLA.S32 by the scalar p[j], 16 MACs per 8
 * instructions. The D tail is predicated (VCTP32: lanes past D are neither
 * read nor written). Zero p[j] are not skipped: a vector step is cheaper
 * than the test. */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <arm_mve.h>

#include "thm_impl.h"

void thm_pv_s16s8_mve(const int16_t *p, const int8_t *v, size_t ldv, int32_t n, int32_t D, int32_t *acc)
{
    for (int32_t d = 0; d < D; d += 16) {
        const mve_pred16_t t0 = vctp32q((uint32_t)(D - d)), t1 = vctp32q((uint32_t)(D - d > 4 ? D - d - 4 : 0));
        const mve_pred16_t t2 = vctp32q((uint32_t)(D - d > 8 ? D - d - 8 : 0));
        const mve_pred16_t t3 = vctp32q((uint32_t)(D - d > 12 ? D - d - 12 : 0));
        int32x4_t a0 = vldrwq_z_s32(acc + d, t0), a1 = vldrwq_z_s32(acc + d + 4, t1);
        int32x4_t a2 = vldrwq_z_s32(acc + d + 8, t2), a3 = vldrwq_z_s32(acc + d + 12, t3);
        const int8_t *vj = v + d;
        for (int32_t j = 0; j < n; j++, vj += ldv) {
            const int32_t pj = p[j];
            a0 = vmlaq_n_s32(a0, vldrbq_z_s32(vj, t0), pj);
            a1 = vmlaq_n_s32(a1, vldrbq_z_s32(vj + 4, t1), pj);
            a2 = vmlaq_n_s32(a2, vldrbq_z_s32(vj + 8, t2), pj);
            a3 = vmlaq_n_s32(a3, vldrbq_z_s32(vj + 12, t3), pj);
        }
        vstrwq_p_s32(acc + d, a0, t0);
        vstrwq_p_s32(acc + d + 4, a1, t1);
        vstrwq_p_s32(acc + d + 8, a2, t2);
        vstrwq_p_s32(acc + d + 12, a3, t3);
    }
}

#endif /* __ARM_FEATURE_MVE */
