"""Where thimble's files are. This module is the only one that knows; every
other module asks it instead of walking up from its own __file__.

data_root() is the folder that holds what thimble reads besides its Python
code: boards/*.toml, models/watch-tiny/, kernels/ (C sources and headers),
runtime/device/ (the device's C sources, boot code, link.ld.in templates,
app.cmake), cmake/ (toolchain files) and the top-level CMakeLists.txt that
`thimble build` configures. It is

  - an installed thimble (a wheel, `pip install .`): the package data in
    thimble/_data/, which setup.py's build_py copies there (MANIFEST.in puts
    the same trees in the sdist), found with importlib.resources;
  - a source checkout (including `pip install -e .`): the repository itself,
    so an edited board file or C source is what the next build uses.

build_root() is where build output goes: firmware build folders
(boards/NAME/), the host link server (link_host/), profile builds
(profile/NAME/). Never inside the package, which may be read-only and is
not the user's to fill:

  - source checkout: <repository>/build, as always (developers and the
    README expect build/boards/NAME/; it is .gitignore'd);
  - installed: cache_dir(), a per-user cache: $THIMBLE_CACHE_DIR, else
    $XDG_CACHE_HOME/thimble, else ~/.cache/thimble, then one folder per
    thimble version and data root ("0.1.0-<hash of the data root's path>"):
    a CMake build folder is tied to its source folder and refuses another,
    so two environments or two versions must never share one.

A command's --build-dir overrides both.
"""
import functools
import hashlib
import importlib.resources
import os
import pathlib

from .. import __version__

_PACKAGE = "thimble"
_DATA = "_data"          # the package-data folder inside an installed thimble


def _checkout_root():
    """The repository when this package is runtime/thimble of a source
    checkout (the firmware's CMakeLists.txt and boards/ beside runtime/), else None."""
    root = pathlib.Path(__file__).resolve().parents[3]     # runtime/thimble/core/resources.py
    if (root / "CMakeLists.txt").is_file() and (root / "boards").is_dir() and (root / "runtime" / "thimble").is_dir():
        return root
    return None


@functools.lru_cache(maxsize=None)
def data_root():
    """The folder holding boards/, models/, kernels/, runtime/device/, cmake/
    and CMakeLists.txt (see the module docstring)."""
    data = importlib.resources.files(_PACKAGE) / _DATA
    if data.is_dir():
        # CMake and the C compiler need a real folder, not a zip member
        return pathlib.Path(os.fspath(data)).resolve()
    checkout = _checkout_root()
    if checkout is not None:
        return checkout
    # neither: an installation without its data. Return where it should have
    # been, so that "no board files in <path>" names the broken install.
    return pathlib.Path(os.fspath(importlib.resources.files(_PACKAGE))) / _DATA


def data_path(*parts):
    """data_root()/parts..., e.g. data_path("models", "watch-tiny")."""
    return data_root().joinpath(*parts)


# The model `thimble demo` and the README use: thimble's own trained Needle
# that a watch user can talk to (models/watch-tiny stays for fast tests).
DEFAULT_MODEL = "watch-small"


def model_path(name=DEFAULT_MODEL):
    """The folder of one of thimble's own models (models/<name>)."""
    return data_path("models", name)


def is_source_checkout():
    """True when the data root is a repository (editable install or PYTHONPATH=runtime)."""
    return data_root() == _checkout_root()


def cache_dir():
    """This thimble's per-user cache folder (not created here)."""
    base = os.environ.get("THIMBLE_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = os.path.join(xdg if xdg and os.path.isabs(xdg) else os.path.expanduser("~/.cache"), "thimble")
    key = hashlib.sha256(str(data_root()).encode()).hexdigest()[:12]
    return pathlib.Path(base) / f"{__version__}-{key}"


def build_root():
    """Where build folders go: <repository>/build in a source checkout, else cache_dir()."""
    return data_root() / "build" if is_source_checkout() else cache_dir()


def shown(path):
    """A path as messages show it: relative to the data root when inside it
    (build/boards/watch_m4/... in a checkout), else as it is."""
    path = pathlib.Path(path)
    try:
        return str(path.resolve().relative_to(data_root()))
    except ValueError:
        return str(path)
