/* The arena: one layout function computes every offset, so the size the
 * caller is told (thm_model_arena_size, also what `thimble plan` reports) and
 * the layout thm_model_init uses cannot disagree.
 *
 * Encoder-sized buffers (x, h, q, k, v, mix) serve the encoder's T rows and
 * are reused, row 0 only, by every decoder step; the o projection reuses h,
 * projections before QK-norm go through mix, and the encoder output sits in q
 * until the first decode step. Persistent: cross K/V [L_dec, max_enc, KV] and
 * the self K/V cache [L_dec, max_dec, KV]. Cross K/V are kept head-major
 * (K [Hkv, T, D], V^T [Hkv, D, T] per layer, same bytes) for the fast
 * attention path, and layer 0's slots hold the encoder layers' K/V in that
 * form while the encoder runs (the cross K/V are computed after it). */
#include <string.h>
#include "thm_model.h"
#include "thimble_kernels.h"
#include "thm_model_attention.h"

typedef struct {
    size_t x, h, q, k, v, mix, logits, cross_k, cross_v, self_k, self_v, scratch, fast, total;
} layout;

static size_t take(size_t *at, size_t bytes)
{
    size_t off = *at;
    *at += (bytes + THM_MODEL_ARENA_ALIGN - 1) / THM_MODEL_ARENA_ALIGN * THM_MODEL_ARENA_ALIGN;
    return off;
}

static int plan(const thm_model *m, int32_t max_enc, int32_t max_dec, layout *L)
{
    if (!m || !m->bound || max_enc < 1 || max_dec < 1 || max_enc > m->max_enc_len || max_dec > m->max_dec_len)
        return 0;
    size_t te = (size_t)max_enc, td = (size_t)max_dec, Ld = (size_t)m->L_dec;
    size_t d = (size_t)m->d, Q = (size_t)m->Q, KV = (size_t)m->KV;
    size_t at = 0;
    L->x = take(&at, te * d * sizeof(int16_t));
    L->h = take(&at, te * d);
    L->q = take(&at, te * (Q > d ? Q : d));   /* also the encoder output [T, d] */
    L->k = take(&at, te * KV);
    L->v = take(&at, te * KV);
    L->mix = take(&at, te * Q);               /* Q >= KV: kv heads divide heads */
    L->logits = take(&at, (size_t)m->V * sizeof(int32_t));
    L->cross_k = take(&at, Ld * te * KV);
    L->cross_v = take(&at, Ld * te * KV);
    L->self_k = take(&at, Ld * td * KV);
    L->self_v = take(&at, Ld * td * KV);
    L->scratch = take(&at, thm_attention_s8_scratch_size(max_dec));   /* decoder self-attention */
    L->fast = take(&at, thm_fast_attn_workspace_size(max_enc, m->hd));  /* encoder and cross attention */
    L->total = at;
    return 1;
}

size_t thm_model_arena_size(const thm_model *m, int32_t max_enc, int32_t max_dec)
{
    layout L;
    return plan(m, max_enc, max_dec, &L) ? L.total : 0;
}

int thm_model_init(thm_model *m, void *arena, size_t arena_bytes, int32_t max_enc, int32_t max_dec)
{
    layout L;
    if (!m || !arena) return THM_MODEL_E_ARG;
    if (!m->bound) return THM_MODEL_E_STATE;
    if (!plan(m, max_enc, max_dec, &L)) return THM_MODEL_E_ARG;
    if (arena_bytes < L.total || (uintptr_t)arena % THM_MODEL_ARENA_ALIGN) return THM_MODEL_E_ARENA;
    uint8_t *a = (uint8_t *)arena;
    m->max_enc = max_enc;
    m->max_dec = max_dec;
    m->x = (int16_t *)(void *)(a + L.x);
    m->h = (int8_t *)(a + L.h);
    m->q = (int8_t *)(a + L.q);
    m->k = (int8_t *)(a + L.k);
    m->v = (int8_t *)(a + L.v);
    m->mix = (int8_t *)(a + L.mix);
    m->logits = (int32_t *)(void *)(a + L.logits);
    m->cross_k = (int8_t *)(a + L.cross_k);
    m->cross_v = (int8_t *)(a + L.cross_v);
    m->self_k = (int8_t *)(a + L.self_k);
    m->self_v = (int8_t *)(a + L.self_v);
    m->attn_scratch = a + L.scratch;
    m->fast_ws = a + L.fast;
    m->arena_used = L.total;
    m->n_enc = 0;
    m->length = 0;
    m->enc_out_valid = 0;
    m->crc = 0;
    m->ready = 1;
    return THM_MODEL_OK;
}
