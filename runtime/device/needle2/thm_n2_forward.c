/* One token through Needle 2: int_forward.py IntNeedle2.run for T = 1,
 * kernel call for kernel call (IntNeedle2._engram, _phi, _attention, _mlp
 * in the same order), on the arena thm_n2_init laid out. */
#include <string.h>
#include "thm_n2.h"
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_n2_prof.h"

#if defined(THM_N2_PROFILE) && THM_N2_PROFILE
uint64_t thm_n2_prof_ticks[THM_N2_PROF_N];
#endif

#define CHECK(call) do { if ((call) != THM_OK) return THM_N2_E_KERNEL; } while (0)

/* sat(sign * y, int8): a negative gain's channel, -(-128) saturating to 127 */
static void negate_s8(int8_t *y, const uint8_t *neg, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (neg[i]) y[i] = y[i] == -128 ? 127 : (int8_t)-y[i];
}

static int norm16(const thm_n2_norm *nr, const int16_t *x, int8_t *y, int32_t D)
{
    THM_N2_PROF(THM_N2_PROF_NORM, CHECK(thm_rmsnorm_s16(x, nr->mult, nr->shift, nr->eps, y, 1, D));
                if (nr->any_neg) negate_s8(y, nr->neg, D));
    return THM_N2_OK;
}

static int norm8(const thm_n2_norm *nr, const int8_t *x, int8_t *y, int32_t rows, int32_t D)
{
    THM_N2_PROF(THM_N2_PROF_NORM, CHECK(thm_rmsnorm_s8(x, nr->mult, nr->shift, nr->eps, y, rows, D));
                for (int32_t r = 0; nr->any_neg && r < rows; r++) negate_s8(y + (size_t)r * D, nr->neg, D));
    return THM_N2_OK;
}

/* y [N] int8 = the CQ product of x [K] (IntNeedle2.cq, int8 out); part: whose product it is */
static int cq_s8(thm_n2 *m, const thm_n2_cq *c, const int8_t *x, int32_t K, int8_t *y, int part)
{
    (void)part;
    THM_N2_PROF(THM_N2_PROF_ROTATE, CHECK(thm_cq_rotate_s8(x, m->xr, m->sh, 1, K)));
    THM_N2_PROF(part, CHECK(thm_matmul_cq_s8(m->xr, m->sh, c->w, c->bits, c->lut, c->norms, c->mult, c->rshift, y,
                                             1, c->Kp, c->N)));
    return THM_N2_OK;
}

/* rows [r0, r0 + n) of c on the rotation already in m->xr: int32, signed by neg (Q12 pre-activations) */
static int cq_rows_s32(thm_n2 *m, const thm_n2_cq *c, int32_t r0, int32_t n, int32_t *y, int part)
{
    const size_t row_bytes = (size_t)c->Kp * (size_t)c->bits / 8u, groups = (size_t)c->Kp / THM_CQ_GROUP;
    (void)part;
    THM_N2_PROF(part, CHECK(thm_matmul_cq_s32(m->xr, m->sh, c->w + (size_t)r0 * row_bytes, c->bits, c->lut,
                                              c->norms + (size_t)r0 * groups, c->mult + r0, c->rshift + r0, y, 1,
                                              c->Kp, n)));
    if (c->neg)
        for (int32_t i = 0; i < n; i++)
            if (c->neg[r0 + i]) y[i] = y[i] == INT32_MIN ? INT32_MAX : -y[i];
    return THM_N2_OK;
}

/* sign * requantize(acc, mult, shift) per channel (IntNeedle2.rq) */
/* through the vector requantize of the ISA's table (the scalar loop was a quarter of the MLP) */
static int rq(const thm_n2_rq *r, const int32_t *in, int32_t *out, int32_t n)
{
    CHECK(thm_requantize_s32(in, r->mult, r->shift, out, n));
    if (r->any_neg)
        for (int32_t i = 0; i < n; i++) out[i] = r->neg[i] ? -out[i] : out[i];
    return THM_N2_OK;
}

static int32_t clamp32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

static int32_t sigmoid1(int32_t z)
{
    int32_t out = 0;
    thm_sigmoid_q15(&z, 1, &out);
    return out;
}

