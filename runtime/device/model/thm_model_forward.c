/* Encoder prefill and decoder steps: int_forward.py IntNeedle.encode,
 * start_decoder and decode_step, kernel call for kernel call. */
#include <string.h>
#include "thm_model.h"
#include "thm_crc32.h"
#include "thimble_kernels.h"
#include "thm_model_attention.h"
#include "thm_image_format.h"   /* THM_LAYOUT_ROW_MAJOR */
#include "thm_model_prof.h"

#define CHECK(call) do { if ((call) != THM_OK) return THM_MODEL_E_KERNEL; } while (0)

enum { WQ = 0, WK = 1, WV = 2, WO = 3 };

#if defined(THM_MODEL_PROFILE) && THM_MODEL_PROFILE
uint64_t thm_prof_ticks[THM_PROF_N];

static const char *const thm_prof_names[THM_PROF_N] = {"embed", "proj", "norm", "rope", "layout", "qk",
                                                       "softmax", "pv", "self", "resid", "head"};

void thm_prof_print(const char *phase)
{
    char line[THM_PROF_N * 32 + 32], *o = line;
    for (const char *s = "THMPROF "; *s;) *o++ = *s++;
    while (*phase) *o++ = *phase++;
    for (int i = 0; i < THM_PROF_N; i++) {
        *o++ = ' ';
        for (const char *s = thm_prof_names[i]; *s;) *o++ = *s++;
        *o++ = '=';
        char dig[21];
        int n = 0;
        uint64_t v = thm_prof_ticks[i];
        do { dig[n++] = (char)('0' + v % 10u); v /= 10u; } while (v);
        while (n) *o++ = dig[--n];
        thm_prof_ticks[i] = 0;
    }
    *o++ = '\n';
    *o = 0;
    thm_semi_write0(line);
}
#endif

/* y [T, rows] = projection `which` of x [T, d] (o: of x [T, Q]), no bias, on
 * the weights as the image holds them: int4 rows, int8 rows, or int8 packed in
 * the board's layout (the selected ISA's fast path when it owns the layout,
 * else the portable C that reads any layout: the x86 host, correct, not fast). */
static int proj_w(const void *w, int int4, int32_t layout, const int8_t *x, const int32_t *mult,
                  const int32_t *shift, int8_t *y, int32_t M, int32_t K, int32_t N)
{
    if (int4) return thm_matmul_s4(x, (const uint8_t *)w, NULL, mult, shift, y, M, K, N);
    if (layout != THM_LAYOUT_ROW_MAJOR) return thm_matmul_s8_packed(x, w, layout, NULL, mult, shift, y, M, K, N);
    if (M == 1) return thm_gemv_s8(x, (const int8_t *)w, NULL, mult, shift, y, K, N);   /* a decode step */
    return thm_matmul_s8(x, (const int8_t *)w, NULL, mult, shift, y, M, K, N);
}

/* x [n, d] (int16 stream) = the rows of tokens from the embedding, int8 or int4. */
static int embed(thm_model *m, const int32_t *tokens, int32_t n, const int32_t *mult, const int32_t *shift)
{
    return m->embed_int4 ? thm_embed_s16_s4(tokens, n, (const uint8_t *)m->embed, mult, shift, m->V, m->d, m->x)
                         : thm_embed_s16(tokens, n, (const int8_t *)m->embed, mult, shift, m->V, m->d, m->x);
}

static int proj(const thm_model *m, const thm_model_block *b, int which, const int8_t *x, int8_t *y, int32_t T)
{
    const int32_t K = which == WO ? m->Q : m->d;
    const int32_t N = which == WQ ? m->Q : which == WO ? m->d : m->KV;
    return THM_PROF(THM_PROF_PROJ, proj_w(b->w[which], b->w_int4[which], m->weight_layout, x, b->w_mult[which], b->w_shift[which], y,
                                          T, K, N));
}

/* y [T, n_heads * hd] = rope?(qk_norm(x [T, d] . W^T)); pos0 < 0: no RoPE.
 * The projection goes through mix (free until the attention writes it). */
static int qk(thm_model *m, const thm_model_block *b, const int8_t *x, int32_t T, int which,
              int32_t n_heads, int8_t *y, int32_t pos0)
{
    CHECK(proj(m, b, which, x, m->mix, T));     /* n_heads * hd rows: Q or KV */
    if (which == WQ)
        CHECK(THM_PROF(THM_PROF_NORM, thm_rmsnorm_s8(m->mix, b->qn_mult, b->qn_shift, b->q_eps, y, T * n_heads, m->hd)));
    else
        CHECK(THM_PROF(THM_PROF_NORM, thm_rmsnorm_s8(m->mix, b->kn_mult, b->kn_shift, b->k_eps, y, T * n_heads, m->hd)));
    if (pos0 >= 0)
        CHECK(THM_PROF(THM_PROF_ROPE, thm_rope_s8(y, m->rope_cos, m->rope_sin, y, T, n_heads, m->hd, pos0, m->n_pos)));
    return THM_MODEL_OK;
}

