/* The arena plan of the Needle 2 model: every buffer a step uses, sized from
 * the bound image and max_pos, in 64 bits on every target (a 32-bit board
 * refuses exactly what the host refuses). */
#include <string.h>
#include "thm_n2.h"
#include "thimble_kernels.h"

typedef struct { uint64_t off; int ok; } plan;

static uint64_t take(plan *p, uint64_t bytes)
{
    const uint64_t at = (p->off + THM_N2_ARENA_ALIGN - 1) / THM_N2_ARENA_ALIGN * THM_N2_ARENA_ALIGN;
    p->off = at + bytes;
    if (p->off > THM_N2_ARENA_MAX) p->ok = 0;
    return at;
}

typedef struct {
    uint64_t X, u, b, vc, nx, xr, sh, z, g, fw, z12, cm, cs, P, h8, q, k, att, o8, post, m8, s8, e, ek;
    uint64_t kcache, vcache, vring, hist, logits, scratch, idx;
} offsets;

/* K/V slots per layer: sinks + window (the ring) when the image has a window */
static int32_t kv_slots(const thm_n2 *m, int32_t max_pos)
{
    if (!m->window) return max_pos;
    const int64_t ring = (int64_t)m->sinks + m->window;
    return ring < max_pos ? (int32_t)ring : max_pos;
}

static int lay_out(const thm_n2 *m, int32_t max_pos, offsets *o, uint64_t *total)
{
    if (!m || !m->bound || max_pos < 1 || max_pos > m->n_pos) return 0;
    plan p = {0, 1};
    const uint64_t n = (uint64_t)m->lanes, d = (uint64_t)m->d, hn = (uint64_t)m->hada_n, Q = (uint64_t)m->Q;
    const uint64_t KV = (uint64_t)m->KV, T = (uint64_t)max_pos, L = (uint64_t)m->L, S = (uint64_t)m->n_sites;
    const uint64_t slots = (uint64_t)kv_slots(m, max_pos);
    uint64_t kmax = n * d > Q ? n * d : Q;
    if (d > kmax) kmax = d;
    const uint64_t groups = (kmax + THM_CQ_GROUP - 1) / THM_CQ_GROUP;
    const uint64_t span = (uint64_t)m->dil * (THM_N2_TAPS - 1) + 1;
    o->X = take(&p, n * d * 2);
    o->u = take(&p, d * 2);
    o->b = take(&p, d * 2);
    o->vc = take(&p, (S ? S : 1) * d * 2);
    o->nx = take(&p, n * d);
    o->xr = take(&p, groups * THM_CQ_GROUP);
    o->sh = take(&p, groups);
    o->z = take(&p, n * (2 + n) * 4);
    o->g = take(&p, Q * 4);
    o->fw = take(&p, hn * 4);
    o->z12 = take(&p, hn * 4);
    o->cm = take(&p, hn * 4);
    o->cs = take(&p, hn * 4);
    o->P = take(&p, n * n * 2);
    o->h8 = take(&p, d);
    o->q = take(&p, Q);
    o->k = take(&p, KV);
    o->att = take(&p, Q);
    o->o8 = take(&p, d);
    o->post = take(&p, d);
    o->m8 = take(&p, hn);
    o->s8 = take(&p, hn);
    o->e = take(&p, d);
    o->ek = take(&p, (S ? S : 1) * d);
    o->kcache = take(&p, L * slots * KV);
    o->vcache = take(&p, L * slots * KV);
    o->vring = take(&p, (S ? S : 1) * span * d);
    o->hist = take(&p, T * 4);
    o->logits = take(&p, (uint64_t)m->V * 4);
    o->scratch = take(&p, thm_attention_s8_scratch_size((int32_t)slots));
    o->idx = take(&p, (uint64_t)THM_N2_MAX_ORDERS * 64 * 4);
    *total = (p.off + THM_N2_ARENA_ALIGN - 1) / THM_N2_ARENA_ALIGN * THM_N2_ARENA_ALIGN;
    return p.ok && *total <= THM_N2_ARENA_MAX && *total <= (uint64_t)(size_t)-1;
}

size_t thm_n2_arena_size(const thm_n2 *m, int32_t max_pos)
{
    offsets o;
    uint64_t total = 0;
    return lay_out(m, max_pos, &o, &total) ? (size_t)total : 0;
}

int thm_n2_arena_items(const thm_n2 *m, int32_t max_pos, const char **names, uint64_t *bytes, int cap)
{
    static const char *const what[7] = {
        "activations (lanes, norms, rotations, projections, MLP)", "K cache (layers x slots x K/V width)",
        "V cache (layers x slots x K/V width)", "engram values (the conv's last positions)",
        "token history (the engram hash)", "logits", "attention and engram scratch"};
    offsets o;
    uint64_t total = 0;
    if (!names || !bytes || cap < 7 || !lay_out(m, max_pos, &o, &total)) return 0;
    const uint64_t at[8] = {0, o.kcache, o.vcache, o.vring, o.hist, o.logits, o.scratch, total};
    for (int i = 0; i < 7; i++) {
        names[i] = what[i];
        bytes[i] = at[i + 1] - at[i];
    }
    return 7;
}

int thm_n2_init(thm_n2 *m, void *arena, size_t arena_bytes, int32_t max_pos)
{
    if (!m || !arena) return THM_N2_E_ARG;
    if (!m->bound) return THM_N2_E_STATE;
    offsets o;
    uint64_t total = 0;
    if (!lay_out(m, max_pos, &o, &total)) return THM_N2_E_ARG;
    if ((uintptr_t)arena % THM_N2_ARENA_ALIGN || arena_bytes < total) return THM_N2_E_ARENA;
    uint8_t *a = arena;
    m->X = (int16_t *)(a + o.X); m->u = (int16_t *)(a + o.u); m->b = (int16_t *)(a + o.b);
    m->vc = (int16_t *)(a + o.vc); m->nx = (int8_t *)(a + o.nx); m->xr = (int8_t *)(a + o.xr);
    m->sh = a + o.sh; m->z = (int32_t *)(a + o.z); m->g = (int32_t *)(a + o.g);
    m->fw = (int32_t *)(a + o.fw); m->z12 = (int32_t *)(a + o.z12);
    m->cm = (int32_t *)(a + o.cm); m->cs = (int32_t *)(a + o.cs); m->P = (int16_t *)(a + o.P);
    m->h8 = (int8_t *)(a + o.h8); m->q = (int8_t *)(a + o.q); m->k = (int8_t *)(a + o.k);
    m->att = (int8_t *)(a + o.att); m->o8 = (int8_t *)(a + o.o8);
    m->post = (int8_t *)(a + o.post); m->m8 = (int8_t *)(a + o.m8); m->s8 = (int8_t *)(a + o.s8);
    m->e = (int8_t *)(a + o.e); m->ek = (int8_t *)(a + o.ek);
    m->kcache = (int8_t *)(a + o.kcache); m->vcache = (int8_t *)(a + o.vcache);
    m->vring = (int8_t *)(a + o.vring); m->hist = (int32_t *)(a + o.hist);
    m->logits_buf = (int32_t *)(a + o.logits); m->attn_scratch = a + o.scratch;
    m->idx = (int32_t *)(a + o.idx);
    m->max_pos = max_pos;
    m->kv_slots = kv_slots(m, max_pos);
    m->arena_used = (size_t)total;
    m->ready = 1;
    return thm_n2_reset(m);
}

int thm_n2_reset(thm_n2 *m)
{
    if (!m || !m->ready) return THM_N2_E_STATE;
    m->length = 0;
    return THM_N2_OK;
}
