/* The watch's application firmware: a banner on the UART, then the serial
 * link server on it (thm_app_link.c): deploy a model into the A/B slots,
 * stage a run-prompt request, RUN it. The model is bound from the active
 * slot at the first RUN, so a board without one still boots and says so. */
#include "thm_app_link.h"
#include "thm_board.h"
#include "thm_hal.h"

int main(void)
{
    thm_app_stack_paint();
    thm_hal_counter_start();
    thm_hal_uart_init();
    thm_hal_puts("thimble app " THM_BOARD_NAME ": link ready\r\n");
    return thm_app_link_serve();
}
