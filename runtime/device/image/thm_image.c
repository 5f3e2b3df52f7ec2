/* Mirrors runtime/thimble/image/reader.py check for check. Structures are
 * memcpy'd out of the image because a flash slot gives no alignment promise
 * for a struct cast, and every bound is tested in a form that cannot overflow. */
#include "thm_image.h"
#include "thm_sha256.h"
#include <string.h>

static int thm_in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

/* Bits per element of each THM_DTYPE_* code: format.py DTYPES, checked against
 * it by tests/cmodel/test_dtype_table.py. */
static const uint8_t thm_dtype_bits[THM_DTYPE_MAX + 1] = {
    [THM_DTYPE_INT8] = 8, [THM_DTYPE_INT16] = 16, [THM_DTYPE_INT32] = 32, [THM_DTYPE_UINT8] = 8,
    [THM_DTYPE_INT4] = 4, [THM_DTYPE_UINT16] = 16, [THM_DTYPE_CQ2] = 2, [THM_DTYPE_CQ3] = 3,
    [THM_DTYPE_CQ4] = 4,
};

uint32_t thm_image_dtype_bits(uint32_t dtype)
{
    return dtype <= THM_DTYPE_MAX ? thm_dtype_bits[dtype] : 0u;
}

static int thm_dtype_is_cq(uint32_t dtype)
{
    return dtype == THM_DTYPE_CQ2 || dtype == THM_DTYPE_CQ3 || dtype == THM_DTYPE_CQ4;
}

/* Bytes of a row-major tensor (format.py dtype_bytes): sub-byte rows (runs of
 * the last dimension) are ceil(last * bits / 8) bytes each, every row on a byte. */
static uint64_t thm_element_bytes(uint32_t dtype, const uint32_t *dims, uint32_t ndim, int *ok)
{
    uint64_t count = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        if (dims[i] == 0 || count > UINT64_MAX / 16u / dims[i]) { *ok = 0; return 0; }
        count *= dims[i];
    }
    const uint32_t bits = thm_image_dtype_bits(dtype);
    *ok = bits != 0;
    if (!bits) return 0;
    /* cqB is [N, K], K whole groups */
    if (thm_dtype_is_cq(dtype) && (ndim != 2 || dims[1] % THM_IMAGE_CQ_GROUP)) { *ok = 0; return 0; }
    const uint64_t last = dims[ndim - 1];     /* ndim >= 1, checked by the caller */
    return count / last * ((last * bits + 7u) / 8u);   /* count * 16 fits: so does last * bits */
}

/* Bytes of int8 [N, K] packed in layout (1..THM_LAYOUT_MAX; the kernels'
 * thm_matmul_s8_packed_size, from the format table's tile geometry); ok = 0
 * when it would not fit 64 bits. */
static uint64_t thm_packed_bytes(uint32_t layout, uint32_t N, uint32_t K, int *ok)
{
    uint64_t rows, kb, eb;
    if (layout == THM_LAYOUT_S8_R8K64) {
        rows = THM_LAYOUT_S8_R8K64_ROWS; kb = THM_LAYOUT_S8_R8K64_KBLOCK; eb = THM_LAYOUT_S8_R8K64_ELEM_BYTES;
    } else {
        rows = THM_LAYOUT_S16_R4K16_ROWS; kb = THM_LAYOUT_S16_R4K16_KBLOCK; eb = THM_LAYOUT_S16_R4K16_ELEM_BYTES;
    }
    const uint64_t np = ((uint64_t)N + rows - 1) / rows * rows, kp = ((uint64_t)K + kb - 1) / kb * kb;
    *ok = np <= UINT64_MAX / kp / eb;     /* kp >= 1: dims are never 0 here */
    return *ok ? np * kp * eb : 0;
}

