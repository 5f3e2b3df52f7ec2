/* thm_n2_bind: every tensor of a Needle 2 image by name (the names and
 * shapes runtime/thimble/needle2/image.py writes), checked against its
 * CONFIG_NEEDLE2 and against what the kernels accept, so a bad image is
 * refused here, naming the tensor, never mid-inference. */
#include <string.h>
#include "thm_n2.h"
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"     /* thm_softmax_range_ok: the attention kernel's own rule */

#define SHIFT_MIN (-31)
#define SHIFT_MAX 30
#define EPS_MAX ((int64_t)1 << 40)

typedef struct {
    thm_n2 *m;
    const thm_image *img;
    uint8_t used[THM_IMAGE_MAX_TENSORS / 8];
    uint32_t n_bound, cursor;
    uint32_t found_dtype;
    char name[THM_IMAGE_MAX_NAME + 1];
} binder;

/* name = prefix + suffix (both short, generated here: never past the buffer) */
static const char *nm(binder *bd, const char *prefix, const char *suffix)
{
    uint32_t n = 0;
    for (const char *s = prefix; *s && n < THM_IMAGE_MAX_NAME; s++) bd->name[n++] = *s;
    for (const char *s = suffix; *s && n < THM_IMAGE_MAX_NAME; s++) bd->name[n++] = *s;
    bd->name[n] = 0;
    return bd->name;
}

static int fail(binder *bd, int err)
{
    memcpy(bd->m->err_name, bd->name, sizeof(bd->name));
    return err;
}

#define ANY_CQ 0xFFu   /* get's dtype: cq2, cq3 or cq4 (found_dtype says which) */

static int is_cq(uint32_t dtype)
{
    return dtype == THM_DTYPE_CQ2 || dtype == THM_DTYPE_CQ3 || dtype == THM_DTYPE_CQ4;
}

/* The tensor named bd->name, of dtype and dims (n of them; 0 in dims: any). */
static int get(binder *bd, uint32_t dtype, uint32_t n, const uint32_t *dims, const void **out)
{
    uint32_t len = 0;           /* no strlen: the board's libc is memcpy, memset, memcmp */
    while (bd->name[len]) len++;
    const uint32_t count = bd->img->tensor_count;
    thm_tensor_view t;
    for (uint32_t j = 0; j < count; j++) {
        const uint32_t i = (bd->cursor + j) % count;
        if (thm_image_tensor(bd->img, i, &t) != THM_IMG_OK) return fail(bd, THM_N2_E_MISSING);
        if (t.name_len != len || memcmp(t.name, bd->name, len) != 0) continue;
        if ((dtype == ANY_CQ ? !is_cq(t.dtype) : t.dtype != dtype) || t.ndim != n || t.layout != THM_LAYOUT_ROW_MAJOR) return fail(bd, THM_N2_E_SHAPE);
        for (uint32_t k = 0; k < n; k++)
            if (dims[k] && t.dims[k] != dims[k]) return fail(bd, THM_N2_E_SHAPE);
        const uint32_t bits = thm_image_dtype_bits(dtype);
        if (bits >= 8 && ((uintptr_t)t.data % (bits / 8u))) return fail(bd, THM_N2_E_SHAPE);
        if (!(bd->used[i / 8] & (1u << (i % 8)))) { bd->used[i / 8] |= (uint8_t)(1u << (i % 8)); bd->n_bound++; }
        bd->cursor = i + 1;
        bd->found_dtype = t.dtype;
        *out = t.data;
        return THM_N2_OK;
    }
    return fail(bd, THM_N2_E_MISSING);
}

static int get1(binder *bd, const char *p, const char *s, uint32_t dtype, uint32_t n0, const void **out)
{
    nm(bd, p, s);
    const uint32_t dims[1] = {n0};
    return get(bd, dtype, 1, dims, out);
}

static int64_t join_i64(int32_t lo, int32_t hi)
{
    return (int64_t)(((uint64_t)(uint32_t)hi << 32) | (uint64_t)(uint32_t)lo);
}

static int shifts_ok(binder *bd, const int32_t *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (s[i] < SHIFT_MIN || s[i] > SHIFT_MAX) return fail(bd, THM_N2_E_RANGE);
    return THM_N2_OK;
}

static int nonneg(binder *bd, const int32_t *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] < 0) return fail(bd, THM_N2_E_RANGE);
    return THM_N2_OK;
}

