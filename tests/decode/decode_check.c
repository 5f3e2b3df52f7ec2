/* Test harness for the C grammar and decoder, built by tests/decode/ with
 * AddressSanitizer and UBSan. Reads commands from stdin, one per line, and
 * answers each with one line on stdout:
 *   T <hex wire>      set the tool table        -> "T <rc>"
 *   A <hex bytes>     feed byte by byte         -> "A <trace> <max frames> <rc of one whole-string feed>"
 *                     trace: per byte 'o' (open), 'd' (done), then 'x' at the first rejected byte
 *   V <n> <piece>...  set the vocabulary; piece: hex bytes, or '-' for none
 *   D <start> <eos> <tool_call> <max_new> <scratch_n> <rows> <V>, then <rows> lines of V logits
 *                     -> "D <rc> <complete> <steps> | <tokens> | <fed ids>"
 * The vocabulary is laid out in exact-size heap blocks, so that ASan catches
 * a read one byte past any piece table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "thm_decode.h"

#define LINE_MAX_BYTES (1u << 22)
static char line[LINE_MAX_BYTES];
static thm_tools tools;

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (s[0] && s[1] && s[0] != ' ' && s[0] != '\n' && n < cap) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) break;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static void cmd_accept(const char *hex)
{
    static uint8_t buf[LINE_MAX_BYTES / 2];
    size_t n = unhex(hex, buf, sizeof buf);
    thm_grammar_state st;
    thm_grammar_start(&st);
    unsigned max_frames = st.n;
    fputs("A ", stdout);
    for (size_t i = 0; i < n; i++) {
        int rc = thm_grammar_feed(&tools, &st, buf + i, 1);
        if (rc == THM_GRAMMAR_REJECT) { putchar('x'); break; }
        if (rc) { printf("E%d", rc); break; }
        if (st.n > max_frames) max_frames = st.n;
        putchar(thm_grammar_done(&st) ? 'd' : 'o');
    }
    thm_grammar_state whole;
    thm_grammar_start(&whole);
    int rc = thm_grammar_feed(&tools, &whole, buf, n);
    printf(" %u %d\n", max_frames, rc);
}

/* the vocabulary, in exact-size heap blocks */
static thm_vocab_table vt;
static uint32_t *v_offsets;
static uint8_t *v_bytes;

static void cmd_vocab(char *s)
{
    free(v_offsets);
    free(v_bytes);
    int n = (int)strtol(s, &s, 10);
    v_offsets = malloc(sizeof(uint32_t) * (size_t)(n + 1));
    static uint8_t tmp[LINE_MAX_BYTES / 2];
    uint32_t total = 0;
    v_offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        while (*s == ' ') s++;
        if (*s == '-') { s++; }
        else {
            size_t k = unhex(s, tmp + total, sizeof tmp - total);
            total += (uint32_t)k;
            s += 2 * k;
        }
        v_offsets[i + 1] = total;
    }
    v_bytes = malloc(total ? total : 1);
    memcpy(v_bytes, tmp, total);
    vt.n = n;
    vt.offsets = v_offsets;
    vt.bytes = v_bytes;
    vt.bytes_len = total;
}

typedef struct {
    int32_t *rows;               /* [n_rows, V] */
    int32_t n_rows, V, calls;
    int32_t fed[4096];
} step_ctx;

static int step(void *ctx, int32_t token, int32_t *logits)
{
    step_ctx *c = ctx;
    if (c->calls >= c->n_rows || c->calls >= 4096) return 1;
    c->fed[c->calls] = token;
    memcpy(logits, c->rows + (size_t)c->calls * (size_t)c->V, sizeof(int32_t) * (size_t)c->V);
    c->calls++;
    return 0;
}

static void cmd_decode(const char *s)
{
    thm_decode_params pr;
    int scratch_n, rows, V;
    if (sscanf(s, "%d %d %d %d %d %d %d", &pr.start_id, &pr.eos_id, &pr.tool_call_id, &pr.max_new_tokens,
               &scratch_n, &rows, &V) != 7) { puts("D bad command"); return; }
    step_ctx c = { malloc(sizeof(int32_t) * (size_t)rows * (size_t)V), rows, V, 0, {0} };
    for (int r = 0; r < rows; r++) {
        if (!fgets(line, sizeof line, stdin)) { puts("D short input"); return; }
        char *p = line;
        for (int i = 0; i < V; i++) c.rows[(size_t)r * (size_t)V + (size_t)i] = (int32_t)strtol(p, &p, 10);
    }
    int32_t *logits = malloc(sizeof(int32_t) * (size_t)V);
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)(pr.max_new_tokens > 0 ? pr.max_new_tokens : 1));
    int32_t *scratch = malloc(sizeof(int32_t) * (size_t)scratch_n);
    thm_vocab vocab = { vt.n, thm_vocab_table_piece, &vt, NULL };
    thm_decode_result res;
    int rc = thm_decode_greedy(step, &c, logits, V, &vocab, &tools, &pr, tokens, scratch, scratch_n, &res);
    /* again with the first-byte table the device app builds: the same answer, step for step */
    uint8_t *first = malloc((size_t)(vt.n > 0 ? vt.n : 1));
    for (int32_t id = 0; id < vt.n; id++) {
        const uint8_t *b = NULL;
        first[id] = thm_vocab_table_piece(&vt, id, &b) > 0 && b ? b[0] : 0;
    }
    thm_vocab fast = { vt.n, thm_vocab_table_piece, &vt, first };
    int32_t *tokens2 = malloc(sizeof(int32_t) * (size_t)(pr.max_new_tokens > 0 ? pr.max_new_tokens : 1));
    int calls = c.calls;
    int32_t fed[4096];
    memcpy(fed, c.fed, sizeof(int32_t) * (size_t)calls);
    c.calls = 0;
    thm_decode_result res2;
    int rc2 = thm_decode_greedy(step, &c, logits, V, &fast, &tools, &pr, tokens2, scratch, scratch_n, &res2);
    if (rc2 != rc || res2.complete != res.complete || res2.steps != res.steps || res2.n_tokens != res.n_tokens
        || c.calls != calls || memcmp(tokens2, tokens, sizeof(int32_t) * (size_t)(res.n_tokens > 0 ? res.n_tokens : 0))
        || memcmp(fed, c.fed, sizeof(int32_t) * (size_t)calls)) {
        puts("D the first-byte table changed the answer");
        free(first); free(tokens2); free(c.rows); free(logits); free(tokens); free(scratch);
        return;
    }
    free(first);
    free(tokens2);
    printf("D %d %d %d |", rc, res.complete, res.steps);
    for (int i = 0; i < res.n_tokens; i++) printf(" %d", tokens[i]);
    printf(" |");
    for (int i = 0; i < c.calls; i++) printf(" %d", c.fed[i]);
    putchar('\n');
    free(c.rows);
    free(logits);
    free(tokens);
    free(scratch);
}

int main(void)
{
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'T') {
            static uint8_t wire[LINE_MAX_BYTES / 2];
            size_t n = unhex(line + 2, wire, sizeof wire);
            /* exact-size copy: a read past the wire form trips ASan */
            uint8_t *w = malloc(n ? n : 1);
            memcpy(w, wire, n);
            printf("T %d\n", thm_grammar_tools_init(&tools, w, n));
            free(w);
        } else if (line[0] == 'A') {
            cmd_accept(line + 2);
        } else if (line[0] == 'V') {
            cmd_vocab(line + 2);
        } else if (line[0] == 'D') {
            cmd_decode(line + 2);
        }
        fflush(stdout);
    }
    free(v_offsets);
    free(v_bytes);
    return 0;
}
