/* The tool-call grammar, byte by byte: a line-for-line mirror of
 * runtime/thimble/sim/grammar.py (ToolGrammar._step), with the Python tuple
 * frames as 4-byte structs. Where the Python frame carries a name or key
 * prefix, the C state keeps (entry, length) into the tool table instead. */
#include <string.h>
#include "thm_grammar.h"

enum { K_OPEN = 1, K_LIT, K_CALLS, K_NAME, K_ARGS, K_KEY, K_VALUE, K_STR, K_NUM, K_OBJ, K_ARR };
enum { P_FIRST = 0, P_NEXT, P_AFTER };                  /* calls, args, arr (P_NEXT = "elem") */
enum { O_FIRST = 0, O_KEY, O_COLON, O_AFTER };          /* obj */
enum { N_SIGN = 0, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP, N_NONE };
enum { L_NAME = 0, L_CLOSE, L_ARGS, L_COLON, L_TRUE, L_FALSE, L_NULL };

/* frame "lit": the bytes still expected, by id (Python keeps the rest as bytes) */
static const char *const LITS[] = { "\"name\":\"", "}", ",\"arguments\":{", ":", "rue", "alse", "ull" };
static const uint8_t LIT_LEN[] = { 8, 1, 14, 1, 3, 4, 3 };

static const uint8_t *str_at(const thm_tools *t, thm_tools_str s) { return t->bytes + s.off; }

/* ---- the tool table -------------------------------------------------- */

/* 1 if s[0..n) can stand between the quotes of a JSON string (RFC 8259). */
static int json_content_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x20 || c == '"') return 0;
        if (c == '\\') {
            if (i + 1 >= n) return 0;
            uint8_t e = s[i + 1];
            if (e == 'u') {
                if (i + 6 > n) return 0;
                for (size_t k = i + 2; k < i + 6; k++) {
                    uint8_t h = s[k];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return 0;
                }
                i += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
                i += 2;
            } else {
                return 0;
            }
            continue;
        }
        if (c < 0x80) { i++; continue; }
        /* strict UTF-8: no overlongs, no surrogates, nothing past U+10FFFF */
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else return 0;
        if (i + len > n) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t k = i + 2; k < i + len; k++)
            if (s[k] < 0x80 || s[k] > 0xBF) return 0;
        i += len;
    }
    return 1;
}

static int same(const thm_tools *t, thm_tools_str a, thm_tools_str b)
{
    return a.len == b.len && memcmp(str_at(t, a), str_at(t, b), a.len) == 0;
}

/* Read one length-prefixed string at *pos; checks it lies inside the wire. */
static int take_str(thm_tools *t, size_t size, size_t *pos, thm_tools_str *out)
{
    if (*pos + 1 > size) return THM_GRAMMAR_E_SIZE;
    size_t len = t->bytes[*pos];
    if (len == 0) return THM_GRAMMAR_E_NAME;
    if (*pos + 1 + len > size) return THM_GRAMMAR_E_SIZE;
    out->off = (uint16_t)(*pos + 1);
    out->len = (uint8_t)len;
    if (!json_content_ok(t->bytes + out->off, len)) return THM_GRAMMAR_E_NAME;
    *pos += 1 + len;
    return THM_GRAMMAR_OK;
}