static int flags_ok(binder *bd, const uint8_t *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] > 1) return fail(bd, THM_N2_E_RANGE);
    return THM_N2_OK;
}

#define TRY(x) do { const int e_ = (x); if (e_) return e_; } while (0)

/* The helpers below build names from a prefix that may be bd->name itself: they keep a copy. */
typedef struct { char s[THM_IMAGE_MAX_NAME + 1]; } prefix_copy;

static prefix_copy keep(const char *p)
{
    prefix_copy c;
    uint32_t n = 0;
    while (p[n] && n < THM_IMAGE_MAX_NAME) { c.s[n] = p[n]; n++; }
    c.s[n] = 0;
    return c;
}

/* A per-channel requantize of either sign: P.mult, P.shift, P.neg [n]. */
static int bind_rq(binder *bd, const char *p_in, uint32_t n, thm_n2_rq *r)
{
    const prefix_copy pc = keep(p_in);
    const char *p = pc.s;
    const void *a;
    TRY(get1(bd, p, ".mult", THM_DTYPE_INT32, n, &a)); r->mult = a;
    TRY(nonneg(bd, r->mult, n));
    TRY(get1(bd, p, ".shift", THM_DTYPE_INT32, n, &a)); r->shift = a;
    TRY(shifts_ok(bd, r->shift, n));
    TRY(get1(bd, p, ".neg", THM_DTYPE_UINT8, n, &a)); r->neg = a;
    TRY(flags_ok(bd, r->neg, n));
    r->any_neg = 0;
    for (uint32_t i = 0; i < n; i++) r->any_neg |= r->neg[i];
    return THM_N2_OK;
}

static int bind_norm(binder *bd, const char *p_in, uint32_t n, thm_n2_norm *r)
{
    const prefix_copy pc = keep(p_in);
    const char *p = pc.s;
    thm_n2_rq q;
    TRY(bind_rq(bd, p, n, &q));
    r->mult = q.mult; r->shift = q.shift; r->neg = q.neg; r->any_neg = q.any_neg;
    const void *a;
    TRY(get1(bd, p, ".eps", THM_DTYPE_INT32, 2, &a));
    const int32_t *e = a;
    r->eps = join_i64(e[0], e[1]);
    if (r->eps < 0 || r->eps > EPS_MAX) return fail(bd, THM_N2_E_RANGE);
    return THM_N2_OK;
}

static int bind_scalar(binder *bd, const char *p_in, int32_t out[2])
{
    const prefix_copy pc = keep(p_in);
    const char *p = pc.s;
    const void *a;
    TRY(get1(bd, p, "", THM_DTYPE_INT32, 2, &a));
    const int32_t *v = a;
    out[0] = v[0]; out[1] = v[1];
    if (v[0] < 0) return fail(bd, THM_N2_E_RANGE);
    return shifts_ok(bd, v + 1, 1);
}

/* A CQ matrix [N, >= K] (K rounded up to groups) and, unless no_rq, its
 * product's P.mult / P.rshift [N] (and P.neg when signed). */
static int bind_cq(binder *bd, const char *p_in, uint32_t N, uint32_t K, int no_rq, int is_signed, thm_n2_cq *c)
{
    const prefix_copy pc = keep(p_in);
    const char *p = pc.s;
    const uint32_t Kp = (K + THM_CQ_GROUP - 1) / THM_CQ_GROUP * THM_CQ_GROUP;
    const uint32_t dims[2] = {N, Kp};
    const void *a = 0;
    nm(bd, p, "");
    TRY(get(bd, ANY_CQ, 2, dims, &a));
    c->bits = (int32_t)thm_image_dtype_bits(bd->found_dtype);
    c->w = a; c->N = (int32_t)N; c->Kp = (int32_t)Kp;
    TRY(get1(bd, p, ".lut", THM_DTYPE_INT8, 1u << c->bits, &a)); c->lut = a;
    nm(bd, p, ".norms");
    const uint32_t nd[2] = {N, Kp / THM_CQ_GROUP};
    TRY(get(bd, THM_DTYPE_UINT16, 2, nd, &a)); c->norms = a;
    c->mult = c->rshift = 0; c->neg = 0;
    if (no_rq) return THM_N2_OK;
    TRY(get1(bd, p, ".mult", THM_DTYPE_INT32, N, &a)); c->mult = a;
    TRY(nonneg(bd, c->mult, N));
    TRY(get1(bd, p, ".rshift", THM_DTYPE_INT32, N, &a)); c->rshift = a;
    for (uint32_t i = 0; i < N; i++)
        if (c->rshift[i] < 33 || c->rshift[i] > 94) return fail(bd, THM_N2_E_RANGE);
    if (is_signed) {
        TRY(get1(bd, p, ".neg", THM_DTYPE_UINT8, N, &a)); c->neg = a;
        TRY(flags_ok(bd, c->neg, N));
    }
    return THM_N2_OK;
}

