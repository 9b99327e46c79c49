"""The API reference pages, generated from the ``__all__`` lists.

Starting at :mod:`gan_jax`, every name in a module's ``__all__`` that is a module gets a
page of its own (recursively); every other name is documented on the page of the first
module (in that walk) whose ``__all__`` lists it, and listed with a link on the others, so
each object has exactly one entry.  Old module names kept importable
(``gan_jax.MOVED``) are skipped: they are the same module objects as their new homes.
"""

from __future__ import annotations

import importlib
import inspect
import os
import types
from collections.abc import Iterator

ROOT_MODULE = "gan_jax"


def _public(module: types.ModuleType) -> list[str]:
    return [name for name in getattr(module, "__all__", []) if not name.startswith("__")]


def _member(module: types.ModuleType, name: str) -> object:
    """``module.name``, importing it when it is a submodule not loaded yet (``__all__``
    of a package such as ``gan_jax.nets`` names its submodules)."""
    try:
        return getattr(module, name)
    except AttributeError:
        return importlib.import_module(f"{module.__name__}.{name}")


def walk() -> Iterator[tuple[str, types.ModuleType]]:
    """``(qualified name, module)`` of every public module, parents first."""
    root = importlib.import_module(ROOT_MODULE)
    moved = set(getattr(root, "MOVED", {}))
    seen: set[int] = set()
    queue = [(ROOT_MODULE, root)]
    while queue:
        name, module = queue.pop(0)
        if id(module) in seen:
            continue
        seen.add(id(module))
        yield name, module
        for member in _public(module):
            if name == ROOT_MODULE and member in moved:
                continue
            value = _member(module, member)
            if isinstance(value, types.ModuleType):
                queue.append((f"{name}.{member}", value))


def _directive(value: object) -> str:
    """``autoclass`` for classes, ``autofunction`` for functions, else ``autodata``
    (constants, and type aliases such as ``dict[str, Array]``, which are callable)."""
    if inspect.isclass(value):
        return "autoclass"
    if inspect.isfunction(value) or inspect.isbuiltin(value) or hasattr(value, "__wrapped__"):
        return "autofunction"
    return "autodata"


def documented() -> dict[str, str]:
    """``{qualified name: page module}`` of every public non-module name: where it is
    documented (the first module listing it)."""
    owners: dict[int, str] = {}
    entries: dict[str, str] = {}
    for name, module in walk():
        for member in _public(module):
            value = _member(module, member)
            if isinstance(value, types.ModuleType):
                continue
            key = id(value) if not isinstance(value, (int, float, str, tuple)) else None
            if key is not None and key in owners:
                entries[f"{name}.{member}"] = owners[key]
                continue
            if key is not None:
                owners[key] = f"{name}.{member}"
            entries[f"{name}.{member}"] = f"{name}.{member}"
    return entries


def page(name: str, module: types.ModuleType, owners: dict[str, str]) -> str:
    """The MyST page of ``module``: its docstring, then one entry per public name."""
    lines = [f"# `{name}`", "", "```{eval-rst}", f".. automodule:: {name}", "   :no-members:"]
    lines += ["```", ""]
    moved = set(getattr(module, "MOVED", {}))  # old names of moved modules: not pages
    submodules = [
        m
        for m in _public(module)
        if isinstance(_member(module, m), types.ModuleType) and m not in moved
    ]
    if submodules:
        lines += ["Submodules: " + ", ".join(f"[`{m}`]({name}.{m}.md)" for m in submodules), ""]
    for member in _public(module):
        value = _member(module, member)
        if isinstance(value, types.ModuleType):
            continue
        qualified = f"{name}.{member}"
        owner = owners[qualified]
        if owner != qualified:
            page_of = owner.rsplit(".", 1)[0]
            lines += [f"- `{member}`: the same object as [`{owner}`]({page_of}.md)", ""]
            continue
        directive = _directive(value)
        options = ["   :members:", "   :undoc-members:"] if directive == "autoclass" else []
        if directive == "autodata":
            options = ["   :no-value:"]
        lines += ["```{eval-rst}", f".. {directive}:: {qualified}", *options, "```", ""]
    return "\n".join(lines)


def _write_if_changed(path: str, text: str) -> None:
    """Write ``text`` unless the file holds it already (Sphinx rebuilds what changed)."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_pages(folder: str) -> list[str]:
    """Write ``index.md`` and one page per public module into ``folder``; the page
    names written (files from an earlier build that no module owns are removed)."""
    os.makedirs(folder, exist_ok=True)
    owners = documented()
    modules = list(walk())
    written = []
    for name, module in modules:
        path = os.path.join(folder, f"{name}.md")
        text = page(name, module, owners)
        _write_if_changed(path, text)
        written.append(f"{name}.md")
    index = ["# API reference", "", "Generated from the `__all__` lists: every public module",
             "and every public name, each documented once.", "", "```{toctree}",
             ":maxdepth: 1", "", *[n[:-3] for n in written], "```", ""]  # fmt: skip
    index_text = "\n".join(index)
    path = os.path.join(folder, "index.md")
    _write_if_changed(path, index_text)
    for stale in set(os.listdir(folder)) - {*written, "index.md"}:
        os.remove(os.path.join(folder, stale))
    return written
