"""A firmware ELF read as untrusted input: its loadable segments, its entry
point, and the identity thimble's firmware carries (thm_firmware_id.c), for
`thimble flash`. Nothing here executes or links anything; every offset and
size the file gives is bounded by the file and by the address space before
it is used.

    fw = read_elf("build/boards/watch_m4/thm_app_link.elf")
    check_for_board(fw, load_board("watch_m4"))     # ElfError unless it is that board's
    for seg in fw.segments: seg.addr, seg.data
"""
import os
import struct
from dataclasses import dataclass

from ..core.errors import CommandError

MAX_ELF_BYTES = 64 << 20          # a firmware is a few hundred KiB; bounds what is read
MAX_SEGMENTS = 64
PT_LOAD = 1
ET_EXEC = 2
EM_ARM, EM_AARCH64 = 40, 183
# (ELF class, machine) each board family's firmware has
FAMILY_ELF = {"cortex-m": (1, EM_ARM), "aarch64": (2, EM_AARCH64)}
MACHINE_NAMES = {EM_ARM: "ARM", EM_AARCH64: "AArch64", 3: "x86", 62: "x86-64", 243: "RISC-V"}
ID_PREFIX = b"thimble-firmware;"
ID_MAX = 128


class ElfError(CommandError, ValueError):
    """The file is not a firmware ELF this board can take; the message says why."""


@dataclass(frozen=True)
class Segment:
    addr: int          # where it is loaded: the physical (load) address, as GDB's `load` uses
    data: bytes        # the bytes the file holds (p_filesz); the rest of p_memsz is zeroed by the startup code


@dataclass(frozen=True)
class Firmware:
    path: str
    elf_class: int     # 1: 32-bit, 2: 64-bit
    machine: int
    entry: int
    segments: tuple
    ident: dict        # fields of the thimble-firmware id ({} when the firmware has none)

    @property
    def size(self):
        return sum(len(s.data) for s in self.segments)


def _header(data, path):
    if len(data) < 52:
        raise ElfError(f"{path}: {len(data)} bytes, shorter than an ELF header (truncated?)")
    if data[:4] != b"\x7fELF":
        raise ElfError(f"{path}: not an ELF file (magic {data[:4]!r})")
    cls, endian, version = data[4], data[5], data[6]
    if cls not in (1, 2):
        raise ElfError(f"{path}: ELF class {cls} is neither 32- nor 64-bit")
    if endian != 1:
        raise ElfError(f"{path}: a big-endian ELF (thimble's boards are little-endian)")
    if version != 1:
        raise ElfError(f"{path}: ELF version {version}")
    if cls == 1:
        e_type, machine, _, entry, phoff, _, _, _, phentsize, phnum = struct.unpack_from("<HHIIIIIHHH", data, 16)
        want_ent = 32
    else:
        if len(data) < 64:
            raise ElfError(f"{path}: {len(data)} bytes, shorter than a 64-bit ELF header (truncated?)")
        e_type, machine, _, entry, phoff, _, _, _, phentsize, phnum = struct.unpack_from("<HHIQQQIHHH", data, 16)
        want_ent = 56
    if e_type != ET_EXEC:
        raise ElfError(f"{path}: ELF type {e_type}, not an executable (2): link it first")
    if phnum == 0 or phnum > MAX_SEGMENTS or phentsize != want_ent:
        raise ElfError(f"{path}: {phnum} program headers of {phentsize} bytes (want 1..{MAX_SEGMENTS} of {want_ent})")
    if phoff > len(data) or phnum * phentsize > len(data) - phoff:
        raise ElfError(f"{path}: its program headers run past the end of the file (truncated?)")
    return cls, machine, entry, phoff, phentsize, phnum


