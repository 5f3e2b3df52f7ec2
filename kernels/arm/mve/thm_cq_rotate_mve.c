/* Cortex-M55 Helium rotation of CQ activations (thm_cq_rotate_s8): the bits
 * of the portable C. As on NEON, H128 = H16 (x) H8 over (vector, lane) of 16
 * int16 vectors of 8 lanes (partial sums <= 2^14), but Helium has 8 Q
 * registers, so the group lives in a 256-byte stack buffer: the butterflies
 * between vectors go two stages at a time (radix 4: 4 vectors in, 4 out),
 * then each vector's three lane stages are partner + signs times vector
 * (Helium's VMLA takes a scalar, so VMUL and VADD): partners from VREV32, VREV64 and, for the lane stride 4 (Helium has
 * no VEXT), the vector stored twice and loaded 4 lanes in. The shift comes
 * from the group's max and min as in the portable C; a rounding shift
 * (VRSHL) and a narrowing store (VSTRB.16) write the result. */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <arm_mve.h>

#include "thimble_kernels.h"
#include "thm_impl.h"

static void rotate_group(const int8_t *x, int32_t n, int8_t *out, uint8_t *sh)
{
    int8_t pad[THM_CQ_GROUP];
    int16_t v[THM_CQ_GROUP], twice[16];
    if (n < THM_CQ_GROUP) {                      /* the last group of a row: zero-padded */
        for (int32_t j = 0; j < THM_CQ_GROUP; j++) pad[j] = j < n ? x[j] : 0;
        x = pad;
    }
    for (int i = 0; i < 16; i++) vstrhq_s16(v + 8 * i, vldrbq_s16(x + 8 * i));
    for (int h = 1; h < 16; h <<= 2)             /* vector strides (1, 2) then (4, 8): radix 4 */
        for (int i = 0; i < 16; i += 4 * h)
            for (int j = i; j < i + h; j++) {
                const int16x8_t a = vldrhq_s16(v + 8 * j), b = vldrhq_s16(v + 8 * (j + h));
                const int16x8_t c = vldrhq_s16(v + 8 * (j + 2 * h)), d = vldrhq_s16(v + 8 * (j + 3 * h));
                const int16x8_t ab = vaddq_s16(a, b), a_b = vsubq_s16(a, b);
                const int16x8_t cd = vaddq_s16(c, d), c_d = vsubq_s16(c, d);
                vstrhq_s16(v + 8 * j, vaddq_s16(ab, cd));
                vstrhq_s16(v + 8 * (j + h), vaddq_s16(a_b, c_d));
                vstrhq_s16(v + 8 * (j + 2 * h), vsubq_s16(ab, cd));
                vstrhq_s16(v + 8 * (j + 3 * h), vsubq_s16(a_b, c_d));
            }
    static const int16_t s1[8] = {1, -1, 1, -1, 1, -1, 1, -1}, s2[8] = {1, 1, -1, -1, 1, 1, -1, -1},
                         s4[8] = {1, 1, 1, 1, -1, -1, -1, -1};
    int16x8_t hi = vdupq_n_s16(INT16_MIN), lo = vdupq_n_s16(INT16_MAX);
    for (int i = 0; i < 16; i++) {
        int16x8_t t = vldrhq_s16(v + 8 * i);
        t = vaddq_s16(vrev32q_s16(t), vmulq_s16(t, vldrhq_s16(s1)));
        t = vaddq_s16(vreinterpretq_s16_s32(vrev64q_s32(vreinterpretq_s32_s16(t))), vmulq_s16(t, vldrhq_s16(s2)));
        vstrhq_s16(twice, t);
        vstrhq_s16(twice + 8, t);
        t = vaddq_s16(vldrhq_s16(twice + 4), vmulq_s16(t, vldrhq_s16(s4)));
        vstrhq_s16(v + 8 * i, t);
        hi = vmaxq_s16(hi, t);
        lo = vminq_s16(lo, t);
    }
    const int32_t top = vmaxvq_s16(INT16_MIN, hi), low = vminvq_s16(INT16_MAX, lo);
    int32_t s = 0;
    while (s < THM_CQ_SHIFT_MAX && ((top + ((1 << s) >> 1)) >> s > 127 || (low + ((1 << s) >> 1)) >> s < -128)) s++;
    for (int i = 0; i < 16; i++) vstrbq_s16(out + 8 * i, vrshlq_n_s16(vldrhq_s16(v + 8 * i), -s));
    *sh = (uint8_t)s;
}

void thm_cq_rotate_s8_mve(const int8_t *x, int8_t *xr, uint8_t *sh, int32_t M, int32_t K)
{
    thm_cq_rotate_rows(x, xr, sh, M, K, rotate_group);
}

#endif /* __ARM_FEATURE_MVE */
