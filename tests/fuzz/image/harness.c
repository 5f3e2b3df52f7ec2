/* Fuzz harness (a): an image as the board receives it, then one prompt.
 * The input is a whole .thm image. Its SHA-256 field is set to the hash of
 * the mutated bytes first (a mutant with a stale hash would stop at
 * thm_image_verify every time, and the device only runs images whose hash it
 * verified), then the app loads it as a board does (image, bind, tokenizer,
 * vocabulary, arena plan against a 4 MiB board arena) and, when it loads,
 * answers one request (the file named by $THM_FUZZ_REQUEST, made by
 * tests/fuzz/seeds.py: "set a timer for ten minutes" with three tools, 4
 * tokens at most).
 *
 * The tokenizer section has doors of its own: every piece must be found
 * through its hash table and the user-defined list must name exactly the
 * USER_DEFINED pieces, so a mutant that touches one piece would be refused
 * before the encoder ever runs. The harness rebuilds both tables after
 * mutation (as the writer would), unless bit 0 of the header's last reserved
 * byte asks it not to (then the refusal paths get fuzzed too). A custom
 * mutator (libFuzzer's LLVMFuzzerCustomMutator) aims most edits at the
 * config, the tensor table and the tokenizer's header, pieces and strings:
 * plain byte edits of a 64 KB image would land in the weights nearly always.
 * A Needle 2 image (CONFIG_NEEDLE2; tests/fuzz/seeds.py needle2.thm) is bound,
 * planned and run for four tokens (needle2_image below): its plain byte
 * edits land in the integer constants, which the binder must range-check. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stddef.h>

#include "thm_app.h"
#include "thm_image_format.h"
#include "thm_n2.h"
#include "thm_sha256.h"
#include "thm_tokenizer_format.h"

#define ARENA_BYTES (4u << 20)
#define SHA_OFF 32
#define CONTROL_OFF (offsetof(thm_fmt_header, reserved) + sizeof(((thm_fmt_header *)0)->reserved) - 1)
#define KEEP_TOKENIZER_TABLES 1u

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }
static int inside(size_t size, uint64_t off, uint64_t bytes) { return off <= size && bytes <= size - off; }

/* The first section of `kind` as [*off, *off + *len) inside the image; 0 if none (or out of range). */
static int section(const uint8_t *img, size_t size, uint32_t kind, size_t *off, size_t *len)
{
    if (size < sizeof(thm_fmt_header)) return 0;
    uint64_t count = rd32(img + offsetof(thm_fmt_header, section_count));
    uint64_t table = rd32(img + offsetof(thm_fmt_header, section_table));
    if (count > THM_IMAGE_MAX_SECTIONS || !inside(size, table, count * sizeof(thm_fmt_section))) return 0;
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *e = img + table + i * sizeof(thm_fmt_section);
        if (rd32(e + offsetof(thm_fmt_section, kind)) != kind) continue;
        uint64_t o = rd64(e + offsetof(thm_fmt_section, offset)), n = rd64(e + offsetof(thm_fmt_section, size));
        if (!inside(size, o, n)) return 0;
        *off = (size_t)o;
        *len = (size_t)n;
        return 1;
    }
    return 0;
}

typedef struct { uint32_t count, slots, probe, pieces, hash, user, user_count, strings, strings_size; } tok_tables;

/* The tokenizer header's tables, when they lie inside the payload p[0, n). */
static int tok_tables_of(const uint8_t *p, size_t n, tok_tables *t)
{
#define F(name) rd32(p + offsetof(thm_fmt_tok_header, name))
    if (n < THM_TOK_HEADER_SIZE) return 0;
    *t = (tok_tables){F(piece_count), F(hash_slots), F(max_probe), F(pieces_offset), F(hash_offset),
                      F(user_offset), F(user_count), F(strings_offset), F(strings_size)};
#undef F
    return t->count >= 1 && t->count <= THM_TOK_MAX_PIECES && t->slots > t->count &&
           t->slots <= THM_TOK_MAX_HASH_SLOTS && !(t->slots & (t->slots - 1)) && t->probe >= 1 &&
           t->probe <= THM_TOK_MAX_PROBE && t->user_count <= THM_TOK_MAX_USER &&
           inside(n, t->pieces, (uint64_t)t->count * THM_TOK_PIECE_SIZE) && inside(n, t->hash, 4ull * t->slots) &&
           inside(n, t->user, 4ull * t->user_count) && inside(n, t->strings, t->strings_size);
}

