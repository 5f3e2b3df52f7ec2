/* The run-prompt handler: request bytes in, answer out, with the active
 * model. The same steps, in the same order, as thimble.sim.session.Session.ask:
 *   prompt = encode(query) + [<tools>] + encode(tools_json), refused when it has
 *            more than max_enc tokens unless the request says TRUNCATE: then
 *            encode(query)[:max_enc-2] + [<tools>] + encode(tools_json)[:rest]
 *   model encode, then constrained greedy decoding under the tools' grammar.
 * Everything lives in the board's arena region or in fixed statics: no malloc. */
#include <string.h>

#include "thm_app.h"
#include "thm_board.h"
#include "thm_hal.h"

/* keeps the type of n: a mask of ~(size_t)63 would drop the high half of a uint64_t on a 32-bit board */
#define ALIGN_UP(n) (((n) + THM_MODEL_ARENA_ALIGN - 1) / THM_MODEL_ARENA_ALIGN * THM_MODEL_ARENA_ALIGN)


/* Counter ticks per second of emulated time. Under -icount shift=0 one
 * instruction takes one virtual ns, so a counter of retired instructions
 * (the PMU) ticks at 1 GHz; clocked counters tick at the board's clock. */
static uint32_t counter_hz(void)
{
#if defined(THM_BOARD_COUNTER_PMU)
    return 1000000000u;
#else
    return thm_hal_counter_hz();
#endif
}

void thm_app_fail(thm_app_answer *ans, int32_t status, const char *msg)
{
    memset(ans, 0, offsetof(thm_app_answer, text));
    ans->status = status;
    ans->counter_hz = counter_hz();
    uint32_t n = 0;
    for (; msg && msg[n] && n < THM_APP_MAX_TEXT; n++) ans->text[n] = (uint8_t)msg[n];
    ans->text_len = n;
}

