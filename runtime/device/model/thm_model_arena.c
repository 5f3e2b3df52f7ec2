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

/* The plan runs in 64 bits: image fields multiply (layers x positions x
 * width) past 4 GiB, which a 32-bit size_t would wrap into a small arena.
 * take() keeps the running total at or under THM_MODEL_ARENA_MAX, so each
 * offset fits a size_t on every target once the plan succeeds. */
static size_t take(uint64_t *at, uint64_t bytes, int *ok)
{
    uint64_t off = *at;
    if (bytes > THM_MODEL_ARENA_MAX || off + bytes > THM_MODEL_ARENA_MAX) { *ok = 0; return 0; }
    *at = off + (bytes + THM_MODEL_ARENA_ALIGN - 1) / THM_MODEL_ARENA_ALIGN * THM_MODEL_ARENA_ALIGN;
    if (*at > THM_MODEL_ARENA_MAX) *ok = 0;
    return (size_t)off;
}

static int plan(const thm_model *m, int32_t max_enc, int32_t max_dec, layout *L)
{
    if (!m || !m->bound || max_enc < 1 || max_dec < 1 || max_enc > m->max_enc_len || max_dec > m->max_dec_len)
        return 0;
    /* each factor is bounded by bind (positions <= 2^20, widths <= 4096,
     * layers <= 32, V <= 2^24): a product of three stays under 2^64 */
    uint64_t te = (uint64_t)max_enc, td = (uint64_t)max_dec, Ld = (uint64_t)m->L_dec;
    uint64_t d = (uint64_t)m->d, Q = (uint64_t)m->Q, KV = (uint64_t)m->KV;
    uint64_t at = 0;
    int ok = 1;
    L->x = take(&at, te * d * sizeof(int16_t), &ok);
    L->h = take(&at, te * d, &ok);
    L->q = take(&at, te * (Q > d ? Q : d), &ok);   /* also the encoder output [T, d] */
    L->k = take(&at, te * KV, &ok);
    L->v = take(&at, te * KV, &ok);
    L->mix = take(&at, te * Q, &ok);               /* Q >= KV: kv heads divide heads */
    L->logits = take(&at, (uint64_t)m->V * sizeof(int32_t), &ok);
    L->cross_k = take(&at, Ld * te * KV, &ok);
    L->cross_v = take(&at, Ld * te * KV, &ok);
    L->self_k = take(&at, Ld * td * KV, &ok);
    L->self_v = take(&at, Ld * td * KV, &ok);
    if (!ok) return 0;   /* before the kernels' own size functions see these lengths */
    L->scratch = take(&at, thm_attention_s8_scratch_size(max_dec), &ok);   /* decoder self-attention */
    L->fast = take(&at, thm_fast_attn_workspace_size(max_enc, m->hd), &ok);  /* encoder and cross attention */
    L->total = (size_t)at;
    return ok;
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