static int config_ok(const thm_fmt_config_needle2 *k)
{
    if (k->vocab_size < 2 || k->vocab_size > (1u << 20) || k->d_model < 8 || k->d_model > THM_MAX_NORM_DIM) return 0;
    if (k->n_layers < 1 || k->n_layers > THM_N2_MAX_LAYERS) return 0;
    if (k->n_heads < 1 || k->n_kv_heads < 1 || k->n_heads % k->n_kv_heads) return 0;
    if (k->head_dim < 2 || k->head_dim % 2 || k->head_dim > THM_MAX_HEAD_DIM) return 0;
    if ((uint64_t)k->n_heads * k->head_dim > THM_MAX_NORM_DIM) return 0;
    if (k->lanes < 1 || k->lanes > THM_N2_MAX_LANES || k->lanes > THM_SINKHORN_MAX_N) return 0;
    if ((uint64_t)k->lanes * k->d_model > THM_MAX_NORM_DIM) return 0;
    if (k->hada_n < k->d_model || k->hada_n > THM_FWHT_MAX_N || (k->hada_n & (k->hada_n - 1))) return 0;
    if (k->sinkhorn_iters > 1000 || k->rope_n_pos < 1 || k->rope_n_pos > (1u << 20)) return 0;
    if (k->kv_window > (1u << 20) || k->kv_sinks > (1u << 20)) return 0;
    /* the counts of the fixed arrays, whether or not a site uses them (the fields are copied) */
    if (k->engram_sites > THM_N2_MAX_SITES || k->engram_orders > THM_N2_MAX_ORDERS) return 0;
    if (k->engram_sites) {
        if (k->engram_orders < 1) return 0;
        for (uint32_t o = 0; o < k->engram_orders; o++)
            if (k->engram_order[o] < 1 || k->engram_order[o] > 8) return 0;
        if (k->engram_heads < 1 || k->engram_heads > 64 || k->engram_slots < 1 || k->engram_slots > (1u << 24)) return 0;
        if (k->engram_taps != THM_N2_TAPS || k->engram_dilation < 1 || k->engram_dilation > 64) return 0;
        const uint32_t tables = k->engram_orders * k->engram_heads;     /* <= 256 */
        if (k->d_model % tables) return 0;
        /* the tables' rows (tables x slots) are one int32 row index: bounded on every target */
        if ((uint64_t)tables * k->engram_slots > THM_N2_MAX_ENGRAM_ROWS) return 0;
        for (uint32_t s = 0; s < k->engram_sites; s++) {
            if (k->engram_layers[s] >= k->n_layers) return 0;
            if (s && k->engram_layers[s] <= k->engram_layers[s - 1]) return 0;
        }
    }
    return 1;
}

static void layer_prefix(char *p, int32_t i)
{
    memcpy(p, "layer", 5);
    p[5] = (char)('0' + i / 10);
    p[6] = (char)('0' + i % 10);
    p[7] = '.';
    p[8] = 0;
}

