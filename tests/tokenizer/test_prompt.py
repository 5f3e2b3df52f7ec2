"""Needle's prompt: query, <tools>, compact tools JSON with snake_case names;
truncation to the encoder limit; tools validation; names mapped back."""
import json

import pytest

from tok_corpus import TOOLS
from thimble.app.prompt import (PromptError, PromptTooLong, build_encoder_input, load_tools, normalize_tools, parse_tools,
                            restore_tool_names, to_snake_case)
from thimble.tokenizer import Tokenizer, load_model
from toolchain import need_module


@pytest.mark.parametrize("name,snake", [
    ("getWeather", "get_weather"), ("GetWeather", "get_weather"), ("get_weather", "get_weather"),
    ("HTTPServerStart", "http_server_start"), ("weather.get", "weather_get"), ("set-timer", "set_timer"),
    ("__private__", "private"), ("sendSMS", "send_sms"), ("v2Api", "v2_api"), ("alarm 2 Set", "alarm_2_set"),
    ("météoDuJour", "m_t_o_du_jour"), ("A", "a"),
])
def test_snake_case_as_needle(name, snake):
    assert to_snake_case(name) == snake


def test_normalize_tools_is_needles_compact_json():
    tools = [{"name": "setTimer", "description": "Set a timer", "parameters": {}},
             {"name": "getWeather", "description": "Météo", "parameters": {
                 "city": {"type": "string", "description": "city", "required": True}}}]
    text, name_map = normalize_tools(tools)
    assert text == ('[{"name":"set_timer","description":"Set a timer","parameters":{}},'
                    '{"name":"get_weather","description":"M\\u00e9t\\u00e9o","parameters":'
                    '{"city":{"type":"string","description":"city","required":true}}}]')
    assert name_map == {"set_timer": "setTimer", "get_weather": "getWeather"}
    assert tools[0]["name"] == "setTimer"      # the caller's list is not modified


def test_encoder_input_matches_sentencepiece(spm_models):
    spm = need_module("sentencepiece")
    sp = spm.SentencePieceProcessor(model_file=str(spm_models["needle"]))
    tok = Tokenizer(load_model(spm_models["needle"]))
    query = "Set a timer for ten minutes, s'il te plaît 😀"
    tools_json, _ = normalize_tools(TOOLS)
    q, t = sp.encode(query), sp.encode(tools_json)
    ids, name_map = build_encoder_input(tok, query, TOOLS, max_enc_len=1024)
    assert ids == q + [5] + t and name_map == {"set_timer": "set_timer", "get_weather": "get_weather"}
    # asked to truncate: tools get what the query leaves; the query keeps at most max_enc_len - 2
    ids, _ = build_encoder_input(tok, query, json.dumps(TOOLS), max_enc_len=len(q) + 4, truncate=True)
    assert ids == q + [5] + t[:3]
    ids, _ = build_encoder_input(tok, query, TOOLS, max_enc_len=5, truncate=True)
    assert ids == q[:3] + [5] + t[:1]
    ids, _ = build_encoder_input(tok, "a", [], max_enc_len=2, truncate=True)
    assert ids == [5] + sp.encode("[]")[:1]          # the query gets max_enc_len - 2 = 0 tokens
    with pytest.raises(PromptError, match="non-empty"):  # as the device's request refuses it
        build_encoder_input(tok, "", [], max_enc_len=2, truncate=True)
    # not asked: a prompt over the limit is refused with its counts, never cut silently
    ids, _ = build_encoder_input(tok, query, TOOLS, max_enc_len=len(q) + 1 + len(t))
    assert ids == q + [5] + t
    with pytest.raises(PromptTooLong) as e:
        build_encoder_input(tok, query, TOOLS, max_enc_len=len(q) + len(t))
    assert (e.value.tokens, e.value.limit) == (len(q) + 1 + len(t), len(q) + len(t))
    assert f"the prompt is {len(q) + 1 + len(t)} tokens (the query {len(q)}, the tools {len(t)})" in str(e.value)
    assert "--truncate" in str(e.value)


@pytest.mark.parametrize("text,message", [
    ("{", "not valid JSON"),
    ('{"name":"x"}', "JSON list"),
    ("[1]", "tool 0 must be an object"),
    ('[{"description":"x"}]', "tool 0 has no \"name\""),
    ('[{"name":""}]', "1..128 characters"),
    ('[{"name":"' + "a" * 200 + '"}]', "1..128 characters"),
    ('[{"name":"---"}]', "no letters or digits"),
    ('[{"name":7}]', "name must be a string"),
    ('[{"name":"a","parameters":[]}]', "parameters must be an object"),
    ('[{"name":"a","parameters":{"p":1}}]', "parameter 'p' must be an object"),
    ('[{"name":"a","parameters":{"p":{"required":"yes"}}}]', "required must be true or false"),
    ('[{"name":"a","parameters":{"p":{"type":3}}}]', "type must be a string"),
    ('[{"name":"ok"},{"name":"x","description":5}]', "tool 1 \\(x\\) description"),
    ("[" * 100000 + "]" * 100000, "not valid JSON"),
    (b"[\xff]", "not UTF-8"),
])
def test_bad_tools_are_refused_with_the_place(text, message):
    with pytest.raises(PromptError, match=message):
        parse_tools(text)


def test_tools_file_limits_and_collisions(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b" " * (1 << 20) + b"]")
    with pytest.raises(PromptError, match="limit"):
        load_tools(big)
    with pytest.raises(PromptError, match="cannot read"):
        load_tools(tmp_path / "missing.json")
    good = tmp_path / "tools.json"
    good.write_text(json.dumps(TOOLS))
    assert load_tools(good) == TOOLS
    with pytest.raises(PromptError, match="both become 'get_weather'"):
        normalize_tools([{"name": "getWeather"}, {"name": "get.weather"}])


def test_bad_query_and_limit():
    tok = type("T", (), {"encode": staticmethod(lambda s: [7] * len(s))})()
    with pytest.raises(PromptError, match="query must be a string"):
        build_encoder_input(tok, b"bytes", [], 16)
    with pytest.raises(PromptError, match="max_enc_len"):
        build_encoder_input(tok, "q", [], 1)
    with pytest.raises(PromptError, match="limit"):
        build_encoder_input(tok, "q" * 70000, [], 16)


def test_names_are_mapped_back():
    _, name_map = normalize_tools([{"name": "setTimer"}, {"name": "Weather.Get"}])
    calls = [{"name": "set_timer", "arguments": {"minutes": 10}}, {"name": "weather_get", "arguments": {}},
             {"name": "unknown_tool", "arguments": {}}]
    assert [c["name"] for c in restore_tool_names(calls, name_map)] == ["setTimer", "Weather.Get", "unknown_tool"]
    assert calls[0]["name"] == "set_timer"
    assert restore_tool_names(json.dumps(calls[:1]), name_map) == \
        '[{"name":"setTimer","arguments":{"minutes":10}}]'
    with pytest.raises(PromptError, match="not valid JSON"):
        restore_tool_names("[{", name_map)
