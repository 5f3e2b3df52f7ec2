/* Fuzz harness (b): a request as the board receives it (THRQ, thm_app.h),
 * parsed and bounded by thm_app_parse_request, its tools' wire form read by
 * thm_grammar_tools_init, then constrained greedy decoding under that
 * grammar with watch-tiny's vocabulary (the tokenizer payload named by
 * $THM_FUZZ_TOKENIZER, made by tests/fuzz/seeds.py). The model is replaced
 * by logits drawn from a PRNG seeded with the input's hash, so decoding
 * walks the grammar far from where a trained model would: the decoder must
 * stay in bounds and end within max_new_tokens whatever the scores.
 *
 * Bytes after the request (which the parser refuses: nothing may follow
 * it) are a choice tape: the k-th decoder step's logits are drawn from tape
 * byte k (cycling), so one mutated byte changes one step's choice and the
 * coverage map can lead decoding deeper into the grammar step by step; a
 * whole request is first parsed as it came. Without a tape the logits come
 * from one PRNG seeded by the input's hash.
 * A complete answer must be JSON (the grammar's promise): its bytes, as the
 * decoder saw them, are checked by a small JSON syntax reader. */
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

typedef struct { uint64_t s; int32_t V; int steps; const uint8_t *tape; size_t tape_len; } fake_model;

static int fake_step(void *ctx, int32_t token, int32_t *logits)
{
    fake_model *m = ctx;
    if (token < 0 || token >= m->V || ++m->steps > THM_APP_MAX_NEW + 2) abort();   /* the decoder's contract */
    if (m->tape_len) m->s = ((uint64_t)m->tape[(size_t)m->steps % m->tape_len] << 8 | (uint64_t)m->steps) * 0x9E3779B97F4A7C15ULL;
    for (int32_t i = 0; i < m->V; i++) {
        m->s = m->s * 6364136223846793005ULL + 1442695040888963407ULL;
        logits[i] = (int32_t)(m->s >> 40) - (1 << 23);
    }
    return 0;
}

/* JSON syntax (RFC 8259), recursive descent over [*p, end); 1 if a value was read. */
static void ws(const uint8_t **p, const uint8_t *end) { while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')) (*p)++; }
static int lit(const uint8_t **p, const uint8_t *end, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(end - *p) < n || memcmp(*p, w, n)) return 0;
    *p += n;
    return 1;
}
static int json_string(const uint8_t **p, const uint8_t *end)
{
    if (*p >= end || **p != '"') return 0;
    for ((*p)++; *p < end; (*p)++) {
        uint8_t c = **p;
        if (c == '"') { (*p)++; return 1; }
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (++*p >= end) return 0;
            if (**p == 'u') {
                for (int k = 0; k < 4; k++) {
                    if (++*p >= end) return 0;
                    uint8_t h = **p;
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return 0;
                }
            } else if (!strchr("\"\\/bfnrt", **p) || !**p) return 0;
        }
    }
    return 0;
}
static int json_value(const uint8_t **p, const uint8_t *end, int depth)
{
    ws(p, end);
    if (*p >= end || depth > 64) return 0;
    uint8_t c = **p;
    if (c == '"') return json_string(p, end);
    if (c == '[' || c == '{') {
        uint8_t close = c == '[' ? ']' : '}';
        (*p)++;
        ws(p, end);
        if (*p < end && **p == close) { (*p)++; return 1; }
        for (;;) {
            if (c == '{') {
                ws(p, end);
                if (!json_string(p, end)) return 0;
                ws(p, end);
                if (*p >= end || **p != ':') return 0;
                (*p)++;
            }
            if (!json_value(p, end, depth + 1)) return 0;
            ws(p, end);
            if (*p >= end) return 0;
            if (**p == close) { (*p)++; return 1; }
            if (**p != ',') return 0;
            (*p)++;
        }
    }
    if (lit(p, end, "true") || lit(p, end, "false") || lit(p, end, "null")) return 1;
    const uint8_t *s = *p;                                  /* a number */
    if (*p < end && **p == '-') (*p)++;
    if (*p < end && **p == '0') (*p)++;
    else if (*p < end && **p >= '1' && **p <= '9') while (*p < end && **p >= '0' && **p <= '9') (*p)++;
    else return 0;
    if (*p < end && **p == '.') {
        if (++*p >= end || **p < '0' || **p > '9') return 0;
        while (*p < end && **p >= '0' && **p <= '9') (*p)++;
    }
    if (*p < end && (**p == 'e' || **p == 'E')) {
        (*p)++;
        if (*p < end && (**p == '+' || **p == '-')) (*p)++;
        if (*p >= end || **p < '0' || **p > '9') return 0;
        while (*p < end && **p >= '0' && **p <= '9') (*p)++;
    }
    return *p > s;
}