/* floor(a / b), b > 0 (Python's //) */
static int64_t floordiv(int64_t a, int64_t b)
{
    const int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* The engram of site s at position pos (IntNeedle2._engram for one row):
 * its key row into ek, its value row into the ring, the dilated conv into vc. */
static int engram(thm_n2 *m, int32_t s, int32_t pos)
{
    const thm_n2_site *st = &m->site[s];
    const int32_t d = m->d, span = m->dil * (THM_N2_TAPS - 1) + 1;
    THM_N2_PROF(THM_N2_PROF_ENGRAM,
        CHECK(thm_engram_hash(m->hist, pos + 1, pos, m->orders, m->n_orders, m->heads, (uint32_t)m->slots, m->idx));
        for (int32_t ti = 0; ti < m->tables; ti++) {
            int8_t *dst = m->e + (size_t)ti * m->sub;
            if (m->idx[ti] < 0) { memset(dst, 0, (size_t)m->sub); continue; }
            const int32_t row = ti * m->slots + m->idx[ti];
            CHECK(thm_cq_gather(st->tables.w, st->tables.N, st->tables.Kp, st->tables.bits, st->tables.lut,
                                st->tables.norms, &row, 1, &st->tables.mult[row], &st->tables.rshift[row], m->sub,
                                127, dst));
        });
    int8_t *ek = m->ek + (size_t)s * d, *vnew = m->vring + ((size_t)s * span + (size_t)(pos % span)) * d;
    int r = cq_s8(m, &st->key, m->e, d, ek, THM_N2_PROF_ENGRAM);
    if (r) return r;
    if ((r = cq_s8(m, &st->value, m->e, d, vnew, THM_N2_PROF_ENGRAM))) return r;
    int16_t *vc = m->vc + (size_t)s * d;
    THM_N2_PROF(THM_N2_PROF_ENGRAM, for (int32_t c = 0; c < d; c++) {
        int32_t acc = 0;
        for (int32_t j = 0; j < THM_N2_TAPS; j++) {
            const int32_t t = pos - j * m->dil;
            if (t < 0) break;
            acc += (int32_t)st->taps[(size_t)j * d + c] * m->vring[((size_t)s * span + (size_t)(t % span)) * d + c];
        }
        vc[c] = thm_sat16(thm_requantize(acc, st->conv[0], st->conv[1]));
    });
    return THM_N2_OK;
}

static int16_t sat16_64(int64_t v)
{
    return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}

/* The lanes' loops: every sum is exact in int64, as in the specification.
 * Needle 2 has 4 lanes: that case keeps a column's 4 values and its sums in
 * registers (no vectoriser at -O2); any other count takes the general loop. */

/* u = sat16((sum_l hpre[l] X[l] + 2^14) >> 15) */
static void combine(thm_n2 *m, const int32_t *hpre)
{
    const int32_t n = m->lanes, d = m->d;
    const int16_t *X = m->X;
    if (n == 4) {
        const int64_t h0 = hpre[0], h1 = hpre[1], h2 = hpre[2], h3 = hpre[3];
        for (int32_t c = 0; c < d; c++)
            m->u[c] = sat16_64((h0 * X[c] + h1 * X[d + c] + h2 * X[2 * d + c] + h3 * X[3 * d + c] + (1 << 14)) >> 15);
        return;
    }
    for (int32_t c = 0; c < d; c++) {
        int64_t acc = 1 << 14;
        for (int32_t l = 0; l < n; l++) acc += (int64_t)hpre[l] * X[(size_t)l * d + c];
        m->u[c] = sat16_64(acc >> 15);
    }
}

/* X[a] = sat16((sum_l P[a, l] X[l] + 2 hpost[a] (b - u) + 2^14) >> 15), every lane from the old X */
static void remix(thm_n2 *m, const int32_t *hpost)
{
    const int32_t n = m->lanes, d = m->d;
    int16_t *X = m->X;
    const int16_t *P = m->P;
    if (n == 4) {
        int64_t p[16], h[4];
        for (int32_t i = 0; i < 16; i++) p[i] = P[i];
        for (int32_t i = 0; i < 4; i++) h[i] = 2 * (int64_t)hpost[i];
        for (int32_t c = 0; c < d; c++) {
            const int64_t x0 = X[c], x1 = X[d + c], x2 = X[2 * d + c], x3 = X[3 * d + c];
            const int64_t y = (int64_t)m->b[c] - m->u[c];
            for (int32_t a = 0; a < 4; a++)
                X[(size_t)a * d + c] = sat16_64((p[4 * a] * x0 + p[4 * a + 1] * x1 + p[4 * a + 2] * x2 +
                                                 p[4 * a + 3] * x3 + h[a] * y + (1 << 14)) >> 15);
        }
        return;
    }
    for (int32_t c = 0; c < d; c++) {
        int64_t x[THM_N2_MAX_LANES];
        const int64_t y = (int64_t)m->b[c] - m->u[c];
        for (int32_t a = 0; a < n; a++) {
            int64_t acc = 2 * (int64_t)hpost[a] * y + (1 << 14);
            for (int32_t l = 0; l < n; l++) acc += (int64_t)P[a * n + l] * X[(size_t)l * d + c];
            x[a] = acc >> 15;
        }
        for (int32_t a = 0; a < n; a++) X[(size_t)a * d + c] = sat16_64(x[a]);
    }
}

static int attention(thm_n2 *m, int32_t i, int32_t pos, int8_t *o8)
{
    const thm_n2_layer *ly = &m->layer[i];
    const int32_t d = m->d, KV = m->KV, Q = m->Q;
    int r;
    /* q, k, v share one rotation of h8 (IntNeedle2.cq rotates per call: the same bits) */
    if ((r = cq_s8(m, &ly->q, m->h8, d, m->q, THM_N2_PROF_PROJ))) return r;
    THM_N2_PROF(THM_N2_PROF_PROJ, CHECK(thm_matmul_cq_s8(m->xr, m->sh, ly->k.w, ly->k.bits, ly->k.lut, ly->k.norms,
                                                         ly->k.mult, ly->k.rshift, m->k, 1, ly->k.Kp, ly->k.N)));
    /* this key's slot: pinned below the sinks, else the ring (thm_n2.h) */
    const int32_t slot = (!m->window || pos < m->sinks) ? pos : m->sinks + (pos - m->sinks) % m->window;
    const size_t layer_base = (size_t)i * (size_t)m->kv_slots * (size_t)KV;
    int8_t *kc = m->kcache + layer_base + (size_t)slot * KV;
    int8_t *vcache = m->vcache + layer_base + (size_t)slot * KV;
    THM_N2_PROF(THM_N2_PROF_PROJ, CHECK(thm_matmul_cq_s8(m->xr, m->sh, ly->v.w, ly->v.bits, ly->v.lut, ly->v.norms,
                                                         ly->v.mult, ly->v.rshift, vcache, 1, ly->v.Kp, ly->v.N)));
    /* the gate's pre-activations, on the same rotation, before xr is reused */
    if ((r = cq_rows_s32(m, &ly->gate, 0, Q, m->g, THM_N2_PROF_PROJ))) return r;
    THM_N2_PROF(THM_N2_PROF_ATTN, CHECK(thm_sigmoid_q15(m->g, Q, m->g)));
    if ((r = norm8(&ly->q_norm, m->q, m->q, m->H, m->hd))) return r;
    if ((r = norm8(&ly->k_norm, m->k, kc, m->Hkv, m->hd))) return r;
    THM_N2_PROF(THM_N2_PROF_ATTN,
        CHECK(thm_rope_s8(m->q, m->rope_cos, m->rope_sin, m->q, 1, m->H, m->hd, pos, m->n_pos));
        CHECK(thm_rope_s8(kc, m->rope_cos, m->rope_sin, kc, 1, m->Hkv, m->hd, pos, m->n_pos)));
    /* every filled slot is a key this query sees (the window and sinks are the ring's shape), in an
     * order the integer softmax and P.V sums do not depend on: no causal mask, no key mask */
    const int32_t filled = pos + 1 < m->kv_slots ? pos + 1 : m->kv_slots;
    const thm_attn_params prm = {m->H, m->Hkv, m->hd, 0, 0, ly->attn[0], ly->attn[1], ly->attn[2],
                                 ly->attn[3], ly->attn[4]};
    THM_N2_PROF(THM_N2_PROF_ATTN,
        CHECK(thm_attention_s8(m->q, m->kcache + layer_base, m->vcache + layer_base, 0, m->att, 1, filled, &prm,
                               m->attn_scratch));
        for (int32_t j = 0; j < Q; j++) m->att[j] = (int8_t)(((int32_t)m->att[j] * m->g[j] + (1 << 14)) >> 15));
    return cq_s8(m, &ly->out, m->att, Q, o8, THM_N2_PROF_PROJ);
}

static int mlp(thm_n2 *m, const thm_n2_layer *ly)
{
    const int32_t d = m->d, hn = m->hada_n;
    int r;
    memset(m->m8, 0, (size_t)hn);
    if ((r = norm16(&ly->mlp_norm, m->b, m->m8, d))) return r;
    THM_N2_PROF(THM_N2_PROF_MLP,
        CHECK(thm_fwht_s8_s32(m->m8, 1, hn, m->fw));
        if ((r = rq(&ly->d2, m->fw, m->z12, hn))) return r;
        CHECK(thm_sigmoid_q15(m->z12, hn, m->fw));
        /* SiLU = z sigmoid(z) (|z sigmoid(z)| >> 15 fits int32), then one requantize for all */
        for (int32_t j = 0; j < hn; j++) {
            m->fw[j] = (int32_t)(((int64_t)m->z12[j] * m->fw[j] + (1 << 14)) >> 15);
            m->cm[j] = ly->silu[0];
            m->cs[j] = ly->silu[1];
        }
        CHECK(thm_requantize_s32(m->fw, m->cm, m->cs, m->z12, hn));
        for (int32_t j = 0; j < hn; j++) m->s8[j] = thm_sat8(m->z12[j]);
        CHECK(thm_fwht_s8_s32(m->s8, 1, hn, m->fw));
        if ((r = rq(&ly->d3, m->fw, m->z12, d))) return r;
        for (int32_t c = 0; c < d; c++) m->post[c] = thm_sat8(m->z12[c]);
        CHECK(thm_residual_gated_s16(m->b, m->post, d, ly->mlp_res[0], ly->mlp_res[1])));
    return THM_N2_OK;
}

static int layer(thm_n2 *m, int32_t i, int32_t pos)
{
    const thm_n2_layer *ly = &m->layer[i];
    const int32_t n = m->lanes, d = m->d;
    int r;
    if ((r = norm16(&ly->nx, m->X, m->nx, n * d))) return r;
    /* the three mixing pre-activations from one rotation of nx (IntNeedle2._phi) */
    THM_N2_PROF(THM_N2_PROF_ROTATE, CHECK(thm_cq_rotate_s8(m->nx, m->xr, m->sh, 1, n * d)));
    int32_t *zpre = m->z, *zpost = m->z + n, *zres = m->z + 2 * n;
    const int32_t r0[3] = {i * n, i * n, i * n * n}, cnt[3] = {n, n, n * n};
    int32_t *zs[3] = {zpre, zpost, zres};
    for (int j = 0; j < 3; j++) {
        if ((r = cq_rows_s32(m, &m->phi[j], r0[j], cnt[j], zs[j], THM_N2_PROF_MIX))) return r;
        for (int32_t t = 0; t < cnt[j]; t++) {
            int64_t z = (int64_t)zs[j][t] + m->bias[j][r0[j] + t];
            if (j == 2) z = z > THM_SINKHORN_MAX_LOGIT ? THM_SINKHORN_MAX_LOGIT
                          : z < -THM_SINKHORN_MAX_LOGIT ? -THM_SINKHORN_MAX_LOGIT : z;
            zs[j][t] = clamp32(z);
        }
    }
    THM_N2_PROF(THM_N2_PROF_MIX,
        CHECK(thm_sigmoid_q15(zpre, n, zpre));       /* hpre */
        CHECK(thm_sigmoid_q15(zpost, n, zpost));     /* hpost / 2 */
        CHECK(thm_sinkhorn_q12(zres, 1, n, m->iters, m->P)));
    THM_N2_PROF(THM_N2_PROF_LANES, combine(m, zpre));
    memcpy(m->b, m->u, (size_t)d * sizeof(int16_t));
    if (ly->site >= 0) {
        int8_t *uu = m->h8, *eu = m->o8;
        if ((r = norm16(&ly->uu, m->u, uu, d))) return r;
        if ((r = norm8(&ly->eu, m->ek + (size_t)ly->site * d, eu, 1, d))) return r;
        THM_N2_PROF(THM_N2_PROF_LANES,
            int32_t dot = 0;
            for (int32_t c = 0; c < d; c++) dot += (int32_t)uu[c] * eu[c];
            const int32_t alpha = sigmoid1(thm_requantize(dot, ly->alpha[0], ly->alpha[1]));
            const int16_t *vc = m->vc + (size_t)ly->site * d;
            for (int32_t c = 0; c < d; c++) {
                const int64_t v = m->u[c] + (((int64_t)alpha * vc[c] + (1 << 14)) >> 15);
                m->b[c] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
            });
    }
    if ((r = norm16(&ly->norm_in, m->b, m->h8, d))) return r;
    if ((r = attention(m, i, pos, m->o8))) return r;
    if ((r = norm8(&ly->post_norm, m->o8, m->post, 1, d))) return r;
    THM_N2_PROF(THM_N2_PROF_ATTN, CHECK(thm_residual_gated_s16(m->b, m->post, d, ly->attn_res[0], ly->attn_res[1])));
    if ((r = mlp(m, ly))) return r;
    THM_N2_PROF(THM_N2_PROF_LANES, remix(m, zpost));
    return THM_N2_OK;
}

int thm_n2_step(thm_n2 *m, int32_t token, int32_t *logits_out, int32_t *argmax_out)
{
    if (!m || !m->ready) return THM_N2_E_STATE;
    if (m->length >= m->max_pos) return THM_N2_E_STATE;
    if (token < 0 || token >= m->V) return THM_N2_E_TOKEN;
    const int32_t pos = m->length, n = m->lanes, d = m->d;
    int r;
    m->hist[pos] = token;
    m->length = pos + 1;          /* a failed step leaves the sequence unusable: reset */
    THM_N2_PROF(THM_N2_PROF_EMBED,
        CHECK(thm_cq_gather(m->embed.w, m->V, m->embed.Kp, m->embed.bits, m->embed.lut, m->embed.norms, &token, 1,
                            &m->embed.mult[token], &m->embed.rshift[token], d, 32767, m->X));
        for (int32_t l = 1; l < n; l++) memcpy(m->X + (size_t)l * d, m->X, (size_t)d * sizeof(int16_t)));
    for (int32_t s = 0; s < m->n_sites; s++)
        if ((r = engram(m, s, pos))) return r;
    for (int32_t i = 0; i < m->L; i++)
        if ((r = layer(m, i, pos))) return r;
    THM_N2_PROF(THM_N2_PROF_LANES, for (int32_t c = 0; c < d; c++) {
        int64_t sum = 0;
        for (int32_t l = 0; l < n; l++) sum += m->X[(size_t)l * d + c];
        m->u[c] = (int16_t)floordiv(sum + n / 2, n);
    });
    if ((r = norm16(&m->final_norm, m->u, m->h8, d))) return r;
    THM_N2_PROF(THM_N2_PROF_ROTATE, CHECK(thm_cq_rotate_s8(m->h8, m->xr, m->sh, 1, d)));
    if ((r = cq_rows_s32(m, &m->logits, 0, m->V, m->logits_buf, THM_N2_PROF_HEAD))) return r;
    if (logits_out) memcpy(logits_out, m->logits_buf, (size_t)m->V * sizeof(int32_t));
    if (argmax_out) THM_N2_PROF(THM_N2_PROF_HEAD, {
        int32_t best = 0;
        for (int32_t v = 1; v < m->V; v++)
            if (m->logits_buf[v] > m->logits_buf[best]) best = v;
        *argmax_out = best;
    });
    return THM_N2_OK;
}
