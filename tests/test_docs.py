"""Documentation rules: every public name has a runnable example and a page.

* Every function and class in the ``__all__`` of skfer's public modules has a
  numpydoc docstring with an ``Examples`` section holding doctests (they run
  with the test suite through ``--doctest-modules``).
* ``docs/api.rst`` names every public name, so the API reference is complete.
* Every gallery example opens with a title docstring and uses ``# %%`` cells.
"""

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MODULES = [
    "skfer",
    "skfer.preprocessing",
    "skfer.datasets",
    "skfer.baselines",
    "skfer.nets",
    "skfer.neural",
]


def _other_public_modules():
    """Every other public module of skfer (``skfer.evaluation``, ``skfer.io``...).

    A module or package directly under skfer whose name does not start with an
    underscore and that defines ``__all__`` is held to the same rules as soon
    as it imports.
    """
    import skfer

    found = []
    for info in pkgutil.iter_modules(skfer.__path__):
        name = f"skfer.{info.name}"
        if info.name.startswith("_") or name in MODULES:
            continue
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "__all__"):
            found.append(name)
    return sorted(found)


PUBLIC_MODULES = MODULES + _other_public_modules()


def _public_names():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            yield module_name, name, getattr(module, name)


PUBLIC = list(_public_names())
CALLABLES = [
    pytest.param(obj, id=f"{module}.{name}")
    for module, name, obj in PUBLIC
    if inspect.isclass(obj) or inspect.isroutine(obj)
]

_EXAMPLES = re.compile(r"^Examples\n-{8,}\n(?P<body>.*?)(?=^\S[^\n]*\n-{3,}\n|\Z)", re.M | re.S)


def test_every_module_has_all():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        assert isinstance(module.__all__, (list, tuple)), module_name
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, f"{module_name}.__all__ names missing attributes: {missing}"


@pytest.mark.parametrize("obj", CALLABLES)
def test_public_callable_has_runnable_examples(obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{obj.__qualname__} has no docstring."
    match = _EXAMPLES.search(doc)
    assert match, (
        f"{obj.__qualname__}'s docstring has no numpydoc 'Examples' section "
        "('Examples' underlined with dashes)."
    )
    assert ">>> " in match.group("body"), (
        f"{obj.__qualname__}'s Examples section holds no doctest ('>>> ' lines)."
    )


def _api_page_names():
    """``module.name`` for every entry of an autosummary in docs/api.rst."""
    text = (ROOT / "docs" / "api.rst").read_text(encoding="utf-8")
    documented = set()
    current = None
    in_autosummary = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(".. currentmodule::"):
            current = stripped.split("::", 1)[1].strip()
            in_autosummary = False
        elif stripped.startswith(".. autosummary::"):
            in_autosummary = True
        elif in_autosummary:
            if not line.startswith("   ") and stripped:
                in_autosummary = False
            elif stripped and not stripped.startswith(":"):
                documented.add(f"{current}.{stripped}")
    return documented


def _resolve(full_name):
    module_name, _, name = full_name.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return None


def test_api_page_names_every_public_name():
    documented = _api_page_names()
    # A name re-exported by a second module (skfer.evaluation.map_labels is
    # skfer.map_labels) is documented once, under either name.
    documented_ids = {id(_resolve(n)) for n in documented}
    missing = [
        f"{m}.{n}"
        for m, n, obj in PUBLIC
        if f"{m}.{n}" not in documented
        and not (not isinstance(obj, (str, int, float)) and id(obj) in documented_ids)
    ]
    assert not missing, f"docs/api.rst does not list these public names: {missing}"


def test_api_page_names_only_public_names():
    public = {f"{m}.{n}" for m, n, _ in PUBLIC}
    extra = sorted(documented for documented in _api_page_names() if documented not in public)
    assert not extra, f"docs/api.rst lists names that are not public (or not importable): {extra}"


EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def test_gallery_exists():
    assert EXAMPLES, "no examples/plot_*.py"
    assert (ROOT / "examples" / "README.txt").is_file()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_gallery_example_layout(path):
    source = path.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source))
    assert doc, f"{path.name} must open with a docstring (the gallery title)."
    title, underline = doc.splitlines()[:2]
    assert title.strip() and set(underline.strip()) == {"="}, (
        f"{path.name}: the docstring must start with a title underlined with '='."
    )
    assert "\n# %%" in source, f"{path.name}: split the example into '# %%' cells."
