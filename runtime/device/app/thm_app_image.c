/* The board's check of an image, first step of thm_app_load: everything
 * that decides whether the app can run it, and how much arena it needs,
 * without touching an arena. Apart from thm_app.c so the host builds it too
 * (no board, no HAL): the simulator and the link's COMMIT run this very
 * check, so an image one refuses, the other refuses, with the same code. */
#include <string.h>

#include "thm_app.h"

/* keeps the type of n: a mask of ~(size_t)63 would drop the high half of a uint64_t on a 32-bit board */
#define ALIGN_UP(n) (((n) + THM_MODEL_ARENA_ALIGN - 1) / THM_MODEL_ARENA_ALIGN * THM_MODEL_ARENA_ALIGN)

void thm_app_msg(char *msg, size_t cap, const char *a, const char *b)
{
    size_t n = 0;
    if (!msg || !cap) return;
    for (; a && *a && n + 1 < cap; a++) msg[n++] = *a;
    for (; b && *b && n + 1 < cap; b++) msg[n++] = *b;
    msg[n] = 0;
}

size_t thm_app_tok_scratch_bytes(void)
{
    uint32_t longest = THM_APP_MAX_QUERY > THM_APP_MAX_TOOLS_JSON ? THM_APP_MAX_QUERY : THM_APP_MAX_TOOLS_JSON;
    return thm_tok_encode_scratch_size(longest);
}

int thm_app_check(thm_app_model *am, const uint8_t *base, uint64_t size, char *msg, size_t msg_cap)
{
    memset(am, 0, sizeof(*am));
    int err = thm_image_open(&am->img, base, size);
    if (!err) err = thm_image_verify(&am->img);
    if (err) {
        thm_app_msg(msg, msg_cap, "image refused: ", thm_image_strerror(err));
        return THM_APP_E_NO_MODEL;
    }
    err = thm_model_bind(&am->model, &am->img);
    if (err) {
        thm_app_msg(msg, msg_cap, "model refused: ", thm_model_strerror(err));
        return THM_APP_E_NO_MODEL;
    }
    if (!am->img.tokenizer) {
        thm_app_msg(msg, msg_cap, "image carries no tokenizer (convert it with --tokenizer)", 0);
        return THM_APP_E_NO_MODEL;
    }
    err = thm_tok_open(&am->tok, am->img.tokenizer, am->img.tokenizer_size);
    if (err) {
        thm_app_msg(msg, msg_cap, "tokenizer refused: ", thm_tok_strerror(err));
        return THM_APP_E_NO_MODEL;
    }
    if (am->tok.piece_count != (uint32_t)am->model.V) {
        thm_app_msg(msg, msg_cap, "tokenizer and model disagree on the vocabulary size", 0);
        return THM_APP_E_NO_MODEL;
    }
    /* the prompt limit is the simulator's: rope positions, within what the image encodes */
    const thm_fmt_config *c = &am->img.config;
    int32_t max_enc = (int32_t)c->rope_n_pos < am->model.max_enc_len ? (int32_t)c->rope_n_pos : am->model.max_enc_len;
    int32_t max_dec = am->model.max_dec_len < (int32_t)THM_APP_MAX_NEW ? am->model.max_dec_len : (int32_t)THM_APP_MAX_NEW;
    if (max_enc < 2 || max_dec < 2) {
        thm_app_msg(msg, msg_cap, "image supports fewer than 2 encoder or decoder positions", 0);
        return THM_APP_E_NO_MODEL;
    }
    /* The model's plan is at most THM_MODEL_ARENA_MAX (0 past it, on every
     * target); the rest is bounded by bind (V <= 2^24, max_enc <= 2^20). The
     * sum is taken in 64 bits, so nothing wraps on a 32-bit board and the
     * comparison with a board's arena in thm_app_start is exact. */
    _Static_assert(THM_MODEL_ARENA_MAX == (uint64_t)1 << 31, "the message below names the cap");
    size_t model_bytes = thm_model_arena_size(&am->model, max_enc, max_dec);
    size_t scratch = thm_app_tok_scratch_bytes();
    if (!model_bytes || !scratch) {
        thm_app_msg(msg, msg_cap, "model refused: its arena plan exceeds 2 GiB, the most any runtime plans", 0);
        return THM_APP_E_ARENA;
    }
    uint64_t first = ALIGN_UP((uint64_t)(model_bytes > scratch ? model_bytes : scratch));
    am->need = first + ALIGN_UP((uint64_t)am->model.V * 4u) + ALIGN_UP((uint64_t)max_enc * 4u)
               + ALIGN_UP((uint64_t)am->model.V);   /* logits, prompt ids, first bytes (thm_app.c) */
    am->model_bytes = (size_t)first;    /* <= THM_MODEL_ARENA_MAX + 63: fits a 32-bit size_t */
    am->max_enc = max_enc;
    am->max_dec = max_dec;
    return THM_APP_OK;
}
