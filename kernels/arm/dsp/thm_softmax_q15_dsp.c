/* Cortex-M DSP softmax of one unmasked row (the M4), bit-exact with
 * thm_softmax_q15 (kernels/src/thm_softmax_q15.c).
 *
 * Why: scalar C spends two 64-bit round-and-shift sequences a key (the
 * requantize and the normalisation). Every input is a distance to the row's
 * maximum, so both products are non-negative:
 * - requantize: floor((x m + 2^30) / 2^31) = (x (2m) + 2^31) >> 32 with
 *   2m < 2^32 unsigned, one UMLAL onto a preset 2^31;
 * - normalisation: e <= 2^15 and inv = 2^46 / total < 2^31 unless total is
 *   exactly 2^15, so floor((e inv + 2^30) / 2^31) = SMMULR (2e, inv), and
 *   the clamp to 32767 is USAT #15. total = 2^15 means only keys equal to the
 *   maximum count (e = 2^15 each, one of them) or e = 0: p = min(e, 32767).
 * The caller has checked 1 <= n <= THM_SOFTMAX_ROW_MAX_N (the exp sum fits 32
 * bits), mult >= 0 and thm_softmax_range_ok(shift, diff_max), so
 * diff << max(shift, 0) < 2^31. */
#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)

#include <arm_acle.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"

/* (a b + 2^31) >> 32, signed: the rounding high word. */
static inline int32_t thm_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* noinline: inlined into the rows loop below it costs 4% more instructions
 * (register pressure), measured on the M4 prefill */
__attribute__((noinline)) static void thm_softmax_row_q15_dsp(const int32_t *s, int16_t *p, int32_t n, int32_t mult,
                                                              int32_t shift, int32_t diff_max, uint32_t *e)
{
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const uint32_t half = right ? (uint32_t)1 << (right - 1) : 0;
    const uint32_t m2 = (uint32_t)mult << 1;   /* mult < 2^31 */
    int32_t top = s[0];
    for (int32_t j = 1; j < n; j++) top = s[j] > top ? s[j] : top;
    uint32_t total = 0;
    for (int32_t j = 0; j < n; j++) {
        const uint32_t diff = (uint32_t)top - (uint32_t)s[j];   /* top >= s[j]: exact */
        /* high < 2^31, so z is a non-negative int32 */
        const uint32_t high = (uint32_t)(((uint64_t)(diff << left) * m2 + 0x80000000u) >> 32);
        e[j] = diff <= (uint32_t)diff_max ? thm_exp_q15((int32_t)((high + half) >> right)) : 0;
        total += e[j];
    }
    if (total == (1u << 15)) {   /* inv = 2^31: p = e, clamped */
        for (int32_t j = 0; j < n; j++) p[j] = (int16_t)(e[j] > 32767 ? 32767 : e[j]);
        return;
    }
    const int32_t inv = (int32_t)(((uint64_t)1 << 46) / total);   /* total > 2^15: inv < 2^31 */
    for (int32_t j = 0; j < n; j++) p[j] = (int16_t)__usat(thm_smmulr((int32_t)(e[j] << 1), inv), 15);
}

THM_SOFTMAX_ROWS_ENTRY(dsp)

#endif /* __ARM_FEATURE_DSP */
