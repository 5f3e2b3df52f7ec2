/* The arena: one layout function computes every offset, so the size the
 * caller is told (thm_model_arena_size, also what `thimble plan` reports) and
 * the layout thm_model_init uses cannot disagree.
 *
 * Encoder-sized buffers (x, h, q, mix) serve the encoder's T rows and are
 * reused, row 0 only, by every decoder step; the o projection reuses h,
 * projections before QK-norm go through mix, the encoder's K and V rows pass
 * through q on their way to the head-major slots, and the encoder output sits
 * in q until the first decode step. Persistent: cross K/V [L_dec, max_enc, KV] and
 * the self K/V cache [L_dec, max_dec, KV]. Cross K/V are kept head-major
 * (K [Hkv, T, D], V^T [Hkv, D, T] per layer, same bytes) for the fast
 * attention path, and layer 0's slots hold the encoder layers' K/V in that
 * form while the encoder runs (the cross K/V are computed after it). The
 * cross V^T slots, the self K/V cache, the decoder's scratch and the
 * fast-attention workspace are laid out last and in that order: from layer
 * 1's cross V^T on, one range that the encoder's attention borrows for
 * blocks of up to THM_FAST_ATTN_MAX_ROWS query rows (thm_model_attention.h). */
#include <string.h>
#include "thm_model.h"
#include "thimble_kernels.h"
#include "thm_model_attention.h"

/* The arena's buffers, in layout order; ITEM_NAMES is what `thimble plan`
 * prints for each (thm_model_arena_items). */
enum { A_X, A_H, A_Q, A_MIX, A_LOGITS, A_CROSS_K, A_CROSS_V, A_SELF_K, A_SELF_V, A_SCRATCH, A_FAST, N_ITEMS };
static const char *const ITEM_NAMES[N_ITEMS] = {
    "stream x int16 [T, d]", "normed input h [T, d]", "q [T, max(Q, d)] (also K, V rows, encoder output)",
    "attention output / projection scratch [T, Q]", "logits int32 [V]", "cross K [L_dec, Hkv, T, hd]",
    "cross V^T [L_dec, Hkv, hd, T]", "self K [L_dec, max_dec, KV]", "self V [L_dec, max_dec, KV]",
    "decoder self-attention scratch", "fast attention workspace (one head, 8 query rows)"};

/* thm_model_init lends the encoder everything from layer 1's cross V^T slot
 * to the end: nothing that lives while a prompt is encoded may come after it */
_Static_assert(A_CROSS_V + 1 == A_SELF_K && A_SELF_K + 1 == A_SELF_V && A_SELF_V + 1 == A_SCRATCH &&
                   A_SCRATCH + 1 == A_FAST && A_FAST + 1 == N_ITEMS,
               "the encoder's borrowed range: cross V^T, self K/V, scratch, fast workspace, last");

typedef struct {
    size_t off[N_ITEMS], bytes[N_ITEMS], total;
} layout;

/* The plan runs in 64 bits: image fields multiply (layers x positions x
 * width) past 4 GiB, which a 32-bit size_t would wrap into a small arena.
 * take() keeps the running total at or under THM_MODEL_ARENA_MAX, so each
 * offset fits a size_t on every target once the plan succeeds. */
