"""The serial link's frame layout and messages: the one table from which the
Python codec reads its layout and tools/gen_link_format.py renders the C
header runtime/device/include/thm_link_format.h. Little-endian throughout.

A frame is MAGIC, a fixed header, `length` payload bytes and a CRC-32 (IEEE,
as zlib.crc32) over header and payload. There is no escaping: a receiver that
loses sync scans for MAGIC and accepts a frame only when its length is within
bounds and its CRC matches, so payload bytes that look like MAGIC cost at most
a rescan.

A prompt is bigger than a frame (watch-tiny's 9 tools are ~2.5 KB of JSON):
the host stages it with REQ frames into a RAM buffer of MAX_REQUEST bytes,
RUN executes it, and the answer (MAX_OUTPUT bytes at most) comes back as the
RUN reply's first part and OUT reads of the rest. Both sizes are the app's
own limits (runtime/device/app/thm_app.h), asserted in thm_app_link.c.
docs/protocol.md describes the exchanges."""
import struct

from ..app import format as app_format

VERSION = 4                        # 2: staged RUN (REQ, OUT), HELLO says max_request/max_output;
                                   # 3: E_CRC names the garbled frame's seq (a v2 host took it for a refusal)
                                   # 4: TEST (bring-up checks, thimble selftest)
MAGIC = b"\xA5\x5A"                # rare in ASCII logs, never 0x00/0xFF runs
MAX_PAYLOAD = 1040                 # DATA: 8-byte offset/flags + 1024 data bytes + slack
DATA_CHUNK = 1024                  # image bytes per DATA frame
WINDOW = 16                        # DATA frames the host may have unacknowledged
REQ_CHUNK = 1024                   # request bytes per REQ frame
# The staging buffers hold the app's largest request and answer (thimble.app.format).
MAX_REQUEST = app_format.MAX_REQUEST
MAX_OUTPUT = app_format.MAX_ANSWER
BOARD_NAME = 16                    # bytes, NUL-padded
MAX_SLOTS = 2

# (name, struct code, comment): fields after MAGIC, covered by the CRC.
HEADER = [
    ("cmd", "B", "CMD_*"),
    ("flags", "B", "0; reserved"),
    ("seq", "H", "request sequence number, echoed in the reply"),
    ("length", "H", "payload bytes (<= MAX_PAYLOAD)"),
]
CRC_SIZE = 4

# Commands (host -> device) and replies (device -> host, cmd | 0x80).
COMMANDS = {
    "HELLO": 0x01,      # -> HELLO reply: version, board, limits, slots
    "BEGIN": 0x02,      # start or resume writing an image to the inactive slot
    "DATA": 0x03,       # image bytes at an offset; replied with a cumulative ACK
    "COMMIT": 0x04,     # verify SHA-256 of the whole slot, then make it active
    "ROLLBACK": 0x05,   # make the other valid slot active again
    "RUN": 0x06,        # execute the staged request with the application's handler
    "ABORT": 0x07,      # drop the RAM state of a transfer (flash journal stays)
    "REQ": 0x08,        # stage request bytes at an offset (offset 0 starts a new request)
    "OUT": 0x09,        # read the last RUN's output from an offset
    "TEST": 0x0A,       # a bring-up check (thimble selftest): TEST_OPS; its output is read with OUT
    "ERROR": 0x7F,      # device -> host only: a request it refused
}
REPLY = 0x80

STATUS = {
    "OK": 0,            # done
    "SAME": 1,          # BEGIN: the image is already active: nothing to send
    "E_LENGTH": 2,      # payload length wrong for the command, or over MAX_PAYLOAD (then seq 0: header unreadable)
    "E_CRC": 3,         # a frame failed its CRC (reported with the seq and cmd its header gave)
    "E_CMD": 4,         # unknown command
    "E_STATE": 5,       # no transfer (DATA, COMMIT), one valid slot (ROLLBACK), stale stage (REQ, RUN), no output
    "E_SIZE": 6,        # image larger than a slot, or empty
    "E_HASH": 7,        # SHA-256 of the written image differs from BEGIN's
    "E_FLASH": 8,       # erase/program/read failed or read-back differs
    "E_PROMPT": 9,      # REQ total over MAX_REQUEST, or empty
    "E_RUN": 10,        # the application handler failed
    "E_GAP": 11,        # DATA ahead of the next expected offset (go-back-N NAK)
    # (one line: tools/gen_link_format.py copies it into docs/protocol.md's table)
    "E_IMAGE": 12,      # COMMIT: hashes right, but the app refuses it (image, tokenizer, arena); nothing committed
}

