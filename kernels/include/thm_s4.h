/* int4 weights (thm_matmul_s4): the nibble order every implementation reads.
 * Weight k of a row is in byte k / 2, the low nibble for even k, two's
 * complement; shifting a nibble to the top of a byte and back arithmetically
 * sign-extends it. */
#ifndef THM_S4_H
#define THM_S4_H

#include <stdint.h>

static inline int32_t thm_s4_lo(uint8_t b) { return (int32_t)(int8_t)(uint8_t)(b << 4) >> 4; }
static inline int32_t thm_s4_hi(uint8_t b) { return (int32_t)(int8_t)b >> 4; }

/* Weight k of a row starting at w. */
static inline int32_t thm_s4_at(const uint8_t *w, int32_t k)
{
    return (k & 1) ? thm_s4_hi(w[k >> 1]) : thm_s4_lo(w[k >> 1]);
}

/* sum_{k0 <= k < K} x[k] w[k]: a fast path's K tail, in plain C. */
static inline int32_t thm_s4_dot_from(const int8_t *x, const uint8_t *w, int32_t k0, int32_t K)
{
    int32_t acc = 0;
    for (int32_t k = k0; k < K; k++) acc += (int32_t)x[k] * thm_s4_at(w, k);
    return acc;
}

#endif /* THM_S4_H */