/* Rebuild the hash table and the user-defined list from the pieces, in place.
 * The list keeps the room the header gave it: when a mutant has more
 * USER_DEFINED pieces than that, the lowest ids become NORMAL again. */
static void fix_tokenizer(uint8_t *p, size_t n)
{
    tok_tables t;
    if (!tok_tables_of(p, n, &t)) return;
    uint32_t users = 0, k = 0;
    for (uint32_t i = 0; i < t.count; i++) users += p[t.pieces + i * THM_TOK_PIECE_SIZE + 6] == THM_TOK_PIECE_USER_DEFINED;
    uint32_t demote = users > t.user_count ? users - t.user_count : 0;
    for (uint32_t i = 0; i < t.count; i++) {
        uint8_t *type = p + t.pieces + i * THM_TOK_PIECE_SIZE + 6;
        if (*type != THM_TOK_PIECE_USER_DEFINED) continue;
        if (demote) { *type = THM_TOK_PIECE_NORMAL; demote--; continue; }
        wr32(p + t.user + 4u * k++, i);
    }
    wr32(p + offsetof(thm_fmt_tok_header, user_count), k);
    memset(p + t.hash, 0, 4u * t.slots);
    for (uint32_t i = 0; i < t.count; i++) {
        const uint8_t *e = p + t.pieces + i * THM_TOK_PIECE_SIZE;
        uint32_t off = rd32(e), len = (uint32_t)(e[4] | e[5] << 8);
        if (len < 1 || (uint64_t)off + len > t.strings_size) continue;     /* refused by thm_tok_open anyway */
        uint32_t h = THM_TOK_FNV_OFFSET;
        for (uint32_t b = 0; b < len; b++) h = (h ^ p[t.strings + off + b]) * THM_TOK_FNV_PRIME;
        for (uint32_t q = 0, s = h & (t.slots - 1); q < t.probe; q++, s = (s + 1) & (t.slots - 1))
            if (!rd32(p + t.hash + 4u * s)) { wr32(p + t.hash + 4u * s, i + 1); break; }
    }
}

static uint64_t mix(uint64_t *s) { *s = *s * 6364136223846793005ULL + 1442695040888963407ULL; return *s >> 29; }

/* A 32-bit field's new value: an edge, a neighbour, or anything. */
static uint32_t field_value(uint32_t old, uint64_t *s)
{
    static const uint32_t edge[] = {0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 64, 96, 127, 128, 255, 256, 1024, 4096,
                                    65535, 65536, 1u << 20, 1u << 24, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu};
    switch (mix(s) % 4) {
    case 0: return edge[mix(s) % (sizeof edge / sizeof edge[0])];
    case 1: return old + (uint32_t)(mix(s) % 33) - 16u;
    case 2: return old << (1 + mix(s) % 8);
    default: return (uint32_t)mix(s);
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *d, size_t size, size_t max_size, unsigned int seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    size_t off, len, tok_off, tok_len;
    int has_tok = section(d, size, THM_SECTION_TOKENIZER, &tok_off, &tok_len);
    tok_tables t;
    switch (mix(&s) % 8) {
    case 0: case 1: break;                                  /* plain byte edits, anywhere */
    case 2:                                                 /* a config field (v1's or Needle 2's) */
        if ((!section(d, size, THM_SECTION_CONFIG, &off, &len)
             && !section(d, size, THM_SECTION_CONFIG_NEEDLE2, &off, &len)) || len < 4) break;
        off += 4 * (mix(&s) % (len / 4));
        wr32(d + off, field_value(rd32(d + off), &s));
        return size;
    case 3:                                                 /* a field of the tensor table */
        if (!section(d, size, THM_SECTION_TENSORS, &off, &len) || len < 4) break;
        off += 4 * (mix(&s) % (len / 4));
        wr32(d + off, field_value(rd32(d + off), &s));
        return size;
    case 4:                                                 /* a field of the tokenizer's header */
        if (!has_tok || tok_len < THM_TOK_HEADER_SIZE) break;
        off = tok_off + 4 * (mix(&s) % (THM_TOK_HEADER_SIZE / 4));
        wr32(d + off, field_value(rd32(d + off), &s));
        return size;
    case 5: case 6: {                                       /* one piece: its type, its text, or both */
        if (!has_tok || !tok_tables_of(d + tok_off, tok_len, &t) || !t.strings_size) break;
        static const uint8_t types[] = {THM_TOK_PIECE_NORMAL, THM_TOK_PIECE_UNKNOWN, THM_TOK_PIECE_CONTROL,
                                        THM_TOK_PIECE_USER_DEFINED, THM_TOK_PIECE_BYTE};
        uint8_t *e = d + tok_off + t.pieces + (mix(&s) % t.count) * THM_TOK_PIECE_SIZE;
        uint64_t what = mix(&s) % 4;
        if (what != 1) e[6] = types[mix(&s) % sizeof types];
        if (what != 0) {
            uint32_t n = 1 + (uint32_t)(mix(&s) % 4);
            wr32(e, (uint32_t)(mix(&s) % t.strings_size));
            e[4] = (uint8_t)n;
            e[5] = 0;
        }
        return size;
    }
    case 7: {                                               /* a byte of the strings: UTF-8's edges */
        if (!has_tok || !tok_tables_of(d + tok_off, tok_len, &t) || !t.strings_size) break;
        static const uint8_t bytes[] = {0x00, 0x20, 0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF8, 0xFF};
        d[tok_off + t.strings + mix(&s) % t.strings_size] = bytes[mix(&s) % sizeof bytes];
        return size;
    }
    }
    return LLVMFuzzerMutate(d, size, max_size);
}

static uint8_t *request;
static size_t request_len;
static uint8_t *arena, *image;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *path = getenv("THM_FUZZ_REQUEST");
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) { fprintf(stderr, "image harness: set THM_FUZZ_REQUEST to a request file\n"); exit(2); }
    request = malloc(1 << 16);
    request_len = fread(request, 1, 1 << 16, f);
    fclose(f);
    arena = aligned_alloc(64, ARENA_BYTES);
    image = aligned_alloc(64, 1u << 20);
    return 0;
}

