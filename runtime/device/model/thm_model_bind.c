/* thm_model_bind: every tensor by name, checked against the image CONFIG
 * exactly as runtime/thimble/quant/tensors.py tensor_table/check_tensors
 * describe it, plus the ranges the kernels need (so a bad image is refused
 * here, naming the tensor, rather than failing mid-inference). */
#include <string.h>
#include "thm_model.h"
#include "thm_model_consts.h"
#include "thimble_kernels.h"

#define SHIFT_MIN (-31)
#define SHIFT_MAX 30
#define EPS_MAX ((int64_t)1 << 40)

/* Bounded name formatter: appends never write past THM_IMAGE_MAX_NAME. */
typedef struct { char s[THM_IMAGE_MAX_NAME + 1]; uint32_t n; int overflow; } name_buf;

static void nb_str(name_buf *b, const char *s)
{
    for (; *s; s++) {
        if (b->n >= THM_IMAGE_MAX_NAME) { b->overflow = 1; return; }
        b->s[b->n++] = *s;
    }
    b->s[b->n] = 0;
}

static void nb_uint(name_buf *b, uint32_t v)
{
    char tmp[10];
    int k = 0;
    do { tmp[k++] = (char)('0' + v % 10); v /= 10; } while (v && k < 10);
    char one[2] = {0, 0};
    while (k) { one[0] = tmp[--k]; nb_str(b, one); }
}

static void nb_init(name_buf *b, const char *s) { b->n = 0; b->overflow = 0; b->s[0] = 0; nb_str(b, s); }

typedef struct {
    thm_model *m;
    const thm_image *img;
    uint8_t used[THM_IMAGE_MAX_TENSORS / 8];  /* tensors bound, to find extras */
    uint32_t n_bound;
    uint32_t n_int4;                          /* int4 projections bound */
    uint32_t cursor;                          /* where the next search starts */
} binder;

static int fail(binder *bd, int err, const char *name, uint32_t len)
{
    if (len > THM_IMAGE_MAX_NAME) len = THM_IMAGE_MAX_NAME;
    memcpy(bd->m->err_name, name, len);
    bd->m->err_name[len] = 0;
    return err;
}

/* The alignment an element needs: its bytes, 1 for sub-byte types; 0 for a
 * code the format does not have (thm_image_dtype_bits, the format's table). */
static uint32_t dtype_align(uint32_t dtype)
{
    const uint32_t bits = thm_image_dtype_bits(dtype);
    if (!bits) return 0;
    return bits >= 8 ? bits / 8u : 1u;
}

/* The fast paths multiply padding rows and padding k as they lie, so a packed
 * weight's padding must be zero for every ISA to give the same bits (the
 * Python reader, layouts.unpack, refuses the same). Only the padding is read:
 * none at all when N and K fill whole tiles and blocks. */
static int packed_padding_zero(uint32_t layout, const void *data, uint32_t N, uint32_t K)
{
    const int s8 = layout == THM_LAYOUT_S8_R8K64;
    const uint32_t R = s8 ? THM_LAYOUT_S8_R8K64_ROWS : THM_LAYOUT_S16_R4K16_ROWS;
    const uint32_t B = s8 ? THM_LAYOUT_S8_R8K64_KBLOCK : THM_LAYOUT_S16_R4K16_KBLOCK;
    const uint32_t Np = (N + R - 1) / R * R, nb = (K + B - 1) / B, Kp = nb * B;
    static const uint8_t pos[4] = {0, 2, 1, 3};   /* SXTB16 order inside a 4-k group */
    for (uint32_t n = 0; n < Np; n++) {
        for (uint32_t k = n < N ? K : 0; k < Kp; k++) {
            const size_t tile = (size_t)(n / R) * nb + k / B;
            if (s8 ? ((const int8_t *)data)[(tile * R + n % R) * B + k % B] != 0
                   : ((const int16_t *)data)[((tile * 4 + k % B / 4) * R + n % R) * 4 + pos[k % 4]] != 0)
                return 0;
        }
    }
    return 1;
}

