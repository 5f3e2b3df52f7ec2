/* thm_softmax_q15 for unmasked rows, specialised to what an unmasked row
 * allows and bit-exact with it (kernels/src/thm_softmax_q15.c).
 *
 * Why: softmax was the largest share of the boards' prefill (docs/runtime.md,
 * "Needle 26M on the boards": 76 instructions an element on the M55) because
 * the general requantize handles negative inputs and both rounding cases
 * through 64-bit arithmetic. Here every input is a distance to the row's
 * maximum: diff >= 0, and thm_softmax_range_ok keeps diff << shift below
 * 2^31, so with mult >= 0 the product is non-negative, its high word is
 * (ab + 2^30) >> 31 < 2^31, and the rounding right shift is round-half-up:
 * (high + 2^(right-1)) >> right, in 32 bits. The row's exp terms are at most
 * 2^15 each, so their sum fits 32 bits (THM_SOFTMAX_ROW_MAX_N keys, thm_impl.h). */
#ifndef THM_MODEL_SOFTMAX_H
#define THM_MODEL_SOFTMAX_H

#include <stdint.h>
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

/* z = thm_requantize(diff, mult, shift) for 0 <= diff, mult >= 0 and
 * diff << max(shift, 0) < 2^31; left, right and half from shift. */
static inline uint32_t thm_ms_requant_pos(uint32_t diff, uint32_t mult, int32_t left, int32_t right, uint32_t half)
{
    const uint64_t ab = (uint64_t)(diff << left) * mult;
    const uint32_t high = (uint32_t)((ab + ((uint64_t)1 << 30)) >> 31);
    return (high + half) >> right;
}

static inline int thm_ms_softmax_row(const int32_t *s, int16_t *p, int32_t n, int32_t mult, int32_t shift,
                                     int32_t diff_max, uint32_t *e)
{
    /* a board's vector row (thm_impl_softmax_row, kernels/arm) is the kernel's own fast path */
    if (thm_impl_softmax_row || n < 1 || n > THM_SOFTMAX_ROW_MAX_N || mult < 0 || !thm_softmax_range_ok(shift, diff_max))
        return thm_softmax_q15(s, 0, p, n, mult, shift, diff_max, e);
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const uint32_t half = right ? (uint32_t)1 << (right - 1) : 0;
    const uint32_t zmax = (uint32_t)THM_EXP_HI_LEN << THM_EXP_FRAC_BITS;   /* exp is 0 from here */
    int32_t top = s[0];
    for (int32_t j = 1; j < n; j++) top = s[j] > top ? s[j] : top;
    uint32_t total = 0;
    for (int32_t j = 0; j < n; j++) {
        const uint32_t diff = (uint32_t)top - (uint32_t)s[j];   /* top >= s[j]: exact */
        uint32_t ej = 0;
        if (diff <= (uint32_t)diff_max) {
            const uint32_t z = thm_ms_requant_pos(diff, (uint32_t)mult, left, right, half);
            if (z < zmax)
                ej = (thm_exp_hi[z >> THM_EXP_FRAC_BITS] * thm_exp_lo[z & (THM_EXP_LO_LEN - 1)] + (1u << 14)) >> 15;
        }
        e[j] = ej;
        total += ej;
    }
    const uint32_t inv = (uint32_t)(((uint64_t)1 << 46) / total);   /* total >= 2^15: inv <= 2^31 */
    for (int32_t j = 0; j < n; j++) {
        const uint32_t pj = (uint32_t)(((uint64_t)e[j] * inv + ((uint64_t)1 << 30)) >> 31);
        p[j] = (int16_t)(pj > 32767 ? 32767 : pj);
    }
    return THM_OK;
}

#endif /* THM_MODEL_SOFTMAX_H */
