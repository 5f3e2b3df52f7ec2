"""The random model shapes the C runtime tests run, and how one is quantized
(conftest.py makes fixtures of them; a test module imports them from here,
since every tests/ directory has a conftest of its own)."""
from thimble.model.synth import random_model, tiny_config
from thimble.quant import calibrate, quantize, random_prompts


# (name, config overrides): head counts, GQA/MQA/MHA, odd head counts, layer counts
SHAPES = [
    ("gqa", dict(vocab_size=300, d_model=64, num_heads=4, num_kv_heads=2, num_encoder_layers=2,
                 num_decoder_layers=2, max_seq_len=40)),
    ("mqa_deep_dec", dict(vocab_size=97, d_model=48, num_heads=6, num_kv_heads=1, num_encoder_layers=1,
                          num_decoder_layers=3, max_seq_len=24)),
    ("mha_deep_enc", dict(vocab_size=64, d_model=40, num_heads=4, num_kv_heads=4, num_encoder_layers=3,
                          num_decoder_layers=1, max_seq_len=16)),
]


def make_quant(overrides, seed, int4=(), embed_int4=False):
    cfg = tiny_config(**overrides)
    fm = random_model(cfg, seed=seed, weight_scale=4)
    cal = calibrate(fm, random_prompts(cfg, n=3, length=min(12, cfg.max_seq_len), seed=seed), decode_tokens=6)
    return quantize(fm, cal, int4=int4, embed_int4=embed_int4)
