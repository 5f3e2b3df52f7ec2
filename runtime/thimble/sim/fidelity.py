"""How far the integer model is from the float one (`thimble eval`).

Cosine similarity does not depend on scale, so integer hidden states are
compared with float ones as they are: no scales are needed, and an image
alone (plus the float checkpoint) is enough.
  - per layer: cosine of the residual stream after the embedding and each
    layer (encoder; decoder under teacher forcing), mean and worst over prompts
  - logits: top-1 agreement at every decoder position, teacher-forced with the
    float model's own greedy tokens (so both see the same inputs)
"""
import numpy as np

from ..model.float_forward import FloatNeedle
from .int_forward import IntNeedle


def cosine(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(a @ b / (na * nb))


def fidelity(float_model, qm, backend, prompts, *, decode_tokens=16, start_id=1, progress=None):
    """prompts: token id sequences. Returns a JSON-ready report.
    progress(i, n), if given, is called after each prompt."""
    fm = FloatNeedle(float_model, np.float32)
    im = IntNeedle(qm, backend)
    c = qm.config
    enc_cos = [[] for _ in range(c.num_encoder_layers + 1)]
    dec_cos = [[] for _ in range(c.num_decoder_layers + 1)]
    enc_out, agree, positions = [], 0, 0
    for toks in prompts:
        toks = np.asarray(toks, dtype=np.int64)
        ef = fm.encode(toks[None, :], return_layers=True)
        iout, ilayers = im.encode(toks, return_layers=True)
        for i, (a, b) in enumerate(zip(ef.layers, ilayers)):
            enc_cos[i].append(cosine(a[0], b))
        enc_out.append(cosine(ef.hidden[0], iout))
        fc, ic = fm.start_decoder(ef), im.start_decoder(iout)
        tok = start_id
        for _ in range(decode_tokens):
            fl, flayers = fm.decode_step(fc, [[tok]], return_layers=True)
            il, ilayers = im.decode_step(ic, tok, return_layers=True)
            for i, (a, b) in enumerate(zip(flayers, ilayers)):
                dec_cos[i].append(cosine(a[0, -1], b[0]))
            f_top = int(np.argmax(fl[0, -1]))
            agree += int(f_top == int(np.argmax(il)))
            positions += 1
            tok = f_top
        if progress:
            progress(len(enc_out), len(prompts))

    def summary(vals):
        return {"mean": float(np.mean(vals)), "min": float(np.min(vals))}

    return {
        "prompts": len(prompts),
        "decoder_positions": positions,
        "encoder_layers": [dict(layer=i, **summary(v)) for i, v in enumerate(enc_cos)],
        "encoder_output": summary(enc_out),
        "decoder_layers": [dict(layer=i, **summary(v)) for i, v in enumerate(dec_cos)],
        "top1_agreement": agree / max(positions, 1),
    }
