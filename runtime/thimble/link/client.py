"""The host side of the serial link (docs/protocol.md) over any pyserial port
object: a device path, socket:// to QEMU or the host server, loop://, or a
fault-injecting handler.

    link = LinkClient(serial.serial_for_url(url))
    link.hello()                      # version, board, limits, slots
    link.deploy(image_bytes)          # windowed DATA, resume, SHA-256 on the device, A/B commit
    counters, answer = link.run("set a timer", tools)

Every request carries a sequence number that its reply echoes; replies to
anything else are stale and skipped, and only a timeout of the outstanding
request spends a try. Idempotent requests are resent on a timeout or when
the device reports that very frame garbled (E_CRC with its seq). A deploy
that the line still fails (a stream or COMMIT that times out) is taken up
again with HELLO and BEGIN, which resumes from what the device holds.
COMMIT is resent the same way while the device may still be hashing, and a
duplicate's E_STATE is settled by HELLO. ROLLBACK, which is not idempotent,
is settled by HELLO instead, and sent again only when HELLO shows that it
did not happen.

DATA runs go-back-N (the device drops frames out of order, so there is no
selective resend) with a window sized to the line while it streams. A frame
lost on the way costs every frame in flight behind it, so the client keeps
what the line holds and no more: the bandwidth-delay product, that is the
fastest round trip of a frame sent once (one that met no queue) over the
pace (the shortest time per acknowledged frame across SPAN frames), plus
MARGIN frames for the host's own jitter, between 2 and the device's window.
It starts at START frames and doubles each round trip until a round trip
comes back QUEUED times the fastest (a queue: the line is full) or a frame
is lost (a resent frame times nothing, so on a noisy line no slow round trip
may come). A serial
line settles on 3 or 4 frames, QEMU's UART, whose round trip holds the
guest's UART and flash work, on 4 to 7. A stall (a lost last frame or
ACK, lost E_GAPs) resends from the base after srtt + 4 rttvar of those
round trips (RFC 6298), at least RTO_MIN_S and at most `timeout`, doubled
for each further stall in a row; the transfer is given up after stalls
as long as `retries + 1` timeouts.
"""
import collections
import math
import time
import zlib
from dataclasses import dataclass

from ..core.errors import CommandError
from . import codec
from . import format as F

STATUS_NAMES = {v: k for k, v in F.STATUS.items()}
SLOT_NAMES = {v: k for k, v in F.SLOT_STATES.items()}
REPLY_ERROR = F.COMMANDS["ERROR"] | F.REPLY
POLL_S = 0.02             # the port's read timeout while waiting: how often a deadline is checked
SPAN = 4                  # ACKed frames one pace sample spans: a burst of ACKs read at once must not look fast
MARGIN = 2                # frames beyond the bandwidth-delay product: the host's scheduling jitter
START = 4                 # frames in flight before anything is measured: a serial line's round trip + MARGIN
QUEUED = 1.5              # a round trip this many times the fastest one waited in a queue: the line is full
FREE_RESENDS_PER_TRY = 4  # resends on garbled-frame reports a request may make per try it has
QUIET_TRIES = 10          # DATA gives up after this many (retries + 1) x timeout without progress
                          # even while the device keeps talking (it hears, but nothing gets through)
RTO_MIN_S = 0.2           # the shortest DATA resend timeout: a host hiccup must not pass for a loss
COMMIT_WAIT_S = 30.0      # how long COMMIT may take at least: the device hashes the whole slot first
RESUMES = 2               # times a deploy the line failed is taken up again (HELLO, BEGIN resume)