def parse_elf(data, path="<elf>"):
    """Firmware from the bytes of an ELF file (ElfError naming what is wrong)."""
    cls, machine, entry, phoff, phentsize, phnum = _header(data, path)
    top = 1 << (32 if cls == 1 else 64)
    segs = []
    for i in range(phnum):
        at = phoff + i * phentsize
        if cls == 1:
            p_type, off, vaddr, paddr, filesz, memsz = struct.unpack_from("<IIIIII", data, at)
        else:
            p_type, _, off, vaddr, paddr, filesz, memsz = struct.unpack_from("<IIQQQQQ", data, at)
        if p_type != PT_LOAD or filesz == 0:
            continue                 # not loaded, or .bss only: the startup code clears it
        if off > len(data) or filesz > len(data) - off:
            raise ElfError(f"{path}: segment {i} ({filesz:,} bytes at file offset {off:,}) runs past the end "
                           f"of the file ({len(data):,} bytes; truncated?)")
        if filesz > memsz or paddr + memsz > top:
            raise ElfError(f"{path}: segment {i} at 0x{paddr:x}: {filesz:,} file bytes, {memsz:,} in memory, "
                           "outside the address space")
        segs.append(Segment(paddr, bytes(data[off:off + filesz])))
    if not segs:
        raise ElfError(f"{path}: no loadable segment with bytes")
    segs.sort(key=lambda s: s.addr)
    for a, b in zip(segs, segs[1:]):
        if a.addr + len(a.data) > b.addr:
            raise ElfError(f"{path}: loadable segments at 0x{a.addr:x} and 0x{b.addr:x} overlap")
    return Firmware(path, cls, machine, entry, tuple(segs), firmware_id(segs))


def read_elf(path):
    try:
        size = os.path.getsize(path)
        if size > MAX_ELF_BYTES:
            raise ElfError(f"{path}: {size:,} bytes, larger than any firmware ({MAX_ELF_BYTES:,})")
        with open(path, "rb") as f:
            data = f.read(MAX_ELF_BYTES + 1)
    except OSError as e:
        raise ElfError(f"{path}: {e.strerror or e}") from None
    return parse_elf(data, path)


def firmware_id(segments):
    """The fields of the firmware's `thimble-firmware;k=v;...` line (thm_firmware_id.c), or {}."""
    for s in segments:
        at = s.data.find(ID_PREFIX)
        if at < 0:
            continue
        end = s.data.find(b"\0", at, at + ID_MAX)
        if end < 0:
            return {}
        try:
            text = s.data[at + len(ID_PREFIX):end].decode("ascii")
        except UnicodeDecodeError:
            return {}
        return dict(f.split("=", 1) for f in text.split(";") if "=" in f)
    return {}


def check_for_board(fw, board):
    """ElfError unless fw is a thimble firmware built for `board` whose every
    loadable byte lies in the board's memory (its real chip's sizes)."""
    cls, machine = FAMILY_ELF[board.family]
    if (fw.elf_class, fw.machine) != (cls, machine):
        got = MACHINE_NAMES.get(fw.machine, f"machine {fw.machine}")
        raise ElfError(f"{fw.path}: a {32 if fw.elf_class == 1 else 64}-bit {got} ELF; {board.name} "
                       f"({board.core}) runs {32 if cls == 1 else 64}-bit {MACHINE_NAMES[machine]}")
    built = fw.ident.get("board")
    if built is None:
        raise ElfError(f"{fw.path}: not a thimble firmware (no thimble-firmware id): "
                       f"`thimble build --board {board.name}` makes one")
    if built != board.name:
        raise ElfError(f"{fw.path}: firmware built for {built}, not {board.name}")
    for s in fw.segments:
        end = s.addr + len(s.data)
        if not any(r.base <= s.addr and end <= r.base + min(r.size, r.real_size) for r in board.regions.values()):
            raise ElfError(f"{fw.path}: {len(s.data):,} bytes at 0x{s.addr:x} lie outside {board.name}'s memory")


def entry_state(fw, board):
    """{register name: value} that starts the firmware as a reset would:
    Cortex-M loads SP and PC from the vector table at the code base (the
    table's first two words); AArch64 enters at the ELF's entry (its start
    code sets the stack)."""
    if board.family == "aarch64":
        return {"pc": fw.entry}
    base = board.regions["code"].base
    seg = next((s for s in fw.segments if s.addr <= base and base + 8 <= s.addr + len(s.data)), None)
    if seg is None:
        raise ElfError(f"{fw.path}: no vector table at {board.name}'s code base 0x{base:x}")
    sp, pc = struct.unpack_from("<II", seg.data, base - seg.addr)
    if not pc & 1:
        raise ElfError(f"{fw.path}: reset vector 0x{pc:x} is not a Thumb address")
    return {"sp": sp, "pc": pc & ~1, "xpsr": 1 << 24}     # xPSR.T: Thumb state, as after reset