/* Find name; dtype, layout and shape (rows, cols; cols 0 for 1-D) must match
 * exactly. A packed layout must also be the size the packed kernel reads and
 * 4-byte aligned (thm_matmul_s8_packed loads words). A weight the model can
 * also read as int4 (int4_ok: the projections, the embedding) may instead be
 * int4 [rows, cols], row-major, and *is_int4 says which. */
static int get_weight(binder *bd, const name_buf *nb, uint32_t dtype, uint32_t layout, uint32_t rows,
                      uint32_t cols, const void **out, int int4_ok, int *is_int4)
{
    const thm_image *img = bd->img;
    if (nb->overflow) return fail(bd, THM_MODEL_E_CONFIG, nb->s, nb->n);
    /* The writer stores tensors in table order, so the search starts after the
     * last match: binding is O(tensors), not O(tensors^2), on a slow core. */
    for (uint32_t k = 0; k < img->tensor_count; k++) {
        const uint32_t i = (bd->cursor + k) % img->tensor_count;
        thm_fmt_tensor e;
        memcpy(&e, img->tensors + (uint64_t)i * sizeof(e), sizeof(e));
        /* name bounds were checked by thm_image_open; checked again before reading */
        if (e.name_len != nb->n || (uint64_t)e.name_offset + e.name_len > img->strings_size
            || memcmp(img->strings + e.name_offset, nb->s, nb->n) != 0)
            continue;
        thm_tensor_view t;
        if (thm_image_tensor(img, i, &t) != THM_IMG_OK) return fail(bd, THM_MODEL_E_SHAPE, nb->s, nb->n);
        bd->cursor = i + 1;
        if (int4_ok && t.dtype == THM_DTYPE_INT4) {
            dtype = THM_DTYPE_INT4;     /* int4 weights are row-major (thimble_kernels.h thm_matmul_s4) */
            layout = THM_LAYOUT_ROW_MAJOR;
        }
        uint32_t ndim = cols ? 2 : 1;
        if (t.dtype != dtype || t.layout != layout || t.ndim != ndim || t.dims[0] != rows
            || (cols && t.dims[1] != cols))
            return fail(bd, THM_MODEL_E_SHAPE, nb->s, nb->n);
        if (layout != THM_LAYOUT_ROW_MAJOR
            && t.size != thm_matmul_s8_packed_size((int32_t)layout, (int32_t)cols, (int32_t)rows))
            return fail(bd, THM_MODEL_E_SHAPE, nb->s, nb->n);
        if (!dtype_align(dtype) || (uintptr_t)t.data % (layout != THM_LAYOUT_ROW_MAJOR ? 4u : dtype_align(dtype)))
            return fail(bd, THM_MODEL_E_ALIGN, nb->s, nb->n);
        if (layout != THM_LAYOUT_ROW_MAJOR && !packed_padding_zero(layout, t.data, rows, cols))
            return fail(bd, THM_MODEL_E_RANGE, nb->s, nb->n);
        if (!(bd->used[i / 8] & (1u << (i % 8)))) { bd->used[i / 8] |= (uint8_t)(1u << (i % 8)); bd->n_bound++; }
        if (is_int4) *is_int4 = dtype == THM_DTYPE_INT4;
        *out = t.data;
        return THM_MODEL_OK;
    }
    return fail(bd, THM_MODEL_E_MISSING, nb->s, nb->n);
}

static int get_laid(binder *bd, const name_buf *nb, uint32_t dtype, uint32_t layout, uint32_t rows,
                    uint32_t cols, const void **out)
{
    return get_weight(bd, nb, dtype, layout, rows, cols, out, 0, 0);
}

static int get(binder *bd, const name_buf *nb, uint32_t dtype, uint32_t rows, uint32_t cols, const void **out)
{
    return get_laid(bd, nb, dtype, THM_LAYOUT_ROW_MAJOR, rows, cols, out);
}

