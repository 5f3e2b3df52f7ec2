/* The integer Needle in C: the same kernel calls, in the same order, as
 * runtime/thimble/sim/int_forward.py (IntNeedle, the specification), so the
 * logits, the hidden-state CRC and the encoder output are bit-exact with it.
 *
 * Freestanding: no malloc, no float, no libc beyond string.h. Weights stay
 * where the image lies (XIP from flash); every activation lives in one arena
 * the caller provides, sized by thm_model_arena_size.
 *
 * Use: thm_image_open -> thm_model_bind -> thm_model_arena_size ->
 * thm_model_init(arena) -> thm_model_encode(prompt) -> thm_model_decode_step
 * (once per generated token). */
#ifndef THM_MODEL_H
#define THM_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "thm_image.h"

#define THM_MODEL_MAX_LAYERS 32     /* per stack: bounds the struct and the names */
/* RoPE positions an image may have: bounds every per-position size in the
 * plan (and `thimble convert --max-len`, which reads it through cffi). */
#define THM_MODEL_MAX_POSITIONS (1u << 20)

enum {
    THM_MODEL_OK = 0,
    THM_MODEL_E_ARG = -1,       /* NULL pointer, or a size out of its range */
    THM_MODEL_E_CONFIG = -2,    /* the image CONFIG is not a model this runtime runs */
    THM_MODEL_E_MISSING = -3,   /* a tensor is absent (thm_model_error_name) */
    THM_MODEL_E_SHAPE = -4,     /* a tensor has the wrong dtype or shape (named) */
    THM_MODEL_E_RANGE = -5,     /* a constant is outside its range, or packed weights have nonzero padding (named) */
    THM_MODEL_E_EXTRA = -6,     /* the image has a tensor the model does not use (named) */
    THM_MODEL_E_ALIGN = -7,     /* tensor data not aligned for its type (named) */
    THM_MODEL_E_ARENA = -8,     /* arena too small or misaligned */
    THM_MODEL_E_STATE = -9,     /* not bound/initialised, no prompt encoded, or decoder full */
    THM_MODEL_E_TOKEN = -10,    /* a token id outside the vocabulary */
    THM_MODEL_E_KERNEL = -11,   /* a kernel refused its arguments (a bug: bind checks them) */
};

#define THM_MODEL_ARENA_ALIGN 64
/* The largest arena any runtime plans: 2 GiB, so every size in the plan fits
 * a 32-bit size_t with room to add the app's buffers, and the 64-bit host
 * refuses exactly the images a 32-bit board refuses (no board has a tenth of
 * it; the rest is the board's arena budget, checked by the app). */
#define THM_MODEL_ARENA_MAX ((uint64_t)1 << 31)

/* One attention block's tensors, pointers into the image. */
typedef struct {
    const int32_t *norm_mult, *norm_shift;  /* [d] */
    const void *w[4];                       /* q [Q,d], k [KV,d], v [KV,d], o [d,Q]: int8 rows, or
                                               packed in the model's weight_layout, or int4 rows */
    uint8_t w_int4[4];                      /* 1: w[j] is int4, two a byte (thm_matmul_s4) */
    const int32_t *w_mult[4], *w_shift[4];  /* [rows] */
    const int32_t *qn_mult, *qn_shift;      /* [hd] */
    const int32_t *kn_mult, *kn_shift;      /* [hd] */
    int64_t norm_eps, q_eps, k_eps;         /* Q16 */
    int32_t score_mult, score_shift, diff_max, mix_mult, mix_shift, gate_mult, gate_shift;
} thm_model_block;

