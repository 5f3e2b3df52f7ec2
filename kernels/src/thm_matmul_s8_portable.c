/* Portable C matmul: the fallback of every fast path. Plain dot products over
 * contiguous rows; compilers vectorise the inner loop. */
#include "thm_fixedpoint.h"
#include "thm_impl.h"

static inline int32_t thm_dot_s8(const int8_t *a, const int8_t *b, int32_t K)
{
    int32_t acc = 0;
    for (int32_t k = 0; k < K; k++) acc += (int32_t)a[k] * (int32_t)b[k];
    return acc;
}

void thm_matmul_s8_s32_portable(const int8_t *x, const int8_t *w, const int32_t *bias,
                                int32_t *y, int32_t M, int32_t K, int32_t N)
{
    for (int32_t m = 0; m < M; m++) {
        const int8_t *xr = x + (size_t)m * K;
        int32_t *yr = y + (size_t)m * N;
        for (int32_t n = 0; n < N; n++) {
            const int32_t acc = thm_dot_s8(xr, w + (size_t)n * K, K);
            /* wrap like the reference when a bias pushes past int32 */
            yr[n] = bias ? (int32_t)((uint32_t)acc + (uint32_t)bias[n]) : acc;
        }
    }
}

void thm_matmul_s8_portable(const int8_t *x, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, int8_t *y,
                            int32_t M, int32_t K, int32_t N)
{
    for (int32_t m = 0; m < M; m++) {
        const int8_t *xr = x + (size_t)m * K;
        int8_t *yr = y + (size_t)m * N;
        for (int32_t n = 0; n < N; n++) {
            int32_t acc = thm_dot_s8(xr, w + (size_t)n * K, K);
            if (bias) acc = (int32_t)((uint32_t)acc + (uint32_t)bias[n]);
            yr[n] = thm_sat8(thm_requantize(acc, mult[n], shift[n]));
        }
    }
}