SLOT_STATES = {"EMPTY": 0, "PARTIAL": 1, "VALID": 2, "ACTIVE": 3}
# TEST operations (docs/protocol.md, "Bring-up checks"): what each answers in TEST_R.
TEST_OPS = {
    "IDENT": 1,         # output: the firmware id line (board, sources' hash); v0: the arena's bytes
    "KERNEL": 2,        # run the staged request as one conformance job case under every ISA; output: records
    "MEMORY": 3,        # march test of the arena from arg0 for arg1 bytes (0, 0: all not in use); v0 bytes, v1 fault offset
    "FLASH": 4,         # erase / program / read back the journal's idle log sector; v0 bytes, v1 fault offset
    "SLOTS": 5,         # re-hash every VALID slot; v0 slots checked, v1 bit i: slot i differs
    "STACK": 6,         # v0: stack bytes never touched since reset, v1: the stack's bytes
    "FILL": 7,          # output: arg0 bytes of a pattern (UART throughput, device -> host)
}
TEST_NO_FAULT = 0xFFFFFFFF         # v1 of MEMORY and FLASH when nothing failed

# Message payloads (name -> fields). Variable tails are noted in comments.
MESSAGES = {
    "HELLO_R": [
        ("version", "H", "VERSION"),
        ("max_payload", "H", "MAX_PAYLOAD"),
        ("window", "H", "DATA frames in flight"),
        ("slot_count", "B", "model slots"),
        ("active", "B", "active slot, 0xFF if none"),
        ("slot_size", "I", "bytes per slot"),
        ("sector", "I", "flash erase unit, bytes"),
        ("max_request", "I", "MAX_REQUEST: bytes a staged request may have"),
        ("max_output", "I", "MAX_OUTPUT: bytes a RUN output may have"),
        ("board", f"{BOARD_NAME}s", "board name, NUL-padded"),
    ],                                  # followed by slot_count SLOT_INFO entries
    "SLOT_INFO": [
        ("state", "B", "SLOT_STATES"),
        ("pad", "3s", "0"),
        ("seqno", "I", "commit sequence number (VALID/ACTIVE), else 0"),
        ("image_size", "I", "bytes of the image (VALID/ACTIVE/PARTIAL)"),
        ("written", "I", "bytes persisted in flash (PARTIAL), image_size when VALID"),
        ("sha256", "32s", "image hash (zero when EMPTY)"),
    ],
    "BEGIN": [
        ("image_size", "I", "bytes"),
        ("sha256", "32s", "the image's SHA-256 (its header field)"),
    ],
    "BEGIN_R": [
        ("status", "B", "OK or SAME"),
        ("slot", "B", "the slot being written"),
        ("pad", "2s", "0"),
        ("resume", "I", "offset from which the host must send (persisted or in RAM)"),
    ],
    "DATA": [
        ("offset", "I", "byte offset in the image"),
        ("pad", "4s", "0"),
    ],                                  # followed by 1..DATA_CHUNK bytes
    "ACK": [
        ("status", "B", "OK, or E_GAP when the frame was ahead"),
        ("pad", "3s", "0"),
        ("next", "I", "cumulative: every byte below this offset was received"),
    ],
    "STATUS_R": [
        ("status", "B", "STATUS"),
        ("slot", "B", "slot concerned"),
        ("pad", "2s", "0"),
    ],
    "REQ": [
        ("offset", "I", "where these bytes go; 0 starts a new request"),
        ("total", "I", "the whole request's bytes, 1..MAX_REQUEST"),
    ],                                  # followed by 0..REQ_CHUNK bytes
    "REQ_R": [
        ("status", "B", "OK"),
        ("pad", "3s", "0"),
        ("next", "I", "bytes staged contiguously from offset 0"),
    ],
    "RUN": [
        ("req_len", "I", "the staged request's length"),
        ("req_crc", "I", "its CRC-32: a stale or mixed-up stage is refused"),
    ],
    "RUN_R": [
        ("status", "B", "OK"),
        ("pad", "1s", "0"),
        ("part_len", "H", "output bytes in this reply (the first part)"),
        ("out_len", "I", "the whole output, <= MAX_OUTPUT (the rest by OUT)"),
        ("prompt_tokens", "I", "counters from the handler"),
        ("gen_tokens", "I", ""),
        ("prefill_insns", "Q", ""),
        ("insns_per_token", "Q", ""),
    ],                                  # followed by part_len bytes
    "OUT": [
        ("offset", "I", "<= out_len"),
    ],
    "OUT_R": [
        ("offset", "I", "echoed"),
        ("out_len", "I", "the whole output"),
    ],                                  # followed by min(OUT_PART, out_len - offset) bytes
    "TEST": [
        ("op", "B", "TEST_OPS"),
        ("pad", "3s", "0"),
        ("arg0", "I", "the op's first argument (KERNEL: the staged request's length)"),
        ("arg1", "I", "its second (KERNEL: the staged request's CRC-32)"),
    ],
    "TEST_R": [
        ("status", "B", "OK, or the failing check's status (E_FLASH, E_HASH, E_RUN)"),
        ("op", "B", "echoed"),
        ("pad", "2s", "0"),
        ("out_len", "I", "output bytes, read with OUT"),
        ("v0", "I", "per op (TEST_OPS)"),
        ("v1", "I", ""),
        ("v2", "Q", ""),
    ],
    "ERROR": [
        ("status", "B", "STATUS"),
        ("cmd", "B", "the refused command (E_CRC: as the header read; 0 with seq 0)"),
        ("pad", "2s", "0"),
    ],
}