int thm_grammar_tools_init(thm_tools *t, const uint8_t *wire, size_t wire_len)
{
    if (!t || !wire) return THM_GRAMMAR_E_ARG;
    memset(t, 0, sizeof *t);
    if (wire_len < THM_TOOLS_HEADER) return THM_GRAMMAR_E_SIZE;
    if (memcmp(wire, THM_TOOLS_MAGIC, 4) != 0 || wire[4] != THM_TOOLS_VERSION) return THM_GRAMMAR_E_MAGIC;
    size_t size = (size_t)wire[6] | ((size_t)wire[7] << 8);
    if (size != wire_len || size > THM_TOOLS_MAX_WIRE) return THM_GRAMMAR_E_SIZE;
    uint32_t n_tools = wire[5];
    if (n_tools == 0 || n_tools > THM_TOOLS_MAX_TOOLS) return THM_GRAMMAR_E_COUNT;
    memcpy(t->bytes, wire, size);

    size_t pos = THM_TOOLS_HEADER;
    uint32_t n_keys = 0;
    for (uint32_t i = 0; i < n_tools; i++) {
        thm_tools_entry *e = &t->tools[i];
        int rc = take_str(t, size, &pos, &e->name);
        if (rc) return rc;
        for (uint32_t j = 0; j < i; j++)
            if (same(t, t->tools[j].name, e->name)) return THM_GRAMMAR_E_DUP;
        if (pos + 1 > size) return THM_GRAMMAR_E_SIZE;
        uint32_t nk = t->bytes[pos++];
        if (nk > THM_TOOLS_MAX_KEYS || n_keys + nk > THM_TOOLS_MAX_KEYS_TOTAL) return THM_GRAMMAR_E_COUNT;
        e->key0 = (uint16_t)n_keys;
        e->n_keys = (uint8_t)nk;
        for (uint32_t k = 0; k < nk; k++) {
            rc = take_str(t, size, &pos, &t->keys[n_keys + k]);
            if (rc) return rc;
            for (uint32_t j = 0; j < k; j++)
                if (same(t, t->keys[n_keys + j], t->keys[n_keys + k])) return THM_GRAMMAR_E_DUP;
        }
        n_keys += nk;
    }
    if (pos != size) return THM_GRAMMAR_E_SIZE;     /* trailing bytes */
    t->n_tools = n_tools;
    t->n_keys = n_keys;
    return THM_GRAMMAR_OK;
}

/* ---- the automaton --------------------------------------------------- */

void thm_grammar_start(thm_grammar_state *st)
{
    memset(st, 0, sizeof *st);
    st->n = 1;
    st->f[0].kind = K_OPEN;
}

int thm_grammar_done(const thm_grammar_state *st) { return st->n == 0; }

static int push(thm_grammar_state *st, uint8_t kind, uint8_t phase, uint8_t a)
{
    if (st->n >= THM_GRAMMAR_MAX_FRAMES) return THM_GRAMMAR_E_STATE;   /* unreachable: depth is bounded */
    thm_grammar_frame *f = &st->f[st->n++];
    f->kind = kind;
    f->phase = phase;
    f->a = a;
    f->b = 0;
    return THM_GRAMMAR_OK;
}

static uint32_t popcount32(uint32_t x)
{
    uint32_t c = 0;
    for (; x; x &= x - 1) c++;
    return c;
}

/* Candidate i of a NAME frame (all names) or a KEY frame (the tool's keys). */
static thm_tools_str cand_at(const thm_tools *t, int key, uint32_t tool, uint32_t i)
{
    return key ? t->keys[t->tools[tool].key0 + i] : t->tools[i].name;
}

/* Extend the prefix (st->pfx_entry, st->pfx_len) by byte b: 1 if some
 * candidate (a name, or a key not yet used) starts with prefix + b. */
static int extend_prefix(const thm_tools *t, thm_grammar_state *st, int key, uint8_t b)
{
    uint32_t n = key ? t->tools[st->tool].n_keys : t->n_tools;
    const uint8_t *pfx = st->pfx_len ? str_at(t, cand_at(t, key, st->tool, st->pfx_entry)) : NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (key && (st->used >> i & 1u)) continue;
        thm_tools_str s = cand_at(t, key, st->tool, i);
        if (s.len <= st->pfx_len) continue;
        const uint8_t *p = str_at(t, s);
        if (p[st->pfx_len] != b) continue;
        if (st->pfx_len && memcmp(p, pfx, st->pfx_len) != 0) continue;
        st->pfx_entry = (uint16_t)i;
        st->pfx_len++;
        return 1;
    }
    return 0;
}

/* The index of the candidate equal to the whole prefix, or -1. */
static int32_t match_prefix(const thm_tools *t, const thm_grammar_state *st, int key)
{
    uint32_t n = key ? t->tools[st->tool].n_keys : t->n_tools;
    if (st->pfx_len == 0) return -1;                  /* names and keys are never empty */
    const uint8_t *pfx = str_at(t, cand_at(t, key, st->tool, st->pfx_entry));
    for (uint32_t i = 0; i < n; i++) {
        if (key && (st->used >> i & 1u)) continue;
        thm_tools_str s = cand_at(t, key, st->tool, i);
        if (s.len == st->pfx_len && memcmp(str_at(t, s), pfx, s.len) == 0) return (int32_t)i;
    }
    return -1;
}