/* prefix + suffix, int32 [n] of requantization shifts or gains: shifts are checked. */
static int get_i32(binder *bd, const char *prefix, const char *suffix, uint32_t n, const int32_t **out)
{
    name_buf nb;
    nb_init(&nb, prefix);
    nb_str(&nb, suffix);
    int err = get(bd, &nb, THM_DTYPE_INT32, n, 0, (const void **)out);
    if (err) return err;
    uint32_t sl = (uint32_t)strlen(suffix);
    if (sl >= 6 && memcmp(suffix + sl - 6, ".shift", 6) == 0) {
        for (uint32_t i = 0; i < n; i++)
            if ((*out)[i] < SHIFT_MIN || (*out)[i] > SHIFT_MAX) return fail(bd, THM_MODEL_E_RANGE, nb.s, nb.n);
    }
    return THM_MODEL_OK;
}

static int64_t join_i64(int32_t lo, int32_t hi)
{
    return (int64_t)(((uint64_t)(uint32_t)hi << 32) | (uint64_t)(uint32_t)lo);
}

static int eps_ok(int64_t e) { return e >= 0 && e <= EPS_MAX; }
static int shift_ok(int32_t s) { return s >= SHIFT_MIN && s <= SHIFT_MAX; }

static int bind_block(binder *bd, thm_model_block *b, const char *stack, uint32_t layer, const char *kind)
{
    thm_model *m = bd->m;
    name_buf p;
    nb_init(&p, stack);
    nb_str(&p, ".");
    nb_uint(&p, layer);
    nb_str(&p, kind);
    int err;
    if ((err = get_i32(bd, p.s, ".norm.mult", (uint32_t)m->d, &b->norm_mult))) return err;
    if ((err = get_i32(bd, p.s, ".norm.shift", (uint32_t)m->d, &b->norm_shift))) return err;
    static const char *const proj[4] = {".q", ".k", ".v", ".o"};
    const uint32_t rows[4] = {(uint32_t)m->Q, (uint32_t)m->KV, (uint32_t)m->KV, (uint32_t)m->d};
    const uint32_t cols[4] = {(uint32_t)m->d, (uint32_t)m->d, (uint32_t)m->d, (uint32_t)m->Q};
    for (int j = 0; j < 4; j++) {
        name_buf nb;
        nb_init(&nb, p.s);
        nb_str(&nb, proj[j]);
        int is_int4 = 0;
        if ((err = get_weight(bd, &nb, THM_DTYPE_INT8, (uint32_t)m->weight_layout, rows[j], cols[j], &b->w[j], 1,
                              &is_int4)))
            return err;
        b->w_int4[j] = (uint8_t)is_int4;
        bd->n_int4 += (uint32_t)is_int4;
        nb_str(&nb, ".mult");
        if ((err = get_i32(bd, nb.s, "", rows[j], &b->w_mult[j]))) return err;
        nb_init(&nb, p.s);
        nb_str(&nb, proj[j]);
        if ((err = get_i32(bd, nb.s, ".shift", rows[j], &b->w_shift[j]))) return err;
    }
    if ((err = get_i32(bd, p.s, ".q_norm.mult", (uint32_t)m->hd, &b->qn_mult))) return err;
    if ((err = get_i32(bd, p.s, ".q_norm.shift", (uint32_t)m->hd, &b->qn_shift))) return err;
    if ((err = get_i32(bd, p.s, ".k_norm.mult", (uint32_t)m->hd, &b->kn_mult))) return err;
    if ((err = get_i32(bd, p.s, ".k_norm.shift", (uint32_t)m->hd, &b->kn_shift))) return err;
    const int32_t *c;
    if ((err = get_i32(bd, p.s, ".consts", THM_BLOCK_CONSTS_LEN, &c))) return err;
    b->norm_eps = join_i64(c[THM_BC_NORM_EPS_LO], c[THM_BC_NORM_EPS_HI]);
    b->q_eps = join_i64(c[THM_BC_Q_NORM_EPS_LO], c[THM_BC_Q_NORM_EPS_HI]);
    b->k_eps = join_i64(c[THM_BC_K_NORM_EPS_LO], c[THM_BC_K_NORM_EPS_HI]);
    b->score_mult = c[THM_BC_SCORE_MULT];
    b->score_shift = c[THM_BC_SCORE_SHIFT];
    b->diff_max = c[THM_BC_DIFF_MAX];
    b->mix_mult = c[THM_BC_MIX_MULT];
    b->mix_shift = c[THM_BC_MIX_SHIFT];
    b->gate_mult = c[THM_BC_GATE_MULT];
    b->gate_shift = c[THM_BC_GATE_SHIFT];
    if (!eps_ok(b->norm_eps) || !eps_ok(b->q_eps) || !eps_ok(b->k_eps) || b->diff_max < 0
        || !shift_ok(b->score_shift) || !shift_ok(b->mix_shift) || !shift_ok(b->gate_shift)) {
        nb_str(&p, ".consts");
        return fail(bd, THM_MODEL_E_RANGE, p.s, p.n);
    }
    return THM_MODEL_OK;
}

