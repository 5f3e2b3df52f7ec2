/* Needle 2 in C: the same kernel calls, in the same order, as
 * runtime/thimble/needle2/int_forward.py (IntNeedle2, the specification), so
 * its logits are bit-exact with it; the constants are the image's
 * (runtime/thimble/needle2/image.py writes them from IntNeedle2's scales).
 *
 * Freestanding, as the Needle v1 model (runtime/device/model/): no malloc,
 * no float; weights where the image lies, every activation in one arena the
 * caller provides. Tokens go through the model one at a time (a prompt is
 * a run of steps: the integers of a step are the prefill's, IntNeedle2
 * checks that). The K/V cache holds what a query can see: with the image's
 * window W and sinks S, S pinned slots and a ring of W (key k in slot k if
 * k < S, else S + (k - S) mod W), so RAM does not grow with the sequence;
 * without a window, max_pos slots. The integer softmax and P.V sums do not
 * depend on the keys' order, so the ring gives IntNeedle2's masked bits.
 *
 * Use: thm_image_open -> thm_n2_bind -> thm_n2_arena_size(max_pos) ->
 * thm_n2_init(arena) -> thm_n2_step(token) per token (the logits of the
 * last one predict the next) -> thm_n2_reset for a new sequence. */
#ifndef THM_N2_H
#define THM_N2_H

#include <stddef.h>
#include <stdint.h>
#include "thm_image.h"

#define THM_N2_MAX_LAYERS 64
#define THM_N2_MAX_LANES 16
#define THM_N2_MAX_SITES 4
#define THM_N2_MAX_ORDERS 4
#define THM_N2_TAPS 4
#define THM_N2_MAX_ENGRAM_ROWS (1u << 24)   /* tables x slots of a site (base: 4 x 8192) */
#define THM_N2_ARENA_ALIGN 64
#define THM_N2_ARENA_MAX ((uint64_t)1 << 31)

enum {
    THM_N2_OK = 0,
    THM_N2_E_ARG = -1,       /* NULL pointer, or a size out of its range */
    THM_N2_E_CONFIG = -2,    /* not a Needle 2 image, or its CONFIG_NEEDLE2 is not a model this runtime runs */
    THM_N2_E_MISSING = -3,   /* a tensor is absent (thm_n2_error_name) */
    THM_N2_E_SHAPE = -4,     /* a tensor has the wrong dtype or shape (named) */
    THM_N2_E_RANGE = -5,     /* a constant is outside its kernel's range (named) */
    THM_N2_E_EXTRA = -6,     /* the image has a tensor the model does not use (named) */
    THM_N2_E_ARENA = -7,     /* arena too small or misaligned */
    THM_N2_E_STATE = -8,     /* not bound / initialised, or max_pos tokens already in */
    THM_N2_E_TOKEN = -9,     /* a token id outside the vocabulary */
    THM_N2_E_KERNEL = -10,   /* a kernel refused its arguments (a bug: bind checks them) */
};

/* A CQ matrix [N, Kp] and the requantize constants of the product that uses it. */
typedef struct {
    const uint8_t *w;
    const int8_t *lut;
    const uint16_t *norms;     /* [N, Kp / 128] */
    const int32_t *mult, *rshift;
    const uint8_t *neg;        /* [N] or NULL: 1 negates the row's output */
    int32_t bits, N, Kp;
} thm_n2_cq;

/* A ZCRMSNorm's per-channel constants (a negative gain's sign kept in neg). */
typedef struct {
    const int32_t *mult, *shift;
    const uint8_t *neg;
    int64_t eps;
    int any_neg;               /* some channel negates: only then the sign pass runs */
} thm_n2_norm;

/* A per-channel requantize of either sign (IntNeedle2.rq). */
typedef struct {
    const int32_t *mult, *shift;
    const uint8_t *neg;
    int any_neg;
} thm_n2_rq;

