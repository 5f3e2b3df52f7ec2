"""Renders runtime/device/include/thm_app_format.h from the one table of the
board app's request, answer and tools wire form, runtime/thimble/app/format.py.
`--check` verifies it. The C side reads fields with explicit little-endian
loads at these offsets (no struct overlays)."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "runtime"))
from thimble.app import format as fmt  # noqa: E402
from generated import write_or_check  # noqa: E402

OUT = ROOT / "runtime" / "device" / "include" / "thm_app_format.h"


def _fields(prefix, table):
    offs = fmt.offsets(table)
    return [f"#define {prefix}_{name.upper()} {offs[name]}u" + (f"   /* {comment} */" if comment else "")
            for name, _, comment in table]


def render():
    p = ["/* The board app's request (THRQ), answer (THRA) and tools wire form. GENERATED",
         " * by tools/gen_app_format.py from runtime/thimble/app/format.py: do not edit.",
         " * Little-endian; THM_APP_REQ_F_* / THM_APP_ANS_F_* are byte offsets of the",
         " * header fields. */",
         "#ifndef THM_APP_FORMAT_H", "#define THM_APP_FORMAT_H", "",
         f'#define THM_APP_REQ_MAGIC "{fmt.REQ_MAGIC.decode()}"',
         f'#define THM_APP_ANS_MAGIC "{fmt.ANS_MAGIC.decode()}"',
         f"#define THM_APP_REQ_VERSION {fmt.REQ_VERSION}u",
         f"#define THM_APP_ANS_VERSION {fmt.ANS_VERSION}u",
         f"#define THM_APP_REQ_TRUNCATE {fmt.REQ_TRUNCATE}u   /* cut a prompt over the model's limit as Needle does */",
         f"#define THM_APP_REQ_HEADER {fmt.REQ_HEADER}u",
         f"#define THM_APP_ANS_HEADER {fmt.ANS_HEADER}u",
         *_fields("THM_APP_REQ_F", fmt.REQUEST), *_fields("THM_APP_ANS_F", fmt.ANSWER), "",
         f"#define THM_APP_MAX_QUERY {fmt.MAX_QUERY}u          /* bytes of query text */",
         f"#define THM_APP_MAX_TOOLS_JSON {fmt.MAX_TOOLS_JSON}u     /* bytes of tools JSON */",
         f"#define THM_APP_MAX_NEW {fmt.MAX_NEW}u              /* generated tokens, <tool_call> included */",
         f"#define THM_APP_MAX_TEXT {fmt.MAX_TEXT}u           /* answer or error text bytes */",
         f"#define THM_APP_MAX_REQUEST {fmt.MAX_REQUEST}u",
         f"#define THM_APP_MAX_ANSWER {fmt.MAX_ANSWER}u", "",
         f'#define THM_TOOLS_MAGIC "{fmt.TOOLS_MAGIC.decode()}"',
         f"#define THM_TOOLS_VERSION {fmt.TOOLS_VERSION}u",
         f"#define THM_TOOLS_HEADER {fmt.TOOLS_HEADER}u",
         f"#define THM_TOOLS_MAX_TOOLS {fmt.TOOLS_MAX_TOOLS}u      /* tools per prompt */",
         f"#define THM_TOOLS_MAX_KEYS {fmt.TOOLS_MAX_KEYS}u       /* argument keys per tool */",
         f"#define THM_TOOLS_MAX_KEYS_TOTAL {fmt.TOOLS_MAX_KEYS_TOTAL}u",
         f"#define THM_TOOLS_MAX_WIRE {fmt.TOOLS_MAX_WIRE}u     /* bytes of the whole wire form */", "",
         "enum {"]
    width = max(len(n) for n, _, _ in fmt.STATUS) + 9
    p += [f"    {('THM_APP_' + n + ' = ' + str(v) + ','):<{width + 6}} /* {w} */" for n, v, w in fmt.STATUS]
    p += ["};", "", "#endif /* THM_APP_FORMAT_H */", ""]
    return "\n".join(p)


def main(argv):
    return write_or_check({OUT: render()}, argv, __file__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
