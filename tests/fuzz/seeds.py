"""Makes the fuzz harnesses' committed inputs (run from the repository root;
the files are committed, this script says how they were made):

  image/corpus/tiny.thm        a random model (d_model 16, one layer each)
  image/corpus/tiny_int4.thm   the same with int4 projections (weight_bits 4)
                               carrying watch-tiny's tokenizer: ~60 KB
  image/corpus/needle2.thm     a random Needle 2 (d_model 32, 2 layers, both with
                               an engram; CQ 2, 3 and 4 bits; window 8, 2 sinks)
  image/request.thrq           the request harness (a) asks every image:
                               "set a timer for ten minutes", 3 tools, 4 tokens
  request/tokenizer.bin        watch-tiny's tokenizer payload (harness (b)'s vocabulary)
  request/corpus/*.thrq        requests with 1, 3 and 9 watch-tiny tools; *_tape.thrq
                               with a choice tape after the request (harness (b)
                               draws each step's logits from one of its bytes)
  image/regressions/*.thm      the outside pass's findings, crafted the same way: replayed in CI
  link/corpus/*.bin            link scripts (tests/fuzz/link/harness.c): a whole
                               deploy, one cut by a power failure then resumed,
                               one cut in a journal compaction, a RUN with its
                               REQ and OUT frames, a COMMIT the check refuses

    .venv/bin/python tests/fuzz/seeds.py
"""
import json
import pathlib
import random
import struct
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parents[1]
MODEL = ROOT / "models" / "watch-tiny"


def tiny_image(int4=()):
    """int4: the projections to store as int4 ("all": every one)."""
    from thimble.model.synth import random_model, tiny_config
    from thimble.quant import calibrate, quantize, random_prompts, to_image
    from thimble.tokenizer import load_model
    from thimble.tokenizer.payload import build_payload
    cfg = tiny_config(vocab_size=768, d_model=16, num_heads=2, num_kv_heads=1, num_encoder_layers=1,
                      num_decoder_layers=1, d_ff=16, max_seq_len=96)
    fm = random_model(cfg, seed=3, weight_scale=4)
    qm = quantize(fm, calibrate(fm, random_prompts(cfg, n=2, length=16, seed=3), decode_tokens=4), int4=int4)
    return to_image(qm, build_payload(load_model(str(MODEL / "tokenizer.model"))))


def needle2_image():
    import numpy as np
    from thimble.needle2 import config as C, cact_format as F, image as N2I
    from thimble.needle2.int_forward import IntNeedle2, calibrate, cq_model
    cfg = C.validate(C.Needle2Config(vocab_size=64, d_model=32, num_heads=2, num_kv_heads=1, num_layers=2,
                                     engram_layers=(0, 1), engram_slots=16, max_seq_len=16))
    rng = np.random.default_rng(5)
    params = {name: rng.standard_normal(shape) * (0.1 if kind == "matrix" else 0.3)
              for name, shape, kind in F.tensor_order(cfg)}
    bits = {"q_proj": 4, "k_proj": 3, "gate_proj": 5}
    mats, fparams = cq_model(cfg, params, bits=lambda name: bits.get(name.split(".")[-1], 2))
    cal = calibrate(cfg, fparams, [rng.integers(0, 64, 12)])
    return N2I.build(IntNeedle2(cfg, mats, fparams, cal, window=8, sinks=2))


def partial_utf8_image():
    """tiny.thm with three USER_DEFINED pieces that are single bytes of multi-byte
    characters (E2, 96, EF): the tokenizer that overflowed the device encoder."""
    import dataclasses
    from thimble.quant import from_image, to_image
    from thimble.tokenizer import load_model
    from thimble.tokenizer.payload import build_payload
    from thimble.tokenizer.spm_model import NORMAL, USER_DEFINED
    spm = load_model(str(MODEL / "tokenizer.model"))
    pieces, types = list(spm.pieces), list(spm.types)
    for i, text in zip([i for i, k in enumerate(types) if k == NORMAL][-3:], (b"\xe2", b"\x96", b"\xef")):
        pieces[i], types[i] = text, USER_DEFINED
    qm, _ = from_image(tiny_image())
    return to_image(qm, build_payload(dataclasses.replace(spm, pieces=tuple(pieces), types=tuple(types))))


def link_script(image, cut_at=None):
    """Chunks for the link harness: HELLO, BEGIN, DATA..., COMMIT; with cut_at, a
    power cut armed before the frames and a second session that resumes."""
    from thimble.link import codec
    from thimble.link import format as F
    C = F.COMMANDS
    frames = [codec.encode(C["HELLO"], 1), codec.encode(C["BEGIN"], 2, codec.pack("BEGIN", len(image), image[32:64]))]
    seq = 3
    for off in range(0, len(image), 1024):
        frames.append(codec.encode(C["DATA"], seq, codec.pack("DATA", off, bytes(4), tail=image[off:off + 1024])))
        seq += 1
    frames.append(codec.encode(C["COMMIT"], seq))
    out = bytearray()
    if cut_at is not None:
        out.append(0xC0 | cut_at)
    for k, f in enumerate(frames):
        if k % 2:                    # as the harness's own frames (cmd, seq, length, payload; CRC made there)
            cmd, _, seq, n = struct.unpack_from(F.HEADER_FMT, f, len(F.MAGIC))
            out += bytes([0x80, cmd]) + struct.pack("<HH", seq, n) + f[len(F.MAGIC) + struct.calcsize(F.HEADER_FMT):-4]
        else:                        # as raw bytes on the line, in pieces
            for i in range(0, len(f), 120):
                out.append(len(f[i:i + 120]))
                out += f[i:i + 120]
    if cut_at is not None:           # after the cut: the host starts again
        out += link_script(image)
    return bytes(out)


