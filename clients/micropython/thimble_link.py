# thimble_link: the serial link's client side for MicroPython apps (a watch
# app on the application processor, or a companion RP2040/ESP32, asking
# thimble's runtime on the model core for tool calls over a UART).
#
#     from thimble_link import Link
#     link = Link(machine.UART(1, 115200))
#     ans = link.ask("set a timer for ten minutes", TOOLS)   # TOOLS: `thimble pack-tools` output
#     ans.text   # '[{"name":"set_timer","arguments":{"minutes":10}}]'
#
# The protocol is docs/protocol.md (link v4): frames MAGIC | cmd flags seq
# length | payload | CRC-32; HELLO, then the request staged with REQ frames,
# RUN, and OUT for the rest of the answer. Only what MicroPython has: struct
# with explicit formats, binascii.crc32, time.ticks_ms; every buffer bounded
# (about 3.5 KiB in all); no recursion. The constants below are the host's
# tables' (runtime/thimble/link/format.py, runtime/thimble/app/format.py);
# tests/micropython/test_client.py checks that they agree.
import binascii
import struct
import time

from micropython import const

VERSION = const(4)
_MAGIC = b"\xa5\x5a"
_HDR = const(6)                 # cmd, flags, seq, length
_OVERHEAD = const(12)           # MAGIC + header + CRC
_MAX_PAYLOAD = const(1040)
_REQ_CHUNK = const(1024)
_HELLO, _RUN, _REQ, _OUT, _ERROR = const(0x01), const(0x06), const(0x08), const(0x09), const(0x7F)
_REPLY = const(0x80)
_ST_E_CRC, _ST_E_STATE = const(3), const(5)
MAX_QUERY = const(1024)
MAX_TOOLS_JSON = const(8192)
MAX_NEW = const(96)
MAX_ANSWER = const(2228)        # the app's largest answer
_ANS_HEADER = const(52)
_TOOLS_BLOB = b"THTP"           # `thimble pack-tools`: magic, u32 JSON length, u32 wire length, JSON, wire

STATUS = ("OK", "SAME", "E_LENGTH", "E_CRC", "E_CMD", "E_STATE", "E_SIZE", "E_HASH", "E_FLASH",
          "E_PROMPT", "E_RUN", "E_GAP", "E_IMAGE")


class LinkError(Exception):
    """The line, the device or the input is not what the protocol needs;
    .status names the device's refusal ("TIMEOUT", "E_VERSION", ...)."""

    def __init__(self, msg, status="ERROR"):
        super().__init__(msg)
        self.status = status


