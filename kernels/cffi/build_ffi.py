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


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(HEADER.read_text()))
_srcs, _macros = sources()
ffibuilder.set_source(
    "thimble._kernels",
    '#include "thimble_kernels.h"\n',
    sources=_srcs,
    include_dirs=[str(p.relative_to(ROOT)) for p in (INCLUDE, ROOT / "kernels" / "x86")],
    define_macros=_macros,
    extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-fno-strict-aliasing"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
