/* The unnormalised Walsh-Hadamard transform of int8 rows (Needle 2's
 * Hadamard MLP), the bits of reference.py fwht_s8_s32: butterflies in int32,
 * |v| <= n * 128 <= 2^19. */
#include "thimble_kernels.h"
#include "thm_fwht.h"
#include "thm_impl.h"

int thm_fwht_s8_s32(const int8_t *x, int32_t rows, int32_t n, int32_t *out)
{
    if (rows < 0 || n < 1 || n > THM_FWHT_MAX_N || (n & (n - 1))) return THM_E_ARG;
    if (rows > 0 && (!x || !out)) return THM_E_ARG;
    const thm_fwht_s8_s32_fn row = THM_OP(fwht_s8_s32);
    for (int32_t r = 0; r < rows; r++) row(x + (size_t)r * (size_t)n, n, out + (size_t)r * (size_t)n);
    return THM_OK;
}

void thm_fwht_s8_s32_portable(const int8_t *x, int32_t n, int32_t *v)
{
    for (int32_t j = 0; j < n; j++) v[j] = x[j];
    thm_fwht_i32(v, n);
}
