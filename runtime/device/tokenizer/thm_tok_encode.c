/* The encoder: normalise, split into characters, BPE merges through a binary
 * heap, then ids with byte fallback. Mirrors runtime/thimble/tokenizer/bpe.py
 * step for step. Everything lives in the caller's scratch:
 *   norm   uint8  x (3 * len + 3)   normalised text (a byte becomes at most 3)
 *   sym    thm_sym x (len + 1)      one symbol per character, plus the dummy prefix
 *   frozen uint8  x (len + 1)       user-defined symbols are never merged
 *   heap   thm_pair x 3 * (len + 1) every merge queues at most 2 new pairs
 * One symbol per input byte at most: each raw byte becomes at most one
 * character (U+2581 for a space, U+FFFD for a malformed byte) and
 * thm_tok_open refuses pieces that are not whole characters, so a
 * user-defined piece never splits one. The normaliser, the split and the heap still check
 * their bounds: a payload that breaks the rule fails, it never writes past
 * the scratch. */
#include <string.h>
#include "thm_tok_internal.h"

typedef struct { uint32_t start, len; int32_t prev, next; } thm_sym;
typedef struct { uint32_t rank; int32_t left; uint32_t size; } thm_pair;

static const uint8_t WS[3] = {0xE2, 0x96, 0x81};   /* U+2581, the whitespace marker */
static const uint8_t FFFD[3] = {0xEF, 0xBF, 0xBD};  /* stands for one malformed byte */

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

size_t thm_tok_encode_scratch_size(uint32_t max_text_bytes)
{
    if (max_text_bytes > THM_TOK_MAX_TEXT) return 0;
    size_t n = (size_t)max_text_bytes + 1;
    return 8 + align8(3 * n) + align8(n * sizeof(thm_sym)) + align8(n) + align8(3 * n * sizeof(thm_pair));
}

/* Longest user-defined symbol at s (n bytes left), 0 if none. */
static uint32_t user_match(const thm_tokenizer *t, const uint8_t *s, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t k = 0; k < t->user_count; k++) {
        thm_tok_piece p = thm_tok_get(t, thm_tok_rd32(t->base + t->user_off + 4u * k));
        if (p.len <= n && p.len > best && memcmp(p.text, s, p.len) == 0) best = p.len;
    }
    return best;
}

/* Next unit of raw text: (*unit, *unit_len) is its normalised form, returns bytes consumed. */
static uint32_t norm_prefix(const thm_tokenizer *t, const uint8_t *s, uint32_t n,
                            const uint8_t **unit, uint32_t *unit_len)
{
    uint32_t m = user_match(t, s, n);
    if (!m) m = thm_tok_utf8_len(s, n);
    if (!m) { *unit = FFFD; *unit_len = 3; return 1; }
    *unit = s; *unit_len = m;
    return m;
}

/* Writes at most out_cap bytes; *fit = 0 (and the text is cut) when the
 * normalised text would not fit. By the scratch's layout it always fits (a
 * unit comes from the input, and an input byte becomes at most 3 bytes), but
 * the bound is checked here rather than trusted to that argument. */
static uint32_t normalize(const thm_tokenizer *t, const uint8_t *s, uint32_t n, uint8_t *out, size_t out_cap,
                          int *fit)
{
    int rew = (t->flags & THM_TOK_FLAG_REMOVE_EXTRA_WHITESPACES) != 0;
    uint32_t pos = 0, o = 0;
    const uint8_t *unit;
    uint32_t ulen;
    if (rew) {
        while (pos < n) {
            uint32_t c = norm_prefix(t, s + pos, n - pos, &unit, &ulen);
            if (!(ulen == 1 && unit[0] == ' ')) break;
            pos += c;
        }
    }
    *fit = 1;
    if (pos == n) return 0;
    if (out_cap < 3) { *fit = 0; return 0; }
    if (t->flags & THM_TOK_FLAG_ADD_DUMMY_PREFIX) { memcpy(out, WS, 3); o = 3; }
    int prev_space = rew;
    while (pos < n) {
        pos += norm_prefix(t, s + pos, n - pos, &unit, &ulen);
        if (prev_space) while (ulen && unit[0] == ' ') { unit++; ulen--; }
        if (ulen) {
            for (uint32_t k = 0; k < ulen; k++) {
                if (out_cap - o < (unit[k] == ' ' ? 3u : 1u)) { *fit = 0; return o; }
                if (unit[k] == ' ') { memcpy(out + o, WS, 3); o += 3; }
                else out[o++] = unit[k];
            }
            prev_space = unit[ulen - 1] == ' ';
        }
        if (!rew) prev_space = 0;
    }
    if (rew)
        while (o >= 3 && memcmp(out + o - 3, WS, 3) == 0) o -= 3;
    return o;
}

/* heap order: higher rank first, then the leftmost pair */
static int before(const thm_pair *a, const thm_pair *b)
{
    return a->rank > b->rank || (a->rank == b->rank && a->left < b->left);
}

