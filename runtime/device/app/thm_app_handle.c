/* The application's one model and its request handler, shared by every
 * transport (batch job, UART, the link's RUN command). */
#include "thm_app.h"
#include "thm_app_image.h"
#include "thm_board.h"

static thm_app_model the_model;
static thm_app_answer the_answer;
static int boot_rc = THM_APP_E_NO_MODEL;
static char boot_msg[160] = "no model installed";

int thm_app_bind(const uint8_t *base, uint64_t size)
{
    boot_msg[0] = 0;
    the_model.ready = 0;
    boot_rc = thm_app_load(&the_model, base, size, (uint8_t *)(uintptr_t)THM_BOARD_ARENA_BASE,
                           THM_BOARD_ARENA_SIZE, boot_msg, sizeof(boot_msg));
    return boot_rc;
}

int thm_app_boot(void)
{
    const uint8_t *base = 0;
    uint64_t size = 0;
    if (thm_app_find_image(&base, &size, boot_msg, sizeof(boot_msg)) != 0) {
        the_model.ready = 0;
        boot_rc = THM_APP_E_NO_MODEL;
        return boot_rc;
    }
    return thm_app_bind(base, size);
}

const char *thm_app_boot_message(void) { return boot_msg; }

const thm_app_answer *thm_app_run(const thm_app_request *r)
{
    if (boot_rc != THM_APP_OK) thm_app_fail(&the_answer, boot_rc, boot_msg);
    else thm_app_answer_prompt(&the_model, r, &the_answer);
    return &the_answer;
}

size_t thm_app_handle(const uint8_t *req, size_t len, uint8_t *out, size_t cap)
{
    thm_app_request r;
    if (thm_app_parse_request(req, len, &r, &the_answer) == THM_APP_OK) thm_app_run(&r);
    return thm_app_pack_answer(&the_answer, out, cap);
}
