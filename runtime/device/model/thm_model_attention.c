/* Attention over a fixed key set through the matmul fast paths (see
 * thm_model_attention.h for why and how it stays bit-exact). */
#include <string.h>
#include "thm_model_attention.h"
#include "thm_fixedpoint.h"
#include "thm_model_fast.h"
#include "thm_model_prof.h"
#include "thm_impl.h"

#define BQ THM_FAST_ATTN_ROWS

static size_t al64(size_t n) { return (n + 63u) & ~(size_t)63u; }

typedef struct {
    int8_t *qh;          /* [BQ, D] this head's query rows, contiguous */
    int32_t *scores;     /* [BQ, Tk] */
    int16_t *p;          /* [BQ, Tk] Q15 */
    int8_t *digit[3];    /* [BQ, Tk] each: p0, p1, p2 */
    int32_t *s[3];       /* [BQ, D] each: digit . V */
    void *softmax;       /* thm_softmax_q15_scratch_size(Tk) */
} parts;

static size_t carve(uint8_t *base, int32_t Tk, int32_t D, parts *w)
{
    size_t at = 0, tk = (size_t)Tk, d = (size_t)D;
#define TAKE(ptr, type, bytes) do { if (base) ptr = (type)(void *)(base + at); at += al64(bytes); } while (0)
    TAKE(w->qh, int8_t *, BQ * d);
    TAKE(w->scores, int32_t *, BQ * tk * 4);
    TAKE(w->p, int16_t *, BQ * tk * 2);
    for (int i = 0; i < 3; i++) TAKE(w->digit[i], int8_t *, BQ * tk);
    for (int i = 0; i < 3; i++) TAKE(w->s[i], int32_t *, BQ * d * 4);
    TAKE(w->softmax, void *, thm_softmax_q15_scratch_size(Tk));
#undef TAKE
    return at;
}

size_t thm_fast_attn_workspace_size(int32_t Tk, int32_t D)
{
    parts w;
    return Tk < 1 || D < 1 ? 0 : carve(0, Tk, D, &w);
}

/* out rows r < bq (stride qs) = requantize(p [bq, Tk] . V^T [D, Tk]^T) through
 * the matmul: p split into int8 digits, each digit's sums recombined. */
static int pv_block(const parts *w, const int8_t *vg, int32_t bq, int32_t Tk, int32_t D,
                    const thm_attn_params *prm, int8_t *out, size_t qs)
{
    if (thm_impl_pv_rows) {   /* a board's int16 x int8 form (thm_impl.h): p as it is, no digits */
        thm_impl_pv_rows(w->p, bq, Tk, vg, D, prm->out_mult, prm->out_shift, out, qs);
        return THM_OK;
    }
    /* two digits p = hi 2^8 + lo (lo in -128..127) whenever every hi fits int8
     * (p < 32640; not for near one-hot rows), else three */
    const size_t np = (size_t)bq * (size_t)Tk;
    int32_t pmax = 0;
    for (size_t j = 0; j < np; j++) pmax = w->p[j] > pmax ? w->p[j] : pmax;
    const int nd = pmax < THM_FAST_ATTN_TWO_DIGIT_MAX ? 2 : 3;
    if (nd == 2) {
        for (size_t j = 0; j < np; j++) {
            const int32_t pj = w->p[j];
            const int32_t hi = (pj + 128) >> 8;   /* 0 .. 127 */
            w->digit[0][j] = (int8_t)(pj - hi * 256);
            w->digit[1][j] = (int8_t)hi;
        }
    } else {
        for (size_t j = 0; j < np; j++) {
            const int32_t pj = w->p[j];    /* 0 .. 32767 */
            w->digit[0][j] = (int8_t)(pj & 127);
            w->digit[1][j] = (int8_t)((pj >> 7) & 127);
            w->digit[2][j] = (int8_t)(pj >> 14);
        }
    }
    int err;
    for (int i = 0; i < nd; i++)
        if ((err = thm_mf_matmul_s32(w->digit[i], vg, w->s[i], bq, Tk, D))) return err;
    for (int32_t r = 0; r < bq; r++) {
        const size_t e = (size_t)r * D;
        if ((err = thm_mf_attn_combine(w->s[0] + e, w->s[1] + e, nd == 3 ? w->s[2] + e : 0, D, prm->out_mult,
                                       prm->out_shift, out + (size_t)r * qs)))
            return err;
    }
    return THM_OK;
}

int thm_fast_attention(const int8_t *q, const int8_t *k_hm, const int8_t *v_t, int8_t *out,
                       int32_t Tq, int32_t Tk, const thm_attn_params *prm, void *ws)
{
    if (!q || !k_hm || !v_t || !out || !prm || !ws || Tq < 0 || Tk < 1 || prm->causal) return THM_E_ARG;
    const int32_t H = prm->n_heads, Hkv = prm->n_kv_heads, D = prm->head_dim;
    if (H < 1 || Hkv < 1 || H % Hkv || D < 1 || D > THM_MAX_HEAD_DIM) return THM_E_ARG;
    parts w;
    carve((uint8_t *)ws, Tk, D, &w);
    if (prm->out_shift < -31 || prm->out_shift > 30) return THM_E_ARG;
    const int32_t group = H / Hkv;
    const size_t qs = (size_t)H * D, tk = (size_t)Tk;
    int err;
    for (int32_t h = 0; h < H; h++) {
        const int8_t *kg = k_hm + (size_t)(h / group) * tk * D;
        const int8_t *vg = v_t + (size_t)(h / group) * D * tk;
        for (int32_t i0 = 0; i0 < Tq; i0 += BQ) {
            const int32_t bq = Tq - i0 < BQ ? Tq - i0 : BQ;
            for (int32_t r = 0; r < bq; r++)
                memcpy(w.qh + (size_t)r * D, q + (size_t)(i0 + r) * qs + (size_t)h * D, (size_t)D);
            if ((err = THM_PROF(THM_PROF_QK, thm_mf_matmul_s32(w.qh, kg, w.scores, bq, D, Tk)))) return err;
            if ((err = THM_PROF(THM_PROF_SOFTMAX, thm_mf_softmax_rows(w.scores, w.p, bq, Tk, prm->score_mult,
                                                                      prm->score_shift, prm->diff_max, w.softmax))))
                return err;
            if ((err = THM_PROF(THM_PROF_PV, pv_block(&w, vg, bq, Tk, D, prm, out + (size_t)i0 * qs + (size_t)h * D,
                                                      qs))))
                return err;
        }
    }
    return THM_OK;
}

void thm_to_head_major(const int8_t *x, int8_t *out, int32_t T, int32_t Hkv, int32_t D)
{
    for (int32_t g = 0; g < Hkv; g++)
        for (int32_t t = 0; t < T; t++)
            for (int32_t d = 0; d < D; d++)
                out[((size_t)g * T + t) * D + d] = x[(size_t)t * Hkv * D + (size_t)g * D + d];
}

void thm_to_head_transposed(const int8_t *x, int8_t *out, int32_t T, int32_t Hkv, int32_t D)
{
    for (int32_t g = 0; g < Hkv; g++)
        for (int32_t d = 0; d < D; d++)
            for (int32_t t = 0; t < T; t++)
                out[((size_t)g * D + d) * T + t] = x[(size_t)t * Hkv * D + (size_t)g * D + d];
}
