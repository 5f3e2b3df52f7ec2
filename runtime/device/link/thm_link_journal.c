#include "thm_link_journal.h"

#include <string.h>

#include "thm_crc32.h"
#include "thm_le.h"

#define REC THM_LINK_JREC_SIZE

static void encode(uint8_t r[REC], uint32_t kind, uint32_t slot, uint32_t seqno, uint32_t size,
                   uint32_t written, const uint8_t *sha) {
    memset(r, 0xFF, REC);
    thm_put32(r + THM_LINK_JREC_MAGIC, THM_LINK_JOURNAL_MAGIC);
    r[THM_LINK_JREC_KIND] = (uint8_t)kind;
    r[THM_LINK_JREC_SLOT] = (uint8_t)slot;
    r[THM_LINK_JREC_PAD] = 0;
    r[THM_LINK_JREC_PAD + 1] = 0;
    thm_put32(r + THM_LINK_JREC_SEQNO, seqno);
    thm_put32(r + THM_LINK_JREC_IMAGE_SIZE, size);
    thm_put32(r + THM_LINK_JREC_WRITTEN, written);
    if (sha) memcpy(r + THM_LINK_JREC_SHA256, sha, 32);
    else memset(r + THM_LINK_JREC_SHA256, 0, 32);
    thm_put32(r + THM_LINK_JREC_CRC, thm_crc32(0, r, THM_LINK_JREC_CRC));
}

static int valid(const uint8_t r[REC]) {
    return thm_le32(r + THM_LINK_JREC_MAGIC) == THM_LINK_JOURNAL_MAGIC &&
           thm_le32(r + THM_LINK_JREC_CRC) == thm_crc32(0, r, THM_LINK_JREC_CRC);
}

static int erased(const uint8_t r[REC]) {
    for (uint32_t i = 0; i < REC; i++)
        if (r[i] != 0xFF) return 0;
    return 1;
}

static void apply(thm_link_journal *j, const uint8_t r[REC]) {
    uint32_t s = r[THM_LINK_JREC_SLOT];
    uint32_t kind = r[THM_LINK_JREC_KIND];
    if (s >= j->slots || (kind != THM_LINK_REC_PROGRESS && kind != THM_LINK_REC_COMMIT)) return;
    thm_link_slot *sl = &j->slot[s];
    uint32_t size = thm_le32(r + THM_LINK_JREC_IMAGE_SIZE);
    uint32_t written = thm_le32(r + THM_LINK_JREC_WRITTEN);
    if (size == 0 || size > j->slot_size || written > size) return;   /* never trust a record beyond the slot */
    sl->image_size = size;
    memcpy(sl->sha256, r + THM_LINK_JREC_SHA256, 32);
    if (kind == THM_LINK_REC_COMMIT) {
        sl->state = THM_LINK_SLOT_VALID;
        sl->seqno = thm_le32(r + THM_LINK_JREC_SEQNO);
        sl->written = size;
    } else {
        sl->state = THM_LINK_SLOT_PARTIAL;
        sl->seqno = 0;
        sl->written = written;
    }
}

static int write_rec(thm_link_journal *j, uint32_t log, uint32_t pos, const uint8_t r[REC]) {
    const thm_link_flash *f = j->flash;
    if (f->program(f->ctx, log * f->sector + pos, r, REC)) return THM_JOURNAL_E_FLASH;
    uint8_t back[REC];
    if (f->read(f->ctx, log * f->sector + pos, back, REC) || memcmp(back, r, REC)) return THM_JOURNAL_E_FLASH;
    return THM_JOURNAL_OK;
}

