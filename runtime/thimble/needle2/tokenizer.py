"""Needle 2's tokenizer: the SentencePiece BPE a `.cact` carries (cact.py reads
the blob into pieces, scores and types), encoded and decoded the way the
original exporter specifies it for its engine (needle/model/export.py,
`RefTokenizer`), which tests/needle2/data/tokenizer_golden.json holds thimble
to. It differs from SentencePiece's own encoder on runs of spaces (it keeps
them; SentencePiece folds them), which the golden file records.

Encode: spaces become U+2581, one more is put in front (add_dummy_prefix),
the user-defined pieces (the chat markers) are cut out whole, longest first,
and each stretch between them is merged pairwise: at each step the adjacent
pair whose concatenation is a piece with the highest score (the leftmost of
equal ones) becomes one symbol, until no pair is a piece. A symbol that is
no piece becomes its UTF-8 bytes' <0xXX> pieces (byte_fallback) or unk.
Decode: byte pieces give their byte, control and unknown pieces nothing,
the rest their text; U+2581 back to spaces, the dummy prefix dropped."""
SPACE = "\u2581"


class Needle2Tokenizer:
    def __init__(self, pieces, specials, add_dummy_prefix=True, byte_fallback=True):
        """pieces: [(surface bytes, score, type name)] as Cact.tokenizer holds them;
        specials: (pad, eos, bos, unk) ids."""
        self.text = [p.decode("utf-8") for p, _, _ in pieces]
        self.score = [s for _, s, _ in pieces]
        self.kind = [k for _, _, k in pieces]
        self.pad_id, self.eos_id, self.bos_id, self.unk_id = specials
        self.add_dummy_prefix, self.byte_fallback = add_dummy_prefix, byte_fallback
        self.ids = {}
        for i, t in enumerate(self.text):
            self.ids.setdefault(t, i)
        self.byte_ids = {}
        for i, (t, k) in enumerate(zip(self.text, self.kind)):
            if k == "byte" and len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                self.byte_ids[int(t[3:5], 16)] = i
        self.markers = sorted((t for t, k in zip(self.text, self.kind) if k == "user_defined" and t),
                              key=len, reverse=True)

    @classmethod
    def from_cact(cls, cact):
        if cact.tokenizer is None:
            raise ValueError("this .cact carries no tokenizer")
        return cls(cact.tokenizer, cact.specials)

    def _merge(self, stretch):
        symbols = list(stretch)
        while len(symbols) > 1:
            best, at = None, -1
            for j in range(len(symbols) - 1):
                i = self.ids.get(symbols[j] + symbols[j + 1])
                if i is not None and (best is None or self.score[i] > best):
                    best, at = self.score[i], j
            if at < 0:
                break
            symbols[at:at + 2] = [symbols[at] + symbols[at + 1]]
        out = []
        for s in symbols:
            i = self.ids.get(s)
            if i is not None:
                out.append(i)
            elif self.byte_fallback and all(b in self.byte_ids for b in s.encode("utf-8")):
                out.extend(self.byte_ids[b] for b in s.encode("utf-8"))
            else:
                out.append(self.unk_id)
        return out

    def encode(self, text):
        if not text:
            return []
        s = text.replace(" ", SPACE)
        if self.add_dummy_prefix:
            s = SPACE + s
        ids, start, i = [], 0, 0
        while i < len(s):
            marker = next((m for m in self.markers if s.startswith(m, i)), None)
            if marker is None:
                i += 1
                continue
            ids += self._merge(s[start:i]) if i > start else []
            ids.append(self.ids[marker])
            i += len(marker)
            start = i
        return ids + (self._merge(s[start:]) if start < len(s) else [])

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            k = self.kind[i]
            if k == "byte":
                out.append(int(self.text[i][3:5], 16))
            elif k not in ("control", "unknown"):
                out += self.text[i].encode("utf-8")
        text = out.decode("utf-8", "replace").replace(SPACE, " ")
        return text[1:] if self.add_dummy_prefix and text.startswith(" ") else text
