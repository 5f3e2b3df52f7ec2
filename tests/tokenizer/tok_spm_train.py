"""Trains small SentencePiece BPE models with Needle's settings, for tests
(the sentencepiece package is a test dependency only)."""
import pathlib

CORPUS = [
    "set a timer for ten minutes",
    "What's the weather in Paris tomorrow?",
    "send a message to Alice saying I'll be late",
    "play some jazz music in the living room",
    "turn off the lights at 10:30 pm",
    "remind me to buy milk, eggs and bread",
    "call mom",
    "navigate to 1600 Amphitheatre Parkway",
    '[{"name":"set_timer","description":"Set a timer","parameters":{"minutes":'
    '{"type":"integer","description":"duration in minutes","required":true}}}]',
    '[{"name":"get_weather","description":"Get the weather for a city","parameters":{"city":'
    '{"type":"string","description":"city name","required":true}}}]',
    '[{"name":"send_message","arguments":{"to":"Alice","text":"late"}}]',
    "réserve une table pour deux à 20h au café",
    "schalte das Licht im Wohnzimmer aus, bitte",
    "明日の天気を教えて",
    "打开客厅的灯",
    "¿Qué hora es en Madrid?",
    "Привет, как дела? Поставь будильник на 7 утра",
]


def train(tmp_dir, vocab_size=600, **overrides):
    import sentencepiece as spm
    tmp_dir = pathlib.Path(tmp_dir)
    corpus = tmp_dir / "corpus.txt"
    corpus.write_text("\n".join(CORPUS * 3) + "\n", encoding="utf-8")
    prefix = tmp_dir / f"tok{vocab_size}"
    # Needle's own training call (needle/dataset/tokenizer.py), smaller vocab
    args = dict(input=str(corpus), model_prefix=str(prefix), vocab_size=vocab_size, model_type="bpe",
                pad_id=0, eos_id=1, bos_id=2, unk_id=3, user_defined_symbols=["<tool_call>", "<tools>"],
                byte_fallback=True, normalization_rule_name="identity", num_threads=1,
                hard_vocab_limit=False, minloglevel=2)
    args.update(overrides)
    spm.SentencePieceTrainer.Train(**args)
    return pathlib.Path(str(prefix) + ".model")
