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

/* The one-row forms (a decode step: x [K], y [N]): the bits of thm_matmul_s8 /
 * _s32 with M = 1, for weights read once, streamed from memory. A fast path
 * may read w differently then (the AVX-512 one streams it with prefetches,
 * slower than the tiled matmul on weights already in cache); an ISA without
 * one runs its matmul with M = 1. Arguments as the matmul's. */
int thm_gemv_s8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *mult,
                const int32_t *shift, int8_t *y, int32_t K, int32_t N);
int thm_gemv_s8_s32(const int8_t *x, const int8_t *w, const int32_t *bias, int32_t *y,
                    int32_t K, int32_t N);

/* int4 weights (W4A8): the bits of thm_matmul_s8 with w [N, K] stored two a
 * byte, w4 [N, (K + 1) / 2]: weight k of a row in byte k / 2, the low nibble
 * for even k, two's complement (-8 .. 7); every row starts on a byte, and an
 * odd K's last high nibble is padding (never read). 1 <= K <= THM_MAX_K. */
int thm_matmul_s4(const int8_t *x,       /* [M, K] */
                  const uint8_t *w4,     /* [N, (K + 1) / 2] */
                  const int32_t *bias,   /* [N] or NULL */
                  const int32_t *mult,   /* [N] */
                  const int32_t *shift,  /* [N] */
                  int8_t *y,             /* [M, N] */
                  int32_t M, int32_t K, int32_t N);
/* The int32-out form (thm_matmul_s8_s32's bits on int4 weights): an int4 tied head. */
int thm_matmul_s4_s32(const int8_t *x, const uint8_t *w4, const int32_t *bias,
                      int32_t *y, int32_t M, int32_t K, int32_t N);

/* Converter-packed weights (runtime/thimble/kernels/layouts.py writes them;
 * docs/kernels-arm.md has the byte orders): the same y as thm_matmul_s8, with
 * w[N, K] stored in the order a board's fast path reads, zero-padded to whole
 * tiles. Every layout runs on every build (portable C reads any of them); the
 * ISA that owns a layout runs it fast. wp: thm_matmul_s8_packed_size bytes,
 * 4-byte aligned. */
#define THM_LAYOUT_S8_R8K64 1   /* int8, 8 rows x 64 k blocks: NEON SDOT, Helium */
#define THM_LAYOUT_S16_R4K16 2  /* int16, 4 rows x 16 k, SXTB16 pair order: Cortex-M DSP */
/* Geometry: rows per tile, k per block, bytes per stored element (the same
 * numbers as runtime/thimble/kernels/isa.py LAYOUTS; a test compares them). */
#define THM_LAYOUT_S8_R8K64_ROWS 8
#define THM_LAYOUT_S8_R8K64_KBLOCK 64
#define THM_LAYOUT_S8_R8K64_ELEM_BYTES 1
#define THM_LAYOUT_S16_R4K16_ROWS 4
#define THM_LAYOUT_S16_R4K16_KBLOCK 16
#define THM_LAYOUT_S16_R4K16_ELEM_BYTES 2
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

/* thm_softmax_q15 of `rows` unmasked rows of n scores each, one call (the
 * attention's blocks of query rows): p [r, :] = softmax(scores [r, :]).
 * Parameters as thm_softmax_q15; rows >= 0, n >= 0. scratch:
 * thm_softmax_q15_scratch_size(n) bytes (one row's), 4-byte aligned. */
int thm_softmax_q15_rows(const int32_t *scores,  /* [rows, n] */
                         int16_t *p,             /* [rows, n] out, Q15 */
                         int32_t rows, int32_t n, int32_t mult, int32_t shift,
                         int32_t diff_max, void *scratch);

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

/* Attention's P.V for a block of query rows of one head, the keys' values
 * transposed: out [r * out_stride + d] = sat8(requantize(sum_{j < Tk}
 * p [r, j] vt [d, j], mult, shift)) for r < bq, d < D, the sum wrapping in
 * int32 (it cannot for softmax rows). p: Q15 probabilities in [0, 32767]
 * (thm_softmax_q15_rows' output; not checked, which would cost a pass over
 * p: other values give unspecified outputs, never an access outside the
 * buffers). bq >= 0, 1 <= Tk <= THM_MAX_K,
 * 1 <= D <= THM_MAX_HEAD_DIM, out_stride >= D. scratch:
 * thm_pv_rows_s8_scratch_size(bq, Tk, D) bytes, 4-byte aligned (the
 * portable form splits p into int8 digits and runs each through
 * thm_matmul_s8_s32, then thm_pv_combine_s8). */
