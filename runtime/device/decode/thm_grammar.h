/* The tool-call grammar on the device: a byte-level pushdown automaton over
 * Needle's compact tool-call JSON,
 *     [{"name":"<tool>","arguments":{"<key>":<value>,...}},...]
 * The specification is runtime/thimble/sim/grammar.py (ToolGrammar); this C
 * accepts and rejects exactly the same byte strings (tests/decode/).
 *
 * Freestanding C99: no malloc, no libc beyond string.h. The caller owns all
 * memory: a thm_tools table (built once per prompt from the wire form below)
 * and thm_grammar_state values, which are plain data of fixed size, so a
 * candidate token is tried on a memcpy'd copy.
 *
 * Wire form of the tools (what the host sends with the prompt; all
 * integers little-endian; sizes bounded by the THM_TOOLS_MAX_* below):
 *     magic    4 bytes  "THTL"
 *     version  u8       1
 *     n_tools  u8       1 .. THM_TOOLS_MAX_TOOLS
 *     size     u16      total size of the wire form in bytes, header included
 *     n_tools times:
 *         name_len u8 (1 .. 255), name bytes
 *         n_keys   u8 (0 .. THM_TOOLS_MAX_KEYS)
 *         n_keys times: key_len u8 (1 .. 255), key bytes
 * Names and keys are the bytes that appear between the quotes of compact JSON
 * (json.dumps(s, ensure_ascii=False)[1:-1] in UTF-8): valid UTF-8, no control
 * bytes, no bare '"', only JSON escapes after '\'. Names are distinct, keys
 * of one tool are distinct. Nothing may follow the last tool. */
#ifndef THM_GRAMMAR_H
#define THM_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

/* The wire form's magic, version and limits (THM_TOOLS_*), generated from
 * runtime/thimble/app/format.py. */
#include "thm_app_format.h"

/* grammar.MAX_DEPTH: nesting of JSON values inside "arguments" */
#define THM_GRAMMAR_MAX_DEPTH 16u
/* the fixed frames under the values: calls, the '}' closing a call, args;
 * plus the frame on top of the deepest container */
#define THM_GRAMMAR_MAX_FRAMES (THM_GRAMMAR_MAX_DEPTH + 4u)

enum {
    THM_GRAMMAR_OK = 0,          /* every byte accepted */
    THM_GRAMMAR_REJECT = 1,      /* a byte cannot continue a valid answer (state is then spoilt) */
    THM_GRAMMAR_E_ARG = -1,      /* NULL pointer or bad size */
    THM_GRAMMAR_E_MAGIC = -2,    /* the tools wire form has no THTL magic or another version */
    THM_GRAMMAR_E_SIZE = -3,     /* size field, truncation, trailing bytes, or over THM_TOOLS_MAX_WIRE */
    THM_GRAMMAR_E_COUNT = -4,    /* no tools, or more tools or keys than the bounds */
    THM_GRAMMAR_E_NAME = -5,     /* an empty name or key, or bytes that cannot sit between JSON quotes */
    THM_GRAMMAR_E_DUP = -6,      /* two tools with one name, or a key twice in one tool */
    THM_GRAMMAR_E_STATE = -7,    /* the state is corrupt or belongs to another tool table */
};

typedef struct {
    uint16_t off;                /* into thm_tools.bytes */
    uint8_t len;                 /* 1 .. 255 */
} thm_tools_str;

typedef struct {
    thm_tools_str name;
    uint16_t key0;               /* first key in thm_tools.keys */
    uint8_t n_keys;              /* 0 .. THM_TOOLS_MAX_KEYS */
} thm_tools_entry;

/* The validated tool table; self-contained (it copies the wire bytes). */
typedef struct {
    uint32_t n_tools;
    uint32_t n_keys;
    thm_tools_entry tools[THM_TOOLS_MAX_TOOLS];
    thm_tools_str keys[THM_TOOLS_MAX_KEYS_TOTAL];
    uint8_t bytes[THM_TOOLS_MAX_WIRE];   /* the wire form as received */
} thm_tools;

/* One frame of the automaton's stack (kinds and phases in thm_grammar.c). */
typedef struct {
    uint8_t kind;
    uint8_t phase;
    uint8_t a;                   /* literal id, value depth, or UTF-8 bytes pending */
    uint8_t b;                   /* position in a literal */
} thm_grammar_frame;

/* The whole state: fixed size, no pointers, copy with memcpy or '='. */
typedef struct {
    uint32_t used;               /* keys already given in the open call: bit i = key i of the tool */
    uint16_t tool;               /* the open call's tool */
    uint16_t pfx_entry;          /* a name (or key of the tool) that starts with the prefix typed so far */
    uint16_t pfx_len;            /* bytes of that prefix */
    uint16_t n;                  /* frames on the stack; 0 = the answer is complete */
    thm_grammar_frame f[THM_GRAMMAR_MAX_FRAMES];
} thm_grammar_state;

/* Validate the wire form (wire_len bytes) and build the table in *tools. */
int thm_grammar_tools_init(thm_tools *tools, const uint8_t *wire, size_t wire_len);
/* The state before the first byte of the answer. */
void thm_grammar_start(thm_grammar_state *st);
/* Feed n bytes: THM_GRAMMAR_OK, THM_GRAMMAR_REJECT (try candidates on a copy),
 * or a negative error. */
int thm_grammar_feed(const thm_tools *tools, thm_grammar_state *st, const uint8_t *bytes, size_t n);
/* 1 once the list is closed (nothing may follow), else 0. */
int thm_grammar_done(const thm_grammar_state *st);
const char *thm_grammar_strerror(int err);

#endif /* THM_GRAMMAR_H */
