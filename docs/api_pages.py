"""The API reference pages, generated from the ``__all__`` lists.

Starting at :mod:`gan_jax`, every name in a module's ``__all__`` that is a module gets a
page of its own (recursively); every other name is documented on the page of the first
module (in that walk) whose ``__all__`` lists it, and listed with a link on the others, so
each object has exactly one entry.  Old module names kept importable
(``gan_jax.MOVED``) are skipped: they are the same module objects as their new homes.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import os
import pkgutil
import types
from collections.abc import Iterator

ROOT_MODULE = "gan_jax"


def _public(module: types.ModuleType) -> list[str]:
    """``__all__`` without dunders; for a module without one, the functions and classes
    it defines whose names do not start with ``_``."""
    if hasattr(module, "__all__"):
        return [name for name in module.__all__ if not name.startswith("__")]
    names = [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value) or _wrapped(value))
        and getattr(value, "__module__", None) == module.__name__
    ]
    return names + _constants(module)


def _wrapped(value: object) -> bool:
    """A function behind a wrapper (``jax.custom_vjp``, ``jax.jit``)."""
    return callable(value) and inspect.isfunction(getattr(value, "__wrapped__", None))


def _constants(module: types.ModuleType) -> list[str]:
    """The UPPER_CASE names a module assigns at its top level (not the ones it imports)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return []
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper() and target.id[0] != "_":
                names.append(target.id)
    return names


def _member(module: types.ModuleType, name: str) -> object:
    """``module.name``, importing it when it is a submodule not loaded yet (``__all__``
    of a package such as ``gan_jax.nets`` names its submodules)."""
    try:
        return getattr(module, name)
    except AttributeError:
        return importlib.import_module(f"{module.__name__}.{name}")


@functools.cache
def walk() -> tuple[tuple[str, types.ModuleType], ...]:
    """``(qualified name, module)`` of every public module, parents first: the modules the
    ``__all__`` lists reach, then every other module of the package (the recipes' and
    studies' modules, whose names docstrings refer to), except private ones.  Computed once
    per process (every page, the index and the reference resolver use it)."""
    modules = list(_walk_all())
    seen = {name for name, _ in modules}
    root = importlib.import_module(ROOT_MODULE)
    for info in pkgutil.walk_packages(root.__path__, f"{ROOT_MODULE}."):
        if info.name in seen or any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        parent, _, last = info.name.rpartition(".")
        if getattr(importlib.import_module(parent), last, module) is not module:
            continue  # shadowed by a name of its package (``dynamics.rollout``, the function)
        modules.append((info.name, module))
    return tuple(modules)


def _walk_all() -> Iterator[tuple[str, types.ModuleType]]:
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


# ------------------------------------------------------------- references by other names


def _import_dotted(name: str) -> object | None:
    """The object at ``name`` (``package.module.attr.attr``), or None."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attr in parts[split:]:
                value = getattr(value, attr)
        except AttributeError:
            return None
        return value
    return None


@functools.cache
def _index() -> dict[str, dict]:
    """``{"ids": {id(obj): documented name}, "short": {last name: {documented names}}}``."""
    ids: dict[int, str] = {}
    short: dict[str, set[str]] = {}
    for qualified, owner in documented().items():
        if qualified != owner:
            continue
        module, _, member = qualified.rpartition(".")
        value = _member(importlib.import_module(module), member)
        ids.setdefault(id(value), qualified)
        short.setdefault(member, set()).add(qualified)
        if inspect.isclass(value):
            for attr in vars(value):
                if not attr.startswith("_"):
                    short.setdefault(f"{member}.{attr}", set()).add(f"{qualified}.{attr}")
    for name, module in walk():
        ids.setdefault(id(module), name)
    return {"ids": ids, "short": short}


def documented_name(target: str, module: str | None = None) -> str | None:
    """Where the object a docstring calls ``target`` (from ``module``) is documented:
    under its defining module's path, a relative name, or a unique short name."""
    index = _index()
    candidates = [f"{module}.{target}", target] if module else [target]
    for name in candidates:
        head, _, attr = name.rpartition(".")
        value = _import_dotted(name)
        if value is not None and id(value) in index["ids"]:
            return index["ids"][id(value)]
        owner = _import_dotted(head) if head else None
        if inspect.isclass(owner) and id(owner) in index["ids"]:
            return f"{index['ids'][id(owner)]}.{attr}"  # a method or attribute
    matches = index["short"].get(target.lstrip("~."), set())
    return next(iter(matches)) if len(matches) == 1 else None


def resolve_alias(app, env, node, contnode):
    """Sphinx's ``missing-reference`` handler: a Python reference to a gan_jax object by a
    name other than the one it is documented under resolves to its entry."""
    if node.get("refdomain") != "py":
        return None
    name = documented_name(node["reftarget"], node.get("py:module"))
    if name is None:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", name, node, contnode)