typedef struct {
    thm_n2_norm nx, uu, eu, norm_in, q_norm, k_norm, post_norm, mlp_norm;
    int32_t alpha[2];                       /* engram layers only */
    thm_n2_cq q, k, v, gate, out;
    int32_t attn[5];                        /* score mult, shift, diff max, out mult, shift */
    int32_t attn_res[2], silu[2], mlp_res[2];
    thm_n2_rq d2, d3;
    int32_t site;                           /* engram site of this layer, -1: none */
} thm_n2_layer;

typedef struct {
    thm_n2_cq tables, key, value;
    const int16_t *taps;                    /* [THM_N2_TAPS, d] */
    int32_t conv[2];
} thm_n2_site;

typedef struct {
    /* --- bound from the image (thm_n2_bind) --- */
    int32_t V, d, L, H, Hkv, hd, Q, KV, n_pos, lanes, hada_n, iters, window, sinks;
    int32_t n_sites, site_layer[THM_N2_MAX_SITES], n_orders, orders[THM_N2_MAX_ORDERS];
    int32_t heads, slots, dil, tables, sub;
    thm_n2_cq embed, logits, phi[3];        /* phi: pre, post, res ([L n, n d], [L n, n d], [L n n, n d]) */
    const int32_t *bias[3];
    thm_n2_norm final_norm;
    const int16_t *rope_cos, *rope_sin;
    thm_n2_layer layer[THM_N2_MAX_LAYERS];
    thm_n2_site site[THM_N2_MAX_SITES];
    int bound;
    char err_name[THM_IMAGE_MAX_NAME + 1];
    /* --- arena (thm_n2_init) --- */
    int32_t max_pos, kv_slots;  /* tokens a sequence may hold; K/V slots per layer */
    int16_t *X;                 /* [lanes, d] the hyper-connection lanes */
    int16_t *u, *b, *vc;        /* [d]; vc [n_sites, d] the engram's conv output of this token */
    int8_t *nx, *xr;            /* [lanes d]; rotated input [max(lanes d, Q, d) rounded to 128] */
    uint8_t *sh;                /* its group shifts */
    int32_t *z, *g, *fw, *z12;  /* [lanes (2 + lanes)], [Q], [hada_n], [hada_n] */
    int32_t *cm, *cs;           /* [hada_n] one (mult, shift) broadcast for the vector requantize */
    int16_t *P;                 /* [lanes, lanes] Q15 */
    int8_t *h8, *q, *k, *att, *o8, *post, *m8, *s8, *e, *ek;  /* ek [n_sites, d]; v goes straight to its cache slot */
    int8_t *kcache, *vcache;    /* [L, kv_slots, KV] */
    int8_t *vring;              /* [n_sites, span, d]: the engram values of the last span positions */
    int32_t *hist;              /* [max_pos] token ids */
    int32_t *logits_buf;        /* [V] */
    void *attn_scratch;
    int32_t *idx;               /* [tables] the engram's slots of this position */
    size_t arena_used;
    int ready;
    int32_t length;             /* tokens in */
} thm_n2;

int thm_n2_bind(thm_n2 *m, const thm_image *img);
const char *thm_n2_error_name(const thm_n2 *m);
const char *thm_n2_strerror(int err);
/* Arena bytes for sequences of up to max_pos tokens (1 .. the image's rope_n_pos); 0 if out of range. */
size_t thm_n2_arena_size(const thm_n2 *m, int32_t max_pos);
/* The arena's parts for max_pos: up to cap names (static strings) and sizes
 * (summing to thm_n2_arena_size); returns how many (7), 0 if refused. What
 * `thimble plan` prints for a Needle 2 image. */
int thm_n2_arena_items(const thm_n2 *m, int32_t max_pos, const char **names, uint64_t *bytes, int cap);
int thm_n2_init(thm_n2 *m, void *arena, size_t arena_bytes, int32_t max_pos);
/* Forget the sequence (length 0). */
int thm_n2_reset(thm_n2 *m);
/* One token at position length: int32 logits [V] (one unit: the image's logit
 * scale) into logits_out (may be NULL), their first argmax into argmax_out
 * (may be NULL). */
int thm_n2_step(thm_n2 *m, int32_t token, int32_t *logits_out, int32_t *argmax_out);

#endif /* THM_N2_H */
