/* Grouped-query attention, streamed one query row and head at a time, so the
 * scratch is O(Tk): scores [Tk] int32, exp terms [Tk] uint32, weights [Tk] int16. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

/* The two products, portable; an ISA's ops table may have its own (thm_impl.h). */
int32_t thm_dot_s8_portable(const int8_t *a, const int8_t *b, int32_t K)
{
    int32_t s = 0;
    for (int32_t k = 0; k < K; k++) s += (int32_t)a[k] * (int32_t)b[k];
    return s;
}

void thm_pv_s16s8_portable(const int16_t *p, const int8_t *v, size_t ldv, int32_t n,
                           int32_t D, int32_t *acc)
{
    for (int32_t j = 0; j < n; j++) {
        const int32_t pj = p[j];
        if (pj == 0) continue;
        const int8_t *vj = v + (size_t)j * ldv;
        for (int32_t d = 0; d < D; d++) acc[d] += pj * (int32_t)vj[d];
    }
}

static size_t thm_align4(size_t n) { return (n + 3u) & ~(size_t)3u; }

size_t thm_attention_s8_scratch_size(int32_t Tk)
{
    if (Tk <= 0) return 0;
    return (size_t)Tk * sizeof(int32_t) + thm_softmax_q15_scratch_size(Tk)
           + thm_align4((size_t)Tk * sizeof(int16_t));
}

int thm_attention_s8(const int8_t *q, const int8_t *k, const int8_t *v,
                     const uint8_t *kv_mask, int8_t *out, int32_t Tq, int32_t Tk,
                     const thm_attn_params *prm, void *scratch)
{
    if (!prm || Tq < 0 || Tk < 1) return THM_E_ARG;
    const int32_t H = prm->n_heads, Hkv = prm->n_kv_heads, D = prm->head_dim;
    if (H < 1 || Hkv < 1 || H % Hkv != 0 || D < 1 || D > THM_MAX_HEAD_DIM) return THM_E_ARG;
    if (prm->causal && prm->q_pos0 < 0) return THM_E_ARG;
    if (prm->score_mult < 0 || !thm_softmax_range_ok(prm->score_shift, prm->diff_max)
        || !thm_shift_ok(prm->out_shift)) return THM_E_ARG;
    if (Tq == 0) return THM_OK;
    if (!q || !k || !v || !out || !scratch) return THM_E_ARG;

    int32_t *scores = (int32_t *)scratch;                      /* [Tk] */
    void *soft_scratch = scores + Tk;                          /* [Tk] uint32 */
    int16_t *p = (int16_t *)((uint8_t *)soft_scratch + thm_softmax_q15_scratch_size(Tk)); /* [Tk] */
    const int32_t group = H / Hkv;
    const size_t q_stride = (size_t)H * D, kv_stride = (size_t)Hkv * D;
    int32_t acc[THM_MAX_HEAD_DIM];
    /* the output requantize through the table's vector requantize_s32 (a
     * head's D sums at a time; one (mult, shift) for all, as columns) */
    int32_t om[THM_MAX_HEAD_DIM], os[THM_MAX_HEAD_DIM];
    for (int32_t d = 0; d < D; d++) { om[d] = prm->out_mult; os[d] = prm->out_shift; }
    const thm_dot_s8_fn dot = THM_OP(dot_s8);       /* once: the loops call them per key */
    const thm_pv_s16s8_fn pv = THM_OP(pv_s16s8);
    const thm_requantize_fn rq = THM_OP(requantize_s32);

    for (int32_t i = 0; i < Tq; i++) {
        /* causal: keys past the query's position do not exist for it */
        int64_t limit = Tk;
        if (prm->causal && (int64_t)prm->q_pos0 + i + 1 < limit) limit = (int64_t)prm->q_pos0 + i + 1;
        const int32_t n = (int32_t)limit;
        for (int32_t h = 0; h < H; h++) {
            const int8_t *qh = q + (size_t)i * q_stride + (size_t)h * D;
            const size_t off = (size_t)(h / group) * D;
            int8_t *oh = out + (size_t)i * q_stride + (size_t)h * D;
            for (int32_t j = 0; j < n; j++)
                scores[j] = dot(qh, k + (size_t)j * kv_stride + off, D);
            thm_softmax_q15(scores, kv_mask, p, n, prm->score_mult, prm->score_shift,
                            prm->diff_max, soft_scratch);
            for (int32_t d = 0; d < D; d++) acc[d] = 0;
            pv(p, v + off, kv_stride, n, D, acc);
            rq(acc, om, os, acc, D);
            for (int32_t d = 0; d < D; d++) oh[d] = thm_sat8(acc[d]);
        }
    }
    return THM_OK;
}
