"""The run-prompt request and answer the device's application takes and
gives (runtime/device/app/thm_app.h), built and parsed on the host; the
serial link carries them whole (REQ frames stage the request, RUN and OUT
bring the answer back: thimble.link.client).

The host does the parts that need Python: it validates the tools, turns
their names into snake_case and writes Needle's compact tools JSON (the text
the device tokenizes) and the tools' wire form (names and argument keys, for
the device's grammar). The device does the rest: tokenizing, the model and
constrained decoding.
"""
import json
import struct
from dataclasses import dataclass, field

from .prompt import PromptError, normalize_tools, parse_tools, restore_tool_names

from . import format as F
from .format import (ANS_HEADER, ANS_MAGIC, ANS_VERSION, MAX_ANSWER, MAX_NEW, MAX_QUERY, MAX_TEXT,  # noqa: F401
                     MAX_TOOLS_JSON, REQ_HEADER, REQ_MAGIC, REQ_TRUNCATE, REQ_VERSION)

MAX_WIRE, MAX_TOOLS = F.TOOLS_MAX_WIRE, F.TOOLS_MAX_TOOLS
MAX_KEYS, MAX_KEYS_TOTAL = F.TOOLS_MAX_KEYS, F.TOOLS_MAX_KEYS_TOTAL
STATUS = {value: words for _, value, words in F.STATUS}
E_PROMPT = dict((name, value) for name, value, _ in F.STATUS)["E_PROMPT"]
_ANS_AT = F.offsets(F.ANSWER)


class DeviceAnswerError(ValueError):
    """The device's answer does not parse (truncated, wrong magic, out of bounds)."""


def _between_quotes(s):
    return json.dumps(s, ensure_ascii=False)[1:-1].encode("utf-8")


def tools_wire(tools_json):
    """Compact tools JSON (snake_case names) -> the grammar's wire form (thm_grammar.h)."""
    tools = json.loads(tools_json)
    if not 1 <= len(tools) <= MAX_TOOLS:
        raise PromptError(f"the device takes 1..{MAX_TOOLS} tools per prompt, got {len(tools)}")
    body, total_keys = b"", 0
    for t in tools:
        name, keys = _between_quotes(t["name"]), [_between_quotes(k) for k in t.get("parameters", {})]
        if not 1 <= len(name) <= 255 or any(not 1 <= len(k) <= 255 for k in keys):
            raise PromptError(f"tool {t['name']!r}: names and keys must be 1..255 bytes for the device")
        if len(keys) > MAX_KEYS:
            raise PromptError(f"tool {t['name']!r}: more than {MAX_KEYS} parameters for the device")
        total_keys += len(keys)
        body += bytes([len(name)]) + name + bytes([len(keys)]) + b"".join(bytes([len(k)]) + k for k in keys)
    wire = F.TOOLS_MAGIC + bytes([F.TOOLS_VERSION, len(tools)]) + struct.pack("<H", F.TOOLS_HEADER + len(body)) + body
    if total_keys > MAX_KEYS_TOTAL or len(wire) > MAX_WIRE:
        raise PromptError(f"tools too large for the device ({total_keys} keys, {len(wire)} wire bytes)")
    return wire


def build_request(query, tools, max_new_tokens=MAX_NEW, truncate=False):
    """(request bytes, name_map). tools: a parsed list or JSON text. The
    device refuses a prompt over its model's token limit unless truncate."""
    if isinstance(tools, (str, bytes)):
        tools = parse_tools(tools)
    if not isinstance(query, str) or not query:
        raise PromptError("query must be a non-empty string")
    tools_json, name_map = normalize_tools(tools)
    q, tj = query.encode("utf-8"), tools_json.encode("utf-8")
    if len(q) > MAX_QUERY:
        raise PromptError(f"query is {len(q)} bytes; the device takes {MAX_QUERY}")
    if len(tj) > MAX_TOOLS_JSON:
        raise PromptError(f"tools JSON is {len(tj)} bytes; the device takes {MAX_TOOLS_JSON}")
    if not 2 <= max_new_tokens <= MAX_NEW:
        raise PromptError(f"max_new_tokens must be 2..{MAX_NEW}")
    w = tools_wire(tools_json)
    head = struct.pack(F.REQ_FMT, REQ_MAGIC, REQ_VERSION, max_new_tokens, len(q), len(tj), len(w),
                       REQ_TRUNCATE if truncate else 0)
    return head + q + tj + w, name_map