int thm_n2_bind(thm_n2 *m, const thm_image *img)
{
    if (!m || !img || !img->base) return THM_N2_E_ARG;
    memset(m, 0, sizeof(*m));
    const thm_fmt_config_needle2 *k = &img->config2;
    if (img->family != THM_FAMILY_NEEDLE2 || !config_ok(k)) return THM_N2_E_CONFIG;
    m->V = (int32_t)k->vocab_size; m->d = (int32_t)k->d_model; m->L = (int32_t)k->n_layers;
    m->H = (int32_t)k->n_heads; m->Hkv = (int32_t)k->n_kv_heads; m->hd = (int32_t)k->head_dim;
    m->Q = m->H * m->hd; m->KV = m->Hkv * m->hd; m->n_pos = (int32_t)k->rope_n_pos;
    m->lanes = (int32_t)k->lanes; m->hada_n = (int32_t)k->hada_n; m->iters = (int32_t)k->sinkhorn_iters;
    m->window = (int32_t)k->kv_window; m->sinks = (int32_t)k->kv_sinks;
    m->n_sites = (int32_t)k->engram_sites;
    for (int32_t s = 0; s < m->n_sites; s++) m->site_layer[s] = (int32_t)k->engram_layers[s];
    m->n_orders = (int32_t)k->engram_orders;
    for (int32_t o = 0; o < m->n_orders; o++) m->orders[o] = (int32_t)k->engram_order[o];
    m->heads = (int32_t)k->engram_heads; m->slots = (int32_t)k->engram_slots; m->dil = (int32_t)k->engram_dilation;
    m->tables = m->n_sites ? m->n_orders * m->heads : 0;
    m->sub = m->tables ? m->d / m->tables : 0;

    binder bd;
    memset(&bd, 0, sizeof(bd));
    bd.m = m; bd.img = img;
    const uint32_t V = (uint32_t)m->V, d = (uint32_t)m->d, n = (uint32_t)m->lanes, L = (uint32_t)m->L;
    const void *a;
    TRY(bind_cq(&bd, "embedding", V, d, 1, 0, &m->embed));
    m->logits = m->embed;
    TRY(get1(&bd, "embedding.in", ".mult", THM_DTYPE_INT32, V, &a)); m->embed.mult = a;
    TRY(nonneg(&bd, m->embed.mult, V));
    TRY(get1(&bd, "embedding.in", ".rshift", THM_DTYPE_INT32, V, &a)); m->embed.rshift = a;
    for (uint32_t i = 0; i < V; i++)
        if (m->embed.rshift[i] < 33 || m->embed.rshift[i] > 94) return fail(&bd, THM_N2_E_RANGE);
    TRY(get1(&bd, "logits", ".mult", THM_DTYPE_INT32, V, &a)); m->logits.mult = a;
    TRY(nonneg(&bd, m->logits.mult, V));
    TRY(get1(&bd, "logits", ".rshift", THM_DTYPE_INT32, V, &a)); m->logits.rshift = a;
    for (uint32_t i = 0; i < V; i++)
        if (m->logits.rshift[i] < 33 || m->logits.rshift[i] > 94) return fail(&bd, THM_N2_E_RANGE);
    TRY(bind_norm(&bd, "final_norm", d, &m->final_norm));
    nm(&bd, "rope.cos", "");
    const uint32_t rd[2] = {(uint32_t)m->n_pos, (uint32_t)m->hd / 2};
    TRY(get(&bd, THM_DTYPE_INT16, 2, rd, &a)); m->rope_cos = a;
    nm(&bd, "rope.sin", "");
    TRY(get(&bd, THM_DTYPE_INT16, 2, rd, &a)); m->rope_sin = a;

    static const char *const phi_names[3] = {"mhc_phi_pre", "mhc_phi_post", "mhc_phi_res"};
    static const char *const bias_names[3] = {"mhc_bias_pre", "mhc_bias_post", "mhc_bias_res"};
    for (int j = 0; j < 3; j++) {
        const uint32_t rows = L * n * (j == 2 ? n : 1);
        TRY(bind_cq(&bd, phi_names[j], rows, n * d, 0, 1, &m->phi[j]));
        TRY(get1(&bd, bias_names[j], "", THM_DTYPE_INT32, rows, &a)); m->bias[j] = a;
    }

    for (int32_t i = 0; i < m->L; i++) {
        thm_n2_layer *ly = &m->layer[i];
        char P[9];
        layer_prefix(P, i);
        ly->site = -1;
        for (int32_t s = 0; s < m->n_sites; s++)
            if (m->site_layer[s] == i) ly->site = s;
        TRY(bind_norm(&bd, nm(&bd, P, "nx"), n * d, &ly->nx));
        if (ly->site >= 0) {
            char Pn[16];
            memcpy(Pn, P, 8);
            memcpy(Pn + 8, "uu", 3); TRY(bind_norm(&bd, Pn, d, &ly->uu));
            memcpy(Pn + 8, "eu", 3); TRY(bind_norm(&bd, Pn, d, &ly->eu));
            memcpy(Pn + 8, "alpha", 6); TRY(bind_scalar(&bd, Pn, ly->alpha));
        }
        char Pn[24];
        memcpy(Pn, P, 8);
#define SUB(s) (memcpy(Pn + 8, s, sizeof(s)), Pn)
        TRY(bind_norm(&bd, SUB("norm_in"), d, &ly->norm_in));
        TRY(bind_cq(&bd, SUB("q_proj"), (uint32_t)m->Q, d, 0, 0, &ly->q));
        TRY(bind_cq(&bd, SUB("k_proj"), (uint32_t)m->KV, d, 0, 0, &ly->k));
        TRY(bind_cq(&bd, SUB("v_proj"), (uint32_t)m->KV, d, 0, 0, &ly->v));
        TRY(bind_norm(&bd, SUB("q_norm"), (uint32_t)m->hd, &ly->q_norm));
        TRY(bind_norm(&bd, SUB("k_norm"), (uint32_t)m->hd, &ly->k_norm));
        TRY(get1(&bd, SUB("attn"), "", THM_DTYPE_INT32, 5, &a));
        memcpy(ly->attn, a, sizeof(ly->attn));
        /* what thm_attention_s8 accepts: score (mult, shift, diff max), output (mult, shift) */
        if (ly->attn[0] < 0 || ly->attn[3] < 0 || !thm_softmax_range_ok(ly->attn[1], ly->attn[2]))
            return fail(&bd, THM_N2_E_RANGE);
        TRY(shifts_ok(&bd, &ly->attn[4], 1));
        TRY(bind_cq(&bd, SUB("gate_proj"), (uint32_t)m->Q, d, 0, 0, &ly->gate));
        TRY(bind_cq(&bd, SUB("out_proj"), d, (uint32_t)m->Q, 0, 0, &ly->out));
        TRY(bind_norm(&bd, SUB("post_norm"), d, &ly->post_norm));
        TRY(bind_scalar(&bd, SUB("attn_res"), ly->attn_res));
        TRY(bind_norm(&bd, SUB("mlp_norm"), d, &ly->mlp_norm));
        TRY(bind_rq(&bd, SUB("d2"), (uint32_t)m->hada_n, &ly->d2));
        TRY(bind_scalar(&bd, SUB("silu"), ly->silu));
        TRY(bind_rq(&bd, SUB("d3"), d, &ly->d3));
        TRY(bind_scalar(&bd, SUB("mlp_res"), ly->mlp_res));
#undef SUB
    }
    for (int32_t s = 0; s < m->n_sites; s++) {
        thm_n2_site *st = &m->site[s];
        char E[24] = "engram0.";
        E[6] = (char)('0' + s);
#define SUB(x) (memcpy(E + 8, x, sizeof(x)), E)
        TRY(bind_cq(&bd, SUB("tables"), (uint32_t)(m->tables * m->slots), (uint32_t)m->sub, 0, 0, &st->tables));
        TRY(bind_cq(&bd, SUB("key_proj"), d, d, 0, 0, &st->key));
        TRY(bind_cq(&bd, SUB("value_proj"), d, d, 0, 0, &st->value));
        nm(&bd, SUB("taps"), "");
        const uint32_t td[2] = {THM_N2_TAPS, d};
        TRY(get(&bd, THM_DTYPE_INT16, 2, td, &a)); st->taps = a;
        TRY(bind_scalar(&bd, SUB("conv"), st->conv));
#undef SUB
    }
    if (bd.n_bound != img->tensor_count) {
        thm_tensor_view t;
        for (uint32_t i = 0; i < img->tensor_count; i++) {
            if (bd.used[i / 8] & (1u << (i % 8))) continue;
            thm_image_tensor(img, i, &t);
            memcpy(bd.name, t.name, t.name_len);
            bd.name[t.name_len] = 0;
            break;
        }
        return fail(&bd, THM_N2_E_EXTRA);
    }
    m->bound = 1;
    return THM_N2_OK;
}

const char *thm_n2_error_name(const thm_n2 *m) { return m ? m->err_name : ""; }

const char *thm_n2_strerror(int err)
{
    switch (err) {
    case THM_N2_OK: return "ok";
    case THM_N2_E_ARG: return "bad argument";
    case THM_N2_E_CONFIG: return "not a Needle 2 image this runtime runs (CONFIG_NEEDLE2 out of range)";
    case THM_N2_E_MISSING: return "a tensor is missing";
    case THM_N2_E_SHAPE: return "a tensor has the wrong dtype or shape";
    case THM_N2_E_RANGE: return "a constant is out of range";
    case THM_N2_E_EXTRA: return "the image has a tensor the model does not use";
    case THM_N2_E_ARENA: return "arena too small or misaligned";
    case THM_N2_E_STATE: return "model not ready, or the sequence is full";
    case THM_N2_E_TOKEN: return "token id outside the vocabulary";
    case THM_N2_E_KERNEL: return "a kernel refused its arguments";
    default: return "unknown error";
    }
}
