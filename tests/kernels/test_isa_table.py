"""One table of ISAs and layouts (runtime/thimble/kernels/isa.py), and the C
side that spells the same facts: THM_ISA_* and THM_LAYOUT_* (with the packed
geometry) in thimble_kernels.h, the per-ISA ops tables in thm_isa.c and which
packed layouts each owns, the generated image header, and every Python user
of the table (boards, layouts, image format, backends, firmware ids)."""
import pathlib
import re

from thimble.firmware import job
from thimble.image import format as fmt
from thimble.kernels import backend_names, c_backend, isa, layouts

ROOT = pathlib.Path(__file__).resolve().parents[2]
API = (ROOT / "kernels" / "include" / "thimble_kernels.h").read_text()
ISA_C = (ROOT / "kernels" / "src" / "thm_isa.c").read_text()
IMAGE_H = (ROOT / "runtime" / "device" / "include" / "thm_image_format.h").read_text()


def _defines(text, prefix):
    return {m.group(1): int(m.group(2)) for m in re.finditer(rf"#define\s+{prefix}(\w+)\s+\(?(-?\d+)\)?", text)}


def test_isa_ids_match_the_c_api():
    c_ids = _defines(API, "THM_ISA_")
    assert {name.lower(): v for name, v in c_ids.items()} == {i.name: i.id for i in isa.ISAS}
    for i in isa.ISAS:
        assert getattr(c_backend.lib, f"THM_ISA_{i.name.upper()}") == i.id


def test_layouts_and_geometry_match_the_c_api_and_the_image_header():
    for header in (API, IMAGE_H):
        lay = _defines(header, "THM_LAYOUT_")
        for L in isa.LAYOUTS:
            key = L.name.upper()
            assert lay[key] == L.code
            assert (lay[f"{key}_ROWS"], lay[f"{key}_KBLOCK"], lay[f"{key}_ELEM_BYTES"]) == \
                (L.rows, L.k_block, L.elem_bytes), key
    assert _defines(IMAGE_H, "THM_LAYOUT_")["ROW_MAJOR"] == isa.ROW_MAJOR


def _ops_tables():
    """ISA name -> (its THM_ISA_ id name, the layouts its matmul_s8_packed slots fill)."""
    out = {}
    for m in re.finditer(r"static const thm_ops thm_ops_(\w+) = \{([^;]*)\};", ISA_C):
        body = m.group(2)
        isa_id = re.search(r"\.isa = THM_ISA_(\w+)", body).group(1)
        owned = set(re.findall(r"\[THM_LAYOUT_(\w+)\]\s*=", body))
        out[m.group(1)] = (isa_id, owned)
    return out


def test_every_isa_has_one_ops_table_owning_its_layouts():
    tables = _ops_tables()
    assert set(tables) == {i.name for i in isa.ISAS}
    for name, (isa_id, owned) in tables.items():
        i = isa.BY_NAME[name]
        assert isa_id == name.upper()
        assert owned == {isa.LAYOUT_BY_CODE[c].name.upper() for c in i.layouts}, name


def test_python_users_read_the_table():
    from thimble.boards import board as board_mod
    assert board_mod.FEATURES == set(isa.FEATURES)
    assert layouts.NAMES == {L.code: L.name for L in isa.LAYOUTS}
    assert layouts.FEATURE_LAYOUTS == isa.FEATURE_LAYOUTS
    assert {c: n for c, n in fmt.LAYOUTS.items() if c} == layouts.NAMES
    assert fmt.PACKED_LAYOUTS == {L.code: (L.rows, L.k_block, L.elem_bytes) for L in isa.LAYOUTS}
    for L in isa.LAYOUTS:
        assert layouts.packed_size(L.code, 70, 9) == fmt.packed_bytes(L.code, 9, 70) \
            == c_backend.lib.thm_matmul_s8_packed_size(L.code, 70, 9)
    assert list(c_backend.ISAS) == list(isa.HOST_ISAS)
    assert backend_names()[3:] == [f"c:{n}" for n in isa.HOST_ISAS]
    assert job.ISA_NAMES == {i.id: i.name for i in isa.ISAS}


def test_the_c_api_selects_exactly_the_host_isas():
    """On this host, thm_isa_set accepts the host ISAs the CPU runs and no board ISA."""
    lib = c_backend.lib
    before = lib.thm_isa_get()
    try:
        for i in isa.ISAS:
            if not i.host:
                assert lib.thm_isa_available(i.id) == 0, i.name
            elif lib.thm_isa_available(i.id):
                assert lib.thm_isa_set(i.id) == lib.THM_OK and lib.thm_isa_get() == i.id
    finally:
        lib.thm_isa_set(before)