/* 1 if the prefix typed so far ends in an unpaired backslash (grammar._escaped):
 * then a '"' is part of the escaped name, not its end. */
static int prefix_escaped(const thm_tools *t, const thm_grammar_state *st, int key)
{
    if (st->pfx_len == 0) return 0;
    const uint8_t *p = str_at(t, cand_at(t, key, st->tool, st->pfx_entry));
    uint32_t n = 0;
    while (n < st->pfx_len && p[st->pfx_len - 1 - n] == '\\') n++;
    return (int)(n & 1u);
}

static int is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Inside a JSON string (grammar._string_step): f->a = UTF-8 continuation
 * bytes pending; f->b = the first continuation byte's narrower range after
 * the lead bytes E0, ED, F0, F4 (grammar._FIRST_CONTINUATION), 0 = 80-BF;
 * f->phase = 0 plain, 1 after '\', 2..5 after "\u" and 0..3 hex digits.
 * Returns 1 to stay, 0 to close the string, -1 to reject. */
static const uint8_t FIRST_LO[] = { 0x80, 0xA0, 0x80, 0x90, 0x80 };
static const uint8_t FIRST_HI[] = { 0xBF, 0xBF, 0x9F, 0xBF, 0x8F };

static int string_step(thm_grammar_frame *f, uint8_t b)
{
    if (f->a) {
        uint8_t r = f->b < sizeof FIRST_LO ? f->b : 0;
        if (b < FIRST_LO[r] || b > FIRST_HI[r]) return -1;
        f->b = 0;
        f->a--;
        return 1;
    }
    if (f->phase == 1) {
        if (b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' || b == 'r' || b == 't') {
            f->phase = 0;
            return 1;
        }
        if (b == 'u') { f->phase = 2; return 1; }
        return -1;
    }
    if (f->phase >= 2) {
        if (!is_hex(b)) return -1;
        f->phase = f->phase == 5 ? 0 : (uint8_t)(f->phase + 1);
        return 1;
    }
    if (b == '"') return 0;
    if (b == '\\') { f->phase = 1; return 1; }
    if (b < 0x20 || b == 0x7F) return -1;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) { f->a = 1; return 1; }
    if (b >= 0xE0 && b <= 0xEF) { f->a = 2; f->b = b == 0xE0 ? 1 : b == 0xED ? 2 : 0; return 1; }
    if (b >= 0xF0 && b <= 0xF4) { f->a = 3; f->b = b == 0xF0 ? 3 : b == 0xF4 ? 4 : 0; return 1; }
    return -1;
}

/* JSON number DFA (grammar._NUMBER): next state, or N_NONE. */
static uint8_t number_step(uint8_t s, uint8_t b)
{
    int zero = b == '0', digit = b >= '1' && b <= '9', e = b == 'e' || b == 'E';
    switch (s) {
    case N_SIGN: return zero ? N_ZERO : digit ? N_INT : N_NONE;
    case N_ZERO: return b == '.' ? N_DOT : e ? N_E : N_NONE;
    case N_INT: return (zero || digit) ? N_INT : b == '.' ? N_DOT : e ? N_E : N_NONE;
    case N_DOT: return (zero || digit) ? N_FRAC : N_NONE;
    case N_FRAC: return (zero || digit) ? N_FRAC : e ? N_E : N_NONE;
    case N_E: return (b == '+' || b == '-') ? N_ESIGN : (zero || digit) ? N_EXP : N_NONE;
    case N_ESIGN: return (zero || digit) ? N_EXP : N_NONE;
    case N_EXP: return (zero || digit) ? N_EXP : N_NONE;
    default: return N_NONE;
    }
}

static int number_can_end(uint8_t s) { return s == N_ZERO || s == N_INT || s == N_FRAC || s == N_EXP; }

#define REJECT THM_GRAMMAR_REJECT
#define PUSH(k, p, a) do { int rc_ = push(st, (k), (p), (a)); if (rc_) return rc_; } while (0)

