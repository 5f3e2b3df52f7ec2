"""A board is data: one TOML file in boards/ (see docs/boards.md).

load_board() reads and validates it; everything else (CMake settings, the C
board header, the linker script, QEMU command lines) is derived from the
Board it returns, so adding a board means adding a file.
"""
import os
import re
import tomllib
from dataclasses import dataclass, field

from ..core import resources
from ..core.errors import UsageError
from ..kernels import isa

BOARDS_DIR = str(resources.data_path("boards"))

FAMILIES = {"cortex-m", "aarch64"}                 # one boot folder each
TOOLCHAINS = {"arm-none-eabi", "aarch64-linux-gnu"}
FEATURES = set(isa.FEATURES)                       # kernels/arm/<feature>/ (kernels/isa.py)
COUNTERS = {"systick", "cntvct", "pmu"}   # pmu: one tick per instruction
UARTS = {"cmsdk", "pl011"}
REGIONS = ("code", "ram", "arena", "weights")
MAX_FILE_BYTES = 64 * 1024
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_FLAG = re.compile(r"^-m[a-z0-9=+._-]{1,60}$")     # only -m machine flags come from data
_QEMU_OPT = re.compile(r"^[A-Za-z0-9=,._:+-]{1,80}$")


# Two A/B slots of the 26M int8 Needle; bounds the emulator's flash file too.
FLASH_MAX_BYTES = 64 << 20


class BoardError(UsageError, ValueError):
    """A board file is missing, malformed or inconsistent (a usage error: exit 2)."""


@dataclass(frozen=True)
class Region:
    name: str
    base: int          # emulated address
    size: int          # bytes, emulated map
    real_size: int     # bytes on the real chip class (== size where they agree)


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    family: str
    toolchain: str
    flash_sector_bytes: int
    core: str
    flags: tuple
    features: tuple
    real_clock_hz: int
    emulated_clock_hz: int
    counter: str
    regions: dict = field(hash=False)      # name -> Region
    uart_kind: str = "cmsdk"
    uart_base: int = 0
    uart_rx_irq: int = None    # the UART's receive interrupt (NVIC IRQ or GIC INTID); None: polled
    gic_dist_base: int = None  # GICv2 distributor and CPU interface (aarch64 with rx_irq)
    gic_cpu_base: int = None
    qemu_binary: str = ""
    qemu_machine: str = ""
    qemu_cpu: str = ""
    qemu_options: tuple = ()
    model_slots: int = 2       # the link's model slots in the model flash: 2 (A/B) or 1 (replaced in place)
    path: str = ""

    @property
    def flash_bytes(self):
        """Bytes of the model flash (runtime/device/flash, THM_BOARD_FLASH_BYTES in
        the generated board header): the real chip class's budget, within the
        emulated weights region, at most FLASH_MAX_BYTES."""
        w = self.regions["weights"]
        return min(w.real_size, w.size, FLASH_MAX_BYTES)

    @property
    def instructions_per_tick(self):
        """Instructions per counter tick under QEMU -icount shift=0 (one virtual
        ns per instruction): 1e9 / clock for clocked counters, 1 for the PMU."""
        return 1.0 if self.counter == "pmu" else 1e9 / self.emulated_clock_hz


def board_names(boards_dir=BOARDS_DIR):
    """Names of the board files in boards_dir, sorted."""
    if not os.path.isdir(boards_dir):
        return []
    return sorted(f[:-5] for f in os.listdir(boards_dir) if f.endswith(".toml"))


def board_path(name, boards_dir=BOARDS_DIR):
    if not isinstance(name, str) or not _NAME.match(name):
        raise BoardError(f"bad board name {name!r}: lower-case letters, digits and _ only")
    path = os.path.join(boards_dir, name + ".toml")
    if not os.path.isfile(path):
        known = ", ".join(board_names(boards_dir)) or "none"
        raise BoardError(f"no board {name!r} (known: {known})")
    return path


def load_board(name_or_path, boards_dir=BOARDS_DIR):
    """Read and validate a board by name (boards/NAME.toml) or by file path."""
    path = name_or_path if name_or_path.endswith(".toml") else board_path(name_or_path, boards_dir)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise BoardError(f"{path}: {e.strerror}") from e
    if len(raw) > MAX_FILE_BYTES:
        raise BoardError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BoardError(f"{path}: not valid TOML ({e})") from e
    return parse_board(data, path)


def _get(d, key, typ, where):
    if key not in d:
        raise BoardError(f"{where}: missing '{key}'")
    v = d[key]
    if typ is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise BoardError(f"{where}: '{key}' must be an integer")
    if typ is not int and not isinstance(v, typ):
        raise BoardError(f"{where}: '{key}' must be {typ.__name__}")
    return v


def _choice(v, allowed, what, where):
    if v not in allowed:
        raise BoardError(f"{where}: {what} {v!r} is not one of {sorted(allowed)}")
    return v


