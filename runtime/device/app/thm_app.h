/* The watch's application: answer one prompt with the active model.
 *
 * What a "run prompt" request carries and what comes back (staged whole by
 * the serial link's REQ frames, the answer read back by RUN and OUT: see
 * thm_app_link.c) is thm_app_format.h, generated from the one table in
 * runtime/thimble/app/format.py (the host side: runtime/thimble/app/request.py).
 *
 * Counter ticks become instructions as ticks * 1e9 / counter_hz under QEMU
 * -icount shift=0 (the host does that division). */
#ifndef THM_APP_H
#define THM_APP_H

#include <stddef.h>
#include <stdint.h>

#include "thm_app_format.h"
#include "thm_decode.h"
#include "thm_grammar.h"
#include "thm_image.h"
#include "thm_model.h"
#include "thm_tokenizer.h"

/* A prompt longer than the model's encoder limit is refused (THM_APP_E_PROMPT)
 * unless the request asks to cut it the way Needle does (THM_APP_REQ_TRUNCATE):
 * the query keeps at most max_enc - 2 tokens, the tools what is left. Never
 * silently. Statuses, limits and the header offsets: thm_app_format.h. */

/* A parsed request: pointers into the caller's bytes. */
typedef struct {
    uint32_t max_new_tokens;
    const uint8_t *query;
    uint32_t query_len;
    const uint8_t *tools_json;
    uint32_t tools_json_len;
    const uint8_t *tools_wire;
    uint32_t tools_wire_len;
    uint32_t flags;             /* THM_APP_REQ_* */
} thm_app_request;

typedef struct {
    int32_t status;
    uint32_t prompt_tokens, n_tokens, n_steps, complete, crc, counter_hz;
    uint64_t tokenize_ticks, prefill_ticks;
    int32_t tokens[THM_APP_MAX_NEW];
    uint64_t step_ticks[THM_APP_MAX_NEW];
    uint32_t text_len;
    uint8_t text[THM_APP_MAX_TEXT];
} thm_app_answer;

/* The model in use: bound once per installed image. */
typedef struct {
    thm_image img;
    thm_model model;
    thm_tokenizer tok;
    int32_t max_enc, max_dec;   /* what the arena was planned for */
    uint8_t *arena;             /* the board's arena region */
    size_t arena_bytes;
    size_t model_bytes;         /* model arena, then tokenizer scratch, then logits */
    uint64_t need;              /* arena bytes the whole layout takes (thm_app_check, in 64 bits) */
    uint8_t *first;             /* [V] each piece's first answer byte (thm_app_start), for the pick */
    int ready;
} thm_app_model;

/* Open, verify (SHA-256), bind and plan the image at base (size bytes) into
 * the arena; on failure writes a message into msg (msg_cap bytes, NUL-ended).
 * thm_app_check, then thm_app_start. */
int thm_app_load(thm_app_model *am, const uint8_t *base, uint64_t size, uint8_t *arena, size_t arena_bytes,
                 char *msg, size_t msg_cap);
/* Every check of the image a board makes before running it, no arena touched
 * (thm_app_image.c, built on the host too): open, verify, bind, tokenizer
 * payload, vocabulary, positions, and the whole arena layout in 64 bits
 * (am->need, am->max_enc, am->max_dec). THM_APP_OK; THM_APP_E_NO_MODEL, or
 * THM_APP_E_ARENA for a plan over THM_MODEL_ARENA_MAX, with a message. */
int thm_app_check(thm_app_model *am, const uint8_t *base, uint64_t size, char *msg, size_t msg_cap);
/* Lay a checked model out in the arena: THM_APP_E_ARENA when am->need > arena_bytes. */
int thm_app_start(thm_app_model *am, uint8_t *arena, size_t arena_bytes, char *msg, size_t msg_cap);
/* Tokenizer scratch for the longest text a request carries. */
size_t thm_app_tok_scratch_bytes(void);
/* msg := a then b, cut to cap bytes with the NUL. */
void thm_app_msg(char *msg, size_t cap, const char *a, const char *b);

/* Validate and split a request (len bytes); message into ans on failure. */
int thm_app_parse_request(const uint8_t *buf, size_t len, thm_app_request *req, thm_app_answer *ans);
/* The same checks without an answer (thm_app_request.c, built on the host too):
 * THM_APP_OK, or THM_APP_E_REQUEST with *why naming the field. */
int thm_app_request_parse(const uint8_t *buf, size_t len, thm_app_request *req, const char **why);

/* Answer one request with a loaded model (am->ready), filling ans. */
int thm_app_answer_prompt(thm_app_model *am, const thm_app_request *req, thm_app_answer *ans);

/* Serialize ans into out (cap bytes, >= THM_APP_MAX_ANSWER); returns bytes written. */
size_t thm_app_pack_answer(const thm_app_answer *ans, uint8_t *out, size_t cap);

/* ans := an error answer with this status and message. */
void thm_app_fail(thm_app_answer *ans, int32_t status, const char *msg);

/* Bind the image at base (size bytes), the link's active slot, into the
 * board's arena; 0 or a THM_APP_E_*. */
int thm_app_bind(const uint8_t *base, uint64_t size);
/* Answer a parsed request with the bound model (or, with none bound, the
 * binding's error: "no model installed" before the first bind); the answer
 * stays valid until the next call. */
const thm_app_answer *thm_app_run(const thm_app_request *r);
/* Arena bytes the bound model's layout holds (0 with none bound): the rest
 * is free between runs (the bring-up checks use only that). */
size_t thm_app_arena_used(void);

/* The decoder's vocabulary over the image's tokenizer (bytes a token adds to an answer). */
int32_t thm_app_piece(const void *tok, int32_t id, const uint8_t **bytes);

#endif /* THM_APP_H */
