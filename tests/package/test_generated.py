"""Every generated file matches the table it is generated from: each
tools/gen_*.py run with --check (format headers, the fixed-point tables,
the model constants, the app's request and answer). A generator the test
does not find here would be one no test checks."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GENERATORS = sorted(p.name for p in (ROOT / "tools").glob("gen_*.py"))


def test_the_generators_are_all_here():
    assert {"gen_tables.py", "gen_image_format.py", "gen_link_format.py", "gen_tokenizer_format.py",
            "gen_model_consts.py", "gen_app_format.py"} <= set(GENERATORS)


@pytest.mark.parametrize("generator", GENERATORS)
def test_generated_files_are_current(generator):
    r = subprocess.run([sys.executable, str(ROOT / "tools" / generator), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, f"{generator} --check: {r.stdout}{r.stderr}"


def test_a_stale_file_is_found(tmp_path, monkeypatch):
    """--check must fail when the output differs (here: gen_tables against a
    changed table), or the tests above could never fail."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_tables
    finally:
        sys.path.remove(str(ROOT / "tools"))
    out = tmp_path / "tables.py"
    out.write_text(gen_tables.render_python() + "# edited by hand\n")
    monkeypatch.setattr(gen_tables, "OUTPUTS", {out: gen_tables.render_python})
    assert gen_tables.main(["--check"]) == 1
    out.write_text(gen_tables.render_python())
    assert gen_tables.main(["--check"]) == 0
