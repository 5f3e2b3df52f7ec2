/* The decode-step one-row matmul for AVX-512 VNNI hosts (thm_gemv_avx512.c). */
#ifndef THM_X86_GEMV_H
#define THM_X86_GEMV_H

#include <stdint.h>

#define THM_GEMV_MAX_K 1024   /* x [K] is held in 16 registers */

/* x int8 [K] . w int8 [N, K]^T: exactly one of y8 (sat8(requantize(acc,
 * mult, shift)), mult/shift [N]) or y32 (the raw int32 sums) is non-NULL.
 * THM_E_ARG for K outside 1..THM_GEMV_MAX_K or a bad argument. */
int thm_gemv_s8_avx512(const int8_t *x, const int8_t *w, const int32_t *mult, const int32_t *shift,
                       int8_t *y8, int32_t *y32, int32_t K, int32_t N);

#endif /* THM_X86_GEMV_H */
