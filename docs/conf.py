"""Sphinx configuration for bptt's documentation.

The API reference (api.rst) is generated from the docstrings: autodoc, with
one page per class and function that autosummary writes at build time into
``docs/generated/`` (git ignores it). The other pages are Markdown, read by
MyST. Build with ``python -m sphinx -W -b html docs docs/_build/html``
(``pip install "bptt[docs]"``). Nothing is fetched from the network.
"""

from __future__ import annotations

import sphinx.util.inspect

import bptt

project = "bptt"
author = "the bptt developers"
copyright = "2026, the bptt developers"
release = bptt.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
templates_path = ["_templates"]

# -- API reference -----------------------------------------------------------
# The docstrings are plain reStructuredText prose (literal blocks for the
# equations); napoleon, Sphinx's own, also reads NumPy-style sections, should
# a docstring grow a "Parameters" section.
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = True
# The annotations' aliases (src/bptt/_typing.py), shown by name rather than
# expanded (ArrayLike is a union of eight types); api.rst describes each.
autodoc_type_aliases = {
    "FloatArray": "FloatArray",
    "ArrayLike": "ArrayLike",
    "DTypeLike": "DTypeLike",
    "Modules": "Modules",
    "_RecurrentT": "Self",  # train() and eval() return the layer itself
}
# Sphinx prints an alias nested in another type (tuple[FloatArray, ...]) with
# repr(): make that the alias's name, as it is at the top level.
_alias_ref = getattr(sphinx.util.inspect, "TypeAliasForwardRef", None)
if _alias_ref is not None:
    _alias_ref.__repr__ = lambda self: str(self.name)
napoleon_google_docstring = False
napoleon_numpy_docstring = True

# -- Markdown ------------------------------------------------------------------
# $...$ and $$...$$ (dollarmath) and bare \begin{align} blocks (amsmath) go to
# MathJax, which the browser loads when a page with math is viewed.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# -- HTML ------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"bptt {release}"
html_static_path: list[str] = []
