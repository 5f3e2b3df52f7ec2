/* Needle 2's engram slots: the multiply-xor hash of the last n token ids
 * (reference.py engram_hash), uint32 arithmetic, exact on every target. */
#include "thimble_kernels.h"

int thm_engram_hash(const int32_t *hist, int32_t n_hist, int32_t pos, const int32_t *orders, int32_t n_orders,
                    int32_t heads, uint32_t slots, int32_t *idx)
{
    if (!hist || !orders || !idx || n_orders < 1 || n_orders > 8 || heads < 1 || heads > 64 || slots < 1 ||
        slots > (1u << 24) || pos < 0 || pos >= n_hist)
        return THM_E_ARG;
    for (int32_t o = 0; o < n_orders; o++)
        if (orders[o] < 1 || orders[o] > 16) return THM_E_ARG;
    for (int32_t o = 0; o < n_orders; o++)
        for (int32_t h = 0; h < heads; h++) {
            const int32_t ti = o * heads + h;
            if (pos < orders[o] - 1) {
                idx[ti] = -1;                     /* the n-gram reaches before the start */
                continue;
            }
            uint32_t acc = THM_ENGRAM_SEED * (uint32_t)(ti + 1);
            for (int32_t j = 0; j < orders[o]; j++) acc = (acc ^ (uint32_t)hist[pos - j]) * THM_ENGRAM_PRIME;
            acc ^= acc >> 15;
            idx[ti] = (int32_t)(acc % slots);
        }
    return THM_OK;
}
