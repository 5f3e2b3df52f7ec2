/* Embedding lookup into the int16 residual stream, from int8 or int4 rows;
 * every token id is checked because it comes from the tokenizer or the wire. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_s4.h"

/* THM_OK, or the error of the first bad token or shift. */
static int thm_embed_args(const int32_t *tokens, int32_t T, const void *table, const int32_t *mult,
                          const int32_t *shift, int32_t V, int32_t D, const int16_t *out)
{
    if (T < 0 || V < 1 || D < 1) return THM_E_ARG;
    if (T == 0) return THM_OK;
    if (!tokens || !table || !mult || !shift || !out) return THM_E_ARG;
    for (int32_t t = 0; t < T; t++) {
        if (tokens[t] < 0 || tokens[t] >= V) return THM_E_TOKEN;
        if (!thm_shift_ok(shift[tokens[t]])) return THM_E_ARG;
    }
    return THM_OK;
}

/* The lookup itself, int8 rows or (int4) packed rows, arguments checked. */
static inline __attribute__((always_inline)) void thm_embed_rows(const int32_t *tokens, int32_t T,
                                                                 const void *table, int int4,
                                                                 const int32_t *mult, const int32_t *shift,
                                                                 int32_t D, int16_t *out)
{
    const size_t row = int4 ? ((size_t)D + 1) / 2 : (size_t)D;
    for (int32_t t = 0; t < T; t++) {
        const int32_t tok = tokens[t];
        const uint8_t *r = (const uint8_t *)table + (size_t)tok * row;
        for (int32_t i = 0; i < D; i++) {
            const int32_t v = int4 ? thm_s4_at(r, i) : (int32_t)(int8_t)r[i];
            out[(size_t)t * D + i] = thm_sat16(thm_requantize(v, mult[tok], shift[tok]));
        }
    }
}

int thm_embed_s16(const int32_t *tokens, int32_t T, const int8_t *table,
                  const int32_t *mult, const int32_t *shift, int32_t V, int32_t D,
                  int16_t *out)
{
    const int rc = thm_embed_args(tokens, T, table, mult, shift, V, D, out);
    if (rc == THM_OK && T > 0) thm_embed_rows(tokens, T, table, 0, mult, shift, D, out);
    return rc;
}

int thm_embed_s16_s4(const int32_t *tokens, int32_t T, const uint8_t *table4,
                     const int32_t *mult, const int32_t *shift, int32_t V, int32_t D,
                     int16_t *out)
{
    const int rc = thm_embed_args(tokens, T, table4, mult, shift, V, D, out);
    if (rc == THM_OK && T > 0) thm_embed_rows(tokens, T, table4, 1, mult, shift, D, out);
    return rc;
}
