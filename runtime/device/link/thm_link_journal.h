/* Slot states persisted in flash: an append-only log of 64-byte records in
 * one of two log sectors (0 and 1 of the link's flash).
 *
 * Power cuts: a record counts only when its CRC matches, so a torn append is
 * ignored (the slot keeps its previous state). A log sector counts only when
 * its first record is a GEN record; compaction writes the live records into
 * the other sector first and its GEN record last, so a cut during compaction
 * leaves the old sector in charge. Wear: one PROGRESS record per
 * THM_LINK_PROGRESS_EVERY data sectors; a log sector holds sector/64
 * records before one erase. */
#ifndef THM_LINK_JOURNAL_H
#define THM_LINK_JOURNAL_H

#include <stdint.h>
#include "thm_link_format.h"
#include "thm_link_port.h"

typedef struct {
    uint8_t state;         /* THM_LINK_SLOT_EMPTY / PARTIAL / VALID (ACTIVE is derived) */
    uint32_t seqno;        /* VALID: commit sequence number */
    uint32_t image_size;   /* bytes */
    uint32_t written;      /* PARTIAL: bytes persisted (sector multiple or image_size) */
    uint8_t sha256[32];
} thm_link_slot;

typedef struct {
    const thm_link_flash *flash;
    thm_link_slot slot[THM_LINK_MAX_SLOTS];
    uint32_t slot_base;    /* flash offset of slot 0; slot i at slot_base + i * slot_size */
    uint32_t slot_size;    /* bytes, a sector multiple */
    uint32_t slots;        /* in use: flash->slots */
    uint32_t log;          /* 0 or 1: the log sector in charge */
    uint32_t gen;          /* its generation */
    uint32_t next;         /* byte offset of the next free record in it */
} thm_link_journal;

enum { THM_JOURNAL_OK = 0, THM_JOURNAL_E_FLASH = -1, THM_JOURNAL_E_GEOMETRY = -2 };

/* Read the log (formatting an empty flash) and derive the slot states. */
int thm_link_journal_load(thm_link_journal *j, const thm_link_flash *flash);
/* Append a PROGRESS or COMMIT record for slot s (and update j->slot[s]). */
int thm_link_journal_progress(thm_link_journal *j, uint32_t s, uint32_t image_size, uint32_t written,
                              const uint8_t sha256[32]);
int thm_link_journal_commit(thm_link_journal *j, uint32_t s, uint32_t image_size, const uint8_t sha256[32]);
/* The VALID slot with the highest seqno, or -1. */
int thm_link_journal_active(const thm_link_journal *j);

#endif /* THM_LINK_JOURNAL_H */
