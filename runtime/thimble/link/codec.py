"""Frame codec of the serial link, mirroring runtime/device/link/thm_link_frame.c
from the same table (format.py): MAGIC | header | payload | CRC-32."""
import struct
import zlib

from . import format as F


class FrameError(ValueError):
    """A frame that cannot be encoded (payload too long)."""


def encode(cmd, seq, payload=b""):
    if len(payload) > F.MAX_PAYLOAD:
        raise FrameError(f"payload of {len(payload)} bytes exceeds {F.MAX_PAYLOAD}")
    head = struct.pack(F.HEADER_FMT, cmd, 0, seq & 0xFFFF, len(payload))
    return F.MAGIC + head + payload + struct.pack("<I", zlib.crc32(head + payload))


class Decoder:
    """Streaming decoder with resync: feed bytes, collect (cmd, seq, payload)
    frames. Bytes that do not form a frame with a good CRC are skipped by
    scanning for MAGIC, and so is an incomplete frame once a whole good frame
    follows it (its length was damaged); `errors` counts how often."""

    def __init__(self):
        self.buf = bytearray()
        self.errors = 0

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            i = self.buf.find(F.MAGIC)
            if i < 0:
                del self.buf[:max(0, len(self.buf) - 1)]   # keep a possible first MAGIC byte
                return out
            del self.buf[:i]
            if len(self.buf) < 2 + F.HEADER_SIZE:
                return out
            cmd, _flags, seq, length = struct.unpack_from(F.HEADER_FMT, self.buf, 2)
            if length > F.MAX_PAYLOAD:
                self.errors += 1
                del self.buf[:1]
                continue
            total = F.FRAME_OVERHEAD + length
            if len(self.buf) < total:
                # A header whose length a bad byte changed, but within bounds, would hold
                # every frame behind it until that many bytes came: on a line of 26-byte
                # ACKs, seconds of stalls, and HELLO tries spent on replies already here.
                # A whole, good frame after it proves that header false.
                j = self._good_frame_after()
                if j is None:
                    return out
                self.errors += 1
                del self.buf[:j]
                continue
            body = bytes(self.buf[2:2 + F.HEADER_SIZE + length])
            (crc,) = struct.unpack_from("<I", self.buf, total - 4)
            if crc != zlib.crc32(body):
                self.errors += 1
                del self.buf[:1]
                continue
            out.append((cmd, seq, body[F.HEADER_SIZE:]))
            del self.buf[:total]

    def _good_frame_after(self):
        """Where the first whole frame with a good CRC starts after the
        buffer's first byte, or None."""
        i = 1
        while True:
            i = self.buf.find(F.MAGIC, i)
            if i < 0 or len(self.buf) - i < F.FRAME_OVERHEAD:
                return None
            length = struct.unpack_from(F.HEADER_FMT, self.buf, i + len(F.MAGIC))[3]
            end = i + F.FRAME_OVERHEAD + length
            if length <= F.MAX_PAYLOAD and end <= len(self.buf):
                (crc,) = struct.unpack_from("<I", self.buf, end - F.CRC_SIZE)
                if crc == zlib.crc32(self.buf[i + len(F.MAGIC):end - F.CRC_SIZE]):
                    return i
            i += 1


def pack(name, *values, tail=b""):
    return struct.pack(F.fmt(F.MESSAGES[name]), *values) + tail


def unpack(name, payload):
    """-> (dict of the message's fields, the variable tail). Raises ValueError when short."""
    fields = F.MESSAGES[name]
    n = F.size(fields)
    if len(payload) < n:
        raise ValueError(f"{name}: {len(payload)} bytes, need {n}")
    vals = struct.unpack_from(F.fmt(fields), payload)
    return {f[0]: v for f, v in zip(fields, vals) if f[0] != "pad"}, payload[n:]
