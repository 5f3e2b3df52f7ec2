"""Needle's prompt: the encoder input is

    encode(query) + [<tools>] + encode(compact JSON of the tools)

with tool names turned into snake_case (the model was trained on those) and
mapped back in the answer; no bos. A prompt with more tokens than the
encoder limit is refused (PromptTooLong) unless the caller asks to truncate
it the way Needle does (the query keeps at most max_enc_len - 2 tokens, the
tools get what is left after the <tools> id): never silently. The device
applies the same rule (runtime/device/app/thm_app.c).

The tools file is user input: it is size-bounded, must be a JSON list of tool
objects, and every problem is reported with the tool's index and the field.
"""
import json
import pathlib
import re

from ..core.errors import UsageError

TOOLS_ID = 5                  # Needle's <tools> id
MAX_TOOLS_BYTES = 1 << 20     # a tools file larger than this is refused
MAX_TOOLS = 256
MAX_NAME = 128                # characters in a tool or parameter name
MAX_QUERY_CHARS = 1 << 16


class PromptError(UsageError, ValueError):
    """The query or the tools are not usable; the message says what and where (exit 2)."""


class PromptTooLong(PromptError):
    """The prompt has more tokens than the model takes (and truncation was not asked for)."""

    def __init__(self, tokens, limit, query_tokens=None, query_limit=None):
        self.tokens, self.limit = tokens, limit
        part = f" (the query {query_tokens}, the tools {tokens - query_tokens - 1})" if query_tokens is not None else ""
        what = f"the query may have at most {query_limit}" if query_limit is not None \
            else f"the model takes at most {limit}"
        super().__init__(f"the prompt is {tokens} tokens{part}; {what}: "
                         f"give fewer tools or a shorter query, or pass --truncate to cut it as Needle does")


def to_snake_case(name):
    """camelCase, PascalCase, dotted or dashed names -> snake_case, as Needle
    maps them: other characters become '_', a capital after a lower-case
    letter or digit starts a word, as does the last capital of a run before a
    lower-case letter (HTTPServer -> http_server); runs of '_' collapse and
    are stripped from the ends."""
    s = re.sub(r"[^a-zA-Z0-9_]+", "_", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"_+", "_", s)
    return s.lower().strip("_")


def _check_str(value, where, limit=None):
    if not isinstance(value, str):
        raise PromptError(f"{where} must be a string, not {type(value).__name__}")
    if limit is not None and not 1 <= len(value) <= limit:
        raise PromptError(f"{where} must have 1..{limit} characters, has {len(value)}")


def validate_tools(tools):
    """Checks a parsed tools list; returns it unchanged."""
    if not isinstance(tools, list):
        raise PromptError(f"tools must be a JSON list of tool objects, not {type(tools).__name__}")
    if len(tools) > MAX_TOOLS:
        raise PromptError(f"{len(tools)} tools (limit {MAX_TOOLS})")
    for i, tool in enumerate(tools):
        where = f"tool {i}"
        if not isinstance(tool, dict):
            raise PromptError(f"{where} must be an object, not {type(tool).__name__}")
        if "name" not in tool:
            raise PromptError(f"{where} has no \"name\"")
        _check_str(tool["name"], f"{where} name", MAX_NAME)
        if not to_snake_case(tool["name"]):
            raise PromptError(f"{where} name {tool['name']!r} has no letters or digits")
        if "description" in tool:
            _check_str(tool["description"], f"{where} ({tool['name']}) description")
        params = tool.get("parameters", {})
        if not isinstance(params, dict):
            raise PromptError(f"{where} ({tool['name']}) parameters must be an object")
        for pname, spec in params.items():
            pwhere = f"{where} ({tool['name']}) parameter {pname!r}"
            _check_str(pname, pwhere + " name", MAX_NAME)
            if not isinstance(spec, dict):
                raise PromptError(f"{pwhere} must be an object")
            for key in ("type", "description"):
                if key in spec:
                    _check_str(spec[key], f"{pwhere} {key}")
            if "required" in spec and not isinstance(spec["required"], bool):
                raise PromptError(f"{pwhere} required must be true or false")
    return tools


