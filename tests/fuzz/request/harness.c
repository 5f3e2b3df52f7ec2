/* Fuzz harness (b): a request as the board receives it (THRQ, thm_app.h),
 * parsed and bounded by thm_app_parse_request, its tools' wire form read by
 * thm_grammar_tools_init, then constrained greedy decoding under that
 * grammar with watch-tiny's vocabulary (the tokenizer payload named by
 * $THM_FUZZ_TOKENIZER, made by tests/fuzz/seeds.py). The model is replaced
 * by logits drawn from a PRNG seeded with the input's hash, so decoding
 * walks the grammar far from where a trained model would: the decoder must
 * stay in bounds and end within max_new_tokens whatever the scores. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thm_app.h"

static uint8_t *payload;
static thm_tokenizer tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *path = getenv("THM_FUZZ_TOKENIZER");
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) { fprintf(stderr, "request harness: set THM_FUZZ_TOKENIZER to a tokenizer payload\n"); exit(2); }
    payload = malloc(1 << 20);
    size_t n = fread(payload, 1, 1 << 20, f);
    fclose(f);
    if (thm_tok_open(&tok, payload, n) != THM_TOK_OK) { fprintf(stderr, "request harness: bad payload\n"); exit(2); }
    return 0;
}

typedef struct { uint64_t s; int32_t V; int steps; } fake_model;

static int fake_step(void *ctx, int32_t token, int32_t *logits)
{
    fake_model *m = ctx;
    if (token < 0 || token >= m->V || ++m->steps > THM_APP_MAX_NEW + 2) abort();   /* the decoder's contract */
    for (int32_t i = 0; i < m->V; i++) {
        m->s = m->s * 6364136223846793005ULL + 1442695040888963407ULL;
        logits[i] = (int32_t)(m->s >> 40) - (1 << 23);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static thm_app_answer ans;
    static thm_tools tools;
    static int32_t logits[1 << 16], scratch[THM_DECODE_BATCH], tokens[THM_APP_MAX_NEW];
    thm_app_request req;
    if (thm_app_parse_request(data, size, &req, &ans) != THM_APP_OK) return 0;
    if (thm_grammar_tools_init(&tools, req.tools_wire, req.tools_wire_len) != 0) return 0;
    fake_model m = {1469598103934665603ULL, (int32_t)tok.piece_count, 0};
    for (size_t i = 0; i < size; i++) m.s = (m.s ^ data[i]) * 1099511628211ULL;
    if (m.V > (int32_t)(sizeof logits / sizeof logits[0])) abort();
    thm_vocab vocab = {m.V, thm_app_piece, &tok};
    thm_decode_params p = {1, 1, 4, (int32_t)req.max_new_tokens};
    thm_decode_result res = {0, 0, 0};
    int err = thm_decode_greedy(fake_step, &m, logits, m.V, &vocab, &tools, &p, tokens, scratch, THM_DECODE_BATCH, &res);
    if (res.n_tokens < 0 || res.n_tokens > (int32_t)req.max_new_tokens) abort();
    if (!err) {
        uint32_t tl = 0;
        static uint8_t text[THM_APP_MAX_TEXT];
        thm_tok_decode(&tok, tokens + 1, (uint32_t)res.n_tokens - 1u, text, sizeof text, &tl);
    }
    return 0;
}
