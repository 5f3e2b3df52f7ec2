/* PLACEHOLDER: forwards to portable until the avx2 kernel lands. */
#include "thm_x86.h"
#include "thm_impl.h"
void thm_matmul_s8_avx2(const int8_t *x, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, int8_t *y,
                        int32_t M, int32_t K, int32_t N)
{ thm_matmul_s8_portable(x, w, bias, mult, shift, y, M, K, N); }
void thm_matmul_s8_s32_avx2(const int8_t *x, const int8_t *w, const int32_t *bias,
                            int32_t *y, int32_t M, int32_t K, int32_t N)
{ thm_matmul_s8_s32_portable(x, w, bias, y, M, K, N); }