TOOLS_BLOB_MAGIC = b"THTP"


def pack_tools(tools):
    """The tools as a small client sends them (clients/micropython,
    `thimble pack-tools`): b"THTP", u32 JSON length, u32 wire length, then
    Needle's compact tools JSON and its wire form, exactly the bytes
    build_request puts in a request. -> (blob, name_map)."""
    if isinstance(tools, (str, bytes)):
        tools = parse_tools(tools)
    tools_json, name_map = normalize_tools(tools)
    tj = tools_json.encode("utf-8")
    if len(tj) > MAX_TOOLS_JSON:
        raise PromptError(f"tools JSON is {len(tj)} bytes; the device takes {MAX_TOOLS_JSON}")
    w = tools_wire(tools_json)
    return TOOLS_BLOB_MAGIC + struct.pack("<II", len(tj), len(w)) + tj + w, name_map


@dataclass
class DeviceAnswer:
    status: int
    prompt_tokens: int
    tokens: list
    complete: bool
    crc: str                      # 8 hex digits, as Session.ask
    counter_hz: int
    tokenize_ticks: int
    prefill_ticks: int
    step_ticks: list = field(default_factory=list)
    text: str = ""                # the answer, or the device's error message

    @property
    def ok(self):
        return self.status == 0

    def instructions(self, ticks):
        """Counter ticks -> instructions (QEMU -icount shift=0: one instruction per virtual ns)."""
        return ticks * 1_000_000_000 // self.counter_hz

    def counters(self):
        steps = [self.instructions(t) for t in self.step_ticks]
        return {"prompt_tokens": self.prompt_tokens, "generated_tokens": len(self.tokens),
                "decoder_steps": len(steps), "instructions_tokenize": self.instructions(self.tokenize_ticks),
                "instructions_prefill": self.instructions(self.prefill_ticks),
                "instructions_per_token": sum(steps) // len(steps) if steps else 0}

    def calls(self, name_map):
        return restore_tool_names(json.loads(self.text), name_map) if self.ok and self.complete else None


def answer_length(head):
    """Total answer bytes from its first ANS_HEADER bytes (checked)."""
    if len(head) < ANS_HEADER or head[:4] != ANS_MAGIC:
        raise DeviceAnswerError("answer: bad magic or truncated header")
    (version,) = struct.unpack_from("<H", head, _ANS_AT["version"])
    (n_steps,) = struct.unpack_from("<H", head, _ANS_AT["n_steps"])
    (n_tokens,) = struct.unpack_from("<I", head, _ANS_AT["n_tokens"])
    (text_len,) = struct.unpack_from("<I", head, _ANS_AT["text_len"])
    if version != ANS_VERSION or n_steps > MAX_NEW or n_tokens > MAX_NEW or text_len > MAX_TEXT:
        raise DeviceAnswerError("answer: version or counts out of bounds")
    return ANS_HEADER + 4 * n_tokens + 8 * n_steps + text_len


def parse_answer(raw):
    n = answer_length(raw)
    if len(raw) != n:
        raise DeviceAnswerError(f"answer is {len(raw)} bytes, its header says {n}")
    _, _, n_steps, status, prompt, n_tok, complete, crc, hz, text_len, tt, pt = \
        struct.unpack_from(F.ANS_FMT, raw, 0)
    if hz == 0:
        raise DeviceAnswerError("answer: counter rate 0")
    pos = ANS_HEADER
    tokens = list(struct.unpack_from(f"<{n_tok}i", raw, pos))
    pos += 4 * n_tok
    steps = list(struct.unpack_from(f"<{n_steps}Q", raw, pos))
    pos += 8 * n_steps
    text = raw[pos:pos + text_len].decode("utf-8", "replace")
    return DeviceAnswer(status, prompt, tokens, bool(complete), f"{crc:08x}", hz, tt, pt, steps, text)