def parse_tools(text):
    """Tools from JSON text (str or bytes), validated."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    if len(text) > MAX_TOOLS_BYTES:
        raise PromptError(f"tools JSON is {len(text)} bytes (limit {MAX_TOOLS_BYTES})")
    try:
        tools = json.loads(text.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PromptError(f"tools JSON is not UTF-8: {e}") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise PromptError(f"tools are not valid JSON: {e}") from None
    return validate_tools(tools)


def load_tools(path):
    path = pathlib.Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise PromptError(f"cannot read tools file {path}: {e.strerror}") from None
    if size > MAX_TOOLS_BYTES:
        raise PromptError(f"tools file {path} is {size} bytes (limit {MAX_TOOLS_BYTES})")
    try:
        return parse_tools(path.read_bytes())
    except PromptError as e:
        raise PromptError(f"{path}: {e}") from None


def normalize_tools(tools):
    """(compact JSON with snake_case names, {snake_name: original_name}).
    Two tools that map to the same snake_case name are refused: the answer
    could not be mapped back, and the device's grammar (thm_grammar.c,
    THM_GRAMMAR_E_DUP) refuses a repeated name, so the host does too."""
    validate_tools(tools)
    out, name_map = [], {}
    for tool in tools:
        snake = to_snake_case(tool["name"])
        if snake in name_map and name_map[snake] != tool["name"]:
            raise PromptError(f"tools {name_map[snake]!r} and {tool['name']!r} both become {snake!r}")
        if snake in name_map:
            raise PromptError(f"tools: repeated name {tool['name']!r} (the device refuses it)")
        name_map[snake] = tool["name"]
        out.append({**tool, "name": snake})
    # Needle's exact serialisation: compact separators, ASCII escapes, key order kept
    return json.dumps(out, separators=(",", ":")), name_map


def build_encoder_input(tokenizer, query, tools, max_enc_len, tools_id=TOOLS_ID, truncate=False):
    """(encoder ids, name_map). tokenizer: anything with encode(str) -> ids;
    tools: a parsed, or JSON text, tools list; max_enc_len >= 2. Raises
    PromptTooLong for a prompt over max_enc_len tokens unless truncate."""
    _check_str(query, "query")
    if not query:   # the device's request has 1..1024 query bytes (thm_app_parse_request)
        raise PromptError("query must be a non-empty string")
    if len(query) > MAX_QUERY_CHARS:
        raise PromptError(f"query has {len(query)} characters (limit {MAX_QUERY_CHARS})")
    if not isinstance(max_enc_len, int) or max_enc_len < 2:
        raise PromptError(f"max_enc_len must be an integer >= 2, not {max_enc_len!r}")
    if isinstance(tools, (str, bytes)):
        tools = parse_tools(tools)
    tools_json, name_map = normalize_tools(tools)
    q, t = list(tokenizer.encode(query)), list(tokenizer.encode(tools_json))
    # the query alone may take at most max_enc_len - 2 (Needle's rule): past that it would be cut
    if (len(q) + 1 + len(t) > max_enc_len or len(q) > max_enc_len - 2) and not truncate:
        raise PromptTooLong(len(q) + 1 + len(t), max_enc_len, len(q),
                            None if len(q) + 1 + len(t) > max_enc_len else max_enc_len - 2)
    q = q[:max_enc_len - 2]
    t = t[:max_enc_len - len(q) - 1]
    return q + [tools_id] + t, name_map


def restore_tool_names(calls, name_map):
    """The answer's calls with snake_case names mapped back to the originals.
    calls: a list of {"name", "arguments"} objects (returned as a new list) or
    its JSON text (returned as compact JSON text). Names not in the map are
    kept: the constrained decoder only emits known names."""
    as_text = isinstance(calls, str)
    if as_text:
        try:
            calls = json.loads(calls)
        except json.JSONDecodeError as e:
            raise PromptError(f"answer is not valid JSON: {e}") from None
    if isinstance(calls, dict):
        calls = [calls]
    if not isinstance(calls, list):
        raise PromptError(f"answer must be a list of calls, not {type(calls).__name__}")
    out = []
    for c in calls:
        if isinstance(c, dict) and isinstance(c.get("name"), str):
            c = {**c, "name": name_map.get(c["name"], c["name"])}
        out.append(c)
    return json.dumps(out, separators=(",", ":")) if as_text else out
