"""SentencePiece BPE encoding and decoding in plain Python, id for id the same
as the `sentencepiece` package for the models spm_model.py accepts. It is the
specification of the C encoder (runtime/device/tokenizer/): both work on UTF-8
bytes with the same steps, in the same order.

Encoding:
1. normalise: drop leading spaces, collapse space runs, drop trailing spaces
   (remove_extra_whitespaces), prepend one U+2581 (add_dummy_prefix), turn
   every space into U+2581; malformed UTF-8 becomes U+FFFD one byte at a time;
   user-defined symbols pass through untouched.
2. split into symbols: a user-defined symbol where one starts (longest match;
   it is never merged), otherwise one UTF-8 character.
3. merge: while some adjacent pair concatenates to a NORMAL or USER_DEFINED
   piece, merge the pair whose piece has the highest score (leftmost on ties).
4. map symbols to ids; an unknown symbol becomes its bytes' <0xXX> ids (byte
   fallback) or one <unk> per run of unknown symbols (no byte fallback).
"""
import collections
import heapq
import threading

from .spm_model import BYTE, CONTROL, NORMAL, UNKNOWN, USER_DEFINED

SPACE = b" "
WS = "\u2581".encode()            # SentencePiece's visible whitespace marker
REPLACEMENT = "\ufffd".encode()   # stands for one malformed byte


def utf8_char_len(data, pos):
    """Length of the valid UTF-8 character at data[pos], or 0 if malformed
    (SentencePiece's rules: no overlongs, no surrogates, <= U+10FFFF)."""
    n = len(data) - pos
    b0 = data[pos]
    if b0 < 0x80:
        return 1
    if n >= 2 and b0 & 0xE0 == 0xC0:
        cp, need, lo = b0 & 0x1F, 2, 0x80
    elif n >= 3 and b0 & 0xF0 == 0xE0:
        cp, need, lo = b0 & 0x0F, 3, 0x800
    elif n >= 4 and b0 & 0xF8 == 0xF0:
        cp, need, lo = b0 & 0x07, 4, 0x10000
    else:
        return 0
    for k in range(1, need):
        b = data[pos + k]
        if b & 0xC0 != 0x80:
            return 0
        cp = (cp << 6) | (b & 0x3F)
    if cp < lo or 0xD800 <= cp < 0xE000 or cp > 0x10FFFF:
        return 0
    return need


def one_char_len(data, pos):
    """SentencePiece's OneCharLen: the length the lead byte announces, clipped."""
    b0 = data[pos]
    n = 1 if b0 < 0xC0 else 2 if b0 < 0xE0 else 3 if b0 < 0xF0 else 4
    return min(n, len(data) - pos)


def merge_ranks(model):
    """rank[i]: merge priority of piece i, from its float32 score (equal scores,
    equal ranks; higher merges first); 0 for pieces that are never merged into.
    The C encoder gets these ranks instead of floats."""
    mergeable = [i for i, t in enumerate(model.types) if t in (NORMAL, USER_DEFINED)]
    order = sorted({model.scores[i] for i in mergeable})
    rank_of = {s: k + 1 for k, s in enumerate(order)}
    ranks = [0] * len(model.pieces)
    for i in mergeable:
        ranks[i] = rank_of[model.scores[i]]
    return ranks


