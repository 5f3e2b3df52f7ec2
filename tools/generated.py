"""What the tools/gen_*.py generators share: writing their files, or with
--check writing nothing and naming each stale one (exit 1); and C structs
rendered from a format table's (name, struct code, comment) rows. Imported
by the generators (tools/ is their own folder on sys.path)."""
import pathlib
import re
import struct
import sys


def write_or_check(outputs, argv, generator):
    """outputs: {path: text}. generator: the script's __file__, named in the hint."""
    name = pathlib.Path(generator).name
    root = pathlib.Path(generator).resolve().parent.parent
    if "--check" in argv:
        stale = [p for p, text in outputs.items() if not p.exists() or p.read_text() != text]
        for p in stale:
            shown = p.relative_to(root) if p.is_relative_to(root) else p
            print(f"stale: {shown} (run python tools/{name})", file=sys.stderr)
        return 1 if stale else 0
    for p, text in outputs.items():
        if not p.exists() or p.read_text() != text:       # keep timestamps: no needless rebuilds
            p.write_text(text)
    return 0


CTYPES = {"B": "uint8_t", "H": "uint16_t", "I": "uint32_t", "Q": "uint64_t", "s": "uint8_t"}


def c_field(name, code, comment):
    m = re.fullmatch(r"(\d*)([BHIQs])", code)
    count, kind = m.group(1), m.group(2)
    decl = f"    {CTYPES[kind]} {name}" + (f"[{count}]" if count else "") + ";"
    return f"{decl:<36}/* {comment} */" if comment else decl


def c_struct(tag, fields, size):
    lines = ["typedef struct {"] + [c_field(*f) for f in fields] + [f"}} {tag};"]
    lines.append(f"_Static_assert(sizeof({tag}) == {size}, \"{tag} size\");")
    offset = 0
    for name, code, _ in fields:
        lines.append(f"_Static_assert(offsetof({tag}, {name}) == {offset}, \"{tag}.{name}\");")
        offset += struct.calcsize("<" + code)
    return "\n".join(lines)