size_t thm_pv_rows_s8_scratch_size(int32_t bq, int32_t Tk, int32_t D);
int thm_pv_rows_s8(const int16_t *p,     /* [bq, Tk] Q15 */
                   int32_t bq, int32_t Tk,
                   const int8_t *vt,     /* [D, Tk] */
                   int32_t D, int32_t mult, int32_t shift,
                   int8_t *out,          /* [bq, out_stride], first D of each row written */
                   int32_t out_stride, void *scratch);

/* P.V recombined from the sums of p's int8 digits, in wrapping 32-bit
 * arithmetic: acc = s2 2^14 + s1 2^7 + s0 (three digits, p = p2 2^14 +
 * p1 2^7 + p0) or, with s2 NULL, acc = s1 2^8 + s0 (two digits);
 * out [i] = sat8(requantize(acc, mult, shift)), i < n; n >= 0. */
int thm_pv_combine_s8(const int32_t *s0, const int32_t *s1,
                      const int32_t *s2,  /* [n] or NULL */
                      int32_t n, int32_t mult, int32_t shift, int8_t *out);

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

/* thm_embed_s16 from an int4 table (rows of D packed as thm_matmul_s4's weights,
 * (D + 1) / 2 bytes each). */
int thm_embed_s16_s4(const int32_t *tokens, int32_t T, const uint8_t *table4,
                     const int32_t *mult, const int32_t *shift, int32_t V, int32_t D,
                     int16_t *out);

/* --- CQ weights (Needle 2's codebook code; reference.py "CQ weights") ------ */

/* Inputs per CQ group: the activations go through one integer Walsh-Hadamard
 * transform per group instead of the weights through its inverse. */
#define THM_CQ_GROUP 128
#define THM_CQ_SHIFT_MAX 7

/* x int8 [M, K] -> xr int8 [M, G * 128] (the groups' unnormalised FWHT, each
 * brought to int8 by its own shift s: floor((v + 2^(s-1)) / 2^s), the least s
 * in 0..7 that fits) and sh uint8 [M, G], G = ceil(K / 128); K is padded
 * with zeros to whole groups. 1 <= K <= THM_MAX_K. */
int thm_cq_rotate_s8(const int8_t *x, int8_t *xr, uint8_t *sh, int32_t M, int32_t K);

/* y [M, N] = requantize_s64(sum_g ((lut . xr_g) << sh_g) * norm_q[n, g], mult[n], rshift[n])
 * over the G = Kp / 128 groups, where lut . xr_g sums lut[field] * xr over
 * the group's 128 stored fields of row n of w: an LSB-first bitstream of
 * `bits` (2, 3 or 4) a field, Kp * bits / 8 bytes a row. lut: 2^bits int8
 * levels; norm_q: uint16 [N, G]; mult in [0, 2^31), rshift in [33, 94]:
 * requantize_s64(a, m, r) = floor((a m + 2^(r-1)) / 2^r). sh: 0..7.
 * _s8 saturates to int8, _s32 to int32 (the tied head's logits). */
int thm_matmul_cq_s8(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits,
                     const int8_t *lut, const uint16_t *norm_q, const int32_t *mult,
                     const int32_t *rshift, int8_t *y, int32_t M, int32_t Kp, int32_t N);
int thm_matmul_cq_s32(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits,
                      const int8_t *lut, const uint16_t *norm_q, const int32_t *mult,
                      const int32_t *rshift, int32_t *y, int32_t M, int32_t Kp, int32_t N);

/* Needle 2's lane mixing: count matrices [n, n] of Q12 logits (|logit| <=
 * THM_SINKHORN_MAX_LOGIT) -> Q15 probabilities, iters passes of row then
 * column log-normalisation, then exp (reference.py sinkhorn_q12).
 * 1 <= n <= THM_SINKHORN_MAX_N, 0 <= iters <= 1000. */
