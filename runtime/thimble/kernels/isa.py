"""The one table of instruction sets and packed weight layouts.

Everything that names an ISA or a layout takes it from here: board features
(boards/*.toml, boards/board.py), the C backends (c:<name>, c_backend.py),
the simulator's engine names, the conformance firmware's ISA ids
(firmware/job.py), the converter's layouts (layouts.py, image/format.py).
The C side spells the same facts in kernels/include/thimble_kernels.h
(THM_ISA_*, THM_LAYOUT_*) and kernels/src/thm_isa.c (which layouts each ISA's
ops table owns); tests/kernels/test_isa_table.py compares them with this file.

No imports from the rest of thimble: the image format and the board loader
read this table.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    code: int            # THM_LAYOUT_* (image TENSOR.layout, CONFIG.weight_layout)
    name: str            # image/format.py LAYOUTS, convert --layout
    rows: int            # rows of w per tile (N is padded to a multiple)
    k_block: int         # k per block (K is padded to a multiple)
    elem_bytes: int      # bytes per stored element (1: int8, 2: int16)


@dataclass(frozen=True)
class Isa:
    name: str            # the backend is c:<name>; the firmware's ISA name
    id: int              # THM_ISA_*
    feature: str = None  # the board feature (boards/*.toml, kernels/arm/<feature>/) that builds it in
    host: bool = False   # an x86 host ISA (chosen at run time), not a board's
    layouts: tuple = ()  # packed layouts whose fast path it owns (codes)


ROW_MAJOR = 0
S8_R8K64 = 1
S16_R4K16 = 2

LAYOUTS = (
    Layout(S8_R8K64, "s8_r8k64", rows=8, k_block=64, elem_bytes=1),     # NEON SDOT, Helium
    Layout(S16_R4K16, "s16_r4k16", rows=4, k_block=16, elem_bytes=2),   # Cortex-M DSP (SXTB16 order)
)

ISAS = (
    Isa("portable", 0, host=True),
    Isa("avx2", 1, host=True),
    Isa("avx512vnni", 2, host=True),
    Isa("arm_dsp", 3, feature="dsp", layouts=(S16_R4K16,)),
    Isa("arm_mve", 4, feature="mve", layouts=(S8_R8K64,)),
    Isa("arm_neon_dot", 5, feature="neon", layouts=(S8_R8K64,)),
    Isa("avxvnni", 6, host=True),       # AVX-VNNI (VEX vpdpbusd), CPUs without AVX-512
    Isa("amx", 7, host=True),           # AMX-INT8 tiles for M >= 16, AVX-512 VNNI otherwise
)

BY_NAME = {i.name: i for i in ISAS}
BY_ID = {i.id: i for i in ISAS}
BY_FEATURE = {i.feature: i for i in ISAS if i.feature}
LAYOUT_BY_CODE = {lay.code: lay for lay in LAYOUTS}
LAYOUT_BY_NAME = {lay.name: lay for lay in LAYOUTS}

FEATURES = frozenset(BY_FEATURE)                       # what a board file may list
HOST_ISAS = tuple(i.name for i in ISAS if i.host)      # the c:<name> backends
ISA_NAMES = {i.id: i.name for i in ISAS}               # firmware ISA id -> name
LAYOUT_NAMES = {ROW_MAJOR: "row_major", **{lay.code: lay.name for lay in LAYOUTS}}
# The layouts each board feature has a fast path for.
FEATURE_LAYOUTS = {i.feature: list(i.layouts) for i in ISAS if i.feature}


def board_isas(features):
    """The ISAs a board with these features runs, portable first."""
    return [BY_NAME["portable"]] + [BY_FEATURE[f] for f in features if f in BY_FEATURE]
