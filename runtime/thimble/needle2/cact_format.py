"""The `.cact` format of Needle 2 (tag 0x05E12A83; needle-v2.md section 2)
as data: the header's fields, the directory record, the dtype codes and
the positional tensor order. cact.py's reader and writer both work from
these tables and nothing else.

All little-endian. A 120-byte header (29 uint32 and the f32 rope_theta),
then codebook_len f32 levels (cb2[4] | cb3[8] | cb4[16]), then
num_tensors nameless 44-byte records, then the blobs, each at a multiple
of 64 bytes."""
import struct

TAG = 0x05E12A83
ALIGN = 64
HEADER = struct.Struct("<29If")
RECORD = struct.Struct("<BBHIIIIQQII")     # dtype, ndim, pad, shape[4], offset, nbytes, group, bits
CODEBOOK_LEN = 28
MAX_TENSORS = 4096
MAX_TOKENIZER_BYTES = 16 << 20

# header fields in order (orders and sites are 4 slots each)
HEADER_FIELDS = ("tag", "num_tensors", "codebook_len", "kv_window", "kv_bits",
                 "vocab_size", "d_model", "num_heads", "num_kv_heads", "num_layers", "head_dim",
                 "max_seq_len", "hada_n", "mhc_lanes", "engram_slots", "engram_sub_dim",
                 "num_engram_tables", "engram_conv_taps", "engram_conv_dilation",
                 "num_engram_orders", "order0", "order1", "order2", "order3",
                 "num_engram_sites", "site0", "site1", "site2", "site3", "rope_theta")

FP16, FP32, CQ, RAW = 1, 2, 3, 4
DTYPE_NAMES = {FP16: "fp16", FP32: "fp32", CQ: "CQ", RAW: "raw"}
ELEMENT_BYTES = {FP16: 2, FP32: 4}

# per-layer tensors in file order: (name, kind); "matrix" rows are [out, in]
LAYER_TENSORS = (("norm_in", "vector"), ("q_proj", "matrix"), ("k_proj", "matrix"), ("v_proj", "matrix"),
                 ("q_norm", "vector"), ("k_norm", "vector"), ("gate_proj", "matrix"),
                 ("out_proj", "matrix"), ("post_norm", "vector"), ("attn_gate", "vector"),
                 ("pre_hada", "vector"), ("d1", "vector"), ("d2", "vector"), ("d3", "vector"))
MHC_VECTORS = ("mhc_a_pre", "mhc_a_post", "mhc_a_res", "mhc_b_pre", "mhc_b_post", "mhc_b_res")
MHC_MATRICES = ("mhc_phi_pre", "mhc_phi_post", "mhc_phi_res")
SITE_TENSORS = (("tables", "matrix"), ("key_proj", "matrix"), ("value_proj", "matrix"), ("taps", "vector"))
HEAD_CODES = {1: "contrastive_head", 2: "confidence_head"}
CONTRASTIVE_PROBES, CONFIDENCE_PROBES, CONTRASTIVE_DIM = 4, 8, 128

# tokenizer blob: header and per-piece record
TOKENIZER_HEADER = struct.Struct("<IIIIIBBH")    # n, pad, eos, bos, unk, add_dummy_prefix, byte_fallback, pad
TOKENIZER_PIECE = struct.Struct("<fBH")          # score, type, surface length
PIECE_TYPES = {0: "normal", 1: "unknown", 2: "control", 3: "user_defined", 4: "byte"}


def layer_name(i, part):
    return f"layer{i:02d}.{part}"


def tensor_order(cfg):
    """[(name, shape, kind)] of the model's tensors in file order (no heads, no tokenizer)."""
    d, L, n, hd = cfg.d_model, cfg.num_layers, cfg.mhc_lanes, cfg.head_dim
    q, kv, hn = cfg.num_heads * hd, cfg.kv_dim, cfg.hada_n
    shapes = {"norm_in": (d,), "q_proj": (q, d), "k_proj": (kv, d), "v_proj": (kv, d), "q_norm": (hd,),
              "k_norm": (hd,), "gate_proj": (q, d), "out_proj": (d, q), "post_norm": (d,), "attn_gate": (1,),
              "pre_hada": (d,), "d1": (hn,), "d2": (hn,), "d3": (hn,)}
    out = [("embedding", (cfg.vocab_size, d), "matrix")]
    for i in range(L):
        out += [(layer_name(i, part), shapes[part], kind) for part, kind in LAYER_TENSORS]
    out += [("mhc_a_pre", (L,), "vector"), ("mhc_a_post", (L,), "vector"), ("mhc_a_res", (L,), "vector"),
            ("mhc_b_pre", (L, n), "vector"), ("mhc_b_post", (L, n), "vector"), ("mhc_b_res", (L, n, n), "vector"),
            ("mhc_phi_pre", (L * n, n * d), "matrix"), ("mhc_phi_post", (L * n, n * d), "matrix"),
            ("mhc_phi_res", (L * n * n, n * d), "matrix")]
    site_shapes = {"tables": (cfg.engram_tables * cfg.engram_slots, cfg.engram_sub_dim), "key_proj": (d, d),
                   "value_proj": (d, d), "taps": (4, d)}
    for s in range(len(cfg.engram_layers)):
        out += [(f"engram{s}.{part}", site_shapes[part], kind) for part, kind in SITE_TENSORS]
    out.append(("final_norm", (d,), "vector"))
    return out


def head_order(cfg, codes):
    """[(name, shape, kind)] of the probe heads after final_norm, for the manifest's codes."""
    d = cfg.d_model
    out = [("heads.manifest", (len(codes),), "vector")]
    for c in codes:
        name = HEAD_CODES[c]
        p, o = (CONTRASTIVE_PROBES, CONTRASTIVE_DIM) if c == 1 else (CONFIDENCE_PROBES, 1)
        out += [(f"{name}.probes", (p, d), "vector"), (f"{name}.proj", (o, p * d), "vector"),
                (f"{name}.bias", (o,), "vector")]
    return out