#define THM_SINKHORN_MAX_N 16
#define THM_SINKHORN_MAX_LOGIT (1 << 24)
int thm_sinkhorn_q12(const int32_t *logits, int32_t count, int32_t n, int32_t iters, int16_t *p);

/* Needle 2's engram slots for position pos of hist [n_hist] (token ids, as
 * uint32): idx [n_orders * heads], table o * heads + h, -1 where the n-gram
 * of orders[o] reaches before the start (reference.py engram_hash).
 * 1 <= n_orders <= 8, orders 1..16, 1 <= heads <= 64, 1 <= slots <= 2^24. */
#define THM_ENGRAM_SEED 0x9E3779B9u
#define THM_ENGRAM_PRIME 0x01000193u
int thm_engram_hash(const int32_t *hist, int32_t n_hist, int32_t pos, const int32_t *orders, int32_t n_orders,
                    int32_t heads, uint32_t slots, int32_t *idx);

/* Needle 2's integer model (reference.py "Needle 2's integer model"):
 * out[i] = sigmoid(z[i] / 4096) in Q15 (0 .. 32768), z Q12;
 * out [rows, n] int32 = the unnormalised Walsh-Hadamard transform of int8 rows, n a power of two
 * <= THM_FWHT_MAX_N;
 * out [P, K] = rows `rows` of a CQ matrix w [N, Kp] (thm_matmul_cq_s8's rows, lut and norm_q)
 * as integers: per group lut[field] through the FWHT-128 times norm_q, requantize_s64 with the
 * row's (mult[i], rshift[i]), saturated to int8 (bound 127: out int8) or int16 (32767: int16). */
#define THM_FWHT_MAX_N 4096
int thm_sigmoid_q15(const int32_t *z, int32_t n, int32_t *out);
int thm_fwht_s8_s32(const int8_t *x, int32_t rows, int32_t n, int32_t *out);
int thm_cq_gather(const uint8_t *w, int32_t N, int32_t Kp, int32_t bits, const int8_t *lut,
                  const uint16_t *norm_q, const int32_t *rows, int32_t P, const int32_t *mult,
                  const int32_t *rshift, int32_t K, int32_t bound, void *out);

/* --- instruction-set selection (x86 host builds; ARM boards fix it at build) - */

/* Every kernel above runs the selected ISA's fast path where it has one and
 * the portable C otherwise, with the same bits. The ids are those of
 * runtime/thimble/kernels/isa.py (a test compares them). */

#define THM_ISA_PORTABLE 0
#define THM_ISA_AVX2 1
#define THM_ISA_AVX512VNNI 2
#define THM_ISA_ARM_DSP 3       /* Cortex-M DSP extension: SXTB16 + SMLAD */
#define THM_ISA_ARM_MVE 4       /* Cortex-M55 Helium (MVE-I): VMLADAVA.S8 */
#define THM_ISA_ARM_NEON_DOT 5  /* AArch64 NEON dot product: SDOT */
#define THM_ISA_AVXVNNI 6       /* x86 AVX-VNNI: 256-bit VEX vpdpbusd, no AVX-512 needed */
#define THM_ISA_AMX 7           /* x86 AMX-INT8 tiles (tdpbssd) for M >= 16, else AVX-512 VNNI */

/* 1 if this CPU and build can run the ISA. */
int thm_isa_available(int32_t isa);
/* Select the fast paths every kernel uses; THM_E_ISA if unavailable. */
int thm_isa_set(int32_t isa);
int32_t thm_isa_get(void);

/* Why THM_ISA_AMX is or is not available: the CPU (AMX-TILE, AMX-INT8, a
 * 16 x 64-byte palette, AVX-512 VNNI), the OS (XCR0 bits 17 and 18), or the
 * kernel's refusal of the XTILEDATA permission (Linux arch_prctl
 * ARCH_REQ_XCOMP_PERM, asked once, at the first call of this or of
 * thm_isa_available / thm_isa_set for AMX). Non-x86 builds: THM_AMX_NO_CPU. */
#define THM_AMX_OK 0
#define THM_AMX_NO_CPU 1
#define THM_AMX_NO_OS 2
#define THM_AMX_NO_PERMISSION 3
int32_t thm_isa_amx_status(void);

#ifdef __cplusplus
}
#endif

#endif /* THIMBLE_KERNELS_H */