class LinkError(CommandError, RuntimeError):
    """A request the device refused or never answered. `status` is the
    device's status name (E_HASH, E_SIZE, E_FLASH, ...), or a host-side one:
    TIMEOUT (no reply), CLOSED (the line went away), E_IMAGE (not an image),
    E_VERSION (another protocol version), E_REPLY (a reply that makes no sense)."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


@dataclass
class DeployResult:
    status: str               # "deployed", or "same": the device already runs this image
    slot: int                 # the slot now active
    image_bytes: int
    bytes_sent: int           # image bytes this deploy delivered (not counting retransmits)
    resumed_from: int         # offset the device already held (0: a fresh transfer)
    seconds: float
    retransmits: int          # DATA frames sent again (lost, corrupted or unacknowledged)
    wire_bytes: int           # every byte written to the line, frames and retransmits included
    sha256: str               # hex
    window: int = 0           # DATA frames the client kept in flight at the end (sized to the line)
    rto_s: float = 0.0        # its DATA resend timeout at the end, seconds
    resumes: int = 0          # times the line failed the deploy and BEGIN took it up again


def check_image(image_bytes):
    """The image's SHA-256 field, after checking magic, version, size and hash
    with thimble's own reader, and what the device's runtime checks before it
    commits (bind, arena plan, tokenizer payload): refuse to send what is not
    a whole image, or one the board would refuse with E_IMAGE at the end."""
    from ..image.reader import parse_image
    from ..image.writer import ImageError
    from ..sim.device_checks import check_image as check_like_device
    from ..tokenizer.payload import parse_payload
    try:
        img = parse_image(image_bytes, verify_hash=True)
        check_like_device(image_bytes)
        if img.tokenizer is not None:
            parse_payload(img.tokenizer)
    except (ImageError, ValueError) as e:
        raise LinkError(f"not a deployable image: {e}", "E_IMAGE") from None
    return bytes(image_bytes[32:64])


class LineEstimate:
    """What a DATA stream has measured of its line: the window to keep in
    flight and the resend timeout (the module's docstring says why).

    cap: the device's window (frames); timeout: the configured one (s)."""

    def __init__(self, cap, timeout):
        self.cap, self.timeout = cap, timeout
        self.window = min(cap, START)
        self.growing = True           # doubling each round trip until a queue shows
        self.rtt_min = None           # s: the fastest round trip of a frame sent once
        self.srtt = self.rttvar = None
        self.pace = None              # s per frame: the fastest the ACKs ever moved over SPAN frames
        self.acks = collections.deque(maxlen=SPAN + 1)   # (time, frames acknowledged)
        self.frames = 0
        self.floor = min(RTO_MIN_S, timeout)   # the resend timeout's least; raised by a stall that was no loss

    def acked(self, now, frames, rtt=None):
        """The base moved: `frames` acknowledged in all at `now`. rtt: the
        round trip of the frame that moved it, when it was sent once (Karn:
        the ACK of a resent frame could answer either copy)."""
        if rtt is not None:
            self.rtt_min = rtt if self.rtt_min is None else min(self.rtt_min, rtt)
            if self.srtt is None:
                self.srtt, self.rttvar = rtt, rtt / 2
            else:
                self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
                self.srtt = 0.875 * self.srtt + 0.125 * rtt
            if rtt > QUEUED * self.rtt_min:
                self.growing = False
        self.acks.append((now, frames))
        t0, f0 = self.acks[0]
        if frames - f0 >= SPAN and now > t0:
            per = (now - t0) / (frames - f0)
            self.pace = per if self.pace is None else min(self.pace, per)
        more, self.frames = max(0, frames - self.frames), frames
        if self.growing:
            self.window = min(self.cap, self.window + more)
        elif self.pace is not None and self.rtt_min is not None:
            self.window = min(self.cap, max(2, math.ceil(self.rtt_min / self.pace) + MARGIN))

    def lost(self):
        """A frame was lost (a rewind): stop doubling. On a noisy line most
        frames are resent, so no round trip may come back slow enough to end
        the doubling: it grew to the device's 16, each loss then cost 15
        frames, and a third of the deploys at 5e-4 bad bytes and 115200 baud
        took about 300 s (now 80 to 135)."""
        self.growing = False

    def spurious(self, waited):
        """A stall of `waited` s was no loss: an ACK to a frame sent before it
        came after it (a device or host busy for a while). Wait twice that."""
        self.floor = min(self.timeout, max(self.floor, 2 * waited))

    @property
    def rto(self):
        if self.srtt is None:
            return self.timeout
        return min(self.timeout, max(self.floor, self.srtt + 4 * self.rttvar))


class LinkClient:
    """timeout: seconds to wait for a reply before resending (and the most a
    stalled DATA window waits: its own timeout comes from the measured round
    trips); retries: resends before giving up; run_timeout: seconds a RUN
    may take on the device (the model runs under QEMU -icount). `expired`
    records every wait that ran out. Sets the port's read timeout to a short
    poll interval."""

    def __init__(self, ser, timeout=2.0, retries=5, run_timeout=300.0):
        self.ser = ser
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.run_timeout = float(run_timeout)
        self.dec = codec.Decoder()
        self.pending = []
        self.sent = 0             # frames sent; the wire seq is 1..65535 (0 marks device framing errors)
        self.wire_bytes = 0
        self.info = None          # the last hello()
        self.replies = 0          # good replies so far: before the first, a closed line is a wrong port
        self.unsequenced = 0      # ERROR replies with seq 0 (a frame whose header was unreadable), ignored
        self.stale = 0            # replies to an earlier request, ignored
        self.garbled = 0          # E_CRC reports naming the outstanding request (its frame arrived damaged)
        self.resumes = 0          # deploys taken up again with BEGIN after the line failed them
        self.expired = collections.deque(maxlen=100)   # (command, seconds) of each wait for a reply that ran out
        ser.timeout = POLL_S

    # -- frames ---------------------------------------------------------------------------------

    @staticmethod
    def _wire(n):
        return (n - 1) % 0xFFFF + 1

    def _unwrap(self, wire):
        """The send count of the latest frame sent with this wire seq."""
        return self.sent - (self._wire(self.sent) - wire) % 0xFFFF

    def _send(self, cmd, payload=b"", seq=None):
        if seq is None:
            self.sent += 1
            seq = self._wire(self.sent)
        frame = codec.encode(F.COMMANDS[cmd], seq, payload)
        try:
            self.ser.write(frame)
        except Exception as e:      # pyserial raises SerialException, sockets OSError
            raise LinkError(f"the line closed while sending {cmd}: {e}", "CLOSED") from None
        self.wire_bytes += len(frame)
        return seq

    def _recv(self, deadline):
        """The next frame (cmd, seq, payload), or None once the deadline passes."""
        while not self.pending:
            try:
                data = self.ser.read(1)
                while data:
                    n = self.ser.in_waiting
                    if not n:
                        break
                    data += self.ser.read(n)
            except Exception as e:
                if not self.replies:
                    raise LinkError(f"the line closed before any reply ({e}): is this the port of a board "
                                    f"running thimble's link firmware (`thimble emulate` prints its URL)?",
                                    "CLOSED") from None
                raise LinkError(f"the line closed: {e}", "CLOSED") from None
            if data:
                self.pending += self.dec.feed(data)
            elif time.monotonic() >= deadline:     # checked after a read: a late wake-up reads what came
                return None
        return self.pending.pop(0)

    def request(self, cmd, payload=b"", *, timeout=None, retries=None):
        """Send an idempotent request and return its reply's payload. A timeout
        or an E_CRC naming this request resends it under the same seq (a late
        reply to the first copy then answers too). ERROR replies raise LinkError.

        Only a timeout of this request spends one of the `retries`. A reply
        that does not answer it is counted and ignored: another seq is stale
        (on a noisy line, E_CRC reports for DATA frames of a finished stream
        arrive long after it), and seq 0 names no frame (the device could not
        read the header). Spending tries on either gave up on devices that
        held every byte. An E_CRC with this request's seq (its frame arrived
        garbled) resends at once, at most FREE_RESENDS_PER_TRY times a try."""
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        seq = None
        free = FREE_RESENDS_PER_TRY * (retries + 1)     # resends on E_CRC reports, bounded all the same
        for _ in range(retries + 1):
            seq = self._send(cmd, payload, seq)
            deadline = time.monotonic() + timeout
            while True:
                fr = self._recv(deadline)
                if fr is None:
                    self.expired.append((cmd, timeout))
                    break
                rcmd, rseq, body = fr
                if rseq != seq:
                    if rseq == 0:
                        self.unsequenced += 1
                    else:
                        self.stale += 1                 # a reply to an earlier request
                    continue
                if rcmd == REPLY_ERROR and self._garbled(body):
                    self.garbled += 1
                    if free > 0:                        # this copy arrived damaged: the next may not
                        free -= 1
                        seq = self._send(cmd, payload, seq)
                        deadline = time.monotonic() + timeout
                    continue
                if rcmd == F.COMMANDS[cmd] and body == payload:
                    raise LinkError(f"{cmd}: the line sends back what this host writes (a loopback or an echo, "
                                    f"such as loop://): no thimble device answers on it", "E_ECHO")
                if rcmd == REPLY_ERROR:
                    raise self._refused(cmd, body)
                if rcmd != F.COMMANDS[cmd] | F.REPLY:
                    raise LinkError(f"{cmd}: the device replied with command 0x{rcmd:02x}", "E_REPLY")
                self.replies += 1
                return body
        raise LinkError(f"no reply to {cmd} after {retries + 1} tries of {timeout:g} s: is the device "
                        f"connected, powered and running the link firmware?", "TIMEOUT")

    @staticmethod
    def _garbled(body):
        """Whether an ERROR reply says the device read a frame's header but the
        frame failed its CRC (not a refusal: the frame never arrived whole)."""
        try:
            return codec.unpack("ERROR", body)[0]["status"] == F.STATUS["E_CRC"]
        except ValueError:
            return False

    @staticmethod
    def _refused(cmd, body):
        try:
            st = STATUS_NAMES.get(codec.unpack("ERROR", body)[0]["status"], "E_UNKNOWN")
        except ValueError:
            st = "E_REPLY"
        return LinkError(f"the device refused {cmd}: {st}", st)

    @staticmethod
    def _unpack(name, body):
        try:
            return codec.unpack(name, body)
        except ValueError as e:
            raise LinkError(f"malformed reply: {e}", "E_REPLY") from None

    # -- handshake -------------------------------------------------------------------------------

    def hello(self):
        """The device's identity, limits and slots (dict); checks the protocol version."""
        head, tail = self._unpack("HELLO_R", self.request("HELLO"))
        if head["version"] != F.VERSION:
            raise LinkError(f"the device speaks link protocol v{head['version']}, this host v{F.VERSION}",
                            "E_VERSION")
        n = F.size(F.MESSAGES["SLOT_INFO"])
        if not 1 <= head["slot_count"] <= F.MAX_SLOTS or len(tail) != head["slot_count"] * n:
            raise LinkError(f"HELLO: {head['slot_count']} slots in {len(tail)} bytes", "E_REPLY")
        slots = []
        for i in range(head["slot_count"]):
            s, _ = codec.unpack("SLOT_INFO", tail[i * n:(i + 1) * n])
            slots.append({"state": SLOT_NAMES.get(s["state"], f"?{s['state']}"), "seqno": s["seqno"],
                          "image_size": s["image_size"], "written": s["written"], "sha256": s["sha256"].hex()})
        info = {k: head[k] for k in ("version", "max_payload", "window", "slot_size", "sector",
                                     "max_request", "max_output")}
        info["board"] = head["board"].rstrip(b"\0").decode("ascii", "replace")
        info["active"] = None if head["active"] == 0xFF else head["active"]
        info["slots"] = slots
        if info["window"] < 1 or info["max_payload"] < F.size(F.MESSAGES["DATA"]) + F.DATA_CHUNK:
            raise LinkError(f"HELLO: window {info['window']}, max payload {info['max_payload']}", "E_REPLY")
        self.info = info
        return info

    def active_sha(self):
        info = self.hello()
        return None if info["active"] is None else info["slots"][info["active"]]["sha256"]

    # -- deploy ----------------------------------------------------------------------------------

    def begin(self, size, sha):
        """-> (status name OK|SAME, slot, resume offset)."""
        r, _ = self._unpack("BEGIN_R", self.request("BEGIN", codec.pack("BEGIN", size, sha)))
        if r["status"] not in (F.STATUS["OK"], F.STATUS["SAME"]) or r["resume"] > size:
            raise LinkError(f"BEGIN: status {r['status']}, resume {r['resume']} of {size}", "E_REPLY")
        return STATUS_NAMES[r["status"]], r["slot"], r["resume"]

    def deploy(self, image_bytes, progress=None, *, check=True):
        """Write the image into the inactive slot (on a one-slot board: over
        the model), verify and commit it.
        progress(done, total) is called as acknowledgements arrive. check=False
        skips the host's own image check (tests of the device's checks)."""
        image = bytes(image_bytes)
        sha = check_image(image) if check else image[32:64]
        t0 = time.monotonic()
        info = self.hello()
        if len(image) > info["slot_size"]:
            raise LinkError(f"the image is {len(image):,} bytes; a slot of {info['board']} holds "
                            f"{info['slot_size']:,}", "E_SIZE")
        wire0 = self.wire_bytes
        status, slot, resume = self.begin(len(image), sha)
        if status == "SAME":
            return DeployResult("same", slot, len(image), 0, len(image), time.monotonic() - t0, 0,
                                self.wire_bytes - wire0, sha.hex())
        first, retransmits, resumes0 = resume, 0, self.resumes
        for attempt in range(RESUMES + 1):
            line = LineEstimate(min(info["window"], 256), self.timeout)
            try:
                if progress:
                    progress(resume, len(image))
                retransmits += self._stream(image, sha, resume, line, progress)
                slot = self.commit(len(image), sha)
                break
            except LinkError as e:
                # the device keeps what it acknowledged (RAM, then the journal): a line that
                # failed the stream or COMMIT costs a resume, not the bytes already sent
                if e.status not in ("TIMEOUT", "E_STATE") or attempt == RESUMES:
                    raise
            self.resumes += 1
            info = self.hello()
            status, slot, resume = self.begin(len(image), sha)
            if status == "SAME":            # the COMMIT went through; only its reply was lost
                break
        return DeployResult("deployed", slot, len(image), len(image) - first, first, time.monotonic() - t0,
                            retransmits, self.wire_bytes - wire0, sha.hex(), line.window, line.rto,
                            self.resumes - resumes0)

    def _stream(self, image, sha, start, line, progress):
        """Go-back-N over DATA frames: up to `line.window` unacknowledged,
        cumulative ACKs move the base; an E_GAP to a frame sent after the last
        rewind, a garbled frame with everything sent, or a stall of
        `line.rto` rewinds to the base. Returns the number of frames sent again."""
        size, chunk = len(image), F.DATA_CHUNK
        base = nxt = high = start
        rewound_at = self.sent + 1           # E_GAPs to frames sent before this are old news
        once = {}                            # offset -> when a frame sent once went (its ACK times the line)
        stalls, stalled, rebegins, retransmits = 0, 0, 0, 0      # stalled: the last stall's wait, until progress
        last_move = progress_at = heard_at = time.monotonic()
        while base < size:
            while nxt < size and nxt - base < line.window * chunk:
                part = image[nxt:nxt + chunk]
                self._send("DATA", codec.pack("DATA", nxt, bytes(4), tail=part))
                if nxt < high:
                    retransmits += 1
                    once.pop(nxt, None)
                else:
                    once[nxt] = time.monotonic()
                nxt += len(part)
                high = max(high, nxt)
            wait = min(line.rto * 2 ** stalls, self.timeout)     # back off while a stall lasts
            fr = self._recv(last_move + wait)
            if fr is None:
                self.expired.append(("DATA", wait))
                stalls, stalled = stalls + 1, wait
                # dead: nothing at all heard for twice the request budget (a noisy line
                # loses a 1 KB frame several times running: 40% of them at 5e-4 bad bytes,
                # and a device in resync stays quiet); a device that keeps answering (ACKs
                # of other frames, garbled-frame reports) gets QUIET_TRIES times as long
                now = time.monotonic()
                if now - heard_at >= 2 * (self.retries + 1) * self.timeout or \
                        now - progress_at >= QUIET_TRIES * (self.retries + 1) * self.timeout:
                    raise LinkError(f"DATA: no acknowledgement for {now - progress_at:.1f} s "
                                    f"({stalls} resends) at byte {base:,} of {size:,}: the line or the device "
                                    f"is dead", "TIMEOUT")
                nxt, rewound_at, last_move = base, self.sent + 1, time.monotonic()
                continue
            rcmd, rseq, body = fr
            heard_at = time.monotonic()
            if rcmd == F.COMMANDS["DATA"] | F.REPLY:
                ack, _ = self._unpack("ACK", body)
                if ack["next"] > size:
                    raise LinkError(f"the device acknowledged byte {ack['next']:,} of {size:,}", "E_REPLY")
                if ack["next"] > base:
                    now = time.monotonic()
                    if stalled and self._unwrap(rseq) < rewound_at:
                        line.spurious(stalled)      # the frames sent before the stall got there after all
                    stalled = 0
                    sent = once.get(ack["next"] - chunk if ack["next"] < size else (size - 1) // chunk * chunk)
                    line.acked(now, -(-(ack["next"] - start) // chunk), None if sent is None else now - sent)
                    base, stalls, last_move, progress_at = ack["next"], 0, now, now
                    nxt = max(nxt, base)
                    if progress:
                        progress(base, size)
                if ack["status"] == F.STATUS["E_GAP"] and self._unwrap(rseq) >= rewound_at:
                    nxt, rewound_at = base, self.sent + 1
                    line.lost()
            elif rcmd == REPLY_ERROR:
                err = self._refused("DATA", body)
                if rseq == 0:
                    self.unsequenced += 1           # names no frame: the resend timeout covers a loss
                elif err.status == "E_CRC":
                    if self._unwrap(rseq) >= rewound_at:
                        self.garbled += 1           # a frame sent since the last rewind is lost: go back now
                        nxt, rewound_at = base, self.sent + 1
                        line.lost()
                    else:
                        self.stale += 1             # a loss the last rewind already resent
                elif err.status == "E_STATE" and rebegins < self.retries:
                    rebegins += 1                   # the device forgot the transfer (a reset): resume it
                    _, _, resume = self.begin(size, sha)
                    base = nxt = resume
                    rewound_at, last_move = self.sent + 1, time.monotonic()
                else:
                    raise LinkError(f"the device refused DATA at byte {base:,}: {err.status}", err.status)
        return retransmits

    def commit(self, size, sha):
        """Verify the written slot on the device and make it active; -> slot.
        The device hashes the whole slot first, so COMMIT is resent every
        `timeout` for at least COMMIT_WAIT_S: the first reply answers, and a
        duplicate that finds the transfer done gets E_STATE. That, or no
        reply at all, is settled by HELLO: is this image active now?"""
        tries = max(self.retries, math.ceil(max(10 * self.timeout, COMMIT_WAIT_S) / self.timeout) - 1)
        try:
            r, _ = self._unpack("STATUS_R", self.request("COMMIT", retries=tries))
        except LinkError as e:
            if e.status not in ("TIMEOUT", "E_STATE"):
                raise
            info = self.hello()
            if info["active"] is not None and info["slots"][info["active"]]["sha256"] == sha.hex():
                return info["active"]
            if any((s["state"], s["sha256"], s["image_size"], s["written"]) == ("PARTIAL", sha.hex(), size, 0)
                   for s in info["slots"]):
                raise self._hash_differs() from None     # the device reset the slot: its E_HASH reply was lost
            raise
        st = STATUS_NAMES.get(r["status"], "E_UNKNOWN")
        if st == "E_HASH":
            raise self._hash_differs()
        if st == "E_IMAGE":
            raise LinkError("the device refused the image: it hashes right, but its runtime cannot run it "
                            "(model, tokenizer or arena; `thimble sim` on the host names the reason): "
                            f"nothing committed, {self._kept()}", st)
        if st != "OK":
            raise LinkError(f"COMMIT failed on the device: {st}", st)
        return r["slot"]

    def _hash_differs(self):
        return LinkError("the device's SHA-256 of the written slot differs from the image's: "
                         f"nothing committed, {self._kept()}", "E_HASH")

    def _kept(self):
        """What a failed deploy left: A/B keeps the old model; one slot was
        replaced from the first erase on."""
        if self.info is not None and len(self.info["slots"]) == 1:
            return "and the board has no model until a deploy completes (one model slot: a deploy replaces it)"
        return "the previous model stays active"

    def rollback(self):
        """Make the other valid slot active again; -> the slot now active.
        ROLLBACK is not idempotent: when its reply is lost or the device
        reports a garbled frame, HELLO tells whether it happened (the device
        answers in order), and it is sent again only when it did not."""
        info = self.hello()
        before = info["active"]
        if len(info["slots"]) == 1:
            raise LinkError(f"ROLLBACK: {info['board']} has one model slot (a deploy replaces the model): "
                            "there is no previous model to go back to", "E_STATE")
        for _ in range(self.retries + 1):
            seq = self._send("ROLLBACK")
            deadline = time.monotonic() + self.timeout
            while True:
                fr = self._recv(deadline)
                if fr is None:
                    self.expired.append(("ROLLBACK", self.timeout))
                if fr is not None and fr[1] != seq:
                    self.unsequenced += fr[1] == 0
                    self.stale += fr[1] != 0
                    continue                         # answers nothing outstanding
                if fr is None or (fr[0] == REPLY_ERROR and self._garbled(fr[2])):
                    break                            # unknown outcome: ask the device
                if fr[0] == REPLY_ERROR:
                    raise self._refused("ROLLBACK", fr[2])
                r, _ = self._unpack("STATUS_R", fr[2])
                st = STATUS_NAMES.get(r["status"], "E_UNKNOWN")
                if st == "E_STATE":
                    raise LinkError("ROLLBACK: the device holds no other valid model", st)
                if st != "OK":
                    raise LinkError(f"ROLLBACK failed on the device: {st}", st)
                return r["slot"]
            after = self.hello()["active"]
            if after is not None and after != before:
                return after
        raise LinkError(f"ROLLBACK: no reply after {self.retries + 1} tries, and the active slot did not change",
                        "TIMEOUT")

    def abort(self):
        """Drop the device's RAM transfer state (the flash journal keeps what is written)."""
        self._unpack("STATUS_R", self.request("ABORT"))

    # -- run -------------------------------------------------------------------------------------

    def stage(self, request):
        """Stage request bytes on the device with REQ frames (one in flight)."""
        limit = self.info["max_request"] if self.info else F.MAX_REQUEST
        if not 1 <= len(request) <= limit:
            raise LinkError(f"the request is {len(request):,} bytes; the device takes 1..{limit:,}", "E_PROMPT")
        for off in range(0, len(request), F.REQ_CHUNK):
            part = request[off:off + F.REQ_CHUNK]
            r, _ = self._unpack("REQ_R", self.request("REQ", codec.pack("REQ", off, len(request), tail=part)))
            if r["next"] != off + len(part):
                raise LinkError(f"REQ: the device holds {r['next']} bytes, expected {off + len(part)}", "E_REPLY")

    def run_raw(self, request):
        """Stage `request`, RUN it, read the whole output. -> (RUN_R fields, output bytes)."""
        request = bytes(request)
        run = codec.pack("RUN", len(request), zlib.crc32(request))
        for attempt in range(2):
            self.stage(request)
            try:
                head, part = self._unpack("RUN_R", self.request("RUN", run, timeout=self.run_timeout, retries=1))
                break
            except LinkError as e:
                if e.status != "E_STATE" or attempt:
                    raise                            # E_STATE: the stage was disturbed; stage it again
        if head["out_len"] > F.MAX_OUTPUT or head["part_len"] != len(part) or len(part) > head["out_len"]:
            raise LinkError(f"RUN: {len(part)} of {head['out_len']} output bytes", "E_REPLY")
        out = bytearray(part)
        while len(out) < head["out_len"]:
            r, more = self._unpack("OUT_R", self.request("OUT", codec.pack("OUT", len(out))))
            if r["offset"] != len(out) or r["out_len"] != head["out_len"] or not more:
                raise LinkError(f"OUT: offset {r['offset']}, {len(more)} bytes", "E_REPLY")
            out += more[:head["out_len"] - len(out)]
        return head, bytes(out)

    def _read_out(self, total, have=b""):
        out = bytearray(have)
        while len(out) < total:
            r, more = self._unpack("OUT_R", self.request("OUT", codec.pack("OUT", len(out))))
            if r["offset"] != len(out) or r["out_len"] != total or not more:
                raise LinkError(f"OUT: offset {r['offset']}, {len(more)} bytes", "E_REPLY")
            out += more[:total - len(out)]
        return bytes(out)

    def test(self, op, arg0=0, arg1=0, staged=None, timeout=None):
        """One bring-up check (TEST; format.TEST_OPS names op). staged: bytes
        staged first and named by length and CRC (KERNEL's job).
        -> (TEST_R fields with "status" as a name, output bytes)."""
        if staged is not None:
            staged = bytes(staged)
            self.stage(staged)
            arg0, arg1 = len(staged), zlib.crc32(staged)
        head, _ = self._unpack("TEST_R", self.request("TEST", codec.pack("TEST", F.TEST_OPS[op], bytes(3), arg0, arg1),
                                                      timeout=timeout or self.run_timeout, retries=1))
        if head["op"] != F.TEST_OPS[op] or head["out_len"] > F.MAX_OUTPUT:
            raise LinkError(f"TEST {op}: a reply for op {head['op']} with {head['out_len']} output bytes", "E_REPLY")
        head["status"] = STATUS_NAMES.get(head["status"], f"?{head['status']}")
        return head, self._read_out(head["out_len"])

    def run(self, query, tools, max_new_tokens=96, truncate=False):
        """Ask the active model. -> (RUN_R counters, DeviceAnswer). tools: a
        parsed list or JSON text; names map back with answer.calls(name_map).
        truncate: let the device cut a prompt over its model's token limit
        (else it answers E_PROMPT)."""
        from ..app.request import build_request, parse_answer
        req, _ = build_request(query, tools, max_new_tokens, truncate)
        head, out = self.run_raw(req)
        return head, parse_answer(out)