class Tokenizer:
    """encode(str) -> [int], decode([int]) -> str, as sentencepiece does."""

    RECENT = 8          # texts whose ids encode keeps

    def __init__(self, model):
        self.model = model
        self.ranks = merge_ranks(model)
        self.ids = {p: i for i, p in enumerate(model.pieces)}
        self.user = sorted((p for p, t in zip(model.pieces, model.types) if t == USER_DEFINED),
                           key=len, reverse=True)
        self.unk_id = model.unk_id
        self.byte_ids = {}
        if model.byte_fallback:
            self.byte_ids = {int(model.pieces[i][3:5], 16): i
                             for i, t in enumerate(model.types) if t == BYTE}
        # A session encodes its tool list again for every request (the encoder
        # input is the query's ids and the tools' ids, each text encoded alone),
        # so the ids of the RECENT most recent texts are kept: the same text, the
        # same ids.
        self._recent = collections.OrderedDict()
        self._recent_lock = threading.Lock()

    @property
    def vocab_size(self):
        return len(self.model.pieces)

    # -- encoding ---------------------------------------------------------
    def _user_match(self, data, pos):
        for p in self.user:          # longest first
            if data.startswith(p, pos):
                return len(p)
        return 0

    def _normalize_prefix(self, data, pos):
        """(normalised text, bytes consumed) of the next unit of raw input."""
        n = self._user_match(data, pos)
        if n:
            return data[pos:pos + n], n
        n = utf8_char_len(data, pos)
        if n == 0:
            return REPLACEMENT, 1
        return data[pos:pos + n], n

    def normalize(self, data):
        m = self.model
        pos, end = 0, len(data)
        if m.remove_extra_whitespaces:
            while pos < end:
                unit, n = self._normalize_prefix(data, pos)
                if unit != SPACE:
                    break
                pos += n
        if pos == end:
            return b""
        out = bytearray(WS if m.add_dummy_prefix else b"")
        prev_space = m.remove_extra_whitespaces
        while pos < end:
            unit, n = self._normalize_prefix(data, pos)
            if prev_space:
                unit = unit.lstrip(SPACE)
            if unit:
                out += unit.replace(SPACE, WS)
                prev_space = unit.endswith(SPACE)
            pos += n
            if not m.remove_extra_whitespaces:
                prev_space = False
        if m.remove_extra_whitespaces:
            while out.endswith(WS):
                del out[-len(WS):]
        return bytes(out)

    def _mergeable(self, piece):
        i = self.ids.get(piece)
        if i is None or self.model.types[i] not in (NORMAL, USER_DEFINED):
            return None
        return i

    def encode_pieces(self, norm):
        """BPE over normalised bytes: the list of symbol byte strings."""
        starts, lens, frozen = [], [], []
        pos = 0
        while pos < len(norm):
            n = self._user_match(norm, pos)
            frozen.append(n > 0)
            n = n or one_char_len(norm, pos)
            starts.append(pos)
            lens.append(n)
            pos += n
        count = len(starts)
        prev = list(range(-1, count - 1))
        nxt = list(range(1, count + 1))
        if count:
            nxt[-1] = -1
        heap = []

        def push(left, right):
            if left < 0 or right < 0 or frozen[left] or frozen[right]:
                return
            size = lens[left] + lens[right]
            i = self._mergeable(norm[starts[left]:starts[left] + size])
            if i is not None:
                heapq.heappush(heap, (-self.ranks[i], left, right, size))

        for k in range(1, count):
            push(k - 1, k)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            if lens[left] == 0 or lens[right] == 0 or lens[left] + lens[right] != size:
                continue     # stale: one side has changed since the pair was queued
            lens[left] = size
            lens[right] = 0
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prev[nxt[right]] = left
            push(prev[left], left)
            push(left, nxt[left])
        out, k = [], 0 if count else -1
        while k >= 0:
            out.append(norm[starts[k]:starts[k] + lens[k]])
            k = nxt[k]
        return out

    def encode_bytes(self, data):
        ids, prev_unk = [], False
        for piece in self.encode_pieces(self.normalize(bytes(data))):
            i = self._mergeable(piece)
            if i is not None:
                ids.append(i)
                prev_unk = False
            elif self.model.byte_fallback:
                ids.extend(self.byte_ids[b] for b in piece)
            else:
                if not prev_unk:
                    ids.append(self.unk_id)
                prev_unk = True
        return ids

    def encode(self, text):
        if not isinstance(text, str):
            raise TypeError(f"encode takes str, not {type(text).__name__}")
        with self._recent_lock:
            ids = self._recent.get(text)
            if ids is not None:
                self._recent.move_to_end(text)
        if ids is None:
            ids = tuple(self.encode_bytes(text.encode("utf-8")))
            with self._recent_lock:
                self._recent[text] = ids
                while len(self._recent) > self.RECENT:
                    self._recent.popitem(last=False)
        return list(ids)

    # -- decoding ---------------------------------------------------------
    def decode_bytes(self, ids):
        m = self.model
        out, pending = bytearray(), bytearray()
        bos_ws, bos_ws_seen = True, False

        def flush():
            pos = 0
            while pos < len(pending):
                n = utf8_char_len(pending, pos)
                if n == 0:
                    out.extend(REPLACEMENT)
                    n = 1
                else:
                    out.extend(pending[pos:pos + n])
                pos += n
            pending.clear()

        for i in ids:
            if not isinstance(i, int) or not 0 <= i < len(m.pieces):
                raise ValueError(f"token id {i!r} out of range 0..{len(m.pieces) - 1}")
            kind = m.types[i]
            if kind == BYTE:
                pending.append(int(m.pieces[i][3:5], 16))
                continue
            flush()
            if bos_ws_seen or out:
                bos_ws = False
            piece, bos_ws_seen = m.pieces[i], False
            if kind == CONTROL:
                continue
            if kind == UNKNOWN:
                out += m.unk_surface
                continue
            if bos_ws and (m.add_dummy_prefix or m.remove_extra_whitespaces):
                if piece.startswith(WS):
                    piece = piece[len(WS):]
                    bos_ws_seen = not m.remove_extra_whitespaces
            out += piece.replace(WS, SPACE)
        flush()
        return bytes(out)

    def decode(self, ids):
        return self.decode_bytes([int(i) for i in ids]).decode("utf-8")
