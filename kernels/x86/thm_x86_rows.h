/* AVX-512 forms of the per-row kernels (thm_rows_avx512.c): same arguments,
 * checks, return codes and bits as the portable kernels they stand for. The
 * caller checks that the CPU runs AVX-512 VNNI (thm_isa_get()). */
#ifndef THM_X86_ROWS_H
#define THM_X86_ROWS_H

#include <stdint.h>

/* thm_softmax_q15 without a mask; e: uint32 scratch [n]. */
int thm_softmax_q15_avx512(const int32_t *scores, int16_t *p, int32_t n, int32_t mult, int32_t shift,
                           int32_t diff_max, uint32_t *e);
/* The same for rows contiguous rows of n scores (probs likewise). */
int thm_softmax_q15_rows_avx512(const int32_t *scores, int16_t *probs, int32_t rows, int32_t n, int32_t mult,
                                int32_t shift, int32_t diff_max, uint32_t *e);
int thm_rmsnorm_s8_avx512(const int8_t *x, const int32_t *gain_mult, const int32_t *gain_shift,
                          int64_t eps_q16, int8_t *y, int32_t rows, int32_t D);
int thm_rmsnorm_s16_avx512(const int16_t *x, const int32_t *gain_mult, const int32_t *gain_shift,
                           int64_t eps_q16, int8_t *y, int32_t rows, int32_t D);
int thm_residual_gated_s16_avx512(int16_t *r, const int8_t *y, int32_t n, int32_t mult, int32_t shift);
/* out[i] = sat8(requantize(acc, mult, shift)), acc = (s2[i] << 14) + (s1[i] << 7)
 * + s0[i], or (s1[i] << 8) + s0[i] when s2 is NULL, wrapping in 32 bits: the
 * fast attention's P.V from its digits' sums. */
int thm_attn_combine_avx512(const int32_t *s0, const int32_t *s1, const int32_t *s2, int32_t n,
                            int32_t mult, int32_t shift, int8_t *out);
/* thm_requantize_s32: out[i] = requantize(in[i], mult[i], shift[i]); out may be in. */
int thm_requantize_s32_avx512(const int32_t *in, const int32_t *mult, const int32_t *shift, int32_t *out,
                              int32_t n);
/* thm_rope_s8: half-split RoPE, y may be x. */
int thm_rope_s8_avx512(const int8_t *x, const int16_t *cos_q14, const int16_t *sin_q14, int8_t *y, int32_t T,
                       int32_t n_heads, int32_t D, int32_t pos0, int32_t n_pos);

#endif /* THM_X86_ROWS_H */
