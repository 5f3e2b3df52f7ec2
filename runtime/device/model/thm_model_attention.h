/* Attention over a fixed key set (encoder self-attention, decoder
 * cross-attention) through the matmul fast paths, bit-exact with
 * thm_attention_s8 (non-causal, no mask).
 *
 * Why: streaming one query row and head at a time (the kernel) keeps the dot
 * products scalar; here a block of query rows of one head is scored against
 * that head's keys with thm_matmul_s8_s32, and P.V too: the Q15
 * probabilities p (0..32767) are split into int8 digits, each multiplied by
 * V^T with the same matmul, and recombined in wrapping uint32 arithmetic,
 * which gives exactly the kernel's int32 sum (the sum is linear in p, and
 * every digit's partial sum is exact): two digits p = hi 2^8 + lo, lo in
 * -128..127, when every p of the block is below 32640 (hi <= 127), else three,
 * p = p2 2^14 + p1 2^7 + p0. Keys and values must be head-major: K [Hkv, Tk, D] and
 * V^T [Hkv, D, Tk]. */
#ifndef THM_MODEL_ATTENTION_H
#define THM_MODEL_ATTENTION_H

#include <stddef.h>
#include <stdint.h>
#include "thimble_kernels.h"

#define THM_FAST_ATTN_ROWS 8    /* query rows per block: bounds the workspace */
#define THM_FAST_ATTN_TWO_DIGIT_MAX 32640   /* p below this: hi = (p + 128) >> 8 <= 127 */

/* Workspace bytes for up to Tk keys and head size D (each part 64-byte aligned). */
size_t thm_fast_attn_workspace_size(int32_t Tk, int32_t D);

/* out [Tq, H*D] = attention(q [Tq, H*D], K [Hkv, Tk, D], V^T [Hkv, D, Tk]).
 * prm->causal must be 0. Returns THM_OK or the first kernel's error. */
int thm_fast_attention(const int8_t *q, const int8_t *k_hm, const int8_t *v_t, int8_t *out,
                       int32_t Tq, int32_t Tk, const thm_attn_params *prm, void *ws);

/* x [T, Hkv*D] -> K head-major [Hkv, T, D]; V transposed [Hkv, D, T]. */
void thm_to_head_major(const int8_t *x, int8_t *out, int32_t T, int32_t Hkv, int32_t D);
void thm_to_head_transposed(const int8_t *x, int8_t *out, int32_t T, int32_t Hkv, int32_t D);

#endif /* THM_MODEL_ATTENTION_H */
