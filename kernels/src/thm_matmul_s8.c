/* Public matmul entry points: check arguments, then run the selected path. */
#include "thimble_kernels.h"
#include "thm_impl.h"

static int thm_matmul_args_ok(const int8_t *x, const int8_t *w, const void *y,
                              int32_t M, int32_t K, int32_t N)
{
    if (M < 0 || N < 0 || K < 1 || K > THM_MAX_K) return 0;
    if ((M > 0 && x == 0) || (N > 0 && w == 0) || (M > 0 && N > 0 && y == 0)) return 0;
    return 1;
}

int thm_matmul_s8(const int8_t *x, const int8_t *w, const int32_t *bias,
                  const int32_t *mult, const int32_t *shift, int8_t *y,
                  int32_t M, int32_t K, int32_t N)
{
    if (!thm_matmul_args_ok(x, w, y, M, K, N)) return THM_E_ARG;
    if (N > 0 && (!mult || !shift)) return THM_E_ARG;
    for (int32_t n = 0; n < N; n++) {
        if (!thm_shift_ok(shift[n])) return THM_E_ARG;
    }
    if (M == 0 || N == 0) return THM_OK;
    thm_impl_matmul_s8(x, w, bias, mult, shift, y, M, K, N);
    return THM_OK;
}

int thm_matmul_s8_s32(const int8_t *x, const int8_t *w, const int32_t *bias,
                      int32_t *y, int32_t M, int32_t K, int32_t N)
{
    if (!thm_matmul_args_ok(x, w, y, M, K, N)) return THM_E_ARG;
    if (M == 0 || N == 0) return THM_OK;
    thm_impl_matmul_s8_s32(x, w, bias, y, M, K, N);
    return THM_OK;
}
