"""The package's house plan, checked: no import cycle anywhere in
runtime/thimble (imports inside functions count: a lazy import only hides a
circle), the package root holds only the entry points, and the command
modules are leaves nothing else imports."""
import ast
import pathlib

PKG = pathlib.Path(__file__).resolve().parents[2] / "runtime" / "thimble"
ROOT_MODULES = {"__init__.py", "__main__.py", "cli.py"}


def _modules():
    """{module name: path} of every .py file in the package."""
    out = {}
    for path in PKG.rglob("*.py"):
        parts = ("thimble",) + path.relative_to(PKG).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name, path, modules):
    """Modules of the package that `name` imports, anywhere in its body."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = {f"{target}.{a.name}" for a in node.names} & set(modules)
            found |= subs                   # `from . import submodule`: that module (its package is its parent's)
            if len(subs) < len(node.names):
                found.add(target)
    deps = set()
    for t in found:
        while t and t not in modules:       # thimble.x.y.name -> the module that defines name
            t = t.rpartition(".")[0]
        if t and t != name and t.startswith("thimble"):
            deps.add(t)
    return deps


def _graph():
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_walk_sees_lazy_and_relative_imports():
    g = _graph()
    assert "thimble.quant.pipeline" in g["thimble.commands.convert"]
    assert "thimble.link.client" in g["thimble.commands.demo"]          # imported inside run()


def test_the_package_root_holds_only_entry_points():
    loose = sorted(p.name for p in PKG.glob("*.py") if p.name not in ROOT_MODULES)
    assert not loose, f"modules at the package root (put them in a subpackage): {loose}"


def test_commands_are_leaves():
    g = _graph()
    users = sorted(m for m, deps in g.items() if not m.startswith(("thimble.commands", "thimble.cli"))
                   and any(d.startswith("thimble.commands") for d in deps))
    assert not users, f"library modules importing a command module: {users}"


def test_every_verb_has_its_module():
    from thimble.cli import COMMANDS
    names = {p.stem for p in (PKG / "commands").glob("*.py")} - {"__init__", "args"}
    assert {name.replace("-", "_") for name, _ in COMMANDS} == names     # pack-tools: pack_tools.py