static int heap_push(thm_pair *h, uint32_t *n, uint32_t cap, thm_pair x)
{
    if (*n >= cap) return 0;
    uint32_t i = (*n)++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!before(&x, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
    return 1;
}

static thm_pair heap_pop(thm_pair *h, uint32_t *n)
{
    thm_pair top = h[0], x = h[--(*n)];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && before(&h[c + 1], &h[c])) c++;
        if (!before(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = x;
    return top;
}

/* The mergeable piece with this text (NORMAL or USER_DEFINED), or -1. */
static int32_t mergeable(const thm_tokenizer *t, const uint8_t *s, uint32_t len)
{
    if (len > THM_TOK_MAX_PIECE_BYTES) return -1;
    int32_t id = thm_tok_lookup(t, s, len);
    if (id < 0) return -1;
    uint32_t type = thm_tok_get(t, (uint32_t)id).type;
    return type == THM_TOK_PIECE_NORMAL || type == THM_TOK_PIECE_USER_DEFINED ? id : -1;
}

/* 0 when the heap is full (a payload that breaks thm_tok_open's rules). */
static int try_pair(const thm_tokenizer *t, const uint8_t *norm, const thm_sym *sym, const uint8_t *frozen,
                    thm_pair *heap, uint32_t *n_heap, uint32_t heap_cap, int32_t left, int32_t right)
{
    if (left < 0 || right < 0 || frozen[left] || frozen[right]) return 1;
    uint32_t size = sym[left].len + sym[right].len;
    int32_t id = mergeable(t, norm + sym[left].start, size);
    if (id < 0) return 1;
    thm_pair p = {thm_tok_get(t, (uint32_t)id).rank, left, size};
    return heap_push(heap, n_heap, heap_cap, p);
}

static void emit(int32_t *ids, uint32_t cap, uint32_t *n, int32_t id)
{
    if (*n < cap) ids[*n] = id;
    (*n)++;
}

int thm_tok_encode(const thm_tokenizer *t, const uint8_t *text, uint32_t text_len,
                   void *scratch, size_t scratch_size,
                   int32_t *ids, uint32_t ids_cap, uint32_t *n_ids)
{
    if (!t || !t->base || !n_ids || (!text && text_len) || (!ids && ids_cap)) return THM_TOK_E_ARG;
    *n_ids = 0;
    if (text_len > THM_TOK_MAX_TEXT) return THM_TOK_E_TOO_LONG;
    size_t need = thm_tok_encode_scratch_size(text_len);
    if (!scratch || scratch_size < need) return THM_TOK_E_SCRATCH;
    size_t cap = (size_t)text_len + 1;
    uint8_t *p = (uint8_t *)(((uintptr_t)scratch + 7) & ~(uintptr_t)7);
    uint8_t *norm = p;                 p += align8(3 * cap);
    thm_sym *sym = (thm_sym *)p;       p += align8(cap * sizeof(thm_sym));
    uint8_t *frozen = p;               p += align8(cap);
    thm_pair *heap = (thm_pair *)p;
    if (text_len == 0) return THM_TOK_OK;

    int fit = 1;
    uint32_t n_norm = normalize(t, text, text_len, norm, 3 * cap, &fit);
    if (!fit) return THM_TOK_E_SCRATCH;
    /* split: a user-defined symbol, or one character as its lead byte announces */
    uint32_t count = 0;
    for (uint32_t pos = 0; pos < n_norm; count++) {
        if (count >= cap) return THM_TOK_E_SCRATCH;
        uint32_t m = user_match(t, norm + pos, n_norm - pos);
        frozen[count] = m > 0;
        if (!m) {
            uint8_t b = norm[pos];
            m = b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
            if (m > n_norm - pos) m = n_norm - pos;
        }
        sym[count].start = pos;
        sym[count].len = m;
        sym[count].prev = (int32_t)count - 1;
        sym[count].next = (int32_t)count + 1;
        pos += m;
    }
    if (count == 0) return THM_TOK_OK;
    sym[count - 1].next = -1;

    uint32_t n_heap = 0, heap_cap = (uint32_t)(3 * cap);
    for (uint32_t k = 1; k < count; k++)
        if (!try_pair(t, norm, sym, frozen, heap, &n_heap, heap_cap, (int32_t)k - 1, (int32_t)k))
            return THM_TOK_E_SCRATCH;
    while (n_heap) {
        thm_pair top = heap_pop(heap, &n_heap);
        int32_t l = top.left, r = sym[l].next;
        /* stale unless both sides are alive and unchanged since it was queued */
        if (sym[l].len == 0 || r < 0 || sym[l].len + sym[r].len != top.size) continue;
        sym[l].len = top.size;
        sym[r].len = 0;
        sym[l].next = sym[r].next;
        if (sym[r].next >= 0) sym[sym[r].next].prev = l;
        if (!try_pair(t, norm, sym, frozen, heap, &n_heap, heap_cap, sym[l].prev, l) ||
            !try_pair(t, norm, sym, frozen, heap, &n_heap, heap_cap, l, sym[l].next))
            return THM_TOK_E_SCRATCH;
    }

    int fallback = (t->flags & THM_TOK_FLAG_BYTE_FALLBACK) != 0, prev_unk = 0;
    uint32_t n = 0;
    for (int32_t k = 0; k >= 0; k = sym[k].next) {
        const uint8_t *s = norm + sym[k].start;
        int32_t id = mergeable(t, s, sym[k].len);
        if (id >= 0) {
            emit(ids, ids_cap, &n, id);
            prev_unk = 0;
        } else if (fallback) {
            for (uint32_t b = 0; b < sym[k].len; b++)
                emit(ids, ids_cap, &n, (int32_t)thm_tok_rd32(t->base + t->bytes_off + 4u * s[b]));
        } else {
            if (!prev_unk) emit(ids, ids_cap, &n, (int32_t)t->unk_id);
            prev_unk = 1;
        }
    }
    *n_ids = n;
    return THM_TOK_OK;
}
