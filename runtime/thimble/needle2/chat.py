"""Needle 2's chat format (the original's training render, needle/model/
finetune.py): what the model reads and what it is trained to answer.

    prompt: [<|im_start|>system\\n SYSTEM <|im_end|>\\n]
            <|im_start|>user\\n<tools>TOOLS_JSON</tools>\\nQUERY<|im_end|>\\n<|im_start|>assistant\\n
    answer: <think>REASONING</think>\\n<tool_call>CALLS_JSON</tool_call><|im_end|>

The ten markers are single user-defined pieces (ids 4-13 in the original
tokenizer); the model's input starts with BOS. Tool JSON is compact
(separators "," and ":"), as in training."""
import json
import re

from ..model.bounded_json import JSONTooDeep, loads

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
THINK_START, THINK_END = "<think>", "</think>"
TOOLS_START, TOOLS_END = "<tools>", "</tools>"
TOOL_CALL_START, TOOL_CALL_END = "<tool_call>", "</tool_call>"
TOOL_RESULT_START, TOOL_RESULT_END = "<tool_result>", "</tool_result>"
MARKERS = (IM_START, IM_END, THINK_START, THINK_END, TOOLS_START, TOOLS_END, TOOL_CALL_START, TOOL_CALL_END,
           TOOL_RESULT_START, TOOL_RESULT_END)

_ANSWER = re.compile(re.escape(THINK_START) + r"(.*?)" + re.escape(THINK_END) + r"\n"
                     + re.escape(TOOL_CALL_START) + r"(.*?)" + re.escape(TOOL_CALL_END)
                     + "(?:" + re.escape(IM_END) + ")?$", re.S)


class ChatError(ValueError):
    """An answer that is not the format, or tool calls that are not a JSON list of calls."""


def compact(obj):
    return obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def render_prompt(query, tools, system=""):
    """The text the model reads (before BOS): tools as a list or its JSON text."""
    prefix = f"{IM_START}system\n{system}{IM_END}\n" if system else ""
    return (f"{prefix}{IM_START}user\n{TOOLS_START}{compact(tools)}{TOOLS_END}\n{query}{IM_END}\n"
            f"{IM_START}assistant\n")


def prompt_ids(tokenizer, query, tools, system=""):
    return [tokenizer.bos_id] + tokenizer.encode(render_prompt(query, tools, system))


def render_answer(calls, reasoning=""):
    """The text a trained model answers with (the training target)."""
    return f"{THINK_START}{reasoning}{THINK_END}\n{TOOL_CALL_START}{compact(calls)}{TOOL_CALL_END}{IM_END}"


def parse_answer(text):
    """The model's text -> (reasoning, [{"name": str, "arguments": dict}]); ChatError says what is wrong."""
    m = _ANSWER.match(text)
    if not m:
        raise ChatError("the answer is not <think>...</think>\\n<tool_call>...</tool_call>")
    try:
        calls = loads(m.group(2))
    except (ValueError, JSONTooDeep) as e:
        raise ChatError(f"the tool calls are not JSON: {e}") from None
    if not isinstance(calls, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("arguments", {}), dict)
            for c in calls):
        raise ChatError("the tool calls are not a list of {\"name\": ..., \"arguments\": {...}}")
    return m.group(1), calls