/* Check one raw tensor entry against the image; fill out if given. */
static int thm_tensor_check(const thm_image *img, const thm_fmt_tensor *t,
                            uint64_t data_lo, uint64_t data_hi, thm_tensor_view *out)
{
    if (t->name_len < 1 || t->name_len > THM_IMAGE_MAX_NAME) return THM_IMG_E_TENSOR;
    if (!thm_in_bounds(t->name_offset, t->name_len, img->strings_size)) return THM_IMG_E_TENSOR;
    const uint8_t *name = img->strings + t->name_offset;
    for (uint32_t i = 0; i < t->name_len; i++) {
        if (name[i] < THM_IMAGE_NAME_CHAR_MIN || name[i] > THM_IMAGE_NAME_CHAR_MAX) return THM_IMG_E_TENSOR;
    }
    /* row-major, or the one packed layout the header names */
    if (t->layout != THM_LAYOUT_ROW_MAJOR && t->layout != img->weight_layout) return THM_IMG_E_TENSOR;
    if (t->ndim < 1 || t->ndim > THM_IMAGE_MAX_DIMS) return THM_IMG_E_TENSOR;
    for (uint32_t i = t->ndim; i < THM_IMAGE_MAX_DIMS; i++) {
        if (t->dims[i] != 1) return THM_IMG_E_TENSOR;
    }
    int ok = 0;
    const uint64_t want = thm_element_bytes(t->dtype, t->dims, t->ndim, &ok);
    if (!ok) return THM_IMG_E_TENSOR;
    if (t->layout == THM_LAYOUT_ROW_MAJOR) {
        /* a truncated or odd-counted nibble pack has its own code: the int4
         * rule (rows on bytes) is the one a hand-made pack gets wrong */
        if (want != t->data_size) return t->dtype == THM_DTYPE_INT4 ? THM_IMG_E_INT4 : THM_IMG_E_TENSOR;
    } else {    /* packed: int8 [N, K] matmul weights only */
        if (t->dtype != THM_DTYPE_INT8 || t->ndim != 2) return THM_IMG_E_TENSOR;
        if (thm_packed_bytes(t->layout, t->dims[0], t->dims[1], &ok) != t->data_size || !ok)
            return THM_IMG_E_TENSOR;
    }
    if (t->data_offset % THM_IMAGE_DATA_ALIGN) return THM_IMG_E_TENSOR;
    if (t->data_offset < data_lo || !thm_in_bounds(t->data_offset, t->data_size, data_hi))
        return THM_IMG_E_TENSOR;
    if (out) {
        out->name = (const char *)name;
        out->name_len = t->name_len;
        out->dtype = t->dtype;
        out->layout = t->layout;
        out->ndim = t->ndim;
        for (uint32_t i = 0; i < THM_IMAGE_MAX_DIMS; i++) out->dims[i] = t->dims[i];
        out->data = img->base + t->data_offset;
        out->size = t->data_size;
    }
    return THM_IMG_OK;
}

