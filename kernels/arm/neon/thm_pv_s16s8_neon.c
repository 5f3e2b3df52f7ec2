/* AArch64 NEON thm_pv_s16s8: acc[d] += sum_{j < n} p[j] v[j ldv + d] (the
 * decoder's streaming self-attention: one query row against the KV cache,
 * V not transposed), the same int32 sums as the portable loop (|acc| <=
 * 2^15 128 n: nothing wraps).
 *
 * Why: the portable loop loads, multiply-adds and stores an accumulator per
 * MAC. Here 32 accumulators of d stay in eight vector registers across all
 * keys: per key, two 16-byte loads, four SXTL(2) widenings to int16 and
 * eight SMLAL(2) by p[j] (int16 x int16 into int32 lanes), 32 MACs per 14
 * instructions. A D tail of under 8 is scalar. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <arm_neon.h>

#include "thm_impl.h"

void thm_pv_s16s8_neon(const int16_t *p, const int8_t *v, size_t ldv, int32_t n, int32_t D, int32_t *acc)
{
    int32_t d = 0;
    for (; d + 32 <= D; d += 32) {
        int32x4_t a[8];
        for (int i = 0; i < 8; i++) a[i] = vld1q_s32(acc + d + 4 * i);
        const int8_t *vj = v + d;
        for (int32_t j = 0; j < n; j++, vj += ldv) {
            const int16_t pj = p[j];
            const int8x16_t x0 = vld1q_s8(vj), x1 = vld1q_s8(vj + 16);
            const int16x8_t w0 = vmovl_s8(vget_low_s8(x0)), w1 = vmovl_high_s8(x0);
            const int16x8_t w2 = vmovl_s8(vget_low_s8(x1)), w3 = vmovl_high_s8(x1);
            a[0] = vmlal_n_s16(a[0], vget_low_s16(w0), pj);
            a[1] = vmlal_high_n_s16(a[1], w0, pj);
            a[2] = vmlal_n_s16(a[2], vget_low_s16(w1), pj);
            a[3] = vmlal_high_n_s16(a[3], w1, pj);
            a[4] = vmlal_n_s16(a[4], vget_low_s16(w2), pj);
            a[5] = vmlal_high_n_s16(a[5], w2, pj);
            a[6] = vmlal_n_s16(a[6], vget_low_s16(w3), pj);
            a[7] = vmlal_high_n_s16(a[7], w3, pj);
        }
        for (int i = 0; i < 8; i++) vst1q_s32(acc + d + 4 * i, a[i]);
    }
    for (; d + 8 <= D; d += 8) {
        int32x4_t a0 = vld1q_s32(acc + d), a1 = vld1q_s32(acc + d + 4);
        const int8_t *vj = v + d;
        for (int32_t j = 0; j < n; j++, vj += ldv) {
            const int16x8_t w = vmovl_s8(vld1_s8(vj));
            a0 = vmlal_n_s16(a0, vget_low_s16(w), p[j]);
            a1 = vmlal_high_n_s16(a1, w, p[j]);
        }
        vst1q_s32(acc + d, a0);
        vst1q_s32(acc + d + 4, a1);
    }
    for (; d < D; d++) {
        int32_t s = acc[d];
        for (int32_t j = 0; j < n; j++) s += (int32_t)p[j] * (int32_t)v[(size_t)j * ldv + d];
        acc[d] = s;
    }
}

#endif /* __aarch64__ && __ARM_FEATURE_DOTPROD */
