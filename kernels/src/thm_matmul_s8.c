/* Public matmul entry points (int8 and int4 weights): check arguments, then run the selected ISA's
 * entry. The one-row forms (thm_gemv_*) run the table's gemv entry, else its
 * matmul with M = 1. */
#include "thimble_kernels.h"
#include "thm_impl.h"

static int thm_matmul_args_ok(const int8_t *x, const int8_t *w, const void *y,
                              int32_t M, int32_t K, int32_t N)
{
    if (M < 0 || N < 0 || K < 1 || K > THM_MAX_K) return 0;
    if ((M > 0 && x == 0) || (N > 0 && w == 0) || (M > 0 && N > 0 && y == 0)) return 0;
    return 1;
}

/* ... and the requantization's per-channel arguments of the int8 forms */
static int thm_matmul_s8_args_ok(const int8_t *x, const int8_t *w, const int32_t *mult, const int32_t *shift,
                                 const void *y, int32_t M, int32_t K, int32_t N)
{
    if (!thm_matmul_args_ok(x, w, y, M, K, N)) return 0;
    if (N > 0 && (!mult || !shift)) return 0;
    return thm_shifts_ok(shift, N);   /* a branch per column was 0.014 instructions per MAC at M = 1, K = 512 */
}

int thm_matmul_s8(const int8_t *x, const int8_t *w, const int32_t *bias,
                  const int32_t *mult, const int32_t *shift, int8_t *y,
                  int32_t M, int32_t K, int32_t N)
{
    if (!thm_matmul_s8_args_ok(x, w, mult, shift, y, M, K, N)) return THM_E_ARG;
    if (M == 0 || N == 0) return THM_OK;
    THM_OP(matmul_s8)(x, w, bias, mult, shift, y, M, K, N);
    return THM_OK;
}

int thm_matmul_s8_s32(const int8_t *x, const int8_t *w, const int32_t *bias,
                      int32_t *y, int32_t M, int32_t K, int32_t N)
{
    if (!thm_matmul_args_ok(x, w, y, M, K, N)) return THM_E_ARG;
    if (M == 0 || N == 0) return THM_OK;
    THM_OP(matmul_s8_s32)(x, w, bias, y, M, K, N);
    return THM_OK;
}

int thm_gemv_s8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *mult,
                const int32_t *shift, int8_t *y, int32_t K, int32_t N)
{
    const thm_matmul_s8_fn f = thm_ops_now->gemv_s8;
    if (!f) return thm_matmul_s8(x, w, bias, mult, shift, y, 1, K, N);
    if (!thm_matmul_s8_args_ok(x, w, mult, shift, y, 1, K, N)) return THM_E_ARG;
    if (N > 0) f(x, w, bias, mult, shift, y, 1, K, N);
    return THM_OK;
}

int thm_gemv_s8_s32(const int8_t *x, const int8_t *w, const int32_t *bias, int32_t *y, int32_t K, int32_t N)
{
    const thm_matmul_s32_fn f = thm_ops_now->gemv_s8_s32;
    if (!f) return thm_matmul_s8_s32(x, w, bias, y, 1, K, N);
    if (!thm_matmul_args_ok(x, w, y, 1, K, N)) return THM_E_ARG;
    if (N > 0) f(x, w, bias, y, 1, K, N);
    return THM_OK;
}

int thm_matmul_s4(const int8_t *x, const uint8_t *w4, const int32_t *bias,
                  const int32_t *mult, const int32_t *shift, int8_t *y,
                  int32_t M, int32_t K, int32_t N)
{
    if (!thm_matmul_s8_args_ok(x, (const int8_t *)w4, mult, shift, y, M, K, N)) return THM_E_ARG;
    if (M == 0 || N == 0) return THM_OK;
    THM_OP(matmul_s4)(x, w4, bias, mult, shift, y, M, K, N);
    return THM_OK;
}

int thm_matmul_s4_s32(const int8_t *x, const uint8_t *w4, const int32_t *bias,
                      int32_t *y, int32_t M, int32_t K, int32_t N)
{
    if (!thm_matmul_args_ok(x, (const int8_t *)w4, y, M, K, N)) return THM_E_ARG;
    if (M == 0 || N == 0) return THM_OK;
    THM_OP(matmul_s4_s32)(x, w4, bias, y, M, K, N);
    return THM_OK;
}
