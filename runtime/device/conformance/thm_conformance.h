/* The conformance/benchmark job format, shared with
 * runtime/thimble/firmware/job.py (the Python writer mirrors it field by field).
 *
 * The host places a job at THM_BOARD_WEIGHTS_BASE (QEMU -device loader); the
 * firmware runs every case under every available ISA and writes one record
 * per run to the host file named in the header (semihosting). All fields are
 * little endian; offsets are from the start of the job and 16-byte aligned. */
#ifndef THM_CONFORMANCE_H
#define THM_CONFORMANCE_H

#include <stdint.h>

#define THM_JOB_MAGIC 0x424f4a54u      /* "TJOB" */
#define THM_RESULT_MAGIC 0x53455254u   /* "TRES" */
#define THM_JOB_VERSION 1u
#define THM_JOB_MAX_BUFS 8
#define THM_JOB_MAX_PARAMS 14
#define THM_JOB_PATH_BYTES 200

typedef struct {
    uint32_t magic, version;
    uint32_t total_bytes;       /* the whole job, header included */
    uint32_t n_cases;
    uint32_t isa_mask;          /* bit i: run ISA i when available */
    uint32_t reserved[5];
    char out_path[THM_JOB_PATH_BYTES]; /* NUL-terminated host path for the results */
    uint32_t pad[4];
} thm_job_header;               /* 256 bytes */

enum {
    THM_K_EMPTY = 0,            /* an empty call: the measurement's own overhead */
    THM_K_SPIN2 = 1,            /* p0 iterations of a 2-instruction loop: calibration */
    THM_K_MATMUL_S8 = 2,        /* bufs x w bias mult shift y;   p M K N */
    THM_K_MATMUL_S8_S32 = 3,    /* bufs x w bias y;              p M K N */
    THM_K_SOFTMAX_Q15 = 4,      /* bufs scores mask p;           p n mult shift diff_max */
    THM_K_ATTENTION_S8 = 5,     /* bufs q k v kv_mask out;       p Tq Tk heads kv_heads D causal
                                   q_pos0 score_mult score_shift diff_max out_mult out_shift */
    THM_K_RMSNORM_S16 = 6,      /* bufs x gain_mult gain_shift y; p rows D eps_lo eps_hi */
    THM_K_RMSNORM_S8 = 7,       /* same */
    THM_K_ROPE_S8 = 8,          /* bufs x cos sin y;             p T heads D pos0 n_pos */
    THM_K_RESIDUAL_S16 = 9,     /* bufs r y out (out = r, then updated in place); p n mult shift */
    THM_K_EMBED_S16 = 10,       /* bufs tokens table mult shift out; p T V D */
    THM_K_REQUANTIZE_S32 = 11,  /* bufs in mult shift out;       p n */
    THM_K_MATMUL_S8_PACKED = 12, /* bufs x wp bias mult shift y;  p M K N layout */
    THM_K_PV_ROWS = 13,         /* bufs p vt out;                p bq Tk D mult shift (thm_pv_rows_s8,
                                   out_stride D) */
    THM_K_PV_COMBINE_S8 = 14,   /* bufs s0 s1 s2 out (s2 empty: two digits); p n mult shift */
    THM_K_SOFTMAX_Q15_ROWS = 15, /* bufs scores p;               p rows n mult shift diff_max */
    THM_K_MATMUL_S4 = 16,       /* bufs x w4 bias mult shift y;  p M K N (w4 [N, (K + 1) / 2]) */
    THM_K_MATMUL_S4_S32 = 17,   /* bufs x w4 bias y;             p M K N */
    THM_K_EMBED_S16_S4 = 18,    /* bufs tokens table4 mult shift out; p T V D */
    THM_K_CQ_ROTATE_S8 = 19,    /* bufs x out (xr [M, G * 128] then sh [M, G]); p M K */
    THM_K_MATMUL_CQ_S8 = 20,    /* bufs xr sh w lut norm_q mult rshift y; p M Kp N bits */
    THM_K_MATMUL_CQ_S32 = 21,   /* the same, y int32 */
    THM_K_SINKHORN_Q12 = 22,    /* bufs logits p;                p count n iters */
    THM_K_ENGRAM_HASH = 23,     /* bufs hist orders idx;         p n_hist pos n_orders heads slots */
    THM_K_SIGMOID_Q15 = 24,     /* bufs z out;                   p n */
    THM_K_FWHT_S8 = 25,         /* bufs x out;                   p rows n */
    THM_K_CQ_GATHER = 26,       /* bufs w lut norm_q rows mult rshift out; p N Kp bits P K bound */
    THM_K_N2_RUN = 27,          /* bufs image tokens out;        p n_tokens max_pos (thm_job_n2) */
    THM_K_N2_ANSWER = 28,       /* bufs image prompt vocab_offsets vocab_bytes tools out; p n_prompt max_pos
                                   think think_end tool_call tool_call_end im_end max_reasoning max_new
                                   (thm_job_n2_answer) */
    THM_K_COUNT
};

