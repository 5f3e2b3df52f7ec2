/* The application behind the serial link server (thm_app_link.c). */
#ifndef THM_APP_LINK_H
#define THM_APP_LINK_H

#include "thm_link_server.h"

/* Serve the link on the UART forever; returns only when the flash is unusable. */
int thm_app_link_serve(void);

/* The link's TEST handler for the app's checks (thm_app_selftest.c). */
int thm_app_selftest(void *ctx, const thm_link_test_in *in, thm_link_test_out *out);
/* Paint the stack below the caller's frame (first thing in main), so TEST
 * STACK can tell how deep it has ever gone. */
void thm_app_stack_paint(void);

#endif /* THM_APP_LINK_H */