class Answer:
    """The device's answer: status 0 and complete=True for a whole tool
    call, its text (the tool-call JSON, or the device's error message) and
    the device's counters."""

    def __init__(self, raw, head):
        (_, _, n_steps, self.status, self.prompt_tokens, self.n_tokens, complete, crc, hz, text_len,
         tt, pt) = struct.unpack_from("<4sHHiIIIIIIQQ", raw, 0)
        self.complete = complete == 1
        self.crc = crc
        self.counter_hz = hz
        self.tokens = struct.unpack_from("<%di" % self.n_tokens, raw, _ANS_HEADER)
        pos = _ANS_HEADER + 4 * self.n_tokens
        step_insns = 0
        for i in range(n_steps):
            step_insns += self._insns(struct.unpack_from("<Q", raw, pos + 8 * i)[0])
        pos += 8 * n_steps
        self.text = bytes(raw[pos:pos + text_len]).decode("utf-8")
        # the counters `thimble run` prints: the board's counter ticks as
        # instructions (exact under QEMU -icount; ticks * 1e9 / counter_hz)
        self.counters = {"prompt_tokens": self.prompt_tokens, "generated_tokens": self.n_tokens,
                         "decoder_steps": n_steps, "instructions_tokenize": self._insns(tt),
                         "instructions_prefill": self._insns(pt),
                         "instructions_per_token": step_insns // n_steps if n_steps else 0}
        self.run_reply = head      # RUN_R's own: status, prompt tokens, generated, answer bytes, prefill, per token

    def _insns(self, ticks):
        return ticks * 1000000000 // self.counter_hz if self.counter_hz else 0

    @property
    def ok(self):
        return self.status == 0


class Link:
    """The client side of the link on any UART-like object with read(n)
    (bytes or None), write(b) and any(). timeout_ms: how long a reply may
    take before the request is sent again; retries: how often."""

    def __init__(self, uart, timeout_ms=2000, retries=5, run_timeout_ms=120000):
        self.uart = uart
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.run_timeout_ms = run_timeout_ms
        self.seq = 0
        self.rx = bytearray(_OVERHEAD + _MAX_PAYLOAD)     # one frame being assembled
        self.fill = 0
        self.tx = bytearray(_OVERHEAD + _MAX_PAYLOAD)
        self.answer = bytearray(MAX_ANSWER)
        self.resends = 0        # requests sent again (no reply, or the device saw them damaged)
        self.bad_frames = 0     # received bytes that did not make a good frame
        self.stale = 0          # replies to an earlier request, dropped
        self.info = None

    # -- frames ----------------------------------------------------------------------------------

    def _send(self, cmd, payload):
        self.seq = self.seq % 65535 + 1
        n = len(payload)
        struct.pack_into("<2sBBHH", self.tx, 0, _MAGIC, cmd, 0, self.seq, n)
        self.tx[8:8 + n] = payload
        crc = binascii.crc32(memoryview(self.tx)[2:8 + n])
        struct.pack_into("<I", self.tx, 8 + n, crc)
        self.uart.write(memoryview(self.tx)[:_OVERHEAD + n])
        return self.seq

    def _frame(self, deadline):
        """The next good frame -> (cmd, seq, payload memoryview), or None at the deadline."""
        rx = self.rx
        while True:
            if self.fill >= 2 and rx[0:2] != _MAGIC:
                i = bytes(rx[1:self.fill]).find(_MAGIC[:1])       # resync: drop to the next 0xA5
                drop = i + 1 if i >= 0 else self.fill
                rx[0:self.fill - drop] = rx[drop:self.fill]
                self.fill -= drop
                self.bad_frames += 1
                continue
            if self.fill >= 8:
                cmd, _, seq, n = struct.unpack_from("<BBHH", rx, 2)
                if n > _MAX_PAYLOAD:
                    rx[0:self.fill - 1] = rx[1:self.fill]
                    self.fill -= 1
                    self.bad_frames += 1
                    continue
                total = _OVERHEAD + n
                if self.fill >= total:
                    ok = binascii.crc32(memoryview(rx)[2:8 + n]) == struct.unpack_from("<I", rx, 8 + n)[0]
                    if ok:
                        payload = bytes(rx[8:8 + n])
                        rx[0:self.fill - total] = rx[total:self.fill]
                        self.fill -= total
                        return cmd, seq, payload
                    rx[0:self.fill - 1] = rx[1:self.fill]
                    self.fill -= 1
                    self.bad_frames += 1
                    continue
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return None
            waiting = self.uart.any()
            if not waiting:
                time.sleep_ms(1)
                continue
            got = self.uart.read(min(waiting, len(rx) - self.fill))
            if got:
                rx[self.fill:self.fill + len(got)] = got
                self.fill += len(got)

    def request(self, cmd, payload=b"", timeout_ms=0):
        """Send a request until its reply comes; -> the reply's payload."""
        wait = timeout_ms or self.timeout_ms
        for attempt in range(self.retries + 1):
            if attempt:
                self.resends += 1
            seq = self._send(cmd, payload)
            deadline = time.ticks_add(time.ticks_ms(), wait)
            while True:
                fr = self._frame(deadline)
                if fr is None:
                    break                                      # no reply: send again
                rcmd, rseq, body = fr
                if rseq != seq:
                    self.stale += 1
                    continue
                if rcmd == _ERROR | _REPLY:
                    st = body[0]
                    if st == _ST_E_CRC:
                        break                                  # it arrived damaged: send again
                    name = STATUS[st] if st < len(STATUS) else "E_%d" % st
                    raise LinkError("the device refused command 0x%02x: %s" % (cmd, name), name)
                if rcmd != cmd | _REPLY:
                    raise LinkError("reply 0x%02x to command 0x%02x" % (rcmd, cmd), "E_REPLY")
                return body
        raise LinkError("no reply to command 0x%02x after %d tries: is the device running the link "
                        "firmware?" % (cmd, self.retries + 1), "TIMEOUT")

    # -- the protocol ----------------------------------------------------------------------------

    def hello(self):
        """-> dict: version, board, max_request, max_output, active slot (None: no model)."""
        r = self.request(_HELLO)
        if len(r) < 2:
            raise LinkError("HELLO reply of %d bytes" % len(r), "E_REPLY")
        version = struct.unpack_from("<H", r, 0)[0]
        if version != VERSION:
            raise LinkError("the device speaks link protocol v%d, this client v%d" % (version, VERSION),
                            "E_VERSION")
        if len(r) < 40:
            raise LinkError("HELLO reply of %d bytes" % len(r), "E_REPLY")
        _, _, _, _, active, _, _, max_req, max_out, board = struct.unpack_from("<HHHBBIIII16s", r, 0)
        self.info = {"version": version, "board": bytes(board).split(b"\0")[0].decode(),
                     "max_request": max_req, "max_output": max_out, "active": None if active == 0xFF else active}
        return self.info

    def ask(self, query, tools, max_new_tokens=MAX_NEW, truncate=False):
        """Ask the device's model; tools: the bytes `thimble pack-tools`
        wrote (the tools' compact JSON and wire form). -> Answer."""
        q = query.encode("utf-8") if isinstance(query, str) else bytes(query)
        if not 1 <= len(q) <= MAX_QUERY:
            raise LinkError("the query is %d bytes; the device takes 1..%d" % (len(q), MAX_QUERY), "E_PROMPT")
        if len(tools) < 12 or tools[0:4] != _TOOLS_BLOB:
            raise LinkError("tools: not a `thimble pack-tools` blob", "E_PROMPT")
        jl, wl = struct.unpack_from("<II", tools, 4)
        if not 2 <= jl <= MAX_TOOLS_JSON or 12 + jl + wl != len(tools):
            raise LinkError("tools: %d bytes of JSON (the device takes 2..%d) in a blob of %d"
                            % (jl, MAX_TOOLS_JSON, len(tools)), "E_PROMPT")
        if not 2 <= max_new_tokens <= MAX_NEW:
            raise LinkError("max_new_tokens must be 2..%d" % MAX_NEW, "E_PROMPT")
        head = struct.pack("<4sHHIIII", b"THRQ", 2, max_new_tokens, len(q), jl, wl, 1 if truncate else 0)
        parts = (head, q, memoryview(tools)[12:])
        total = len(head) + len(q) + jl + wl
        if self.info is None:
            self.hello()
        info = self.info
        if info is not None and total > info["max_request"]:
            raise LinkError("the request is %d bytes; the device takes %d" % (total, info["max_request"]),
                            "E_PROMPT")
        crc = 0
        for p in parts:
            crc = binascii.crc32(p, crc)
        run = struct.pack("<II", total, crc)
        for attempt in range(2):
            self._stage(parts, total)
            try:
                r = self.request(_RUN, run, self.run_timeout_ms)
                break
            except LinkError as e:
                if e.status != "E_STATE" or attempt:
                    raise                      # E_STATE: the stage was lost (a device reset): stage it again
        status, _, part_len, out_len, prompt, gen, pre, per = struct.unpack_from("<BBHIIIQQ", r, 0)
        if out_len > MAX_ANSWER or part_len > out_len or len(r) != 32 + part_len:
            raise LinkError("RUN: %d of %d answer bytes" % (part_len, out_len), "E_REPLY")
        ans = self.answer
        ans[0:part_len] = r[32:32 + part_len]
        have = part_len
        while have < out_len:
            o = self.request(_OUT, struct.pack("<I", have))
            off, whole = struct.unpack_from("<II", o, 0)
            n = min(len(o) - 8, out_len - have)
            if off != have or whole != out_len or n <= 0:
                raise LinkError("OUT: offset %d, %d bytes" % (off, len(o) - 8), "E_REPLY")
            ans[have:have + n] = o[8:8 + n]
            have += n
        if out_len < _ANS_HEADER or ans[0:4] != b"THRA":
            raise LinkError("the answer does not parse (%d bytes)" % out_len, "E_REPLY")
        n_steps, n_tok, text_len = struct.unpack_from("<H", ans, 6)[0], struct.unpack_from("<I", ans, 16)[0], \
            struct.unpack_from("<I", ans, 32)[0]
        if n_steps > MAX_NEW or n_tok > MAX_NEW or _ANS_HEADER + 4 * n_tok + 8 * n_steps + text_len != out_len:
            raise LinkError("the answer's counts do not add up to its %d bytes" % out_len, "E_REPLY")
        return Answer(memoryview(ans)[:out_len], (status, prompt, gen, out_len, pre, per))

    def _stage(self, parts, total):
        """REQ frames of up to _REQ_CHUNK bytes, taken from the parts in order
        (nothing holds the whole request)."""
        chunk = bytearray(8 + _REQ_CHUNK)
        off, pi, po = 0, 0, 0
        while off < total:
            n = 0
            while n < _REQ_CHUNK and pi < len(parts):
                p = parts[pi]
                k = min(_REQ_CHUNK - n, len(p) - po)
                chunk[8 + n:8 + n + k] = p[po:po + k]
                n += k
                po += k
                if po == len(p):
                    pi, po = pi + 1, 0
            struct.pack_into("<II", chunk, 0, off, total)
            r = self.request(_REQ, memoryview(chunk)[:8 + n])
            if struct.unpack_from("<I", r, 4)[0] != off + n:
                raise LinkError("REQ: the device holds %d bytes, expected %d"
                                % (struct.unpack_from("<I", r, 4)[0], off + n), "E_REPLY")
            off += n
