"""Sphinx configuration for skfer's documentation."""

import skfer

project = "skfer"
version = release = skfer.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc"]
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
