/* Where the application finds its model, and how it serves requests over
 * the UART. */
#ifndef THM_APP_IMAGE_H
#define THM_APP_IMAGE_H

#include <stdint.h>

#include "thm_app.h"

/* The installed image: at the start of the board's model flash (placed there
 * by the factory loader or by a deploy). 0, or -1 with a message. */
int thm_app_find_image(const uint8_t **base, uint64_t *size, char *msg, uint32_t msg_cap);

/* Answer requests arriving on the UART forever (thm_app_serve.c). */
int thm_app_serve(void);

#endif /* THM_APP_IMAGE_H */
