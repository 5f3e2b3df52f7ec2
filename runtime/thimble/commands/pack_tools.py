"""`thimble pack-tools TOOLS.json -o tools.bin`: the tools as a small client
sends them (clients/micropython/thimble_link.py): Needle's compact tools
JSON and the tools' wire form, made once on the host, byte for byte what
`thimble run` puts in its requests. Prints the tool names the device will
answer with (snake_case) next to the names in the file."""
from ..core.errors import UsageError
from .args import input_file, output_file


def add_parser(p):
    p.add_argument("tools", help="tools JSON file (a list of tool objects, as `thimble run --tools` takes)")
    p.add_argument("-o", "--output", required=True, help="where to write the packed tools")
    p.add_argument("--python", action="store_true",
                   help="also print the blob as a Python bytes literal (to paste into a MicroPython app)")


def run(args):
    from ..app.prompt import PromptError
    from ..app.request import pack_tools
    input_file(args.tools, "tools")
    output_file(args.output, "-o")
    try:
        with open(args.tools, encoding="utf-8") as f:
            blob, name_map = pack_tools(f.read())
    except (PromptError, ValueError) as e:
        raise UsageError(f"{args.tools}: {e}") from None
    except OSError as e:
        raise UsageError(f"{args.tools}: {e.strerror or e}") from None
    with open(args.output, "wb") as f:
        f.write(blob)
    print(f"wrote {len(blob):,} bytes to {args.output}")
    for device_name, name in name_map.items():
        print(f"  {device_name}" + (f"  (in the file: {name})" if name != device_name else ""))
    if args.python:
        print("TOOLS = " + repr(blob))
    return 0
