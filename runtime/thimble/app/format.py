"""The board app's request and answer (THRQ, THRA) and the limits of the
tools' wire form: the one table. tools/gen_app_format.py writes
runtime/device/include/thm_app_format.h from it (the C app, grammar and
request parser read their offsets and limits there); thimble.app.request
packs and parses with it; the serial link sizes its request and output
buffers from it (thimble.link.format). All integers little-endian.

    request  header (REQUEST), then query (UTF-8), tools JSON (compact,
             snake_case names, as thimble.app.prompt.normalize_tools writes
             it) and the tools' wire form; nothing after them.
    answer   header (ANSWER), then n_tokens i32 ids, n_steps u64 ticks per
             decoder step and text_len bytes: the answer text, or the error
             message when status != 0 (then the counts are zero, except
             prompt_tokens of a refused prompt: its whole count).
"""
import struct

REQ_MAGIC, ANS_MAGIC = b"THRQ", b"THRA"
REQ_VERSION, ANS_VERSION = 2, 1          # request 2: the flags word
REQ_TRUNCATE = 1                         # flag: cut a prompt over the model's limit as Needle does

# (name, struct code, comment)
REQUEST = [
    ("magic", "4s", "REQ_MAGIC"),
    ("version", "H", "REQ_VERSION"),
    ("max_new_tokens", "H", "2 .. MAX_NEW"),
    ("query_len", "I", "1 .. MAX_QUERY bytes"),
    ("tools_json_len", "I", "2 .. MAX_TOOLS_JSON bytes"),
    ("tools_wire_len", "I", "TOOLS_HEADER .. TOOLS_MAX_WIRE bytes"),
    ("flags", "I", "REQ_TRUNCATE; other bits refused"),
]
ANSWER = [
    ("magic", "4s", "ANS_MAGIC"),
    ("version", "H", "ANS_VERSION"),
    ("n_steps", "H", "decoder steps timed, <= MAX_NEW"),
    ("status", "i", "STATUS: 0 ok"),
    ("prompt_tokens", "I", ""),
    ("n_tokens", "I", "<= MAX_NEW"),
    ("complete", "I", "1: a whole tool call"),
    ("crc", "I", "CRC-32 of the hidden states (bit-exactness check)"),
    ("counter_hz", "I", "ticks * 1e9 / counter_hz = instructions under QEMU -icount shift=0"),
    ("text_len", "I", "<= MAX_TEXT"),
    ("tokenize_ticks", "Q", ""),
    ("prefill_ticks", "Q", ""),
]

MAX_QUERY = 1024                 # bytes of query text
MAX_TOOLS_JSON = 8192            # bytes of tools JSON
MAX_NEW = 96                     # generated tokens, <tool_call> included (Session's default)
MAX_TEXT = 1024                  # answer or error text bytes

# The tools' wire form (the grammar's input, runtime/device/decode/thm_grammar.h):
# "THTL", u8 version, u8 n_tools, u16 total bytes, then per tool a length-prefixed
# name and n_keys length-prefixed argument keys.
TOOLS_MAGIC, TOOLS_VERSION, TOOLS_HEADER = b"THTL", 1, 8
TOOLS_MAX_TOOLS = 32             # tools per prompt
TOOLS_MAX_KEYS = 32              # argument keys per tool (one bit each in the grammar's state)
TOOLS_MAX_KEYS_TOTAL = 256
TOOLS_MAX_WIRE = 4096            # bytes of the whole wire form

# (name, code, words)
STATUS = [
    ("OK", 0, "ok"),
    ("E_REQUEST", -1, "bad request"),           # malformed request (the message says which field)
    ("E_NO_MODEL", -2, "no model"),             # no usable model installed
    ("E_ARENA", -3, "arena too small"),         # the model needs more arena than the board has
    ("E_TOKENIZE", -4, "tokenizer error"),
    ("E_MODEL", -5, "model error"),             # encode or a decoder step failed
    ("E_DECODE", -6, "decoding error"),         # constrained decoding failed
    ("E_PROMPT", -7, "prompt too long"),        # more tokens than the model takes (no REQ_TRUNCATE)
]


def fmt(fields):
    return "<" + "".join(code for _, code, _ in fields)


def offsets(fields):
    """{name: byte offset} of a header table."""
    out, off = {}, 0
    for name, code, _ in fields:
        out[name] = off
        off += struct.calcsize("<" + code)
    return out


REQ_FMT, ANS_FMT = fmt(REQUEST), fmt(ANSWER)
REQ_HEADER, ANS_HEADER = struct.calcsize(REQ_FMT), struct.calcsize(ANS_FMT)
MAX_REQUEST = REQ_HEADER + MAX_QUERY + MAX_TOOLS_JSON + TOOLS_MAX_WIRE
MAX_ANSWER = ANS_HEADER + (4 + 8) * MAX_NEW + MAX_TEXT      # ids and step ticks, then text
assert REQ_HEADER == 24 and ANS_HEADER == 52