typedef struct {
    uint32_t kernel;
    uint32_t n_bufs;            /* the last buffer is the output */
    int32_t p[THM_JOB_MAX_PARAMS];
    uint32_t off[THM_JOB_MAX_BUFS];   /* a zero length buffer is passed as NULL */
    uint32_t len[THM_JOB_MAX_BUFS];
} thm_job_case;                 /* 128 bytes */

typedef struct {
    uint32_t case_index;
    int32_t isa;
    int32_t status;             /* the kernel's return code; -100 - n: the firmware refused the case */
    uint32_t out_len;           /* output bytes that follow this record */
    uint64_t ticks;             /* counter ticks around the call */
} thm_result_record;            /* 24 bytes, then out_len bytes */

#define THM_JOB_E_CASE (-100)       /* a malformed case: never run */
#define THM_JOB_E_SCRATCH (-101)    /* the scratch is too small for the case */

/* 1 when the case's buffers lie in a job of `total` bytes and its parameters fit them. */
int thm_job_case_ok(const thm_job_case *c, uint32_t total);
/* Run a case whose buffers are at offsets in `job` (the output, its last
 * buffer, written in place), timing the call in counter ticks; scratch
 * serves kernels that need one. The kernel's return code, or THM_JOB_E_*. */
int thm_job_run_case(uint8_t *job, const thm_job_case *c, uint8_t *scratch, uint32_t scratch_bytes,
                     uint64_t *ticks);

/* THM_K_N2_RUN: a Needle 2 image (bind, plan max_pos positions in the
 * scratch, then n tokens through thm_n2_step), timed as a whole: out gets
 * the argmax after each token (int32 [n]), each token's counter ticks
 * (uint64 [n], the counter read between tokens), the last token's logits
 * (int32 [V]), then per-part ticks over all the tokens (uint64
 * [THM_N2_PROF_N], thm_n2_prof.h; zero unless built with THM_N2_PROFILE). THM_N2_E_* from the model, or THM_JOB_E_* when the image or
 * the buffers do not fit. */
/* THM_K_N2_ANSWER: the prompt through the model, then its constrained answer
 * (thm_n2_answer): out int32 [3 + max_new]: tokens written, complete, steps,
 * then the tokens. p: n_prompt max_pos, the five markers' ids, max_reasoning,
 * max_new. The vocabulary is offsets [V + 1] into bytes; tools the wire form. */
int thm_job_n2_answer(const uint8_t *image, uint32_t image_bytes, const int32_t *prompt, const int32_t *p,
                      const uint32_t *offsets, uint32_t offsets_bytes, const uint8_t *bytes, uint32_t bytes_len,
                      const uint8_t *tools, uint32_t tools_len, int32_t *out, uint32_t out_bytes, uint8_t *scratch,
                      uint32_t scratch_bytes);

int thm_job_n2(const uint8_t *image, uint32_t image_bytes, const int32_t *tokens, int32_t n, int32_t max_pos,
               int32_t *out, uint32_t out_bytes, uint8_t *scratch, uint32_t scratch_bytes, uint64_t *t0,
               uint64_t *t1);

#endif /* THM_CONFORMANCE_H */
