/* The application's one model and its run-prompt handler, behind the link's
 * RUN command (thm_app_link.c). */
#include "thm_app.h"
#include "thm_board.h"

static thm_app_model the_model;
static thm_app_answer the_answer;
static int bind_rc = THM_APP_E_NO_MODEL;
static char bind_msg[160] = "no model installed";

int thm_app_bind(const uint8_t *base, uint64_t size)
{
    bind_msg[0] = 0;
    the_model.ready = 0;
    bind_rc = thm_app_load(&the_model, base, size, (uint8_t *)(uintptr_t)THM_BOARD_ARENA_BASE,
                           THM_BOARD_ARENA_SIZE, bind_msg, sizeof(bind_msg));
    return bind_rc;
}

size_t thm_app_arena_used(void)
{
    return bind_rc == THM_APP_OK ? (size_t)the_model.need : 0;
}

const thm_app_answer *thm_app_run(const thm_app_request *r)
{
    if (bind_rc != THM_APP_OK) thm_app_fail(&the_answer, bind_rc, bind_msg);
    else thm_app_answer_prompt(&the_model, r, &the_answer);
    return &the_answer;
}