typedef struct {
    /* --- bound from the image (thm_model_bind) --- */
    int32_t V, d, H, Hkv, hd, Q, KV, L_enc, L_dec, n_pos;
    int32_t max_enc_len, max_dec_len;       /* what the image supports */
    int32_t weight_layout;                  /* THM_LAYOUT_* of the projections (the image header's) */
    thm_model_block enc[THM_MODEL_MAX_LAYERS];
    thm_model_block self_attn[THM_MODEL_MAX_LAYERS];
    thm_model_block cross[THM_MODEL_MAX_LAYERS];
    const void *embed;                      /* [V, d]: int8 rows, or int4 rows (embed_int4) */
    int embed_int4;
    const int32_t *enc_embed_mult, *enc_embed_shift, *dec_embed_mult, *dec_embed_shift;  /* [V] */
    const int32_t *enc_final_mult, *enc_final_shift, *dec_final_mult, *dec_final_shift;  /* [d] */
    const int32_t *logits_mult, *logits_shift;  /* [V] */
    const int16_t *rope_cos, *rope_sin;     /* [n_pos, hd/2] Q14 */
    int64_t enc_final_eps, dec_final_eps;
    int bound;
    char err_name[THM_IMAGE_MAX_NAME + 1];  /* first bad tensor, NUL-terminated */
    /* --- arena (thm_model_init) --- */
    int32_t max_enc, max_dec;
    int16_t *x;                 /* [max_enc, d] residual stream */
    int8_t *h;                  /* [max_enc, max(d, KV)] normed input; the o projection; cross K/V rows */
    int8_t *q;                  /* [max_enc, max(Q, d)]; encoder K/V rows; the encoder output after encode */
    int8_t *mix;                /* [max_enc, Q] attention output; also projection scratch */
    int32_t *logits;            /* [V] */
    int8_t *cross_k, *cross_v;  /* per layer a max_enc * KV slot: K [Hkv, n_enc, hd], V^T [Hkv, hd, n_enc] */
    int8_t *self_k, *self_v;    /* [L_dec, max_dec, KV] */
    void *attn_scratch;         /* thm_attention_s8_scratch_size(max_dec): decoder self-attention */
    void *fast_ws;              /* thm_fast_attn_workspace_size(max_enc, hd): cross attention of a step */
    size_t fast_ws_bytes;
    void *prompt_ws;            /* cross V^T of layers 1.. + self K/V + scratch + fast_ws, one range: the encoder's attention */
    size_t prompt_ws_bytes;
    size_t arena_used;
    int ready;
    /* --- the current prompt --- */
    int32_t n_enc;              /* encoder tokens; 0: none encoded */
    int32_t length;             /* decoder positions filled */
    int enc_out_valid;          /* q still holds the encoder output (until the first step) */
    uint32_t crc;               /* CRC-32 (zlib) over every final-normed decoder row */
} thm_model;

/* Find and check every tensor of img (kept by pointer: img->base must outlive m). */
int thm_model_bind(thm_model *m, const thm_image *img);
/* Name of the tensor the last bind error is about ("" if none). */
const char *thm_model_error_name(const thm_model *m);
const char *thm_model_strerror(int err);

/* Arena bytes for prompts up to max_enc tokens and max_dec generated tokens; 0 if out of range
 * or over THM_MODEL_ARENA_MAX (the plan is computed in 64 bits on every target). */
size_t thm_model_arena_size(const thm_model *m, int32_t max_enc, int32_t max_dec);
/* The arena's buffers for (max_enc, max_dec): up to cap names (static strings)
 * and sizes (aligned bytes, summing to thm_model_arena_size); returns how many,
 * 0 if the plan is refused. What `thimble plan` prints per buffer. */
int thm_model_arena_items(const thm_model *m, int32_t max_enc, int32_t max_dec, const char **names,
                          uint64_t *bytes, int cap);
/* Lay the arena out (THM_MODEL_ARENA_ALIGN aligned, >= thm_model_arena_size bytes). */
int thm_model_init(thm_model *m, void *arena, size_t arena_bytes, int32_t max_enc, int32_t max_dec);

/* Encode a prompt (1 <= n <= max_enc) and compute every decoder layer's cross
 * K/V; resets the decoder (length 0, crc 0). */
int thm_model_encode(thm_model *m, const int32_t *tokens, int32_t n);
/* int8 [n_enc, d] final-normed encoder output, or NULL once a decode step has reused it. */
const int8_t *thm_model_encoder_out(const thm_model *m);
/* One decoder token at position length: comparable int32 logits [V] into
 * logits_out (may be NULL) and their first argmax into argmax_out (may be NULL). */
int thm_model_decode_step(thm_model *m, int32_t token, int32_t *logits_out, int32_t *argmax_out);
uint32_t thm_model_hidden_crc(const thm_model *m);
int32_t thm_model_length(const thm_model *m);

#endif /* THM_MODEL_H */