/* A Needle 2 image (CONFIG_NEEDLE2): bind, plan 16 positions in the arena and
 * run 4 tokens, as a board would; 1 if the image was one (run or refused). */
static int needle2_image(const uint8_t *img, size_t size)
{
    static thm_image im;
    static thm_n2 m;
    if (thm_image_open(&im, img, size) != THM_IMG_OK || im.family != THM_FAMILY_NEEDLE2) return 0;
    if (thm_n2_bind(&m, &im) != THM_N2_OK) return 1;
    const int32_t max_pos = m.n_pos < 16 ? m.n_pos : 16;
    const size_t need = thm_n2_arena_size(&m, max_pos);
    if (!need || need > ARENA_BYTES || thm_n2_init(&m, arena, ARENA_BYTES, max_pos) != THM_N2_OK) return 1;
    for (int32_t t = 0; t < 4 && t < max_pos; t++) {
        int32_t best = 0;
        const int rc = thm_n2_step(&m, (t * 37) % m.V, 0, &best);
        if (rc == THM_N2_E_KERNEL) abort();   /* a kernel refusing what bind accepted: bind misses a check */
        if (rc != THM_N2_OK) return 1;
        if (best < 0 || best >= m.V) abort();
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static thm_app_model am;
    static thm_app_answer ans;
    static thm_app_request req;
    if (size > (1u << 20)) return 0;
    memcpy(image, data, size);     /* a board reads the image 64-byte aligned from its slot */
    size_t tok_off, tok_len;
    if (size > CONTROL_OFF) {
        uint8_t control = image[CONTROL_OFF];
        image[CONTROL_OFF] = 0;
        if (!(control & KEEP_TOKENIZER_TABLES) && section(image, size, THM_SECTION_TOKENIZER, &tok_off, &tok_len))
            fix_tokenizer(image + tok_off, tok_len);
    }
    if (size >= SHA_OFF + 32) {
        thm_sha256_ctx c;
        memset(image + SHA_OFF, 0, 32);
        thm_sha256_init(&c);
        thm_sha256_update(&c, image, size);
        thm_sha256_final(&c, image + SHA_OFF);
    }
    char msg[160];
    if (needle2_image(image, size)) return 0;
    if (thm_app_load(&am, image, size, arena, ARENA_BYTES, msg, sizeof msg) != THM_APP_OK) return 0;
    if (thm_app_parse_request(request, request_len, &req, &ans) != THM_APP_OK) abort();   /* the seed request is good */
    thm_app_answer_prompt(&am, &req, &ans);
    return 0;
}