static int step(const thm_tools *t, thm_grammar_state *st, uint8_t b)
{
    while (st->n) {
        thm_grammar_frame *top = &st->f[st->n - 1];
        switch (top->kind) {
        case K_OPEN:
            if (b == 0x20 && top->phase == 0) { top->phase = 1; return THM_GRAMMAR_OK; }
            if (b != '[') return REJECT;
            top->kind = K_CALLS;
            top->phase = P_FIRST;
            return THM_GRAMMAR_OK;
        case K_LIT:
            if (top->a > L_NULL || top->b >= LIT_LEN[top->a]) return THM_GRAMMAR_E_STATE;
            if (b != (uint8_t)LITS[top->a][top->b]) return REJECT;
            if (++top->b == LIT_LEN[top->a]) st->n--;
            return THM_GRAMMAR_OK;
        case K_CALLS:
            if ((top->phase == P_FIRST || top->phase == P_NEXT) && b == '{') {
                top->phase = P_AFTER;
                st->pfx_entry = 0;
                st->pfx_len = 0;
                PUSH(K_NAME, 0, 0);
                PUSH(K_LIT, 0, L_NAME);
                return THM_GRAMMAR_OK;
            }
            if ((top->phase == P_FIRST || top->phase == P_AFTER) && b == ']') { st->n--; return THM_GRAMMAR_OK; }
            if (top->phase == P_AFTER && b == ',') { top->phase = P_NEXT; return THM_GRAMMAR_OK; }
            return REJECT;
        case K_NAME: {
            if (b == '"' && !prefix_escaped(t, st, 0)) {
                int32_t i = match_prefix(t, st, 0);
                if (i < 0) return REJECT;
                st->n--;
                st->tool = (uint16_t)i;
                st->used = 0;
                PUSH(K_LIT, 0, L_CLOSE);
                PUSH(K_ARGS, P_FIRST, 0);
                PUSH(K_LIT, 0, L_ARGS);
                return THM_GRAMMAR_OK;
            }
            return extend_prefix(t, st, 0, b) ? THM_GRAMMAR_OK : REJECT;
        }
        case K_ARGS: {
            int any_free = popcount32(st->used) < t->tools[st->tool].n_keys;
            if ((top->phase == P_FIRST || top->phase == P_NEXT) && b == '"') {
                if (!any_free) return REJECT;
                top->phase = P_AFTER;
                st->pfx_entry = 0;
                st->pfx_len = 0;
                PUSH(K_KEY, 0, 0);
                return THM_GRAMMAR_OK;
            }
            if ((top->phase == P_FIRST || top->phase == P_AFTER) && b == '}') { st->n--; return THM_GRAMMAR_OK; }
            if (top->phase == P_AFTER && b == ',' && any_free) { top->phase = P_NEXT; return THM_GRAMMAR_OK; }
            return REJECT;
        }
        case K_KEY:
            if (b == '"' && !prefix_escaped(t, st, 1)) {
                int32_t i = match_prefix(t, st, 1);
                if (i < 0) return REJECT;
                st->n--;                              /* back to the args frame, already "after" */
                st->used |= 1u << i;
                PUSH(K_VALUE, 0, 0);
                PUSH(K_LIT, 0, L_COLON);
                return THM_GRAMMAR_OK;
            }
            return extend_prefix(t, st, 1, b) ? THM_GRAMMAR_OK : REJECT;
        case K_VALUE: {
            uint8_t depth = top->a;
            top->phase = 0;
            top->b = 0;
            if (b == '"') { top->kind = K_STR; top->a = 0; }
            else if (b == '{' || b == '[') {
                if (depth >= THM_GRAMMAR_MAX_DEPTH) return REJECT;
                top->kind = b == '{' ? K_OBJ : K_ARR;
                top->a = (uint8_t)(depth + 1);
            }
            else if (b == '-') { top->kind = K_NUM; top->phase = N_SIGN; }
            else if (b == '0') { top->kind = K_NUM; top->phase = N_ZERO; }
            else if (b >= '1' && b <= '9') { top->kind = K_NUM; top->phase = N_INT; }
            else if (b == 't' || b == 'f' || b == 'n') {
                top->kind = K_LIT;
                top->a = b == 't' ? L_TRUE : b == 'f' ? L_FALSE : L_NULL;
            }
            else return REJECT;
            return THM_GRAMMAR_OK;
        }
        case K_STR: {
            int r = string_step(top, b);
            if (r < 0) return REJECT;
            if (r == 0) st->n--;
            return THM_GRAMMAR_OK;
        }
        case K_NUM: {
            uint8_t nx = number_step(top->phase, b);
            if (nx != N_NONE) { top->phase = nx; return THM_GRAMMAR_OK; }
            if (!number_can_end(top->phase)) return REJECT;
            st->n--;                                  /* the number ended: b belongs to what follows */
            continue;
        }
        case K_OBJ:
            if ((top->phase == O_FIRST || top->phase == O_KEY) && b == '"') {
                top->phase = O_COLON;
                PUSH(K_STR, 0, 0);
                return THM_GRAMMAR_OK;
            }
            if (top->phase == O_COLON && b == ':') {
                top->phase = O_AFTER;
                PUSH(K_VALUE, 0, top->a);
                return THM_GRAMMAR_OK;
            }
            if ((top->phase == O_FIRST || top->phase == O_AFTER) && b == '}') { st->n--; return THM_GRAMMAR_OK; }
            if (top->phase == O_AFTER && b == ',') { top->phase = O_KEY; return THM_GRAMMAR_OK; }
            return REJECT;
        case K_ARR:
            if ((top->phase == P_FIRST || top->phase == P_AFTER) && b == ']') { st->n--; return THM_GRAMMAR_OK; }
            if (top->phase == P_AFTER && b == ',') { top->phase = P_NEXT; return THM_GRAMMAR_OK; }
            if (top->phase == P_FIRST || top->phase == P_NEXT) {
                top->phase = P_AFTER;
                PUSH(K_VALUE, 0, top->a);
                continue;                             /* the byte starts the element */
            }
            return REJECT;
        default:
            return THM_GRAMMAR_E_STATE;
        }
    }
    return REJECT;                                    /* the answer is complete: nothing may follow */
}