int thm_image_open(thm_image *img, const uint8_t *base, uint64_t size)
{
    if (!img || !base) return THM_IMG_E_ARG;
    memset(img, 0, sizeof(*img));
    if (size < sizeof(thm_fmt_header)) return THM_IMG_E_SHORT;
    thm_fmt_header h;
    memcpy(&h, base, sizeof(h));
    if (memcmp(h.magic, THM_IMAGE_MAGIC, 4) != 0) return THM_IMG_E_MAGIC;
    if (h.version_major != THM_IMAGE_VERSION_MAJOR) return THM_IMG_E_VERSION;
    if (h.header_size != sizeof(thm_fmt_header)) return THM_IMG_E_HEADER;
    if (h.image_size != size) return h.image_size > size ? THM_IMG_E_SHORT : THM_IMG_E_HEADER;
    if (h.weight_layout > THM_LAYOUT_MAX) return THM_IMG_E_HEADER;
    if (h.section_count < 1 || h.section_count > THM_IMAGE_MAX_SECTIONS) return THM_IMG_E_SECTION;
    const uint64_t table_len = (uint64_t)h.section_count * sizeof(thm_fmt_section);
    if (h.section_table < sizeof(thm_fmt_header) || h.section_table % 8u
        || !thm_in_bounds(h.section_table, table_len, size)) return THM_IMG_E_SECTION;
    const uint64_t table_end = h.section_table + table_len;

    thm_fmt_section sec[THM_SECTION_CONFIG_NEEDLE2 + 1];
    int seen[THM_SECTION_CONFIG_NEEDLE2 + 1] = {0};
    for (uint32_t i = 0; i < h.section_count; i++) {
        thm_fmt_section s;
        memcpy(&s, base + h.section_table + (uint64_t)i * sizeof(s), sizeof(s));
        if (s.kind < THM_SECTION_CONFIG || s.kind > THM_SECTION_CONFIG_NEEDLE2 || seen[s.kind])
            return THM_IMG_E_SECTION;
        if (s.offset % THM_IMAGE_SECTION_ALIGN || s.offset < table_end
            || !thm_in_bounds(s.offset, s.size, size)) return THM_IMG_E_SECTION;
        seen[s.kind] = 1;
        sec[s.kind] = s;
    }
    /* exactly one config section: it names the family (format.py CONFIG_SECTIONS) */
    if (seen[THM_SECTION_CONFIG] && seen[THM_SECTION_CONFIG_NEEDLE2]) return THM_IMG_E_SECTION;
    if ((!seen[THM_SECTION_CONFIG] && !seen[THM_SECTION_CONFIG_NEEDLE2]) || !seen[THM_SECTION_STRINGS]
        || !seen[THM_SECTION_TENSORS] || !seen[THM_SECTION_DATA]) return THM_IMG_E_MISSING;
    const uint32_t family = seen[THM_SECTION_CONFIG] ? THM_FAMILY_NEEDLE : THM_FAMILY_NEEDLE2;
    const thm_fmt_section *cs = &sec[family == THM_FAMILY_NEEDLE ? THM_SECTION_CONFIG : THM_SECTION_CONFIG_NEEDLE2];
    if (cs->size < (family == THM_FAMILY_NEEDLE ? sizeof(thm_fmt_config) : sizeof(thm_fmt_config_needle2)))
        return THM_IMG_E_SECTION;
    const thm_fmt_section *ts = &sec[THM_SECTION_TENSORS];
    if (ts->size % sizeof(thm_fmt_tensor)
        || ts->size / sizeof(thm_fmt_tensor) > THM_IMAGE_MAX_TENSORS) return THM_IMG_E_SECTION;

    img->base = base;
    img->size = size;
    img->weight_layout = h.weight_layout;
    img->family = family;
    if (family == THM_FAMILY_NEEDLE)
        memcpy(&img->config, base + cs->offset, sizeof(img->config));
    else
        memcpy(&img->config2, base + cs->offset, sizeof(img->config2));
    img->strings = base + sec[THM_SECTION_STRINGS].offset;
    img->strings_size = sec[THM_SECTION_STRINGS].size;
    img->tensors = base + ts->offset;
    img->tensor_count = (uint32_t)(ts->size / sizeof(thm_fmt_tensor));
    if (seen[THM_SECTION_TOKENIZER]) {
        img->tokenizer = base + sec[THM_SECTION_TOKENIZER].offset;
        img->tokenizer_size = sec[THM_SECTION_TOKENIZER].size;
    }

    /* every tensor entry, and no two with the same name */
    const uint64_t data_lo = img->data_lo = sec[THM_SECTION_DATA].offset;
    const uint64_t data_hi = img->data_hi = data_lo + sec[THM_SECTION_DATA].size;
    for (uint32_t i = 0; i < img->tensor_count; i++) {
        thm_fmt_tensor t;
        memcpy(&t, img->tensors + (uint64_t)i * sizeof(t), sizeof(t));
        const int err = thm_tensor_check(img, &t, data_lo, data_hi, 0);
        if (err) { memset(img, 0, sizeof(*img)); return err; }
    }
    for (uint32_t i = 0; i < img->tensor_count; i++) {
        thm_tensor_view a;
        thm_fmt_tensor t;
        memcpy(&t, img->tensors + (uint64_t)i * sizeof(t), sizeof(t));
        thm_tensor_check(img, &t, data_lo, data_hi, &a);
        thm_tensor_view b;
        if (thm_image_find(img, a.name, a.name_len, &b) == THM_IMG_OK && b.data != a.data) {
            memset(img, 0, sizeof(*img));
            return THM_IMG_E_TENSOR;   /* the first entry of that name is another tensor */
        }
    }
    return THM_IMG_OK;
}

