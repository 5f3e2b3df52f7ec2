/* thimble kernels: the whole public C API.
 *
 * The numpy reference (runtime/thimble/kernels/reference.py) is the
 * specification; every function here returns exactly its bits. All tensors
 * are contiguous, row-major, symmetric (zero point 0). The caller owns all
 * memory: a kernel that needs scratch says how much through a
 * *_scratch_size companion. No function allocates.
 *
 * Requantization (TFLite / CMSIS-NN int8 rounding): mult in [2^30, 2^31) or 0,
 * shift in [-31, 30], shift > 0 shifts left. Functions return THM_OK or a
 * negative THM_E_* code when an argument is out of its stated range.
 */
#ifndef THIMBLE_KERNELS_H
#define THIMBLE_KERNELS_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define THM_OK 0
#define THM_E_ARG (-1)      /* a size or parameter outside its range */
#define THM_E_TOKEN (-2)    /* a token id outside the table */
#define THM_E_ISA (-3)      /* the requested instruction set is not available */

/* Limits that keep every intermediate inside its integer type. */
#define THM_MAX_K 65536         /* matmul depth: |acc| < 2^31 */
#define THM_MAX_NORM_DIM 4096   /* rmsnorm row length */
#define THM_MAX_HEAD_DIM 256    /* attention and RoPE head size */

/* --- fixed point --------------------------------------------------------- */

/* out[i] = requantize(in[i], mult[i], shift[i]), i < n. */
int thm_requantize_s32(const int32_t *in, const int32_t *mult, const int32_t *shift,
                       int32_t *out, int32_t n);

/* --- matmul -------------------------------------------------------------- */

/* y[M, N] = sat8(requantize(x[M, K] . w[N, K]^T + bias[N], mult[N], shift[N])).
 * bias may be NULL. 1 <= K <= THM_MAX_K; M, N >= 0. */
int thm_matmul_s8(const int8_t *x,       /* [M, K] */
                  const int8_t *w,       /* [N, K], row = output channel */
                  const int32_t *bias,   /* [N] or NULL */
                  const int32_t *mult,   /* [N] */
                  const int32_t *shift,  /* [N] */
                  int8_t *y,             /* [M, N] */
                  int32_t M, int32_t K, int32_t N);

/* y[M, N] = x[M, K] . w[N, K]^T + bias[N] in int32 (bias may be NULL). */
int thm_matmul_s8_s32(const int8_t *x, const int8_t *w, const int32_t *bias,
                      int32_t *y, int32_t M, int32_t K, int32_t N);

/* Converter-packed weights (runtime/thimble/kernels/layouts.py writes them;
 * docs/kernels-arm.md has the byte orders): the same y as thm_matmul_s8, with
 * w[N, K] stored in the order a board's fast path reads, zero-padded to whole
 * tiles. Every layout runs on every build (portable C reads any of them); the
 * ISA that owns a layout runs it fast. wp: thm_matmul_s8_packed_size bytes,
 * 4-byte aligned. */
#define THM_LAYOUT_S8_R8K64 1   /* int8, 8 rows x 64 k blocks: NEON SDOT, Helium */
#define THM_LAYOUT_S16_R4K16 2  /* int16, 4 rows x 16 k, SXTB16 pair order: Cortex-M DSP */
/* Bytes of packed weights for [N, K] in `layout`; 0 for an unknown layout or
 * K outside 1 .. THM_MAX_K or N < 0. */
size_t thm_matmul_s8_packed_size(int32_t layout, int32_t K, int32_t N);
int thm_matmul_s8_packed(const int8_t *x,       /* [M, K] */
                         const void *wp,        /* packed w, see above */
                         int32_t layout,
                         const int32_t *bias,   /* [N] or NULL */
                         const int32_t *mult,   /* [N] */
                         const int32_t *shift,  /* [N] */
                         int8_t *y,             /* [M, N] */
                         int32_t M, int32_t K, int32_t N);

/* --- softmax and attention ------------------------------------------------ */

/* One row of int32 scores -> Q15 probabilities in [0, 32767].
 * (mult, shift) encode the real score scale times 256; differences from the
 * row maximum above diff_max (>= 0) give 0. mask [n] (nonzero = attend) may be
 * NULL. scratch: thm_softmax_q15_scratch_size(n) bytes, 4-byte aligned. */
