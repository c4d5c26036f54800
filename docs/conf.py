"""Sphinx configuration for skfer's documentation.

Build (warnings are errors; the gallery examples run during the build)::

    MPLBACKEND=Agg python -m sphinx -W --keep-going -b html docs docs/_build/html

Nothing is fetched from the network: no intersphinx, no remote images.
"""

import os

# The gallery examples draw with matplotlib and train small torch nets: no
# display, and one thread each unless the caller asked otherwise.
os.environ.setdefault("MPLBACKEND", "Agg")
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from numpydoc.xref import DEFAULT_LINKS  # noqa: E402

import skfer  # noqa: E402

project = "skfer"
author = "the skfer developers"
copyright = "skfer developers, BSD-3-Clause"
version = release = skfer.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates"]
root_doc = "index"

# -- autodoc / autosummary ---------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
# Document each class's own public methods and those it inherits from skfer's
# private bases (fit, predict, save, ...), but not the long lists inherited
# from scikit-learn's and torch's base classes.
autodoc_default_options = {
    "members": True,
    "inherited-members": (
        "BaseEstimator,TransformerMixin,ClassifierMixin,_SetOutputMixin,"
        "_MetadataRequester,Module,object"
    ),
}

# -- numpydoc ----------------------------------------------------------------
# Class members are documented by autodoc (above), not repeated by numpydoc.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_show_inherited_class_members = False
# Types are rendered through numpydoc's cross-referencing, which also keeps
# names such as ``n_features_in_`` in "ndarray of shape (n_features_in_,)" from
# being read as reST link targets. Unknown words stay plain text.
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"
# numpydoc's default aliases point into Python's and NumPy's docs through
# intersphinx (``:class:`python:tuple```, ``:term:`numpy:array_like```), which
# is not used here (no network): keep those words as plain text.
numpydoc_xref_aliases = {
    word: word
    for word, target in DEFAULT_LINKS.items()
    if "python:" in target or "numpy:" in target
}

# -- sphinx-gallery ----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    # An example that raises fails the build.
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    # "Examples using X" lists under the API pages.
    "doc_module": ("skfer",),
    "backreferences_dir": "gen_modules/backreferences",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skfer {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []
html_show_sourcelink = False


# -- hooks -------------------------------------------------------------------
import re  # noqa: E402
import sys  # noqa: E402

from sphinx.pycode import ModuleAnalyzer  # noqa: E402

# scikit-learn's shape notation, ``(n_samples, n_features_in_)``, ends names in
# an underscore, which reST reads as a link to a target of that name. Escape
# such trailing underscores outside inline literals once numpydoc has turned
# the docstring into reST.
_TRAILING_UNDERSCORE = re.compile(r"(?<![\\\w`])([A-Za-z]\w*[A-Za-z0-9])_(?=[,)\]\s]|$)")
_LITERAL = re.compile(r"(``.+?``|`[^`]+`_{0,2})")


def _escape_trailing_underscores(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        parts = _LITERAL.split(line)
        lines[i] = "".join(
            part if k % 2 else _TRAILING_UNDERSCORE.sub(r"\1\\_", part)
            for k, part in enumerate(parts)
        )


# Module-level constants (``skfer.EMOTIONS``, ``skfer.datasets.FERPLUS_CLASSES``)
# are documented by a ``#:`` comment where they are assigned. autodoc finds
# that comment only in the module named on the page, so for a re-exported
# constant it shows the docstring of ``tuple`` or ``dict`` instead. Look the
# comment up in the module that assigns it.
_CONSTANT_DOCS = {"__version__": ["The version of skfer, a :pep:`440` string."]}


def _constant_doc(name, obj):
    short = name.rpartition(".")[2]
    if short in _CONSTANT_DOCS:
        return list(_CONSTANT_DOCS[short])
    for modname in sorted(sys.modules):
        module = sys.modules[modname]
        if modname.split(".")[0] != "skfer" or getattr(module, short, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # a module without source (built-in, namespace)
            continue
        if ("", short) in docs:
            return list(docs[("", short)])
    return []


def _document_constants(app, what, name, obj, options, lines):
    if what in ("data", "attribute") and type(obj).__module__ == "builtins" and not callable(obj):
        lines[:] = _constant_doc(name, obj)


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn generates set_fit_request, set_score_request...
    # (metadata routing) on every estimator: not skfer's API.
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    # After numpydoc (priority 500) has rendered the sections.
    app.connect("autodoc-process-docstring", _document_constants, priority=550)
    app.connect("autodoc-process-docstring", _escape_trailing_underscores, priority=600)
    app.connect("autodoc-skip-member", _skip_member)