int thm_image_verify(const thm_image *img)
{
    if (!img || !img->base) return THM_IMG_E_ARG;
    static const uint8_t zeros[32] = {0};
    thm_sha256_ctx c;
    uint8_t digest[32];
    thm_sha256_init(&c);
    thm_sha256_update(&c, img->base, THM_IMAGE_SHA256_OFFSET);
    thm_sha256_update(&c, zeros, 32);
    /* in pieces that fit any size_t: a cast of the 64-bit length would drop its
     * high half on a 32-bit board and hash less than the whole image */
    const uint8_t *p = img->base + THM_IMAGE_SHA256_OFFSET + 32;
    for (uint64_t left = img->size - THM_IMAGE_SHA256_OFFSET - 32; left;) {
        const size_t n = left > (1u << 30) ? (size_t)1 << 30 : (size_t)left;
        thm_sha256_update(&c, p, n);
        p += n;
        left -= n;
    }
    thm_sha256_final(&c, digest);
    return memcmp(digest, img->base + THM_IMAGE_SHA256_OFFSET, 32) == 0 ? THM_IMG_OK : THM_IMG_E_HASH;
}

int thm_image_tensor(const thm_image *img, uint32_t i, thm_tensor_view *out)
{
    if (!img || !img->base || !out || i >= img->tensor_count) return THM_IMG_E_ARG;
    thm_fmt_tensor t;
    memcpy(&t, img->tensors + (uint64_t)i * sizeof(t), sizeof(t));
    /* checked at open; checked again so a view is never built from a bad entry */
    return thm_tensor_check(img, &t, img->data_lo, img->data_hi, out);
}

int thm_image_find(const thm_image *img, const char *name, uint32_t name_len, thm_tensor_view *out)
{
    if (!img || !img->base || !name || !out) return THM_IMG_E_ARG;
    /* only the two name fields of each entry are read (little-endian, byte by byte: an entry
     * promises no alignment): open's duplicate-name check calls this once per tensor, and a
     * board's memcpy of whole 48-byte entries made that the bulk of opening a 1,000-tensor image */
    for (uint32_t i = 0; i < img->tensor_count; i++) {
        const uint8_t *e = img->tensors + (uint64_t)i * sizeof(thm_fmt_tensor);
        const uint8_t *nl = e + offsetof(thm_fmt_tensor, name_len), *no = e + offsetof(thm_fmt_tensor, name_offset);
        const uint32_t len = (uint32_t)nl[0] | (uint32_t)nl[1] << 8;
        if (len != name_len) continue;
        const uint32_t off = (uint32_t)no[0] | (uint32_t)no[1] << 8 | (uint32_t)no[2] << 16 | (uint32_t)no[3] << 24;
        if (!thm_in_bounds(off, len, img->strings_size)) continue;
        if (memcmp(img->strings + off, name, name_len) == 0)
            return thm_image_tensor(img, i, out);
    }
    return THM_IMG_E_NOTFOUND;
}

const char *thm_image_strerror(int err)
{
    switch (err) {
    case THM_IMG_OK: return "ok";
    case THM_IMG_E_ARG: return "bad argument";
    case THM_IMG_E_SHORT: return "image is truncated";
    case THM_IMG_E_MAGIC: return "not a thimble image (bad magic)";
    case THM_IMG_E_VERSION: return "unsupported image format version";
    case THM_IMG_E_HEADER: return "inconsistent header";
    case THM_IMG_E_SECTION: return "bad section table or section bounds";
    case THM_IMG_E_MISSING: return "a required section is missing";
    case THM_IMG_E_TENSOR: return "bad tensor entry";
    case THM_IMG_E_HASH: return "SHA-256 mismatch: image corrupt or altered";
    case THM_IMG_E_NOTFOUND: return "tensor not found";
    case THM_IMG_E_INT4: return "int4 tensor data is not whole rows of packed nibbles";
    default: return "unknown error";
    }
}
