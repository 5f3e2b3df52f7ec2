"""The C components and their sources (runtime/device/components.toml), for
every build: CMake (components_cmake, written by the board generator), the
host extension (kernels/cffi/build_ffi.py), the host link server, the fuzz
harnesses and the tests' C checks.

Standard library only, and no import of thimble's other modules: setup.py's
cffi build loads this file by path before thimble is installed."""
import pathlib
import tomllib

TABLE = pathlib.Path("runtime", "device", "components.toml")


class Components:
    """The table at root/runtime/device/components.toml."""

    def __init__(self, root):
        self.root = pathlib.Path(root)
        with open(self.root / TABLE, "rb") as f:
            self.table = tomllib.load(f)
        for name, c in self.table.items():
            for need in c.get("needs", []):
                if need not in self.table:
                    raise ValueError(f"{TABLE}: [{name}] needs unknown component {need!r}")

    def closure(self, *names):
        """names and everything they need, each once, a component before its needs."""
        out = []

        def visit(n):
            if n not in self.table:
                raise ValueError(f"{TABLE}: no component {n!r} (known: {', '.join(self.table)})")
            if n in out:
                return
            out.append(n)
            for need in self.table[n].get("needs", []):
                visit(need)
        for n in names:
            visit(n)
        return out

    def sources(self, *names, alone=False):
        """Absolute paths of the .c files of names and (unless alone) what they need."""
        out = []
        for n in (names if alone else self.closure(*names)):
            for pattern in self.table[n].get("sources", []):
                found = sorted(self.root.glob(pattern)) if any(ch in pattern for ch in "*?[") \
                    else [self.root / pattern]
                out += [p for p in found if p not in out]
        return out

    def includes(self, *names):
        """Include folders of names and what they need."""
        out = []
        for n in self.closure(*names):
            out += [self.root / d for d in self.table[n].get("includes", []) if self.root / d not in out]
        return out


def components_cmake(root):
    """CMake lists for each component NAME: THM_NAME_SOURCES and THM_NAME_INCLUDES
    (its own, ${THM_SOURCE_DIR} paths; a glob stays a CONFIGURE_DEPENDS glob,
    so a new file is seen without editing anything) and THM_NAME_CLOSURE (it
    and the components it needs)."""
    comps = Components(root)
    lines = [f"# Generated from {TABLE.as_posix()} by thimble.firmware.sources: do not edit."]
    for name, c in comps.table.items():
        var = f"THM_{name.upper()}"
        lines.append(f"set({var}_SOURCES)")
        for pattern in c.get("sources", []):
            if any(ch in pattern for ch in "*?["):
                lines.append(f"file(GLOB _thm_glob CONFIGURE_DEPENDS ${{THM_SOURCE_DIR}}/{pattern})")
                lines.append(f"list(APPEND {var}_SOURCES ${{_thm_glob}})")
            else:
                lines.append(f"list(APPEND {var}_SOURCES ${{THM_SOURCE_DIR}}/{pattern})")
        lines.append(f"set({var}_INCLUDES " + " ".join(f"${{THM_SOURCE_DIR}}/{d}" for d in c.get("includes", [])) + ")")
        lines.append(f"set({var}_CLOSURE " + " ".join(n.upper() for n in comps.closure(name)) + ")")
    return "\n".join(lines) + "\n"
