"""Helpers for the link tests: small real images and raw frame exchanges
with the host server (runtime/thimble/link/host_server.py)."""
import pathlib
import sys

from thimble.link import codec
from thimble.link import format as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "device"))
from device_harness import tiny_image  # noqa: E402  (one maker of small images for every test)

CMD = F.COMMANDS
ST = F.STATUS


def images(folder):
    """Two different valid images of about 90 KB (23 sectors of 4 KiB)."""
    a = tiny_image(folder / "a.thm").read_bytes()
    b = bytearray(a)
    from thimble.image.reader import image_digest
    b[-1] ^= 0x55                                   # another model: same size, its own hash
    b[32:64] = bytes(32)
    b[32:64] = image_digest(bytes(b))
    return a, bytes(b)


def exchange(link, raw, seq=None):
    """Write raw bytes; -> the first reply frame (cmd, seq, payload) with `seq`
    (any seq when None), or None after the link's timeout."""
    import time
    link.ser.write(raw)
    deadline = time.monotonic() + link.timeout
    while True:
        fr = link._recv(deadline)
        if fr is None or seq is None or fr[1] == seq:
            return fr


def frame(cmd, seq, payload=b""):
    return codec.encode(CMD[cmd] if isinstance(cmd, str) else cmd, seq, payload)
