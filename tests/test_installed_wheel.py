"""An installed thimble is a whole thimble (issue 9): the sdist and the wheel
built from this repository, installed into a fresh venv outside it, run the
main job from another directory. Board files, watch-tiny, the C sources and
the CMake files come from the package data; the firmware build goes to the
per-user cache; nothing is written into site-packages or the repository.

The one slow test (~40 s: sdist, wheel with the cffi kernels, a venv, pip,
a firmware build from scratch, the demo). Building the wheel (build
isolation) and installing its dependencies go through pip's configured
index, as `pip install .` does for a user; after tools/bootstrap.sh, pip's
cache serves them.
"""
import argparse
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import zipfile

import pytest

import thimble

REPO = pathlib.Path(__file__).resolve().parents[1]
TOOL_CALL = '[{"name":"set_timer","arguments":{"minutes":10}}]'
# what a checkout holds that is no source: the sdist is made from a copy without it
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.so",
                                    "*.o", ".pytest_cache", ".hypothesis", "bench-results", "*.thm")


def _run(argv, timeout=600, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, argv))} -> {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _listing(root, skip=()):
    """{relative path: (size, mtime_ns)} of every file under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for f in filenames:
            p = os.path.join(dirpath, f)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.slow
def test_wheel_installed_elsewhere_runs_the_demo(tmp_path):
    # the files in the repository now (.pytest_cache and __pycache__ are pytest's own)
    repo_before = set(_listing(REPO, skip={".git", ".venv", ".pytest_cache", "__pycache__", ".hypothesis"}))

    # sdist from a copy (the build writes egg-info there, not into the repository),
    # then the wheel from the sdist: a file MANIFEST.in forgets fails here
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=NOT_SOURCE)
    dist = tmp_path / "dist"
    _run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; b.build_sdist(sys.argv[1])",
          dist], cwd=src)
    (sdist,) = dist.glob("thimble-*.tar.gz")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, sdist], cwd=tmp_path)
    (wheel,) = dist.glob("thimble-*.whl")

    names = zipfile.ZipFile(wheel).namelist()
    sos = sorted(n for n in names if n.endswith(".so"))
    # the cffi kernels, and on x86-64 Linux the CPU view `bench model --cpu` preloads
    x86_linux = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
    assert [n.split(".")[0] for n in sos] == ["thimble/_cpuid_view"] * x86_linux + ["thimble/_kernels"], sos
    if all(n.endswith(".abi3.so") for n in sos):    # stable-ABI extensions: the tag must say so
        assert "-cp311-abi3-" in wheel.name, wheel.name
    for need in ("CMakeLists.txt", "boards/watch_m4.toml", "cmake/toolchain-arm-none-eabi.cmake",
                 "kernels/include/thimble_kernels.h", "runtime/device/app/app.cmake",
                 "runtime/device/boot/cortex-m/link.ld.in", "models/watch-tiny/needle.pkl"):
        assert f"thimble/_data/{need}" in names, need
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/") or "/build/" in n]

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", wheel])
    site = pathlib.Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    site_before = _listing(site)

    # a user's shell: another directory, the venv's bin on PATH, no trace of the checkout
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", THIMBLE_CACHE_DIR=str(cache),
               XDG_CACHE_HOME=str(tmp_path / "xdg"))
    exe = venv / "bin" / "thimble"

    where = _run([py, "-c", "import thimble.core.resources as r; print(r.data_root()); print(r.is_source_checkout())"],
                 cwd=cwd, env=env).stdout.split()
    assert where == [str((site / "thimble" / "_data").resolve()), "False"]
    assert _run([exe, "--version"], cwd=cwd, env=env).stdout.strip() == f"thimble {thimble.__version__}"
    assert "watch_m4" in _run([exe, "boards"], cwd=cwd, env=env).stdout

    if x86_linux:       # the installed CPU view is found, and preloads where CPUID can fault
        view = _run([py, "-c", "import subprocess; from thimble.bench import cpu_view as v; print(v.shim_path()); "
                               "why = v.unavailable_reason(); print(why is None and subprocess.run(['/bin/true'], "
                               "env=v.child_env('avx2', {'PATH': '/usr/bin:/bin'})).returncode)"],
                    cwd=cwd, env=env).stdout.splitlines()
        assert view[0].startswith(str(site / "thimble" / "_cpuid_view")), view
        assert view[1] in ("0", "False"), view          # False: this CPU cannot fault CPUID
    demo = _run([exe, "demo", "--board", "watch_m55"], cwd=cwd, env=env)
    assert TOOL_CALL in demo.stdout.splitlines(), demo.stdout
    assert "bit-exact" in demo.stdout
    assert str(REPO) not in demo.stdout + demo.stderr, "the installed thimble used the checkout"

    # the firmware was built in the cache given, nowhere else
    assert list(cache.glob(f"{thimble.__version__}-*/boards/watch_m55/thm_app_link.elf"))
    assert not (tmp_path / "xdg" / "thimble").exists()
    assert _listing(site) == site_before, "the run wrote into site-packages"
    assert not list(cwd.iterdir()), "the run left files in the working directory"
    # new files only: a developer's edits or another test's builds may change
    # files meanwhile; the checks above already say the build was not here
    repo_after = set(_listing(REPO, skip={".git", ".venv", ".pytest_cache", "__pycache__", ".hypothesis"}))
    assert not repo_after - repo_before, f"the run wrote into the repository: {sorted(repo_after - repo_before)}"


def test_boards_without_board_files_is_an_error(monkeypatch, capsys):
    # an install that lost its package data must say so, not list nothing and succeed
    from thimble.commands import boards as cli
    monkeypatch.setattr(cli, "board_names", lambda: [])
    assert cli.run(argparse.Namespace(name=None)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no board files in ") and "reinstall" in err


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    from thimble.core import resources
    key = resources.cache_dir().name
    assert key.startswith(f"{thimble.__version__}-")
    monkeypatch.setenv("THIMBLE_CACHE_DIR", str(tmp_path / "t"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert resources.cache_dir() == tmp_path / "t" / key
    monkeypatch.delenv("THIMBLE_CACHE_DIR")
    assert resources.cache_dir() == tmp_path / "x" / "thimble" / key
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")          # the XDG spec: ignore a relative path
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert resources.cache_dir() == tmp_path / "h" / ".cache" / "thimble" / key