static int config_ok(const thm_fmt_config *k)
{
    if (k->weight_bits != 8 && k->weight_bits != 4) return 0;
    if (k->vocab_size < 1 || k->vocab_size > (1u << 24)) return 0;
    if (k->d_model < 1 || k->d_model > 4096 || k->n_heads < 1 || k->n_kv_heads < 1) return 0;
    if (k->d_model % k->n_heads || k->n_heads % k->n_kv_heads) return 0;
    if (k->head_dim != k->d_model / k->n_heads || k->head_dim % 2 || k->head_dim > 256) return 0;
    if (k->n_enc_layers < 1 || k->n_enc_layers > THM_MODEL_MAX_LAYERS) return 0;
    if (k->n_dec_layers < 1 || k->n_dec_layers > THM_MODEL_MAX_LAYERS) return 0;
    if (k->rope_n_pos < 1 || k->rope_n_pos > THM_MODEL_MAX_POSITIONS) return 0;
    if (k->max_enc_len < 1 || k->max_dec_len < 1) return 0;
    return 1;
}

int thm_model_bind(thm_model *m, const thm_image *img)
{
    if (!m || !img || !img->base) return THM_MODEL_E_ARG;
    memset(m, 0, sizeof(*m));
    const thm_fmt_config *k = &img->config;
    if (img->family != THM_FAMILY_NEEDLE || !config_ok(k)) return THM_MODEL_E_CONFIG;
    m->V = (int32_t)k->vocab_size;
    m->d = (int32_t)k->d_model;
    m->H = (int32_t)k->n_heads;
    m->Hkv = (int32_t)k->n_kv_heads;
    m->hd = (int32_t)k->head_dim;
    m->Q = m->H * m->hd;
    m->KV = m->Hkv * m->hd;
    m->L_enc = (int32_t)k->n_enc_layers;
    m->L_dec = (int32_t)k->n_dec_layers;
    m->n_pos = (int32_t)k->rope_n_pos;
    /* thm_image_open accepted it (a THM_LAYOUT_* code); the projections must all have it */
    m->weight_layout = (int32_t)img->weight_layout;
    /* the integer model's positions are bounded by its RoPE table (int_forward.py) */
    m->max_enc_len = (int32_t)(k->max_enc_len < k->rope_n_pos ? k->max_enc_len : k->rope_n_pos);
    m->max_dec_len = (int32_t)(k->max_dec_len < k->rope_n_pos ? k->max_dec_len : k->rope_n_pos);

    binder bd_local;  /* ~0.5 KiB: the bitmap of bound tensors */
    binder *bd = &bd_local;
    memset(bd, 0, sizeof(*bd));
    bd->m = m;
    bd->img = img;
    uint32_t V = (uint32_t)m->V, d = (uint32_t)m->d;
    int err;
    name_buf nb;
    nb_init(&nb, "embed");
    if ((err = get_weight(bd, &nb, THM_DTYPE_INT8, THM_LAYOUT_ROW_MAJOR, V, d, &m->embed, 1, &m->embed_int4)))
        return err;
    bd->n_int4 += (uint32_t)m->embed_int4;
    if ((err = get_i32(bd, "enc.embed", ".mult", V, &m->enc_embed_mult))) return err;
    if ((err = get_i32(bd, "enc.embed", ".shift", V, &m->enc_embed_shift))) return err;
    if ((err = get_i32(bd, "dec.embed", ".mult", V, &m->dec_embed_mult))) return err;
    if ((err = get_i32(bd, "dec.embed", ".shift", V, &m->dec_embed_shift))) return err;
    for (int32_t i = 0; i < m->L_enc; i++)
        if ((err = bind_block(bd, &m->enc[i], "enc", (uint32_t)i, ".attn"))) return err;
    for (int32_t i = 0; i < m->L_dec; i++) {
        if ((err = bind_block(bd, &m->self_attn[i], "dec", (uint32_t)i, ".self_attn"))) return err;
        if ((err = bind_block(bd, &m->cross[i], "dec", (uint32_t)i, ".cross_attn"))) return err;
    }
    if ((err = get_i32(bd, "enc.final_norm", ".mult", d, &m->enc_final_mult))) return err;
    if ((err = get_i32(bd, "enc.final_norm", ".shift", d, &m->enc_final_shift))) return err;
    if ((err = get_i32(bd, "dec.final_norm", ".mult", d, &m->dec_final_mult))) return err;
    if ((err = get_i32(bd, "dec.final_norm", ".shift", d, &m->dec_final_shift))) return err;
    if ((err = get_i32(bd, "logits", ".mult", V, &m->logits_mult))) return err;
    if ((err = get_i32(bd, "logits", ".shift", V, &m->logits_shift))) return err;
    nb_init(&nb, "rope.cos");
    if ((err = get(bd, &nb, THM_DTYPE_INT16, (uint32_t)m->n_pos, (uint32_t)m->hd / 2, (const void **)&m->rope_cos)))
        return err;
    nb_init(&nb, "rope.sin");
    if ((err = get(bd, &nb, THM_DTYPE_INT16, (uint32_t)m->n_pos, (uint32_t)m->hd / 2, (const void **)&m->rope_sin)))
        return err;
    const int32_t *mc;
    if ((err = get_i32(bd, "model", ".consts", THM_MODEL_CONSTS_LEN, &mc))) return err;
    m->enc_final_eps = join_i64(mc[THM_MC_ENC_FINAL_EPS_LO], mc[THM_MC_ENC_FINAL_EPS_HI]);
    m->dec_final_eps = join_i64(mc[THM_MC_DEC_FINAL_EPS_LO], mc[THM_MC_DEC_FINAL_EPS_HI]);
    if (!eps_ok(m->enc_final_eps) || !eps_ok(m->dec_final_eps))
        return fail(bd, THM_MODEL_E_RANGE, "model.consts", 12);
    /* weight_bits names the narrowest weights: 4 when any projection is int4 */
    if ((k->weight_bits == 4) != (bd->n_int4 > 0)) return THM_MODEL_E_CONFIG;
    if (bd->n_bound != img->tensor_count) {
        for (uint32_t i = 0; i < img->tensor_count; i++) {
            thm_tensor_view t;
            if (bd->used[i / 8] & (1u << (i % 8))) continue;
            if (thm_image_tensor(img, i, &t) == THM_IMG_OK) return fail(bd, THM_MODEL_E_EXTRA, t.name, t.name_len);
            return THM_MODEL_E_EXTRA;
        }
    }
    m->bound = 1;
    return THM_MODEL_OK;
}

const char *thm_model_error_name(const thm_model *m)
{
    return m ? m->err_name : "";
}

const char *thm_model_strerror(int err)
{
    switch (err) {
    case THM_MODEL_OK: return "ok";
    case THM_MODEL_E_ARG: return "bad argument";
    case THM_MODEL_E_CONFIG: return "image config is not a model this runtime runs";
    case THM_MODEL_E_MISSING: return "tensor missing";
    case THM_MODEL_E_SHAPE: return "tensor has the wrong dtype or shape";
    case THM_MODEL_E_RANGE: return "constant out of range";
    case THM_MODEL_E_EXTRA: return "unexpected tensor";
    case THM_MODEL_E_ALIGN: return "tensor data misaligned";
    case THM_MODEL_E_ARENA: return "arena too small or misaligned";
    case THM_MODEL_E_STATE: return "model not ready, no prompt encoded, or decoder full";
    case THM_MODEL_E_TOKEN: return "token id outside the vocabulary";
    case THM_MODEL_E_KERNEL: return "a kernel refused its arguments";
    default: return "unknown error";
    }
}
