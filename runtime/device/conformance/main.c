/* Conformance and instruction-count firmware: runs each case of the job the
 * host placed at THM_BOARD_WEIGHTS_BASE under every ISA the kernels report
 * available, timing each call with the board's instruction counter, and
 * writes the outputs back to the host for a bit-exact comparison. */
#include <stdint.h>

#include "thimble_kernels.h"
#include "thm_board.h"
#include "thm_conformance.h"
#include "thm_hal.h"

#define THM_MAX_ISA 32

_Static_assert(sizeof(thm_job_header) == 256, "job header layout");
_Static_assert(sizeof(thm_job_case) == 128, "job case layout");
_Static_assert(sizeof(thm_result_record) == 24, "result record layout");

static uint8_t *const thm_job = (uint8_t *)(uintptr_t)THM_BOARD_WEIGHTS_BASE;
static uint8_t *const thm_arena = (uint8_t *)(uintptr_t)THM_BOARD_ARENA_BASE;

static int fail(const char *msg, int code)
{
    thm_semi_write0("conformance: ");
    thm_semi_write0(msg);
    thm_semi_write0("\n");
    return code;
}

int main(void)
{
    thm_hal_uart_init();
    thm_hal_puts("thimble conformance firmware on " THM_BOARD_NAME "\n");
    const thm_job_header *h = (const thm_job_header *)(void *)thm_job;
    if (h->magic != THM_JOB_MAGIC || h->version != THM_JOB_VERSION) return fail("no job at the weights region", 2);
    if (h->total_bytes > THM_BOARD_WEIGHTS_SIZE || h->total_bytes < sizeof(*h) ||
        h->n_cases > (h->total_bytes - sizeof(*h)) / sizeof(thm_job_case))
        return fail("job sizes out of range", 3);
    char path[THM_JOB_PATH_BYTES];
    for (uint32_t i = 0; i < THM_JOB_PATH_BYTES; i++) path[i] = h->out_path[i];
    path[THM_JOB_PATH_BYTES - 1] = 0;
    int fd = thm_semi_open(path, 5 /* wb */);
    if (fd < 0) return fail("cannot open the results file", 4);

    const thm_job_case *cases = (const thm_job_case *)(void *)(thm_job + sizeof(*h));
    uint32_t n_records = 0;
    for (int32_t isa = 0; isa < THM_MAX_ISA; isa++) {
        if ((h->isa_mask >> isa & 1u) && thm_isa_available(isa)) n_records += h->n_cases;
    }
    uint32_t head[4] = {THM_RESULT_MAGIC, THM_JOB_VERSION, n_records, 0};
    if (thm_semi_write(fd, head, sizeof(head))) return fail("write failed", 5);

    thm_hal_counter_start();
    for (int32_t isa = 0; isa < THM_MAX_ISA; isa++) {
        if (!(h->isa_mask >> isa & 1u) || !thm_isa_available(isa)) continue;
        if (thm_isa_set(isa) != THM_OK) return fail("thm_isa_set refused an available ISA", 6);
        for (uint32_t i = 0; i < h->n_cases; i++) {
            const thm_job_case *c = &cases[i];
            thm_result_record r = {i, isa, THM_JOB_E_CASE, 0, 0};
            if (thm_job_case_ok(c, h->total_bytes)) {
                uint32_t o = c->n_bufs ? c->n_bufs - 1 : 0;
                uint8_t *out = c->n_bufs ? thm_job + c->off[o] : 0;
                for (uint32_t j = 0; out && j < c->len[o]; j++) out[j] = 0xa5;  /* no stale pass */
                r.status = thm_job_run_case(thm_job, c, thm_arena, THM_BOARD_ARENA_SIZE, &r.ticks);
                r.out_len = c->n_bufs ? c->len[o] : 0;
                if (thm_semi_write(fd, &r, sizeof(r)) || (r.out_len && thm_semi_write(fd, out, r.out_len)))
                    return fail("write failed", 5);
            } else if (thm_semi_write(fd, &r, sizeof(r))) {
                return fail("write failed", 5);
            }
        }
    }
    thm_semi_close(fd);
    return 0;
}
