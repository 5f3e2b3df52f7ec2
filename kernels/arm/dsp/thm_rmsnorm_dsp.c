/* Cortex-M DSP RMSNorm of one row (the M4), int16 or int8 in, int8 out,
 * bit-exact with thm_rmsnorm_s16 / _s8 (kernels/src/thm_rmsnorm.c).
 *
 * Why: scalar C squares one element at a time and spends a 64-bit multiply
 * and shift on x * inv. Here the sum of squares takes two elements an
 * instruction (SMLALD into 64 bits for int16; SXTB16 + SMLAD for int8, whose
 * sum D * 2^14 fits int32), and with inv <= 2^31 - 1 split as
 * inv = ih 2^15 + il (0 <= il < 2^15, so il is an int16),
 *   (x inv + 2^14) >> 15 = x ih + ((x il + 2^14) >> 15)
 * exactly (x ih 2^15 is a multiple of 2^15): SMLABB then MLA, in int32. The
 * true result fits int32 for |x| <= 2^15, so the wrapping x ih cannot matter
 * and the kernel's clamp cannot act. A row whose inv is larger (rms < 0.5)
 * takes the scalar form. The per-channel requantize is SMLAL-based
 * (thm_dsp_requant) and the int8 saturation SSAT. */
#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)

#include <arm_acle.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_arm_dsp.h"

/* thm_requantize for acc > INT32_MIN (a normed value: |n| < 2^31), as SMLAL
 * onto the nudge: high = floor(P / 2^31) for P = x m + 2^30 is twice P's
 * high word plus bit 31 of its low word. With a left shift x may be INT32_MIN,
 * and |P| <= 2^62 + 2^30 makes QADD saturate the doubling only for
 * x = m = INT32_MIN, the reference's INT32_MAX case. A right shift r >= 1
 * rounds half away from zero: floor((high + 2^(r-1) - [high < 0]) / 2^r)
 * = floor((t + 1) / 2) for t = (high - [high < 0]) >> (r - 1), written
 * (t >> 1) + (t & 1) so that nothing overflows. */
static inline int32_t thm_dsp_requant(int32_t acc, int32_t mult, int32_t shift)
{
    if (shift >= 0) {
        const int64_t p = (int64_t)(int32_t)((uint32_t)acc << shift) * mult + (1 << 30);
        const int32_t hi = (int32_t)(p >> 32);
        return __qadd(hi, hi) | (int32_t)((uint32_t)p >> 31);
    }
    const int64_t p = (int64_t)acc * mult + (1 << 30);   /* |acc mult| < 2^62: high fits */
    const int32_t high = (int32_t)(((uint32_t)(p >> 32) << 1) | ((uint32_t)p >> 31));
    const int32_t t = (high - (high < 0)) >> (-shift - 1);
    return (t >> 1) + (t & 1);
}

static int64_t thm_dsp_sumsq_s16(const int16_t *x, int32_t D)
{
    int64_t ss = 0;
    int32_t i = 0;
    for (; i + 2 <= D; i += 2) {
        uint32_t v;
        __builtin_memcpy(&v, x + i, 4);   /* the M4 loads unaligned words */
        ss = __smlald((int16x2_t)v, (int16x2_t)v, ss);
    }
    if (i < D) ss += (int32_t)x[i] * x[i];
    return ss;
}

static int32_t thm_dsp_sumsq_s8(const int8_t *x, int32_t D)
{
    int32_t ss = 0;   /* D * 2^14 < 2^31 */
    int32_t i = 0;
    for (; i + 4 <= D; i += 4) {
        const uint32_t v = thm_ld32(x + i);
        const uint32_t ev = thm_sxtb16(v), od = thm_sxtb16_ror8(v);
        ss = thm_smlad(od, od, thm_smlad(ev, ev, ss));
    }
    for (; i < D; i++) ss += (int32_t)x[i] * x[i];
    return ss;
}

/* y = the normed row for inv <= INT32_MAX; inlined once per element type so
 * that the loop does not test x16 at every element. */
__attribute__((always_inline)) static inline void thm_dsp_norm_apply(const void *x, int x16, int64_t inv,
                                                                     const int32_t *gm, const int32_t *gs,
                                                                     int8_t *y, int32_t D)
{
    const uint32_t ih = (uint32_t)(inv >> 15);
    const int32_t il = (int32_t)(inv & 0x7fff);
    for (int32_t i = 0; i < D; i++) {
        const int32_t xi = x16 ? ((const int16_t *)x)[i] : ((const int8_t *)x)[i];
        const int32_t lo = __smlabb(xi, il, 1 << 14) >> 15;   /* |x il| < 2^30 */
        const int32_t n = (int32_t)((uint32_t)xi * ih + (uint32_t)lo);
        y[i] = (int8_t)__ssat(thm_dsp_requant(n, gm[i], gs[i]), 8);
    }
}

static void thm_rmsnorm_row_dsp(const void *x, int x16, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                                int8_t *y, int32_t D)
{
    const int16_t *xs = (const int16_t *)x;
    const int8_t *xb = (const int8_t *)x;
    const int64_t inv = thm_rms_inv(x16 ? thm_dsp_sumsq_s16(xs, D) : thm_dsp_sumsq_s8(xb, D), D, eps_q16);
    if (inv > INT32_MAX) {
        for (int32_t i = 0; i < D; i++) y[i] = thm_rms_apply(x16 ? xs[i] : xb[i], inv, gm[i], gs[i]);
    } else if (x16) {
        thm_dsp_norm_apply(x, 1, inv, gm, gs, y, D);
    } else {
        thm_dsp_norm_apply(x, 0, inv, gm, gs, y, D);
    }
}

THM_RMSNORM_ROW_ENTRIES(dsp)

#endif /* __ARM_FEATURE_DSP */
