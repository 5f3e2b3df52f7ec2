/* Attention over a fixed key set through the matmul fast paths (see
 * thm_model_attention.h for why and how it stays bit-exact). */
#include <stdint.h>
#include <string.h>
#include "thm_model_attention.h"
#include "thm_model_prof.h"

static size_t al64(size_t n) { return (n + 63u) & ~(size_t)63u; }

typedef struct {
    int8_t *qh;          /* [BQ, D] this head's query rows, contiguous */
    int32_t *scores;     /* [BQ, Tk] */
    int16_t *p;          /* [BQ, Tk] Q15 */
    void *pv;            /* thm_pv_rows_s8_scratch_size(BQ, Tk, D) */
    void *softmax;       /* thm_softmax_q15_scratch_size(Tk) */
} parts;

static size_t carve(uint8_t *base, int32_t bq, int32_t Tk, int32_t D, parts *w)
{
    size_t at = 0, tk = (size_t)Tk, d = (size_t)D, BQ = (size_t)bq;
#define TAKE(ptr, type, bytes) do { if (base) ptr = (type)(void *)(base + at); at += al64(bytes); } while (0)
    TAKE(w->qh, int8_t *, BQ * d);
    TAKE(w->scores, int32_t *, BQ * tk * 4);
    TAKE(w->p, int16_t *, BQ * tk * 2);
    TAKE(w->pv, void *, thm_pv_rows_s8_scratch_size(bq, Tk, D));
    TAKE(w->softmax, void *, thm_softmax_q15_scratch_size(Tk));
#undef TAKE
    return at;
}

size_t thm_fast_attn_workspace_size(int32_t Tk, int32_t D)
{
    parts w;
    return Tk < 1 || D < 1 ? 0 : carve(0, THM_FAST_ATTN_ROWS, Tk, D, &w);
}

/* The most query rows (up to THM_FAST_ATTN_MAX_ROWS and Tq) whose parts fit
 * ws_bytes; 0 if not even one does. */
static int32_t block_rows(int32_t Tq, int32_t Tk, int32_t D, size_t ws_bytes)
{
    parts w;
    int32_t bq = Tq < THM_FAST_ATTN_MAX_ROWS ? Tq : THM_FAST_ATTN_MAX_ROWS;
    while (bq > 0 && carve(0, bq, Tk, D, &w) > ws_bytes) bq--;
    return bq;
}

int thm_fast_attention(const int8_t *q, const int8_t *k_hm, const int8_t *v_t, int8_t *out,
                       int32_t Tq, int32_t Tk, const thm_attn_params *prm, void *ws, size_t ws_bytes)
{
    if (!q || !k_hm || !v_t || !out || !prm || !ws || Tq < 0 || Tk < 1 || prm->causal) return THM_E_ARG;
    const int32_t H = prm->n_heads, Hkv = prm->n_kv_heads, D = prm->head_dim;
    if (H < 1 || Hkv < 1 || H % Hkv || D < 1 || D > THM_MAX_HEAD_DIM) return THM_E_ARG;
    if (Tq == 0) return THM_OK;
    const int32_t BQ = block_rows(Tq, Tk, D, ws_bytes);
    if (BQ < 1) return THM_E_ARG;
    parts w;
    carve((uint8_t *)ws, BQ, Tk, D, &w);
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
            if ((err = THM_PROF(THM_PROF_QK, bq == 1 ? thm_gemv_s8_s32(w.qh, kg, NULL, w.scores, D, Tk)
                                                     : thm_matmul_s8_s32(w.qh, kg, NULL, w.scores, bq, D, Tk))))
                return err;
            if ((err = THM_PROF(THM_PROF_SOFTMAX, thm_softmax_q15_rows(w.scores, w.p, bq, Tk, prm->score_mult,
                                                                       prm->score_shift, prm->diff_max, w.softmax))))
                return err;
            if ((err = THM_PROF(THM_PROF_PV, thm_pv_rows_s8(w.p, bq, Tk, vg, D, prm->out_mult, prm->out_shift,
                                                            out + (size_t)i0 * qs + (size_t)h * D, (int32_t)qs,
                                                            w.pv))))
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

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && UINTPTR_MAX > 0xFFFFFFFFu
/* An 8 x 8 byte block transposed in eight 64-bit words (byte j of word i is
 * element (i, j), little-endian), by three rounds of masked block swaps
 * (4 x 4, 2 x 2, 1 x 1): ~1.4 word operations an element where the byte
 * loop took a load, a store and its strided addressing (1.5 % of the host's
 * prefill, issue 16). 64-bit targets only: on the 32-bit boards each word
 * operation is two or more instructions, and watch_m55's prefill came out
 * 0.1 % larger with the blocks (713.7M -> 714.3M), so they keep the byte
 * loop. */
static void thm_transpose8x8(const int8_t *src, size_t lds, int8_t *dst, size_t ldd)
{
    /* __builtin_memcpy: inlined as one unaligned load or store even where
     * -ffreestanding turns plain memcpy into calls (the board builds: with
     * calls, glasses_a55's prefill grew 1.5 % instead of shrinking) */
    uint64_t w[8], t;
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) __builtin_memcpy(&w[i], src + (size_t)i * lds, 8);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t = ((w[i] >> 32) ^ w[i + 4]) & 0x00000000FFFFFFFFull;
        w[i] ^= t << 32;
        w[i + 4] ^= t;
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const int i = (k & 1) + (k & 2) * 2;            /* 0, 1, 4, 5 */
        t = ((w[i] >> 16) ^ w[i + 2]) & 0x0000FFFF0000FFFFull;
        w[i] ^= t << 16;
        w[i + 2] ^= t;
    }
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
        t = ((w[i] >> 8) ^ w[i + 1]) & 0x00FF00FF00FF00FFull;
        w[i] ^= t << 8;
        w[i + 1] ^= t;
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) __builtin_memcpy(dst + (size_t)i * ldd, &w[i], 8);
}
#define THM_TRANSPOSE8 1
#else
#define THM_TRANSPOSE8 0
#endif

void thm_to_head_transposed(const int8_t *x, int8_t *out, int32_t T, int32_t Hkv, int32_t D)
{
    const size_t ldx = (size_t)Hkv * D;
    const int32_t T8 = THM_TRANSPOSE8 ? T & ~7 : 0, D8 = THM_TRANSPOSE8 ? D & ~7 : 0;
    for (int32_t g = 0; g < Hkv; g++) {
        const int8_t *xg = x + (size_t)g * D;
        int8_t *og = out + (size_t)g * D * T;
#if THM_TRANSPOSE8
        for (int32_t d = 0; d < D8; d += 8)
            for (int32_t t = 0; t < T8; t += 8)
                thm_transpose8x8(xg + (size_t)t * ldx + d, ldx, og + (size_t)d * T + t, (size_t)T);
#endif
        /* what the blocks leave: the last T mod 8 keys of every channel, and
         * the last D mod 8 channels */
        for (int32_t d = 0; d < D; d++)
            for (int32_t t = d < D8 ? T8 : 0; t < T; t++) og[(size_t)d * T + t] = xg[(size_t)t * ldx + d];
    }
}
