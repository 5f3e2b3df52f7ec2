/* Portable C int4-weight matmul (W4A8): the fallback of every fast path.
 * Each byte holds two weights, the low nibble first; a nibble becomes a
 * signed value by moving it to the top of a byte and shifting it back
 * arithmetically. */
#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_s4.h"


static inline int32_t thm_dot_s8s4(const int8_t *x, const uint8_t *w4, int32_t K)
{
    int32_t acc = 0;
    const int32_t pairs = K >> 1;
    for (int32_t i = 0; i < pairs; i++) {
        const uint8_t b = w4[i];
        acc += (int32_t)x[2 * i] * thm_s4_lo(b) + (int32_t)x[2 * i + 1] * thm_s4_hi(b);
    }
    if (K & 1) acc += (int32_t)x[K - 1] * thm_s4_lo(w4[pairs]);   /* the high nibble is padding */
    return acc;
}

static inline __attribute__((always_inline)) void thm_s4_portable(const int8_t *x, const uint8_t *w4,
                                                                   const int32_t *bias, const int32_t *mult,
                                                                   const int32_t *shift, int8_t *y8, int32_t *y32,
                                                                   int32_t M, int32_t K, int32_t N)
{
    const size_t row = (size_t)(K + 1) / 2;
    for (int32_t m = 0; m < M; m++) {
        const int8_t *xr = x + (size_t)m * K;
        for (int32_t n = 0; n < N; n++) {
            int32_t acc = thm_dot_s8s4(xr, w4 + (size_t)n * row, K);
            if (bias) acc = (int32_t)((uint32_t)acc + (uint32_t)bias[n]);
            if (y32) y32[(size_t)m * N + n] = acc;
            else y8[(size_t)m * N + n] = thm_sat8(thm_requantize(acc, mult[n], shift[n]));
        }
    }
}

THM_MATMUL_S4_ENTRIES(portable, thm_s4_portable)
