/* Embedding lookup into the int16 residual stream; every token id is checked
 * because it comes from the tokenizer or the wire. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

int thm_embed_s16(const int32_t *tokens, int32_t T, const int8_t *table,
                  const int32_t *mult, const int32_t *shift, int32_t V, int32_t D,
                  int16_t *out)
{
    if (T < 0 || V < 1 || D < 1) return THM_E_ARG;
    if (T == 0) return THM_OK;
    if (!tokens || !table || !mult || !shift || !out) return THM_E_ARG;
    for (int32_t t = 0; t < T; t++) {
        if (tokens[t] < 0 || tokens[t] >= V) return THM_E_TOKEN;
        if (!thm_shift_ok(shift[tokens[t]])) return THM_E_ARG;
    }
    for (int32_t t = 0; t < T; t++) {
        const int32_t tok = tokens[t];
        const int8_t *row = table + (size_t)tok * D;
        for (int32_t i = 0; i < D; i++)
            out[(size_t)t * D + i] = thm_sat16(thm_requantize(row[i], mult[tok], shift[tok]));
    }
    return THM_OK;
}
