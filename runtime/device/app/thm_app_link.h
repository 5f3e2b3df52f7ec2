/* The application behind the serial link server (thm_app_link.c). */
#ifndef THM_APP_LINK_H
#define THM_APP_LINK_H

/* Serve the link on the UART forever; returns only when the flash is unusable. */
int thm_app_link_serve(void);

#endif /* THM_APP_LINK_H */