static void take(layout *L, int item, uint64_t *at, uint64_t bytes, int *ok)
{
    uint64_t off = *at;
    L->off[item] = L->bytes[item] = 0;
    if (bytes > THM_MODEL_ARENA_MAX || off + bytes > THM_MODEL_ARENA_MAX) { *ok = 0; return; }
    *at = off + (bytes + THM_MODEL_ARENA_ALIGN - 1) / THM_MODEL_ARENA_ALIGN * THM_MODEL_ARENA_ALIGN;
    if (*at > THM_MODEL_ARENA_MAX) { *ok = 0; return; }
    L->off[item] = (size_t)off;
    L->bytes[item] = (size_t)(*at - off);
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
    /* No [T, KV] buffers for K and V: the encoder computes them (through q,
     * before q's own projection) straight into the head-major cross slots,
     * and the cross K/V after it through h; at a 256-token prompt that is
     * 128 KiB of watch_m55's 2 MiB. */
    take(L, A_X, &at, te * d * sizeof(int16_t), &ok);
    take(L, A_H, &at, te * (KV > d ? KV : d), &ok);   /* also the cross K/V rows */
    take(L, A_Q, &at, te * (Q > d ? Q : d), &ok);  /* Q >= KV: kv heads divide heads */
    take(L, A_MIX, &at, te * Q, &ok);
    take(L, A_LOGITS, &at, (uint64_t)m->V * sizeof(int32_t), &ok);
    take(L, A_CROSS_K, &at, Ld * te * KV, &ok);
    take(L, A_CROSS_V, &at, Ld * te * KV, &ok);
    take(L, A_SELF_K, &at, Ld * td * KV, &ok);
    take(L, A_SELF_V, &at, Ld * td * KV, &ok);
    if (!ok) return 0;   /* before the kernels' own size functions see these lengths */
    take(L, A_SCRATCH, &at, thm_attention_s8_scratch_size(max_dec), &ok);
    take(L, A_FAST, &at, thm_fast_attn_workspace_size(max_enc, m->hd), &ok);
    L->total = (size_t)at;
    return ok;
}

size_t thm_model_arena_size(const thm_model *m, int32_t max_enc, int32_t max_dec)
{
    layout L;
    return plan(m, max_enc, max_dec, &L) ? L.total : 0;
}

int thm_model_arena_items(const thm_model *m, int32_t max_enc, int32_t max_dec, const char **names,
                          uint64_t *bytes, int cap)
{
    layout L;
    if (!plan(m, max_enc, max_dec, &L)) return 0;
    int n = 0;
    for (; n < N_ITEMS && n < cap; n++) {
        if (names) names[n] = ITEM_NAMES[n];
        if (bytes) bytes[n] = L.bytes[n];
    }
    return n;
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
    m->x = (int16_t *)(void *)(a + L.off[A_X]);
    m->h = (int8_t *)(a + L.off[A_H]);
    m->q = (int8_t *)(a + L.off[A_Q]);
    m->mix = (int8_t *)(a + L.off[A_MIX]);
    m->logits = (int32_t *)(void *)(a + L.off[A_LOGITS]);
    m->cross_k = (int8_t *)(a + L.off[A_CROSS_K]);
    m->cross_v = (int8_t *)(a + L.off[A_CROSS_V]);
    m->self_k = (int8_t *)(a + L.off[A_SELF_K]);
    m->self_v = (int8_t *)(a + L.off[A_SELF_V]);
    m->attn_scratch = a + L.off[A_SCRATCH];
    m->fast_ws = a + L.off[A_FAST];
    m->fast_ws_bytes = L.bytes[A_FAST];
    /* the layout order keeps the cross V^T slots of decoder layers 1.., then
     * SELF_K .. FAST, one range: the encoder's attention borrows it (layer
     * 0's slots hold the encoder's own K/V; the decoder's cross K/V are
     * computed after the encoder and no decoder state lives while a prompt is
     * encoded) */
    const size_t lent = L.off[A_CROSS_V] + ((size_t)max_enc * (size_t)m->KV + THM_MODEL_ARENA_ALIGN - 1) /
                                               THM_MODEL_ARENA_ALIGN * THM_MODEL_ARENA_ALIGN;
    const size_t from = lent < L.off[A_SELF_K] ? lent : L.off[A_SELF_K];
    m->prompt_ws = a + from;
    m->prompt_ws_bytes = L.total - from;
    m->arena_used = L.total;
    m->n_enc = 0;
    m->length = 0;
    m->enc_out_valid = 0;
    m->crc = 0;
    m->ready = 1;
    return THM_MODEL_OK;
}
