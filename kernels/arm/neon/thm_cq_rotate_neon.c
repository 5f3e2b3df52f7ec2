/* AArch64 NEON rotation of CQ activations (thm_cq_rotate_s8): the bits of
 * the portable C. A group's 128 values are 16 vectors of 8 int16 lanes; the
 * Walsh-Hadamard matrix of 128 is H16 (x) H8 over (vector, lane) since
 * (8i + j) & (8k + l) splits by bits, so the transform is butterflies between
 * vectors (4 stages) and, inside each vector, 3 stages of v = swap(v) + s v
 * with the partner lanes from EXT / REV and s the stage's +-1 signs (MLA).
 * Every partial sum is at most 2^s 128 <= 2^14: int16 holds it. The shift is
 * chosen from the group's max and min as in the portable C, applied with a
 * rounding shift (VRSHL: floor((v + 2^(s-1)) / 2^s)) and narrowed. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <arm_neon.h>

#include "thimble_kernels.h"
#include "thm_impl.h"

static void rotate_group(const int8_t *x, int32_t n, int8_t *out, uint8_t *sh)
{
    int8_t pad[THM_CQ_GROUP];
    if (n < THM_CQ_GROUP) {                      /* the last group of a row: zero-padded */
        for (int32_t j = 0; j < THM_CQ_GROUP; j++) pad[j] = j < n ? x[j] : 0;
        x = pad;
    }
    int16x8_t v[16];
    for (int i = 0; i < 8; i++) {
        const int8x16_t b = vld1q_s8(x + 16 * i);
        v[2 * i] = vmovl_s8(vget_low_s8(b));
        v[2 * i + 1] = vmovl_s8(vget_high_s8(b));
    }
    for (int h = 1; h < 16; h <<= 1)             /* between vectors: element strides 8 .. 64 */
        for (int i = 0; i < 16; i += 2 * h)
            for (int j = i; j < i + h; j++) {
                const int16x8_t a = v[j], b = v[j + h];
                v[j] = vaddq_s16(a, b);
                v[j + h] = vsubq_s16(a, b);
            }
    static const int16_t s1[8] = {1, -1, 1, -1, 1, -1, 1, -1}, s2[8] = {1, 1, -1, -1, 1, 1, -1, -1},
                         s4[8] = {1, 1, 1, 1, -1, -1, -1, -1};
    const int16x8_t m1 = vld1q_s16(s1), m2 = vld1q_s16(s2), m4 = vld1q_s16(s4);
    int16x8_t hi = vdupq_n_s16(INT16_MIN), lo = vdupq_n_s16(INT16_MAX);
    for (int i = 0; i < 16; i++) {               /* inside a vector: lane strides 1, 2, 4 */
        int16x8_t t = v[i];
        t = vmlaq_s16(vrev32q_s16(t), t, m1);
        t = vmlaq_s16(vreinterpretq_s16_s32(vrev64q_s32(vreinterpretq_s32_s16(t))), t, m2);
        t = vmlaq_s16(vextq_s16(t, t, 4), t, m4);
        v[i] = t;
        hi = vmaxq_s16(hi, t);
        lo = vminq_s16(lo, t);
    }
    const int32_t top = vmaxvq_s16(hi), low = vminvq_s16(lo);
    int32_t s = 0;
    while (s < THM_CQ_SHIFT_MAX && ((top + ((1 << s) >> 1)) >> s > 127 || (low + ((1 << s) >> 1)) >> s < -128)) s++;
    const int16x8_t neg = vdupq_n_s16((int16_t)-s);
    for (int i = 0; i < 8; i++)
        vst1q_s8(out + 16 * i, vcombine_s8(vmovn_s16(vrshlq_s16(v[2 * i], neg)), vmovn_s16(vrshlq_s16(v[2 * i + 1], neg))));
    *sh = (uint8_t)s;
}

void thm_cq_rotate_s8_neon(const int8_t *x, int8_t *xr, uint8_t *sh, int32_t M, int32_t K)
{
    thm_cq_rotate_rows(x, xr, sh, M, K, rotate_group);
}

#endif /* __aarch64__ && __ARM_FEATURE_DOTPROD */