def _uart_irq(data, uart, family, path):
    """[uart] rx_irq and, on aarch64, the [gic] (GICv2) it goes through.
    The firmware sleeps (WFI) until this interrupt while it waits for a byte;
    without rx_irq it polls. Returns (rx_irq or None, (dist, cpu) or (None, None))."""
    w = f"{path} [uart]"
    gic = data.get("gic")
    if "rx_irq" not in uart:
        if gic is not None:
            raise BoardError(f"{path}: [gic] is only used for [uart] rx_irq; it has none")
        return None, (None, None)
    irq = _get(uart, "rx_irq", int, w)
    if family == "cortex-m":
        if gic is not None:
            raise BoardError(f"{path}: [gic] on a Cortex-M board (its interrupts go through the NVIC)")
        if not 0 <= irq < 480:                     # v7-M/v8-M NVIC: at most 480 external interrupts
            raise BoardError(f"{w}: rx_irq {irq} is not an NVIC interrupt (0 .. 479)")
        return irq, (None, None)
    if not 32 <= irq < 1020:                       # GICv2 shared peripheral interrupts
        raise BoardError(f"{w}: rx_irq {irq} is not a GIC SPI INTID (32 .. 1019)")
    if not isinstance(gic, dict):
        raise BoardError(f"{path}: [uart] rx_irq on {family} needs [gic] dist_base and cpu_base")
    bases = tuple(_get(gic, k, int, f"{path} [gic]") for k in ("dist_base", "cpu_base"))
    if any(b < 0 or b % 0x1000 or b >= 1 << 32 for b in bases):
        raise BoardError(f"{path} [gic]: bases must be 4 KiB aligned and below 4 GiB")
    return irq, bases


def parse_board(data, path="<board>"):
    """Validate a decoded board file (a dict) and return a Board."""
    if not isinstance(data, dict):
        raise BoardError(f"{path}: not a table")
    name = _get(data, "name", str, path)
    if not _NAME.match(name):
        raise BoardError(f"{path}: bad name {name!r}")
    if path.endswith(".toml") and os.path.basename(path)[:-5] != name:
        raise BoardError(f"{path}: name {name!r} differs from the file name")
    cpu = _get(data, "cpu", dict, path)
    w = f"{path} [cpu]"
    flags = _get(cpu, "flags", list, w)
    for fl in flags:
        if not isinstance(fl, str) or not _FLAG.match(fl):
            raise BoardError(f"{w}: flag {fl!r} is not a -m machine flag")
    features = _get(cpu, "features", list, w)
    for ft in features:
        _choice(ft, FEATURES, "feature", w)
    clocks = [_get(cpu, k, int, w) for k in ("real_clock_hz", "emulated_clock_hz")]
    if not all(1_000_000 <= c <= 10_000_000_000 for c in clocks):
        raise BoardError(f"{w}: clocks must be 1 MHz .. 10 GHz")

    mem = _get(data, "memory", dict, path)
    regions = {}
    for rn in REGIONS:
        r = _get(mem, rn, dict, f"{path} [memory]")
        wr = f"{path} [memory.{rn}]"
        base, size = _get(r, "base", int, wr), _get(r, "size", int, wr)
        real = r.get("real_size", size)
        if isinstance(real, bool) or not isinstance(real, int):
            raise BoardError(f"{wr}: 'real_size' must be an integer")
        if base < 0 or size <= 0 or real <= 0 or base + size > 1 << 64 or base % 16:
            raise BoardError(f"{wr}: base must be 16-byte aligned, sizes positive")
        regions[rn] = Region(rn, base, size, real)
    spans = sorted(regions.values(), key=lambda r: r.base)
    for a, b in zip(spans, spans[1:]):
        if a.base + a.size > b.base:
            raise BoardError(f"{path}: memory regions {a.name} and {b.name} overlap")
    family = _choice(_get(data, "family", str, path), FAMILIES, "family", path)
    if family == "cortex-m" and any(r.base + r.size > 1 << 32 for r in spans):
        raise BoardError(f"{path}: a Cortex-M region lies above 4 GiB")

    uart = _get(data, "uart", dict, path)
    uart_kind = _choice(_get(uart, "kind", str, f"{path} [uart]"), UARTS, "uart", path)
    rx_irq, gic = _uart_irq(data, uart, family, path)
    qemu = _get(data, "qemu", dict, path)
    wq = f"{path} [qemu]"
    opts = _get(qemu, "options", list, wq)
    for o in opts:
        if not isinstance(o, str) or not _QEMU_OPT.match(o):
            raise BoardError(f"{wq}: option {o!r} has characters a board may not use")
    for k in ("binary", "machine", "cpu"):
        v = _get(qemu, k, str, wq)
        if v and not _QEMU_OPT.match(v):
            raise BoardError(f"{wq}: {k} {v!r} has characters a board may not use")
    sector = _get(data, "flash_sector_bytes", int, path)
    if sector < 256 or sector > 1 << 20 or sector & (sector - 1):
        raise BoardError(f"{path}: flash_sector_bytes must be a power of two, 256 .. 1 MiB")
    slots = data.get("model_slots", 2)
    if isinstance(slots, bool) or slots not in (1, 2):
        raise BoardError(f"{path}: model_slots must be 1 or 2 (A/B)")
    return Board(
        name=name,
        description=_get(data, "description", str, path),
        family=family,
        toolchain=_choice(_get(data, "toolchain", str, path), TOOLCHAINS, "toolchain", path),
        flash_sector_bytes=sector,
        core=_get(cpu, "core", str, w),
        flags=tuple(flags),
        features=tuple(features),
        real_clock_hz=clocks[0],
        emulated_clock_hz=clocks[1],
        counter=_choice(_get(cpu, "counter", str, w), COUNTERS, "counter", w),
        regions=regions,
        uart_kind=uart_kind,
        uart_base=_get(uart, "base", int, f"{path} [uart]"),
        uart_rx_irq=rx_irq,
        gic_dist_base=gic[0],
        gic_cpu_base=gic[1],
        qemu_binary=qemu["binary"],
        qemu_machine=qemu["machine"],
        qemu_cpu=qemu["cpu"],
        qemu_options=tuple(opts),
        model_slots=slots,
        path=path,
    )