# Flash journal record (device-internal, documented here for the C header).
JOURNAL = [
    ("magic", "I", "JOURNAL_MAGIC"),
    ("kind", "B", "REC_*"),
    ("slot", "B", ""),
    ("pad", "2s", "0"),
    ("seqno", "I", "COMMIT: commit sequence; GEN: log generation"),
    ("image_size", "I", ""),
    ("written", "I", "PROGRESS: sectors-aligned bytes persisted"),
    ("sha256", "32s", ""),
    ("reserved", "8s", "0xFF"),
    ("crc", "I", "CRC-32 of the bytes above"),
]
JOURNAL_MAGIC = 0x4C4A4D54         # "TMJL"
RECORDS = {"GEN": 1, "PROGRESS": 2, "COMMIT": 3}
PROGRESS_EVERY = 8                 # data sectors per PROGRESS record (flash wear)


def fmt(fields):
    return "<" + "".join(code for _, code, _ in fields)


def size(fields):
    return struct.calcsize(fmt(fields))


HEADER_FMT = fmt(HEADER)
HEADER_SIZE = size(HEADER)
FRAME_OVERHEAD = len(MAGIC) + HEADER_SIZE + CRC_SIZE
assert HEADER_SIZE == 6
assert size(JOURNAL) == 64
assert size(MESSAGES["DATA"]) + DATA_CHUNK <= MAX_PAYLOAD
assert size(MESSAGES["REQ"]) + REQ_CHUNK <= MAX_PAYLOAD
OUT_PART = MAX_PAYLOAD - size(MESSAGES["OUT_R"])          # output bytes per OUT reply
RUN_PART = MAX_PAYLOAD - size(MESSAGES["RUN_R"])          # output bytes in the RUN reply
assert MAX_REQUEST < 1 << 16 and MAX_OUTPUT < 1 << 16
