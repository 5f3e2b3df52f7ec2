/* Attention over a fixed key set (encoder self-attention, decoder
 * cross-attention) through the matmul fast paths, bit-exact with
 * thm_attention_s8 (non-causal, no mask).
 *
 * Why: streaming one query row and head at a time (the kernel) keeps the dot
 * products scalar; here a block of query rows of one head is scored against
 * that head's keys with thm_matmul_s8_s32, softmaxed with
 * thm_softmax_q15_rows, and multiplied by V^T with thm_pv_rows_s8 (which on
 * most ISAs splits the Q15 probabilities into int8 digits for the same
 * matmul: kernels/src/thm_pv_rows_s8.c). Keys and values must be head-major:
 * K [Hkv, Tk, D] and V^T [Hkv, D, Tk]. */
#ifndef THM_MODEL_ATTENTION_H
#define THM_MODEL_ATTENTION_H

#include <stddef.h>
#include <stdint.h>
#include "thimble_kernels.h"

#define THM_FAST_ATTN_ROWS 8        /* query rows the arena's own workspace holds */
#define THM_FAST_ATTN_MAX_ROWS 256  /* most rows per block, given the bytes (see below) */

/* Workspace bytes for THM_FAST_ATTN_ROWS query rows against up to Tk keys of
 * head size D (each part 64-byte aligned). */
size_t thm_fast_attn_workspace_size(int32_t Tk, int32_t D);

/* out [Tq, H*D] = attention(q [Tq, H*D], K [Hkv, Tk, D], V^T [Hkv, D, Tk]).
 * prm->causal must be 0. Query rows go in blocks of as many rows (up to
 * THM_FAST_ATTN_MAX_ROWS) as ws_bytes holds: the encoder lends the decoder's
 * idle cross and self K/V slots, and a block of many rows runs the score and
 * P.V matmuls on the ISAs' packed (prefill) paths instead of their GEMV-like
 * ones, packing each head's K and V^T once a block (a 256-token prompt: once).
 * Blocks are independent rows, so the result does not depend on the size.
 * Returns THM_OK, THM_E_ARG if not one row fits, or the first kernel's error. */
int thm_fast_attention(const int8_t *q, const int8_t *k_hm, const int8_t *v_t, int8_t *out,
                       int32_t Tq, int32_t Tk, const thm_attn_params *prm, void *ws, size_t ws_bytes);

/* x [T, Hkv*D] -> K head-major [Hkv, T, D]; V transposed [Hkv, D, T]. */
void thm_to_head_major(const int8_t *x, int8_t *out, int32_t T, int32_t Hkv, int32_t D);
void thm_to_head_transposed(const int8_t *x, int8_t *out, int32_t T, int32_t Hkv, int32_t D);

#endif /* THM_MODEL_ATTENTION_H */