/* Write the live state into the other log sector, its GEN record last. */
static int compact(thm_link_journal *j) {
    const thm_link_flash *f = j->flash;
    uint32_t other = 1 - j->log, pos = REC;
    uint8_t r[REC];
    if (f->erase(f->ctx, other * f->sector, f->sector)) return THM_JOURNAL_E_FLASH;
    for (uint32_t s = 0; s < j->slots; s++) {
        const thm_link_slot *sl = &j->slot[s];
        if (sl->state == THM_LINK_SLOT_EMPTY) continue;
        if (sl->state == THM_LINK_SLOT_VALID)
            encode(r, THM_LINK_REC_COMMIT, s, sl->seqno, sl->image_size, sl->image_size, sl->sha256);
        else
            encode(r, THM_LINK_REC_PROGRESS, s, 0, sl->image_size, sl->written, sl->sha256);
        if (write_rec(j, other, pos, r)) return THM_JOURNAL_E_FLASH;
        pos += REC;
    }
    encode(r, THM_LINK_REC_GEN, 0, j->gen + 1, 0, 0, 0);
    if (write_rec(j, other, 0, r)) return THM_JOURNAL_E_FLASH;
    j->log = other;
    j->gen += 1;
    j->next = pos;
    return THM_JOURNAL_OK;
}

static int append(thm_link_journal *j, const uint8_t r[REC]) {
    if (j->next + REC > j->flash->sector) {
        int e = compact(j);
        if (e) return e;
    }
    int e = write_rec(j, j->log, j->next, r);
    j->next += REC;    /* a failed append still used the space */
    if (e) return e;
    apply(j, r);
    return THM_JOURNAL_OK;
}

int thm_link_journal_load(thm_link_journal *j, const thm_link_flash *f) {
    memset(j, 0, sizeof *j);
    j->flash = f;
    if (!f || f->sector < 2 * REC || f->sector % THM_LINK_DATA_CHUNK || f->size % f->sector ||
        f->size < 4 * f->sector || f->slots < 1 || f->slots > THM_LINK_MAX_SLOTS)
        return THM_JOURNAL_E_GEOMETRY;
    j->slots = f->slots;
    j->slot_base = 2 * f->sector;
    j->slot_size = (f->size - j->slot_base) / j->slots / f->sector * f->sector;
    uint8_t r[REC];
    int best = -1;
    uint32_t best_gen = 0;
    for (uint32_t l = 0; l < 2; l++) {
        if (f->read(f->ctx, l * f->sector, r, REC)) return THM_JOURNAL_E_FLASH;
        if (valid(r) && r[THM_LINK_JREC_KIND] == THM_LINK_REC_GEN) {
            uint32_t g = thm_le32(r + THM_LINK_JREC_SEQNO);
            if (best < 0 || g > best_gen) { best = (int)l; best_gen = g; }
        }
    }
    if (best < 0) {   /* a blank (or wholly torn) flash: start generation 1 in sector 0 */
        j->log = 1;
        j->gen = 0;
        return compact(j);
    }
    j->log = (uint32_t)best;
    j->gen = best_gen;
    uint32_t pos = REC;
    for (; pos + REC <= f->sector; pos += REC) {
        if (f->read(f->ctx, j->log * f->sector + pos, r, REC)) return THM_JOURNAL_E_FLASH;
        if (erased(r)) break;
        if (valid(r)) apply(j, r);   /* a torn record is skipped, its space stays used */
    }
    j->next = pos;
    return THM_JOURNAL_OK;
}

int thm_link_journal_progress(thm_link_journal *j, uint32_t s, uint32_t image_size, uint32_t written,
                              const uint8_t sha256[32]) {
    uint8_t r[REC];
    encode(r, THM_LINK_REC_PROGRESS, s, 0, image_size, written, sha256);
    return append(j, r);
}

int thm_link_journal_commit(thm_link_journal *j, uint32_t s, uint32_t image_size, const uint8_t sha256[32]) {
    uint32_t top = 0;
    for (uint32_t i = 0; i < j->slots; i++)
        if (j->slot[i].state == THM_LINK_SLOT_VALID && j->slot[i].seqno > top) top = j->slot[i].seqno;
    uint8_t r[REC];
    encode(r, THM_LINK_REC_COMMIT, s, top + 1, image_size, image_size, sha256);
    return append(j, r);
}

int thm_link_journal_active(const thm_link_journal *j) {
    int best = -1;
    for (uint32_t i = 0; i < j->slots; i++)
        if (j->slot[i].state == THM_LINK_SLOT_VALID && (best < 0 || j->slot[i].seqno > j->slot[best].seqno))
            best = (int)i;
    return best;
}
