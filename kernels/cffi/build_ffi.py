"""cffi builder for thimble._kernels (API mode, out of line).

The cdef is derived from kernels/include/thimble_kernels.h at build time, so
the C API is written down once. Sources: every portable kernel in
kernels/src, plus the x86 fast paths on x86-64 hosts (each compiled for its
own instruction set through function attributes, chosen at run time by CPUID).
"""
import pathlib
import platform
import re

from cffi import FFI

ROOT = pathlib.Path(__file__).resolve().parents[2]
INCLUDE = ROOT / "kernels" / "include"
HEADER = INCLUDE / "thimble_kernels.h"


def cdef_from_header(text):
    """Keep declarations and integer #defines; drop the rest of the preprocessor."""
    out = []
    skip_cplusplus = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#ifdef __cplusplus"):
            skip_cplusplus = True
            continue
        if skip_cplusplus:
            if s.startswith("#endif"):
                skip_cplusplus = False
            continue
        if s.startswith("#"):
            m = re.match(r"#define\s+(THM_\w+)\s+\(?(-?\d+)\)?", s)
            if m:
                out.append(f"#define {m.group(1)} {m.group(2)}")
            continue
        out.append(re.sub(r"/\*.*?\*/", "", line))
    text = "\n".join(out)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def sources():
    srcs = sorted((ROOT / "kernels" / "src").glob("*.c"))
    macros = []
    if platform.machine().lower() in ("x86_64", "amd64"):
        srcs += sorted((ROOT / "kernels" / "x86").glob("*.c"))
        macros.append(("THM_HOST_X86", "1"))
    return [str(p.relative_to(ROOT)) for p in srcs], macros


# The C model runtime (runtime/device/model) and the image reader it binds
# through, for the host simulator's "c" backend. Structs are opaque to Python
# (`...`): cffi takes their sizes from the compiler.
DEVICE = ROOT / "runtime" / "device"
# The board's own checks of what it is sent, so the host refuses what a board
# refuses with the same code: the tokenizer payload reader, the request
# parser (app/thm_app_request.c: no board, no HAL) and the tools' wire form.
DEVICE_SOURCES = ["image/thm_image.c", "crypto/thm_sha256.c", "model/thm_model_bind.c",
                  "model/thm_model_arena.c", "model/thm_model_forward.c", "model/thm_model_attention.c",
                  "model/thm_crc32.c", "tokenizer/thm_tok_open.c", "decode/thm_grammar.c",
                  "app/thm_app_request.c", "app/thm_app_image.c", "tokenizer/thm_tok_encode.c"]
DEVICE_INCLUDES = [DEVICE / "include", DEVICE / "image", DEVICE / "crypto", DEVICE / "model",
                   DEVICE / "tokenizer", DEVICE / "decode", DEVICE / "app"]


def model_cdef():
    errors = re.findall(r"^\s*(THM_(?:MODEL|IMG|TOK|GRAMMAR|APP)_\w+)\s*=",
                        "".join((DEVICE / h).read_text() for h in ("model/thm_model.h", "image/thm_image.h",
                                                                   "tokenizer/thm_tokenizer.h",
                                                                   "decode/thm_grammar.h", "app/thm_app.h")),
                        flags=re.M)
    return "enum { " + ", ".join(errors) + ", ... };\n" + """
#define THM_MODEL_ARENA_MAX ...
#define THM_MODEL_MAX_POSITIONS ...
typedef struct { ...; } thm_image;
typedef struct {
    int32_t V, d, H, Hkv, hd, Q, KV, L_enc, L_dec, n_pos, max_enc_len, max_dec_len;
    int32_t max_enc, max_dec, n_enc;
    size_t arena_used;
    ...;
} thm_model;
int thm_image_open(thm_image *img, const uint8_t *base, uint64_t size);
int thm_image_verify(const thm_image *img);
const char *thm_image_strerror(int err);
int thm_model_bind(thm_model *m, const thm_image *img);
const char *thm_model_error_name(const thm_model *m);
const char *thm_model_strerror(int err);
size_t thm_model_arena_size(const thm_model *m, int32_t max_enc, int32_t max_dec);
int thm_model_init(thm_model *m, void *arena, size_t arena_bytes, int32_t max_enc, int32_t max_dec);
int thm_model_encode(thm_model *m, const int32_t *tokens, int32_t n);
const int8_t *thm_model_encoder_out(const thm_model *m);
int thm_model_decode_step(thm_model *m, int32_t token, int32_t *logits_out, int32_t *argmax_out);
uint32_t thm_model_hidden_crc(const thm_model *m);
int32_t thm_model_length(const thm_model *m);

typedef struct { uint32_t piece_count; ...; } thm_tokenizer;
typedef struct { ...; } thm_tools;
typedef struct { uint32_t max_new_tokens; ...; } thm_app_request;
int thm_tok_open(thm_tokenizer *t, const uint8_t *base, uint64_t size);
const char *thm_tok_strerror(int err);
int thm_grammar_tools_init(thm_tools *tools, const uint8_t *wire, size_t wire_len);
const char *thm_grammar_strerror(int err);
int thm_app_request_parse(const uint8_t *buf, size_t len, thm_app_request *req, const char **why);
typedef struct { int32_t max_enc, max_dec; uint64_t need; ...; } thm_app_model;
int thm_app_check(thm_app_model *am, const uint8_t *base, uint64_t size, char *msg, size_t msg_cap);
"""


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(HEADER.read_text()))
ffibuilder.cdef(model_cdef())
_srcs, _macros = sources()
_srcs += [str((DEVICE / s).relative_to(ROOT)) for s in DEVICE_SOURCES]
ffibuilder.set_source(
    "thimble._kernels",
    '#include "thimble_kernels.h"\n#include "thm_image.h"\n#include "thm_model.h"\n#include "thm_app.h"\n',
    sources=_srcs,
    include_dirs=[str(p.relative_to(ROOT)) for p in [INCLUDE, ROOT / "kernels" / "x86"] + DEVICE_INCLUDES],
    define_macros=_macros,
    extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-fno-strict-aliasing"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