/* A state that would make step() read outside the table is refused. */
static int state_ok(const thm_tools *t, const thm_grammar_state *st)
{
    if (st->n > THM_GRAMMAR_MAX_FRAMES || t->n_tools == 0 || t->n_tools > THM_TOOLS_MAX_TOOLS) return 0;
    if (st->tool >= t->n_tools || st->pfx_len > 255) return 0;
    uint32_t limit = t->n_tools > t->tools[st->tool].n_keys ? t->n_tools : t->tools[st->tool].n_keys;
    return st->pfx_entry < limit;
}

int thm_grammar_feed(const thm_tools *t, thm_grammar_state *st, const uint8_t *bytes, size_t n)
{
    if (!t || !st || (!bytes && n)) return THM_GRAMMAR_E_ARG;
    if (!state_ok(t, st)) return THM_GRAMMAR_E_STATE;
    for (size_t i = 0; i < n; i++) {
        int rc = step(t, st, bytes[i]);
        if (rc) return rc;
    }
    return THM_GRAMMAR_OK;
}

const char *thm_grammar_strerror(int err)
{
    switch (err) {
    case THM_GRAMMAR_OK: return "ok";
    case THM_GRAMMAR_REJECT: return "the bytes cannot continue a valid answer";
    case THM_GRAMMAR_E_ARG: return "NULL pointer or bad size";
    case THM_GRAMMAR_E_MAGIC: return "tools: not a THTL wire form of version 1";
    case THM_GRAMMAR_E_SIZE: return "tools: size field, truncation or trailing bytes";
    case THM_GRAMMAR_E_COUNT: return "tools: no tools, or more tools or keys than the bounds";
    case THM_GRAMMAR_E_NAME: return "tools: empty name or key, or bytes that cannot sit between JSON quotes";
    case THM_GRAMMAR_E_DUP: return "tools: repeated name, or repeated key in one tool";
    case THM_GRAMMAR_E_STATE: return "grammar state corrupt or from another tool table";
    default: return "unknown error";
    }
}