/* "prompt: N tokens; the model takes at most M" (no printf on the device). */
static char *put_dec(char *p, uint64_t v)
{
    char d[20];
    int n = 0;
    do { d[n++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (n) *p++ = d[--n];
    return p;
}

static void thm_app_fail_prompt(thm_app_answer *ans, uint64_t tokens, uint32_t limit)
{
    char msg[80], *p = msg;
    static const char a[] = "prompt: ", b[] = " tokens; the model takes at most ";
    memcpy(p, a, sizeof a - 1); p += sizeof a - 1;
    p = put_dec(p, tokens);
    memcpy(p, b, sizeof b - 1); p += sizeof b - 1;
    p = put_dec(p, limit);
    *p = 0;
    thm_app_fail(ans, THM_APP_E_PROMPT, msg);
    ans->prompt_tokens = tokens > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)tokens;   /* the whole count, as the host's */
}

/* Layout in the arena: [model arena | tokenizer scratch] (used one after the
 * other: tokenizing ends before the model runs), then logits [V], then the
 * prompt ids [max_enc], then each piece's first byte [V] (built here, once
 * per image: the pick reads it for every id it may skip); thm_app_check
 * (thm_app_image.c) sizes it. */
int thm_app_start(thm_app_model *am, uint8_t *arena, size_t arena_bytes, char *msg, size_t msg_cap)
{
    am->ready = 0;
    if (!am->model_bytes || am->need > (uint64_t)arena_bytes) {
        thm_app_msg(msg, msg_cap, "model needs more arena than this board has", 0);
        return THM_APP_E_ARENA;
    }
    int err = thm_model_init(&am->model, arena, am->model_bytes, am->max_enc, am->max_dec);
    if (err) {
        thm_app_msg(msg, msg_cap, "model init failed: ", thm_model_strerror(err));
        return THM_APP_E_ARENA;
    }
    am->arena = arena;
    am->arena_bytes = (size_t)am->need;    /* <= arena_bytes, a size_t */
    am->first = arena + am->model_bytes + ALIGN_UP((size_t)am->model.V * 4u) + ALIGN_UP((size_t)am->max_enc * 4u);
    for (int32_t id = 0; id < am->model.V; id++) {
        const uint8_t *b = 0;
        am->first[id] = thm_app_piece(&am->tok, id, &b) > 0 && b ? b[0] : 0;   /* 0: empty, never accepted */
    }
    am->ready = 1;
    return THM_APP_OK;
}

int thm_app_load(thm_app_model *am, const uint8_t *base, uint64_t size, uint8_t *arena, size_t arena_bytes,
                 char *msg, size_t msg_cap)
{
    int err = thm_app_check(am, base, size, msg, msg_cap);
    return err ? err : thm_app_start(am, arena, arena_bytes, msg, msg_cap);
}

int thm_app_parse_request(const uint8_t *buf, size_t len, thm_app_request *req, thm_app_answer *ans)
{
    const char *why;
    int rc = thm_app_request_parse(buf, len, req, &why);
    if (rc != THM_APP_OK) thm_app_fail(ans, rc, why);
    return rc;
}

/* The decoder's model step, timed: each entry closes the previous step's count. */
typedef struct {
    thm_app_model *am;
    thm_app_answer *ans;
    uint64_t last;
} step_ctx;

static int timed_step(void *ctx, int32_t token, int32_t *logits)
{
    step_ctx *s = ctx;
    uint64_t now = thm_hal_counter_read();
    if (s->ans->n_steps) s->ans->step_ticks[s->ans->n_steps - 1] = now - s->last;
    if (s->ans->n_steps >= THM_APP_MAX_NEW) return -1;
    s->last = now;
    s->ans->n_steps++;
    return thm_model_decode_step(&s->am->model, token, logits, 0);
}

int thm_app_answer_prompt(thm_app_model *am, const thm_app_request *req, thm_app_answer *ans)
{
    /* static: 6 KiB+, too much for some stacks; one request at a time */
    static thm_tools tools;
    static int32_t scratch[THM_DECODE_BATCH];
    memset(ans, 0, offsetof(thm_app_answer, text));
    ans->counter_hz = counter_hz();
    if (!am || !am->ready) {
        thm_app_fail(ans, THM_APP_E_NO_MODEL, "no model installed");
        return THM_APP_E_NO_MODEL;
    }
    if ((int32_t)req->max_new_tokens > am->max_dec) {
        thm_app_fail(ans, THM_APP_E_REQUEST, "request: max_new_tokens exceeds what the image decodes");
        return THM_APP_E_REQUEST;
    }
    int err = thm_grammar_tools_init(&tools, req->tools_wire, req->tools_wire_len);
    if (err) {
        thm_app_fail(ans, THM_APP_E_REQUEST, thm_grammar_strerror(err));
        return THM_APP_E_REQUEST;
    }
    const thm_fmt_config *c = &am->img.config;
    int32_t *logits = (int32_t *)(void *)(am->arena + am->model_bytes);
    int32_t *ids = (int32_t *)(void *)(am->arena + am->model_bytes + ALIGN_UP((size_t)am->model.V * 4u));
    void *scr = am->arena;
    size_t scr_bytes = thm_app_tok_scratch_bytes();

    uint64_t a = thm_hal_counter_read();
    uint32_t nq = 0, nt = 0, cap = (uint32_t)am->max_enc - 2u;
    err = thm_tok_encode(&am->tok, req->query, req->query_len, scr, scr_bytes, ids, cap, &nq);
    if (!err) {
        uint32_t kept = nq > cap ? cap : nq;
        ids[kept] = (int32_t)c->tools_id;
        cap = (uint32_t)am->max_enc - kept - 1u;
        err = thm_tok_encode(&am->tok, req->tools_json, req->tools_json_len, scr, scr_bytes, ids + kept + 1, cap, &nt);
    }
    if (err) {
        thm_app_fail(ans, THM_APP_E_TOKENIZE, thm_tok_strerror(err));
        return THM_APP_E_TOKENIZE;
    }
    /* nq and nt count the whole texts' tokens (only what fits was written) */
    uint64_t whole = (uint64_t)nq + 1u + nt;
    /* the query alone may take at most max_enc - 2 (Needle's rule): past that it would be cut too */
    if (!(req->flags & THM_APP_REQ_TRUNCATE) && (whole > (uint64_t)am->max_enc || nq > (uint32_t)am->max_enc - 2u)) {
        thm_app_fail_prompt(ans, whole, (uint32_t)am->max_enc);
        return THM_APP_E_PROMPT;
    }
    if (nq > (uint32_t)am->max_enc - 2u) nq = (uint32_t)am->max_enc - 2u;
    if (nt > (uint32_t)am->max_enc - nq - 1u) nt = (uint32_t)am->max_enc - nq - 1u;
    uint32_t n = nq + 1u + nt;
    uint64_t b = thm_hal_counter_read();
    err = thm_model_encode(&am->model, ids, (int32_t)n);
    uint64_t e = thm_hal_counter_read();
    if (err) {
        thm_app_fail(ans, THM_APP_E_MODEL, thm_model_strerror(err));
        return THM_APP_E_MODEL;
    }

    thm_vocab vocab = {(int32_t)am->tok.piece_count, thm_app_piece, &am->tok, am->first};
    thm_decode_params p = {(int32_t)c->eos_id, (int32_t)c->eos_id, (int32_t)c->tool_call_id,
                           (int32_t)req->max_new_tokens};
    thm_decode_result res = {0, 0, 0};
    step_ctx sc = {am, ans, e};
    err = thm_decode_greedy(timed_step, &sc, logits, am->model.V, &vocab, &tools, &p, ans->tokens, scratch,
                            THM_DECODE_BATCH, &res);
    uint64_t end = thm_hal_counter_read();
    if (ans->n_steps) ans->step_ticks[ans->n_steps - 1] = end - sc.last;
    if (err) {
        thm_app_fail(ans, THM_APP_E_DECODE, thm_decode_strerror(err));
        return THM_APP_E_DECODE;
    }
    ans->status = THM_APP_OK;
    ans->prompt_tokens = n;
    ans->n_tokens = (uint32_t)res.n_tokens;
    ans->complete = (uint32_t)res.complete;
    ans->crc = thm_model_hidden_crc(&am->model);
    ans->tokenize_ticks = b - a;
    ans->prefill_ticks = e - b;
    /* the answer text: the generated tokens after <tool_call>, decoded as the simulator decodes them */
    uint32_t tl = 0;
    err = thm_tok_decode(&am->tok, ans->tokens + 1, ans->n_tokens - 1u, ans->text, THM_APP_MAX_TEXT, &tl);
    if (err) {
        thm_app_fail(ans, THM_APP_E_DECODE, thm_tok_strerror(err));
        return THM_APP_E_DECODE;
    }
    ans->text_len = tl;
    return THM_APP_OK;
}

static uint8_t *put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); return p + 2; }
static uint8_t *put32(uint8_t *p, uint32_t v) { return put16(put16(p, v & 0xFFFFu), v >> 16); }
static uint8_t *put64(uint8_t *p, uint64_t v) { return put32(put32(p, (uint32_t)v), (uint32_t)(v >> 32)); }