/* The answer's bytes, as the decoder fed them to the grammar, are one JSON list. */
static void check_json(const thm_vocab *vocab, const int32_t *ids, int32_t n)
{
    static uint8_t text[THM_APP_MAX_NEW * (THM_TOK_MAX_PIECE_BYTES + 1)];
    size_t len = 0;
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *b;
        int32_t k = vocab->piece(vocab->ctx, ids[i], &b);
        if (k < 0 || (size_t)k > sizeof text - len) abort();
        memcpy(text + len, b, (size_t)k);
        len += (size_t)k;
    }
    const uint8_t *p = text, *end = text + len;
    ws(&p, end);
    int ok = p < end && *p == '[' && json_value(&p, end, 0);
    ws(&p, end);
    if (!ok || p != end) {
        fprintf(stderr, "request harness: a complete answer is not JSON: %.*s\n", (int)len, (const char *)text);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static thm_app_answer ans;
    static thm_tools tools;
    static int32_t logits[1 << 16], scratch[THM_DECODE_BATCH], tokens[THM_APP_MAX_NEW];
    thm_app_request req;
    const uint8_t *tape = 0;
    size_t tape_len = 0;
    if (thm_app_parse_request(data, size, &req, &ans) != THM_APP_OK) {
        if (size < THM_APP_REQ_HEADER) return 0;
        uint64_t need = (uint64_t)THM_APP_REQ_HEADER + (data[8] | data[9] << 8 | data[10] << 16 | (uint64_t)data[11] << 24) +
                        (data[12] | data[13] << 8 | data[14] << 16 | (uint64_t)data[15] << 24) +
                        (data[16] | data[17] << 8 | data[18] << 16 | (uint64_t)data[19] << 24);
        if (need >= size || thm_app_parse_request(data, (size_t)need, &req, &ans) != THM_APP_OK) return 0;
        tape = data + need;
        tape_len = size - (size_t)need;
    }
    if (thm_grammar_tools_init(&tools, req.tools_wire, req.tools_wire_len) != 0) return 0;
    fake_model m = {1469598103934665603ULL, (int32_t)tok.piece_count, 0, tape, tape_len};
    for (size_t i = 0; i < size; i++) m.s = (m.s ^ data[i]) * 1099511628211ULL;
    if (m.V > (int32_t)(sizeof logits / sizeof logits[0])) abort();
    thm_vocab vocab = {m.V, thm_app_piece, &tok, NULL};
    thm_decode_params p = {1, 1, 4, (int32_t)req.max_new_tokens};
    thm_decode_result res = {0, 0, 0};
    int err = thm_decode_greedy(fake_step, &m, logits, m.V, &vocab, &tools, &p, tokens, scratch, THM_DECODE_BATCH, &res);
    if (res.n_tokens < 0 || res.n_tokens > (int32_t)req.max_new_tokens) abort();
    if (!err && res.complete) check_json(&vocab, tokens + 1, res.n_tokens - 1);
    if (!err) {
        uint32_t tl = 0;
        static uint8_t text[THM_APP_MAX_TEXT];
        thm_tok_decode(&tok, tokens + 1, (uint32_t)res.n_tokens - 1u, text, sizeof text, &tl);
    }
    return 0;
}
