#!/usr/bin/env bash
# Makes a fresh Debian machine ready for thimble, and does nothing that is
# already done: the cross toolchains and QEMU from Debian's packages, then a
# virtual environment in .venv with thimble installed in editable mode (which
# builds the C kernels through cffi), its test dependencies and the bench and
# plot extras (pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    gcc make cmake python3-venv python3-dev
    # The firmware is built freestanding (-nostdinc, -nostdlib): the cross
    # compilers' own headers and libgcc only, so no newlib, and no C library
    # headers for the boards (tests/boards/test_headers.py checks that no
    # header comes from /usr/include or a libc's folder).
    gcc-arm-none-eabi                           # watch boards (Cortex-M4, Cortex-M55)
    gcc-aarch64-linux-gnu                       # glasses board (AArch64)
    qemu-system-arm                             # emulates all three boards (includes aarch64);
                                                # no ipxe-qemu: QEMU runs with -nic none
    qemu-user libc6-dev-arm64-cross             # tests only: the C tokenizer as an AArch64 Linux program
                                                # under qemu-user (tests/tokenizer); no firmware uses them
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
echo "bootstrap: installing thimble (editable), its test dependencies and the bench and plot extras into .venv"
# bench (onnx, onnxruntime: `bench kernels` baselines, `bench model --peers`) and plot (matplotlib:
# --plot) are optional for users; installed here so the suite runs their tests instead of skipping them
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench,plot]'
# the MicroPython client's checks: the tools into .venv, the stubs beside it (pyproject.toml's
# micropython extra pins both)
pins() {   # the micropython extra's pins: "tools" (into .venv) or "stubs" (beside it)
    .venv/bin/python -c 'import sys, tomllib
pins = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["micropython"]
print(" ".join(p for p in pins if ("stubs" in p) == (sys.argv[1] == "stubs")))' "$1"
}
read -r -a mp_tools <<< "$(pins tools)"
mp_stubs=$(pins stubs)
.venv/bin/python -m pip install -q --disable-pip-version-check "${mp_tools[@]}"
if [ ! -f .venv/micropython-stubs/.pins ] || [ "$(cat .venv/micropython-stubs/.pins)" != "$mp_stubs" ]; then
    rm -rf .venv/micropython-stubs
    # shellcheck disable=SC2086
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --target .venv/micropython-stubs $mp_stubs
    echo "$mp_stubs" > .venv/micropython-stubs/.pins
fi
echo "bootstrap: ready ($(.venv/bin/python -c 'import thimble; print("thimble", thimble.__version__)'))"