/* How attend_residual reads K and V: STREAM, both [Tk, KV] rows (the
 * streaming kernel); otherwise k is [Hkv, Tk, hd] and v is V^T [Hkv, hd, Tk]
 * (the fast path, non-causal), with the arena's own workspace (FAST_STEP, a
 * decode step: the self K/V cache is live) or with the decoder's self K/V
 * cache, its scratch and that workspace (FAST_PROMPT: the encoder, while no
 * decoder state exists; thm_model_init keeps them one contiguous range). */
enum { STREAM, FAST_STEP, FAST_PROMPT };

/* x += gate * (attention(q, k, v) . Wo^T), T query rows, Tk keys. */
static int attend_residual(thm_model *m, const thm_model_block *b, const int8_t *k, const int8_t *v,
                           int32_t T, int32_t Tk, int causal, int32_t q_pos0, int how)
{
    thm_attn_params prm = {m->H, m->Hkv, m->hd, causal, q_pos0, b->score_mult, b->score_shift,
                           b->diff_max, b->mix_mult, b->mix_shift};
    if (how == FAST_PROMPT)
        CHECK(thm_fast_attention(m->q, k, v, m->mix, T, Tk, &prm, m->prompt_ws, m->prompt_ws_bytes));
    else if (how == FAST_STEP)
        CHECK(thm_fast_attention(m->q, k, v, m->mix, T, Tk, &prm, m->fast_ws, m->fast_ws_bytes));
    else
        CHECK(THM_PROF(THM_PROF_SELF, thm_attention_s8(m->q, k, v, NULL, m->mix, T, Tk, &prm, m->attn_scratch)));
    CHECK(proj(m, b, WO, m->mix, m->h, T));
    CHECK(THM_PROF(THM_PROF_RESID, thm_residual_gated_s16(m->x, m->h, T * m->d, b->gate_mult, b->gate_shift)));
    return THM_MODEL_OK;
}

static int pre_norm(thm_model *m, const thm_model_block *b, int32_t T)
{
    CHECK(THM_PROF(THM_PROF_NORM, thm_rmsnorm_s16(m->x, b->norm_mult, b->norm_shift, b->norm_eps, m->h, T, m->d)));
    return THM_MODEL_OK;
}

static int tokens_ok(const thm_model *m, const int32_t *tokens, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->V) return 0;
    return 1;
}

int thm_model_encode(thm_model *m, const int32_t *tokens, int32_t n)
{
    if (!m || !tokens) return THM_MODEL_E_ARG;
    if (!m->ready) return THM_MODEL_E_STATE;
    if (n < 1 || n > m->max_enc) return THM_MODEL_E_ARG;
    if (!tokens_ok(m, tokens, n)) return THM_MODEL_E_TOKEN;
    m->n_enc = 0;                 /* no valid prompt until this completes */
    m->enc_out_valid = 0;
    int err;
    CHECK(THM_PROF(THM_PROF_EMBED, embed(m, tokens, n, m->enc_embed_mult, m->enc_embed_shift)));
    for (int32_t i = 0; i < m->L_enc; i++) {
        const thm_model_block *b = &m->enc[i];
        if ((err = pre_norm(m, b, n))) return err;
        /* K and V first, each through q (free until Q's own projection) into
         * layer 0's cross slots, which are free until the encoder is done */
        if ((err = qk(m, b, m->h, n, WK, m->Hkv, m->q, 0))) return err;
        THM_PROF_VOID(THM_PROF_LAYOUT, thm_to_head_major(m->q, m->cross_k, n, m->Hkv, m->hd));
        CHECK(proj(m, b, WV, m->h, m->q, n));
        THM_PROF_VOID(THM_PROF_LAYOUT, thm_to_head_transposed(m->q, m->cross_v, n, m->Hkv, m->hd));
        if ((err = qk(m, b, m->h, n, WQ, m->H, m->q, 0))) return err;
        if ((err = attend_residual(m, b, m->cross_k, m->cross_v, n, n, 0, 0, FAST_PROMPT))) return err;
    }
    int8_t *enc_out = m->q;       /* [n, d] */
    CHECK(THM_PROF(THM_PROF_NORM, thm_rmsnorm_s16(m->x, m->enc_final_mult, m->enc_final_shift, m->enc_final_eps,
                                                     enc_out, n, m->d)));
    /* start_decoder: cross K/V of every decoder layer, once per prompt */
    size_t stride = (size_t)m->max_enc * (size_t)m->KV;
    for (int32_t i = 0; i < m->L_dec; i++) {
        const thm_model_block *b = &m->cross[i];
        /* through h: the encoder no longer needs its normed input */
        if ((err = qk(m, b, enc_out, n, WK, m->Hkv, m->h, -1))) return err;
        THM_PROF_VOID(THM_PROF_LAYOUT, thm_to_head_major(m->h, m->cross_k + i * stride, n, m->Hkv, m->hd));
        CHECK(proj(m, b, WV, enc_out, m->h, n));
        THM_PROF_VOID(THM_PROF_LAYOUT, thm_to_head_transposed(m->h, m->cross_v + i * stride, n, m->Hkv, m->hd));
    }
    thm_prof_print("prefill");
    m->n_enc = n;
    m->length = 0;
    m->crc = 0;
    m->enc_out_valid = 1;
    return THM_MODEL_OK;
}

