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


def depth(text, stop=None):
    """The deepest [ / { nesting of JSON text (brackets inside strings do not
    count); the scan ends as soon as it passes `stop`, so a refusal costs no
    more than the first stop + 1 opening brackets."""
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
            if level > deepest:
                deepest = level
                if stop is not None and deepest > stop:
                    break
        elif ch in "]}":
            level -= 1
    return deepest


def loads(text, *, max_depth=MAX_DEPTH, **kwargs):
    """json.loads(text, **kwargs), refusing text nested deeper than max_depth
    with JSONTooDeep (a ValueError, as json's own errors are)."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    # An empty {} or [] is 2-3 bytes of JSON and ~80 bytes of Python objects: a
    # header of 2 million of them took 26x its size. Every other JSON value costs at
    # most ~12x (a 2-letter string), so capping containers at one per 8 bytes keeps
    # the parse within ~12x the text. A safetensors entry is 3 per >= 50 bytes.
    # (Brackets inside strings count too: that only errs towards refusing.)
    containers = text.count("{") + text.count("[")
    if containers * 8 > len(text) + 512:
        raise JSONTooDeep(f"JSON of {len(text)} bytes holds {containers} objects and arrays "
                          f"(at most one per 8 bytes)")
    d = depth(text, stop=max_depth)
    if d > max_depth:
        raise JSONTooDeep(f"JSON nested more than {max_depth} levels deep")
    return json.loads(text, **kwargs)
