"""Helpers for the board tests: watch-tiny's tools and held-out prompts, and
whether a board's toolchain and QEMU are installed."""
import json
import pathlib

from thimble.boards.board import board_names

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "watch-tiny"
BOARDS = board_names()
TOOLS = json.loads((MODEL / "tools.json").read_text())
BY_NAME = {t["name"]: t for t in TOOLS}


def handwritten_prompts():
    """models/watch-small's hand-written set: (query, tools, answer), the 9 tools in each."""
    small = ROOT / "models" / "watch-small"
    by_name = {t["name"]: t for t in json.loads((small / "tools.json").read_text())}
    rows = [json.loads(line) for line in (small / "handwritten.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [(r["query"], [by_name[t] for t in r["tools"]], r["answer"]) for r in rows]


def eval_prompts(n):
    rows = [json.loads(line) for line in (MODEL / "eval.jsonl").read_text().splitlines() if line.strip()]
    return [(r["query"], [BY_NAME[t] for t in r["tools"]], r["answer"]) for r in rows[:n]]


# The flash service commands of the test-only firmware (runtime/device/app/thm_flash_test.c).
FL_ERASE, FL_PROGRAM, FL_READ = 1, 2, 3


def flash_request(op, off=0, data_or_len=0):
    import struct
    if op == FL_PROGRAM:
        return b"THFL" + struct.pack("<III", op, off, len(data_or_len)) + bytes(data_or_len)
    return b"THFL" + struct.pack("<III", op, off, data_or_len)


def flash_reply(ser):
    """(status, data) of one flash service reply, skipping any banner bytes before it."""
    import struct
    window = b""
    for _ in range(4096):
        b = ser.read(1)
        assert b, "the device did not reply"
        window = (window + b)[-4:]
        if window == b"THFA":
            break
    else:
        raise AssertionError("no flash reply magic")
    status, n = struct.unpack("<iI", ser.read(8))
    data = ser.read(n)
    assert len(data) == n
    return status, data


def flash_cmd(ser, op, off=0, data_or_len=0):
    ser.write(flash_request(op, off, data_or_len))
    return flash_reply(ser)


def tiny_image(path):
    """A random model (d_model 32, one layer each) carrying watch-tiny's tokenizer:
    about 90 KB, small enough to deploy over the emulated UART in seconds."""
    from thimble.model.synth import random_model, tiny_config
    from thimble.quant import calibrate, quantize, random_prompts, to_image
    from thimble.tokenizer import load_model
    from thimble.tokenizer.payload import build_payload
    cfg = tiny_config(vocab_size=768, d_model=32, num_heads=2, num_kv_heads=1, num_encoder_layers=1,
                      num_decoder_layers=1, max_seq_len=256)
    fm = random_model(cfg, seed=7, weight_scale=4)
    qm = quantize(fm, calibrate(fm, random_prompts(cfg, n=3, length=32, seed=7), decode_tokens=6))
    path.write_bytes(to_image(qm, build_payload(load_model(str(MODEL / "tokenizer.model")))))
    return path


def still_serving(link, board, good, want, query, tools):
    """After a deploy the board refused: on an A/B board the model that served
    before (`good`, a path) is still active and answers as `want` (the
    simulator's answer); on a one-slot board (model_slots = 1: watch_m4) the
    refused deploy took the slot, so the board answers "no model installed"
    until the good image is deployed again, which then answers as before."""
    from thimble.boards.board import load_board
    sha = good.read_bytes()[32:64].hex()
    info = link.hello()
    if load_board(board).model_slots == 2:
        assert info["active"] is not None and info["slots"][info["active"]]["sha256"] == sha, info
    else:
        assert info["active"] is None, info
        _, ans = link.run(query, tools)
        assert not ans.ok and "no model installed" in ans.text, ans
        assert link.deploy(good.read_bytes()).status == "deployed"
    _, ans = link.run(query, tools)
    assert ans.ok and (ans.tokens, ans.crc) == (want["tokens"], want["crc"]), ans


class OldProtocolDevice:
    """A TCP 'device' that answers every HELLO as link protocol VERSION - 1
    (the tests of clients refusing firmware of another protocol version).
    Entering yields its socket:// URL."""

    def __enter__(self):
        import socket
        import threading
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(1)
        threading.Thread(target=self._serve, daemon=True).start()
        return f"socket://127.0.0.1:{self.ls.getsockname()[1]}"

    def _serve(self):
        from thimble.link import codec
        from thimble.link import format as F
        try:
            c, _ = self.ls.accept()
        except OSError:
            return
        with c:
            dec = codec.Decoder()
            while True:
                data = c.recv(4096)
                if not data:
                    return
                for _cmd, seq, _payload in dec.feed(data):
                    head = codec.pack("HELLO_R", F.VERSION - 1, F.MAX_PAYLOAD, F.WINDOW, 1, 0xFF, 1 << 16, 4096,
                                      F.MAX_REQUEST, F.MAX_OUTPUT, b"watch_m4")
                    empty = codec.pack("SLOT_INFO", 0, bytes(3), 0, 0, 0, bytes(32))
                    c.sendall(codec.encode(F.COMMANDS["HELLO"] | F.REPLY, seq, head + empty))

    def __exit__(self, *exc):
        self.ls.close()
