"""cffi builder for thimble._kernels (API mode, out of line).

The cdef is derived from kernels/include/thimble_kernels.h at build time, so
the C API is written down once; the device runtime's functions Python calls
are named here and their prototypes read from their headers. Sources: the
[app_checks] component and what it needs (runtime/device/components.toml:
the kernels, the model runtime, image, tokenizer, grammar and the app's
checks), plus the x86 fast paths on x86-64 hosts (each compiled for its own
instruction set through function attributes, chosen at run time by CPUID).
"""
import importlib.util
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


def _components():
    """thimble.firmware.sources, loaded by path: thimble is not installed yet."""
    spec = importlib.util.spec_from_file_location(
        "thm_build_sources", ROOT / "runtime" / "thimble" / "firmware" / "sources.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Components(ROOT)


# The C model runtime for the host simulator's "c" backend, and the board's
# own checks of what it is sent (the tokenizer payload reader, the request
# parser, the tools' wire form, the app's image check), so the host refuses
# what a board refuses with the same code.
COMPONENTS = ("app_checks", "needle2")
DEVICE = ROOT / "runtime" / "device"


def sources():
    comps = _components()
    srcs = comps.sources(*COMPONENTS)
    macros = []
    if platform.machine().lower() in ("x86_64", "amd64"):
        srcs += sorted((ROOT / "kernels" / "x86").glob("*.c"))
        macros.append(("THM_HOST_X86", "1"))
    return [str(p.relative_to(ROOT)) for p in srcs], macros


def includes():
    return [str(p.relative_to(ROOT)) for p in _components().includes(*COMPONENTS) + [ROOT / "kernels" / "x86"]]


# The device functions Python calls (thimble.sim.c_model, device_checks,
# convert); their prototypes come from the headers named here.
DEVICE_HEADERS = ("model/thm_model.h", "needle2/thm_n2.h", "image/thm_image.h", "tokenizer/thm_tokenizer.h",
                  "decode/thm_grammar.h", "app/thm_app.h", "include/thm_app_format.h")
DEVICE_FUNCTIONS = [
    "thm_image_open", "thm_image_verify", "thm_image_strerror",
    "thm_model_bind", "thm_model_error_name", "thm_model_strerror", "thm_model_arena_size", "thm_model_arena_items",
    "thm_model_init",
    "thm_model_encode", "thm_model_encoder_out", "thm_model_decode_step", "thm_model_hidden_crc",
    "thm_model_length", "thm_tok_open", "thm_tok_strerror", "thm_grammar_tools_init", "thm_grammar_strerror",
    "thm_app_request_parse", "thm_app_check", "thm_app_tok_scratch_bytes",
    "thm_n2_bind", "thm_n2_error_name", "thm_n2_strerror", "thm_n2_arena_size", "thm_n2_arena_items",
    "thm_n2_init", "thm_n2_reset",
    "thm_n2_step"]


def prototype(name, text):
    """The declaration of function `name` in header text, comments dropped, on one line."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    found = re.findall(r"^[A-Za-z_][\w \t\*]*?\b" + name + r"\s*\([^;{}]*\)\s*;", text, flags=re.M)
    if len(found) != 1:
        raise ValueError(f"{name}: {len(found)} declarations in the device headers")
    return " ".join(found[0].split())


def model_cdef():
    headers = "".join((DEVICE / h).read_text() for h in DEVICE_HEADERS)
    errors = re.findall(r"^\s*(THM_(?:MODEL|IMG|TOK|GRAMMAR|APP|N2)_\w+)\s*=", headers, flags=re.M)
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
typedef struct { int32_t V, d, L, n_pos, max_pos, length; size_t arena_used; ...; } thm_n2;
typedef struct { uint32_t piece_count; ...; } thm_tokenizer;
typedef struct { ...; } thm_tools;
typedef struct { uint32_t max_new_tokens; ...; } thm_app_request;
typedef struct { int32_t max_enc, max_dec; uint64_t need; ...; } thm_app_model;
""" + "\n".join(prototype(f, headers) for f in DEVICE_FUNCTIONS) + "\n"


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(HEADER.read_text()))
ffibuilder.cdef(model_cdef())
_srcs, _macros = sources()
ffibuilder.set_source(
    "thimble._kernels",
    '#include "thimble_kernels.h"\n#include "thm_image.h"\n#include "thm_model.h"\n#include "thm_n2.h"\n#include "thm_app.h"\n',
    sources=_srcs,
    include_dirs=includes(),
    define_macros=_macros,
    extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-fno-strict-aliasing"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
