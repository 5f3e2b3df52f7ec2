/* The board the fuzz harnesses build the app for: the host, with no counter
 * (thm_hal_counter_* are stubs in tests/fuzz/hal_stub.c) and an arena the
 * harness owns. Only what thm_app.c reads. */
#ifndef THM_BOARD_H
#define THM_BOARD_H
#define THM_BOARD_NAME "fuzz"
#endif
