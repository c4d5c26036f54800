"""The package's shape: no import cycle, no private name crossing subpackages.

Dependencies point one way (image helpers and nets never import file
formats, evaluation or the CLI); a function-level import that hides a cycle
is still a cycle, so every import in the source counts (``TYPE_CHECKING``
blocks aside).
"""

import ast
from pathlib import Path

import skfer

ROOT = Path(skfer.__file__).parent


def _modules():
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = ["skfer", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _resolve(module, is_package, level, name):
    if level == 0:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _owner(name, mods):
    while name and name not in mods:
        name = name.rsplit(".", 1)[0] if "." in name else ""
    return name


def _subpackage(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph():
    mods = _modules()
    edges, private = {}, []
    for module, path in mods.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node.level, node.module)
                if base.split(".")[0] != "skfer":
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    target = full if full in mods else _owner(base, mods)
                    if target and target != module:
                        edges.setdefault(module, set()).add(target)
                    if (alias.name.startswith("_") and not alias.name.startswith("__")
                            and _subpackage(target) and _subpackage(target) != _subpackage(module)):
                        private.append(f"{module} imports {alias.name} from {target}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "skfer":
                        target = _owner(alias.name, mods)
                        if target and target != module:
                            edges.setdefault(module, set()).add(target)
    # A module importing its own package's __init__ is how packages work.
    for module in edges:
        edges[module] = {t for t in edges[module] if not module.startswith(t + ".")}
    return edges, private


def _cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return comps


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_cycle():
    edges, _ = _graph()
    assert len(edges) > 20  # the graph was read
    assert _cycles(edges) == []


def test_no_private_name_crosses_subpackages():
    _, private = _graph()
    assert private == []


def test_low_level_modules_import_no_high_level_ones():
    edges, _ = _graph()
    high = ("skfer.io", "skfer.cli", "skfer.evaluation", "skfer.pretrained")
    for low in ("skfer._image", "skfer.faces", "skfer.nets", "skfer.neural",
                "skfer.preprocessing"):
        for module, targets in edges.items():
            if module == low or module.startswith(low + "."):
                bad = [t for t in targets if t.startswith(high)]
                assert not bad, f"{module} imports {bad}"


def test_the_service_does_not_import_the_command_line():
    # skfer serve and skfer predict share what they report (skfer._annotate);
    # the command line starts the service, never the other way round.
    edges, _ = _graph()
    for low, high in (("skfer.serve", ("skfer.cli",)),
                      ("skfer._annotate", ("skfer.cli", "skfer.serve"))):
        for module, targets in edges.items():
            if module == low or module.startswith(low + "."):
                bad = [t for t in targets if t.startswith(high)]
                assert not bad, f"{module} imports {bad}"