def link_compaction_script(image, begins=61):
    """A whole deploy (a committed model: GEN, PROGRESS, PROGRESS, COMMIT in
    the log), then BEGINs of two other images in turn, each journaling a
    PROGRESS record for the other slot, until the 63-record log sector is
    full and the last BEGIN compacts it into the other sector; the power is
    cut at the compaction's third flash operation (after the erase and one
    program: its second record, or the GEN record of a journal that writes
    it first). Then the deploy again. Mutation alone seldom writes 60
    records in one input (nor moves the cut byte of a 7.8 KB input), and a
    cut in compaction is where a journal that writes its GEN record before
    the live records loses the committed model."""
    import hashlib
    from thimble.link import codec
    from thimble.link import format as F
    shas = [hashlib.sha256(bytes([k]) + image).digest() for k in range(2)]
    out = bytearray(link_script(image))
    for k in range(begins):
        if k == begins - 1:
            out.append(0xC2)
        payload = codec.pack("BEGIN", len(image), shas[k % 2])
        out += bytes([0x80, F.COMMANDS["BEGIN"]]) + struct.pack("<HH", 0x100 + k, len(payload)) + payload
    return bytes(out) + link_script(image)


def harness_frame(name, seq, payload, lead=0x80):
    """One of the link harness's own frames (it makes the CRC); lead 0x81 asks
    it to fix a RUN frame's length and CRC up to the staged request."""
    from thimble.link import format as F
    return bytes([lead, F.COMMANDS[name]]) + struct.pack("<HH", seq, len(payload)) + payload


def link_run_script(image):
    """A deploy, then a request staged in two REQ parts, RUN (its CRC made by
    the harness, lead 0x81) and OUT for the rest: the fake handler answers
    le16(request[0:2]) % (MAX_OUTPUT + 64) bytes, here 2100 (RUN's first part,
    then two OUT pages)."""
    from thimble.link import codec
    request = struct.pack("<H", 2100) + bytes(range(256)) * 5
    out = bytearray(link_script(image))
    for seq, off in enumerate(range(0, len(request), 1024)):
        out += harness_frame("REQ", 0x200 + seq, codec.pack("REQ", off, len(request), tail=request[off:off + 1024]))
    out += harness_frame("RUN", 0x210, codec.pack("RUN", 0, 0), lead=0x81)
    for seq, off in enumerate((1008, 2040, 2100)):
        out += harness_frame("OUT", 0x220 + seq, codec.pack("OUT", off))
    return bytes(out)


def link_refused_script(image):
    """A deploy, then one of an image COMMIT's check refuses (byte 64 is 0xEE,
    tests/fuzz/link/harness.c): E_IMAGE, the first stays active."""
    import hashlib
    refused = bytearray(image)
    refused[64] = 0xEE
    refused[32:64] = bytes(32)
    refused[32:64] = hashlib.sha256(refused).digest()
    return link_script(image) + link_script(bytes(refused))


def link_image():
    import hashlib
    rng = random.Random(5)
    img = bytearray(rng.randbytes(2500))
    img[32:64] = bytes(32)
    img[32:64] = hashlib.sha256(img).digest()
    return bytes(img)


def main():
    sys.path.insert(0, str(ROOT / "runtime"))
    from thimble.app.request import build_request
    from thimble.tokenizer import load_model
    from thimble.tokenizer.payload import build_payload
    tools = json.loads((MODEL / "tools.json").read_text())
    files = {
        "image/corpus/tiny.thm": tiny_image(),
        "image/corpus/tiny_int4.thm": tiny_image(int4="all"),
        "image/corpus/needle2.thm": needle2_image(),
        "image/regressions/tok_partial_utf8_user_piece.thm": partial_utf8_image(),
        "image/request.thrq": build_request("set a timer for ten minutes", tools[:3], 4, truncate=True)[0],
        "request/tokenizer.bin": build_payload(load_model(str(MODEL / "tokenizer.model"))),
        "request/corpus/one_tool.thrq": build_request("set a timer for ten minutes", tools[:1], 8)[0],
        "request/corpus/three_tools.thrq": build_request("text mom that I am late", tools[:3], 24)[0],
        "request/corpus/all_tools.thrq": build_request("what is the weather in Paris", tools, 96, truncate=True)[0],
        "request/corpus/three_tools_tape.thrq": build_request("text mom that I am late", tools[:3], 48)[0]
        + bytes(random.Random(7).randbytes(48)),
        "link/corpus/deploy.bin": link_script(link_image()),
        "link/corpus/deploy_cut.bin": link_script(link_image(), cut_at=2),
        "link/corpus/compaction_cut.bin": link_compaction_script(link_image()),
        "link/corpus/run.bin": link_run_script(link_image()),
        "link/corpus/refused_commit.bin": link_refused_script(link_image()),
    }
    for name, data in files.items():
        path = FUZZ / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{path.relative_to(ROOT)}: {len(data)} bytes")


if __name__ == "__main__":
    main()
