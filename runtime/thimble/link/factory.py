"""Factory programming for the link firmware: a flash file that holds an
image committed in slot 0, as if `thimble deploy` had written it, for images
too big to send over the emulated UART (the 26M Needle is 25.8 MiB).

Python writes, the device's journal reads (runtime/device/link/
thm_link_journal.c is the reference): log sector 0 starts with a GEN record
(generation 1) followed by one COMMIT record for slot 0 (seqno 1, the image's
size and its header SHA-256); log sector 1 stays erased; the image sits at
slot_base = 2 sectors; every other byte is erased (0xFF). Records are the
JOURNAL rows of format.py, each closed by a CRC-32 of the bytes before it.

    write_flash("flash.bin", image_bytes, flash_size, sector)
    write_board_flash("flash.bin", image_bytes, load_board("watch_m55"))
"""
import struct
import zlib

from . import format as F
from .client import LinkError, check_image

RECORD_FMT = F.fmt(F.JOURNAL)
RECORD_SIZE = F.size(F.JOURNAL)
MIN_IMAGE = 128                   # thm_link_server.c: an image is at least its header
ERASED = b"\xff"


class FactoryError(ValueError):
    """The geometry or the image cannot make a link flash; the message says which."""


def slot_layout(flash_size, sector, slots=F.MAX_SLOTS):
    """(slot_base, slot_size) exactly as thm_link_journal_load derives them,
    after the same geometry checks; slots: 2 (A/B) or 1 (the board's
    model_slots)."""
    if sector < 2 * RECORD_SIZE or sector % F.DATA_CHUNK:
        raise FactoryError(f"sector {sector}: must be a multiple of {F.DATA_CHUNK} bytes")
    if flash_size % sector or flash_size < 4 * sector:
        raise FactoryError(f"flash {flash_size} bytes: must be whole sectors of {sector}, at least 4 of them")
    if not 1 <= slots <= F.MAX_SLOTS:
        raise FactoryError(f"{slots} model slots: a link flash has 1 .. {F.MAX_SLOTS}")
    base = 2 * sector
    return base, (flash_size - base) // slots // sector * sector


def record(kind, slot=0, seqno=0, image_size=0, written=0, sha256=bytes(32)):
    """One 64-byte journal record (kind: a RECORDS name), CRC included."""
    body = struct.pack(RECORD_FMT, F.JOURNAL_MAGIC, F.RECORDS[kind], slot, bytes(2), seqno, image_size,
                       written, sha256, ERASED * 8, 0)
    return body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]))


def journal_sector(image_size, sha256, sector):
    """Log sector 0: GEN 1, then slot 0 committed with seqno 1; erased after."""
    recs = record("GEN", seqno=1) + record("COMMIT", 0, 1, image_size, image_size, sha256)
    return recs + ERASED * (sector - len(recs))


def flash_image(image, flash_size, sector, slots=F.MAX_SLOTS):
    """The whole flash (bytes) with `image` committed in slot 0."""
    image = bytes(image)
    base, slot_size = slot_layout(flash_size, sector, slots)
    if not MIN_IMAGE <= len(image) <= slot_size:
        raise FactoryError(f"the image is {len(image):,} bytes; a slot of this flash holds {MIN_IMAGE:,}.."
                           f"{slot_size:,} ({flash_size:,} bytes in sectors of {sector:,})")
    try:
        sha = check_image(image)
    except LinkError as e:
        raise FactoryError(str(e)) from None
    head = journal_sector(len(image), sha, sector) + ERASED * sector
    return head + image + ERASED * (flash_size - base - len(image))


def write_flash(path, image, flash_size, sector, slots=F.MAX_SLOTS):
    """Write the flash file at `path` (replaced whole: a factory starts from
    erased flash). -> (slot_base, slot_size)."""
    data = flash_image(image, flash_size, sector, slots)
    with open(path, "wb") as f:
        f.write(data)
    return slot_layout(flash_size, sector, slots)


def board_geometry(board):
    """(flash_size, sector, slots) the board's firmware uses: THM_FLASH_BYTES,
    flash_sector_bytes and model_slots."""
    return board.flash_bytes, board.flash_sector_bytes, board.model_slots


def write_board_flash(path, image, board):
    """write_flash with the board's geometry (a Board from load_board)."""
    return write_flash(path, image, *board_geometry(board))
