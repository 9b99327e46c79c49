"""Sphinx configuration of the gan_jax documentation (Sphinx + MyST, as JAX, Flax and
optax document themselves).

Build it (offline; warnings are errors, as in CI)::

    pip install -e ".[docs]" && sphinx-build -W --keep-going -b html docs docs/_build/html

The API reference (``docs/api/``) is generated at build time from the ``__all__`` lists
(:mod:`docs.api_pages`), so it always documents every public name and only those; the
results pages take their headline numbers from the committed ``metrics.json`` files
through the ``{metric}`` role (:mod:`docs.metric_role`).
"""

from __future__ import annotations

import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path[:0] = [ROOT, DOCS]

import api_pages
import metric_role

import gan_jax

project = "gan_jax"
author = "the gan_jax authors"
release = version = gan_jax.__version__
copyright = "2026, the gan_jax authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "README.md", "__pycache__"]
root_doc = "index"

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_typehints = "none"  # the signatures stay readable; types are in the docstrings
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False
add_module_names = False

# intersphinx needs the network; CI has none beyond the package registries, so the
# reference links to jax/flax/optax stay plain text
intersphinx_mapping: dict = {}

html_theme = "sphinx_book_theme"
html_title = f"gan_jax {release}"
html_theme_options = {"show_toc_level": 2}
html_static_path: list[str] = []

# Broken references are errors (-n in CI).  jax, flax, optax, NumPy and the standard
# library are documented elsewhere and intersphinx needs the network, so references to
# them stay plain text; every reference into gan_jax must resolve.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(jax|jaxlib|flax|optax|numpy|np|collections|typing|argparse|os)(\..*)?"),
]
suppress_warnings: list[str] = []


_BUILTIN_FIRST_LINES = {
    t.__doc__.strip().splitlines()[0] for t in (dict, list, tuple, set, frozenset, str, int, float)
}


def _no_type_docstrings(app, what, name, obj, options, lines):
    """A constant or type alias without a docstring of its own would show its type's
    (``dict``'s, say); it shows none instead."""
    if what not in ("data", "attribute") or not lines:
        return
    doc = type(obj).__doc__
    own_type = doc.strip().splitlines()[:1] if isinstance(doc, str) else []
    if lines[0].strip() in _BUILTIN_FIRST_LINES or [lines[0].strip()] == own_type:
        lines[:] = []


def setup(app):
    app.connect("autodoc-process-docstring", _no_type_docstrings)
    app.connect("missing-reference", api_pages.resolve_alias)
    app.connect("builder-inited", lambda app: api_pages.write_pages(os.path.join(DOCS, "api")))
    metric_role.setup(app, ROOT)
    return {"parallel_read_safe": True}
