/* The C reader of .thm images: used by the host simulator (through cffi) and
 * by the device, which reads the image in place from its flash slot.
 * The image is untrusted: thm_image_open checks every offset, size, count and
 * name before anything is used, and no function reads outside [base, base+size). */
#ifndef THM_IMAGE_H
#define THM_IMAGE_H

#include <stdint.h>
#include "thm_image_format.h"

enum {
    THM_IMG_OK = 0,
    THM_IMG_E_ARG = -1,        /* NULL pointer or bad index */
    THM_IMG_E_SHORT = -2,      /* smaller than a header, or than image_size says */
    THM_IMG_E_MAGIC = -3,      /* not a thimble image */
    THM_IMG_E_VERSION = -4,    /* another major version */
    THM_IMG_E_HEADER = -5,     /* header fields inconsistent */
    THM_IMG_E_SECTION = -6,    /* section table or a section out of bounds, misaligned, repeated, unknown */
    THM_IMG_E_MISSING = -7,    /* a required section is absent */
    THM_IMG_E_TENSOR = -8,     /* a tensor entry is inconsistent or out of bounds */
    THM_IMG_E_HASH = -9,       /* SHA-256 does not match */
    THM_IMG_E_NOTFOUND = -10,  /* no tensor of that name */
    THM_IMG_E_INT4 = -11,      /* an int4 tensor's data is not its rows of (last dim + 1) / 2 bytes */
};

/* The model family, from the image's one config section. */
#define THM_FAMILY_NEEDLE 1         /* CONFIG: Needle v1, encoder-decoder */
#define THM_FAMILY_NEEDLE2 2        /* CONFIG_NEEDLE2: Needle 2, decoder-only */

typedef struct {
    const uint8_t *base;         /* the image, where it lies (flash or a host buffer) */
    uint64_t size;
    uint32_t family;             /* THM_FAMILY_* */
    thm_fmt_config config;       /* family NEEDLE (else zero); copied: the section may be unaligned */
    thm_fmt_config_needle2 config2;  /* family NEEDLE2 (else zero) */
    const uint8_t *strings;      /* STRINGS section */
    uint64_t strings_size;
    const uint8_t *tensors;      /* TENSORS section: tensor_count raw entries */
    uint32_t tensor_count;
    const uint8_t *tokenizer;    /* TOKENIZER section or NULL */
    uint64_t tokenizer_size;
    uint64_t data_lo, data_hi;   /* DATA section bounds, offsets from base */
    uint32_t weight_layout;      /* THM_LAYOUT_* of every packed tensor; ROW_MAJOR: none */
} thm_image;

typedef struct {
    const char *name;            /* NOT NUL-terminated: name_len bytes */
    uint32_t name_len;
    uint32_t dtype;              /* THM_DTYPE_* */
    uint32_t layout;             /* THM_LAYOUT_* */
    uint32_t ndim;
    uint32_t dims[THM_IMAGE_MAX_DIMS];
    const void *data;            /* inside the image, THM_IMAGE_DATA_ALIGN aligned from base */
    uint64_t size;               /* bytes */
} thm_tensor_view;

/* Check the whole structure (not the hash) and fill img. */
int thm_image_open(thm_image *img, const uint8_t *base, uint64_t size);
/* SHA-256 over the image with the hash field zeroed, compared with the header. */
int thm_image_verify(const thm_image *img);
/* Tensor i (0 <= i < tensor_count). */
int thm_image_tensor(const thm_image *img, uint32_t i, thm_tensor_view *out);
/* Tensor by name (name_len bytes, no NUL needed). */
int thm_image_find(const thm_image *img, const char *name, uint32_t name_len, thm_tensor_view *out);
const char *thm_image_strerror(int err);
/* Bits per element of a THM_DTYPE_* code; 0 for a code the format does not have. */
uint32_t thm_image_dtype_bits(uint32_t dtype);

#endif /* THM_IMAGE_H */