const int8_t *thm_model_encoder_out(const thm_model *m)
{
    return m && m->ready && m->n_enc > 0 && m->enc_out_valid ? m->q : NULL;
}

int thm_model_decode_step(thm_model *m, int32_t token, int32_t *logits_out, int32_t *argmax_out)
{
    if (!m) return THM_MODEL_E_ARG;
    if (!m->ready || m->n_enc < 1 || m->length >= m->max_dec) return THM_MODEL_E_STATE;
    if (token < 0 || token >= m->V) return THM_MODEL_E_TOKEN;
    int32_t pos = m->length;
    m->enc_out_valid = 0;         /* q is reused from here on */
    int err;
    size_t cstride = (size_t)m->max_enc * (size_t)m->KV, sstride = (size_t)m->max_dec * (size_t)m->KV;
    CHECK(THM_PROF(THM_PROF_EMBED, embed(m, &token, 1, m->dec_embed_mult, m->dec_embed_shift)));
    for (int32_t i = 0; i < m->L_dec; i++) {
        const thm_model_block *b = &m->self_attn[i];
        int8_t *sk = m->self_k + i * sstride, *sv = m->self_v + i * sstride;
        if ((err = pre_norm(m, b, 1))) return err;
        if ((err = qk(m, b, m->h, 1, WQ, m->H, m->q, pos))) return err;
        if ((err = qk(m, b, m->h, 1, WK, m->Hkv, sk + (size_t)pos * m->KV, pos))) return err;
        CHECK(proj(m, b, WV, m->h, sv + (size_t)pos * m->KV, 1));
        if ((err = attend_residual(m, b, sk, sv, 1, pos + 1, 1, pos, STREAM))) return err;
        b = &m->cross[i];
        if ((err = pre_norm(m, b, 1))) return err;
        if ((err = qk(m, b, m->h, 1, WQ, m->H, m->q, -1))) return err;
        if ((err = attend_residual(m, b, m->cross_k + i * cstride, m->cross_v + i * cstride, 1, m->n_enc, 0, 0, FAST_STEP)))
            return err;
    }
    m->length = pos + 1;
    CHECK(THM_PROF(THM_PROF_NORM, thm_rmsnorm_s16(m->x, m->dec_final_mult, m->dec_final_shift, m->dec_final_eps,
                                                     m->h, 1, m->d)));
    m->crc = thm_crc32(m->crc, m->h, (size_t)m->d);
    /* tied head: comparable logits = requantize(hf . embed^T, logits.mult, logits.shift) */
    CHECK(THM_PROF(THM_PROF_HEAD, m->embed_int4
                                      ? thm_matmul_s4_s32(m->h, (const uint8_t *)m->embed, NULL, m->logits, 1, m->d, m->V)
                                      : thm_gemv_s8_s32(m->h, (const int8_t *)m->embed, NULL, m->logits, m->d, m->V)));
    CHECK(THM_PROF(THM_PROF_HEAD, thm_requantize_s32(m->logits, m->logits_mult, m->logits_shift, m->logits, m->V)));
    if (argmax_out) {
        int32_t best = 0;
        for (int32_t j = 1; j < m->V; j++)
            if (m->logits[j] > m->logits[best]) best = j;
        *argmax_out = best;
    }
    if (logits_out) memcpy(logits_out, m->logits, (size_t)m->V * sizeof(int32_t));
    thm_prof_print("decode");
    return THM_MODEL_OK;
}

uint32_t thm_model_hidden_crc(const thm_model *m) { return m ? m->crc : 0; }
int32_t thm_model_length(const thm_model *m) { return m ? m->length : 0; }
