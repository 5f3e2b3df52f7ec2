/* Greedy decoding constrained by the tool-call grammar, on the device.
 * The specification is runtime/thimble/sim/decode.py (constrained_greedy):
 * candidates are tried in order of logit, ties to the lowest id, and the
 * first whose bytes keep the answer valid is taken; eos and tokens without
 * bytes are never candidates; the answer opens with <tool_call> and stops as
 * soon as the JSON list closes. Host and board pick the same tokens.
 *
 * The vocabulary is never sorted: each pass over the logits keeps the next
 * best candidates (after the last one tried) in a small caller buffer, so
 * the scratch does not grow with V. Freestanding C99, no malloc. */
#ifndef THM_DECODE_H
#define THM_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include "thm_grammar.h"

/* Suggested scratch: candidates kept per pass (int32 ids; 128 bytes). A pass
 * reads all V logits, so more candidates per pass mean fewer passes when the
 * model's favourites break the grammar. Any count >= 1 gives the same tokens. */
#define THM_DECODE_BATCH 32

enum {
    THM_DECODE_OK = 0,
    THM_DECODE_E_ARG = -1,       /* NULL pointer, V < 1, V above the vocabulary, scratch_n < 1, bad ids */
    THM_DECODE_E_NO_TOKEN = -2,  /* no token of the vocabulary can continue the answer */
    THM_DECODE_E_VOCAB = -3,     /* the vocabulary gave no bytes for an id (piece() < 0) */
    THM_DECODE_E_GRAMMAR = -4,   /* the grammar state is corrupt or from another tool table */
    THM_DECODE_E_STEP = -5,      /* the model step reported an error */
};

/* The bytes token `id` adds to the answer: sets *bytes, returns the length;
 * 0 for tokens that never appear in an answer (control and special ids);
 * negative on error. *bytes must stay valid until the next call. This is
 * the seam to the tokenizer (runtime/device/tokenizer/). */
typedef int32_t (*thm_vocab_piece_fn)(const void *ctx, int32_t id, const uint8_t **bytes);

typedef struct {
    int32_t n;                   /* ids 0 .. n-1 */
    thm_vocab_piece_fn piece;
    const void *ctx;
    /* [n] or NULL: each piece's first byte (any value for an empty piece),
     * which lets the pick skip a piece the grammar refuses at its first byte
     * without building its bytes (thm_app_first_bytes) */
    const uint8_t *first;
} thm_vocab;

/* A ready-made vocabulary: piece i is bytes[offsets[i] .. offsets[i+1]). */
typedef struct {
    int32_t n;
    const uint32_t *offsets;     /* [n + 1], non-decreasing */
    const uint8_t *bytes;        /* [bytes_len] */
    uint32_t bytes_len;
} thm_vocab_table;

/* thm_vocab_piece_fn over a thm_vocab_table (ctx); checks the offsets it reads. */
int32_t thm_vocab_table_piece(const void *ctx, int32_t id, const uint8_t **bytes);

/* One step: the best candidate under the grammar.
 *   logits  [V] int32, V in 1 .. vocab->n
 *   st      the grammar state, advanced past the chosen token on success
 *   eos_id  never chosen (-1: none)
 *   scratch [scratch_n] int32, scratch_n >= 1 (THM_DECODE_BATCH suggested)
 *   *token  the chosen id */
int thm_decode_pick(const int32_t *logits, int32_t V, const thm_vocab *vocab, const thm_tools *tools,
                    thm_grammar_state *st, int32_t eos_id, int32_t *scratch, int32_t scratch_n, int32_t *token);

/* The model: feed `token` at the next decoder position, write logits[V] for
 * the position after it. Returns 0, or nonzero on error. */
typedef int (*thm_decode_step_fn)(void *ctx, int32_t token, int32_t *logits);

typedef struct {
    int32_t start_id;            /* the decoder's first input (Needle: eos) */
    int32_t eos_id;              /* never emitted inside the answer */
    int32_t tool_call_id;        /* <tool_call>: always the first generated token */
    int32_t max_new_tokens;      /* >= 2, <tool_call> included */
} thm_decode_params;

typedef struct {
    int32_t n_tokens;            /* ids written to tokens[], <tool_call> first */
    int32_t complete;            /* 1: the JSON list was closed */
    int32_t steps;               /* model steps run */
} thm_decode_result;

/* The whole answer, as constrained_greedy: step(start_id), step(<tool_call>),
 * then pick and step until the list closes or max_new_tokens are out.
 *   logits  [V] caller buffer that step() fills
 *   tokens  [params->max_new_tokens]
 * On THM_DECODE_E_NO_TOKEN, *res still holds the tokens so far. */
int thm_decode_greedy(thm_decode_step_fn step, void *step_ctx, int32_t *logits, int32_t V,
                      const thm_vocab *vocab, const thm_tools *tools, const thm_decode_params *params,
                      int32_t *tokens, int32_t *scratch, int32_t scratch_n, thm_decode_result *res);

const char *thm_decode_strerror(int err);

#endif /* THM_DECODE_H */