size_t thm_softmax_q15_scratch_size(int32_t n);
int thm_softmax_q15(const int32_t *scores,   /* [n] */
                    const uint8_t *mask,     /* [n] or NULL */
                    int16_t *p,              /* [n] out, Q15 */
                    int32_t n, int32_t mult, int32_t shift, int32_t diff_max,
                    void *scratch);

typedef struct {
    int32_t n_heads;        /* query heads, >= 1 */
    int32_t n_kv_heads;     /* key/value heads, divides n_heads */
    int32_t head_dim;       /* 1 .. THM_MAX_HEAD_DIM */
    int32_t causal;         /* 1: query row i sees keys 0 .. q_pos0 + i */
    int32_t q_pos0;         /* absolute position of query row 0 */
    int32_t score_mult;     /* real score scale * 256 (q_scale * k_scale / sqrt(D)) */
    int32_t score_shift;
    int32_t diff_max;       /* score differences above this give probability 0 */
    int32_t out_mult;       /* v_scale / (out_scale * 2^15) */
    int32_t out_shift;
} thm_attn_params;

/* out[Tq, Hq*D] = softmax(q k^T) v per head, grouped-query. Streams one query
 * row and head at a time: scratch is O(Tk), never O(Tq * Tk). Tk >= 1. */
size_t thm_attention_s8_scratch_size(int32_t Tk);
int thm_attention_s8(const int8_t *q,        /* [Tq, n_heads * D] */
                     const int8_t *k,        /* [Tk, n_kv_heads * D] */
                     const int8_t *v,        /* [Tk, n_kv_heads * D] */
                     const uint8_t *kv_mask, /* [Tk] or NULL */
                     int8_t *out,            /* [Tq, n_heads * D] */
                     int32_t Tq, int32_t Tk, const thm_attn_params *prm,
                     void *scratch);

/* --- normalisation, positions, residual ------------------------------------ */

/* ZCRMSNorm per row to int8; x int16 (residual stream) or int8 (QK-norm, rows =
 * tokens * heads). (gain_mult, gain_shift) [D] encode (1 + g) / (out_scale *
 * 2^15); eps_q16 = eps / x_scale^2 in Q16, 0 .. 2^40. 1 <= D <= THM_MAX_NORM_DIM. */
int thm_rmsnorm_s16(const int16_t *x, const int32_t *gain_mult, const int32_t *gain_shift,
                    int64_t eps_q16, int8_t *y, int32_t rows, int32_t D);
int thm_rmsnorm_s8(const int8_t *x, const int32_t *gain_mult, const int32_t *gain_shift,
                   int64_t eps_q16, int8_t *y, int32_t rows, int32_t D);

/* Half-split RoPE on x [T, n_heads * D] (D even, <= THM_MAX_HEAD_DIM); row t at
 * position pos0 + t < n_pos. Tables [n_pos, D/2] in Q14. y may equal x. */
int thm_rope_s8(const int8_t *x, const int16_t *cos_q14, const int16_t *sin_q14,
                int8_t *y, int32_t T, int32_t n_heads, int32_t D, int32_t pos0,
                int32_t n_pos);

/* r[i] = sat16(r[i] + requantize(y[i], mult, shift)), in place, i < n. */
int thm_residual_gated_s16(int16_t *r, const int8_t *y, int32_t n, int32_t mult,
                           int32_t shift);

/* out[t, :] = sat16(requantize(table[tok[t], :], mult[tok[t]], shift[tok[t]])).
 * THM_E_TOKEN if a token is outside [0, V). */
int thm_embed_s16(const int32_t *tokens, int32_t T, const int8_t *table,
                  const int32_t *mult, const int32_t *shift, int32_t V, int32_t D,
                  int16_t *out);

/* --- instruction-set selection (x86 host builds; ARM boards fix it at build) - */

#define THM_ISA_PORTABLE 0
#define THM_ISA_AVX2 1
#define THM_ISA_AVX512VNNI 2
#define THM_ISA_ARM_DSP 3       /* Cortex-M DSP extension: SXTB16 + SMLAD */
#define THM_ISA_ARM_MVE 4       /* Cortex-M55 Helium (MVE-I): VMLADAVA.S8 */
#define THM_ISA_ARM_NEON_DOT 5  /* AArch64 NEON dot product: SDOT */

/* 1 if this CPU and build can run the ISA. */
int thm_isa_available(int32_t isa);
/* Select the paths used by thm_matmul_s8*; THM_E_ISA if unavailable. */
int thm_isa_set(int32_t isa);
int32_t thm_isa_get(void);

#ifdef __cplusplus
}
#endif

#endif /* THIMBLE_KERNELS_H */
