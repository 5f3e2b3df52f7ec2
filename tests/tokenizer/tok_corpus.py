"""Prompts for the tokenizer tests: what users type, and the edges of
SentencePiece's normaliser (spaces, U+2581 itself, user-defined symbols)."""
import json

TOOLS = [{"name": "set_timer", "description": "Set a timer", "parameters": {
    "minutes": {"type": "integer", "description": "duration in minutes", "required": True}}},
    {"name": "get_weather", "description": "Météo d'une ville", "parameters": {
        "city": {"type": "string", "description": "city name, e.g. 東京", "required": True}}}]

PROMPTS = [
    "", " ", "   ", "\t", "\n", "a", "set a timer for ten minutes",
    "  leading and trailing  ", "many     spaces   inside", "tab\tand\nnewline\r\n",
    "réserve une table à 20h au café", "naïve façade coöperate", "e\u0301 combining acute, a\u0308\u0304",
    "明日の天気を教えて", "打开客厅的灯，然后播放音乐", "한국어 문장도 있습니다",
    "שלום עולם", "مرحبا بالعالم ١٢٣", "Привет, поставь будильник на 7:30",
    "emoji 😀👍🏽 👨‍👩‍👧 flags 🇫🇷", "digits 0123456789 3.14159 -42 1e10",
    "<tools>", "<tool_call>", "a<tools>b <tool_call> c", "<tools<tools>>", "<tool_call<tools>",
    "\u2581", "\u2581\u2581 x", "x \u2581", "abc\u2581", " \u2581 ", "\u2581hello\u2581world",
    "\x00nul\x00", "\x7f\x01\x1b[0m", "\ufeffBOM", "\ufffd replacement", "zero\u200bwidth",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 astral", "\U0010FFFF", "ǅ ﬁ ℌ ① Ⅻ", "   \u3000ideographic space\u3000",
    "mixed: set a timer for 10 minutes, then 天気 and 😀!!",
    json.dumps(TOOLS, separators=(",", ":")),
    json.dumps(TOOLS, separators=(",", ":"), ensure_ascii=False),
    '[{"name":"send_message","arguments":{"to":"Alice","text":"I\'ll be late"}}]',
    "x" * 300, "ab " * 100, "😀" * 50,
]

# byte strings that are not UTF-8 (the C encoder takes raw bytes)
RAW = [b"\xff", b"ab\xffcd", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xe2\x82\x28", b"\xf0\x9f\x98",
       b"\xed\xa0\x80 surrogate", b"\xc0\xaf overlong", b"\xf4\x90\x80\x80 too big", b"\x80\x80 ",
       b"  \xff  \xfe  "]
