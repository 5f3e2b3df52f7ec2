"""Put a firmware's loadable segments on a halted target through a GDB
server, as GDB's `load` does, then verify and start it.

Every segment is checked against the server's memory map (where it sends
one) before the first byte is written: a segment that lies outside the map
or across a region's end stops the load with nothing written. Segments in
flash go through vFlashErase (whole blocks) / vFlashWrite / vFlashDone,
the rest through X (or M). Verify compares a CRC of each segment: the
target's own (qCRC) where the server has it, else the bytes read back.
"""
import time
from dataclasses import dataclass

from ..core.errors import CommandError
from .target import crc32_gdb


class LoadError(CommandError):
    """A segment cannot go where it says, or verify found different bytes."""


@dataclass
class SegmentReport:
    addr: int
    size: int
    memory: str          # "ram" / "flash" / "rom"
    seconds: float
    crc: int             # of the ELF's bytes (crc32_gdb)
    verified: str = ""   # "" (not asked), "qCRC" (on the target) or "read back"

    def as_dict(self):
        return {"addr": self.addr, "size": self.size, "memory": self.memory, "seconds": round(self.seconds, 3),
                "crc": f"{self.crc:08x}", "verified": self.verified or None}


def plan(target, fw):
    """[(segment, kind, blocksize)], checked against the memory map; LoadError
    before anything is written."""
    out = []
    for s in fw.segments:
        where = target.region(s.addr, len(s.data))
        if where is None:
            raise LoadError(f"{len(s.data):,} bytes at 0x{s.addr:x} are outside the target's memory map "
                            f"({', '.join(f'{k} 0x{a:x}+{n:#x}' for k, a, n, _ in target.memory_map)}): nothing written")
        if where[0] == "rom":
            raise LoadError(f"{len(s.data):,} bytes at 0x{s.addr:x} fall in ROM: nothing written")
        out.append((s, where[0], where[1]))
    return out


def load(target, fw, *, verify=True, progress=None):
    """-> [SegmentReport]. progress(done, total) over all bytes."""
    steps = plan(target, fw)
    total, base = fw.size, 0
    reports = []
    flashing = False

    def seg_progress(done, _n):
        if progress:
            progress(base + done, total)
    if progress:
        progress(0, total)
    for s, kind, block in steps:
        t0 = time.monotonic()
        if kind == "flash":
            lo = s.addr // block * block
            hi = -(-(s.addr + len(s.data)) // block) * block
            target.flash_erase(lo, hi - lo)
            target.flash_write(s.addr, s.data, seg_progress)
            flashing = True
        else:
            target.write(s.addr, s.data, seg_progress)
        base += len(s.data)
        reports.append(SegmentReport(s.addr, len(s.data), kind, time.monotonic() - t0, crc32_gdb(s.data)))
    if flashing:
        target.flash_done()             # the server programs what vFlashWrite buffered
    if verify:
        for r, (s, _, _) in zip(reports, steps):
            got = target.crc(s.addr, len(s.data))
            if got is not None:
                r.verified = "qCRC"
            else:
                got = crc32_gdb(target.read(s.addr, len(s.data)))
                r.verified = "read back"
            if got != r.crc:
                raise LoadError(f"verify: {r.size:,} bytes at 0x{r.addr:x} read back with CRC {got:08x}, "
                                f"the ELF's is {r.crc:08x} ({r.verified})")
    return reports