size_t thm_app_pack_answer(const thm_app_answer *ans, uint8_t *out, size_t cap)
{
    if (cap < THM_APP_MAX_ANSWER || ans->n_tokens > THM_APP_MAX_NEW || ans->n_steps > THM_APP_MAX_NEW ||
        ans->text_len > THM_APP_MAX_TEXT)
        return 0;
    memcpy(out + THM_APP_ANS_F_MAGIC, THM_APP_ANS_MAGIC, 4);
    put16(out + THM_APP_ANS_F_VERSION, THM_APP_ANS_VERSION);
    put16(out + THM_APP_ANS_F_N_STEPS, ans->n_steps);
    put32(out + THM_APP_ANS_F_STATUS, (uint32_t)ans->status);
    put32(out + THM_APP_ANS_F_PROMPT_TOKENS, ans->prompt_tokens);
    put32(out + THM_APP_ANS_F_N_TOKENS, ans->n_tokens);
    put32(out + THM_APP_ANS_F_COMPLETE, ans->complete);
    put32(out + THM_APP_ANS_F_CRC, ans->crc);
    put32(out + THM_APP_ANS_F_COUNTER_HZ, ans->counter_hz);
    put32(out + THM_APP_ANS_F_TEXT_LEN, ans->text_len);
    put64(out + THM_APP_ANS_F_TOKENIZE_TICKS, ans->tokenize_ticks);
    put64(out + THM_APP_ANS_F_PREFILL_TICKS, ans->prefill_ticks);
    uint8_t *p = out + THM_APP_ANS_HEADER;
    for (uint32_t i = 0; i < ans->n_tokens; i++) p = put32(p, (uint32_t)ans->tokens[i]);
    for (uint32_t i = 0; i < ans->n_steps; i++) p = put64(p, ans->step_ticks[i]);
    memcpy(p, ans->text, ans->text_len);
    return (size_t)(p - out) + ans->text_len;
}
