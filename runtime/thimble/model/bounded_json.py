"""json.loads with a nesting limit, for JSON from untrusted files
(safetensors headers and their metadata, checkpoint configs).

CPython's json parser recurses once per [ or {: a header of 100,000 nested
brackets (200 KB) raises RecursionError from deep inside the parser, and
deeper still could exhaust the C stack. The text is scanned first, in one
pass outside strings, and refused past max_depth before json sees it."""
import json

MAX_DEPTH = 64      # a safetensors header is 2 deep, a Needle config 1


class JSONTooDeep(ValueError):
    pass


def depth(text):
    """The deepest [ / { nesting of JSON text (brackets inside strings do not count)."""
    deepest = level = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest


def loads(text, *, max_depth=MAX_DEPTH, **kwargs):
    """json.loads(text, **kwargs), refusing text nested deeper than max_depth
    with JSONTooDeep (a ValueError, as json's own errors are)."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    d = depth(text)
    if d > max_depth:
        raise JSONTooDeep(f"JSON nested {d} levels deep (at most {max_depth})")
    return json.loads(text, **kwargs)
