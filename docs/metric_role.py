"""The ``{metric}`` role: a number on a results page read from a committed ``metrics.json``.

A role's text is ``folder; key; key; …; format``: it reads
``figures/<folder>/metrics.json`` (or ``figures/<folder>`` when it names a ``.json`` file), follows the keys (list indices are integers)
and formats the value with the Python format spec (``.3g``, ``.1f``, ``,.0f``, …; a
trailing ``%`` spec multiplies by 100).  A last key written ``a ± b`` formats two sibling
keys as a mean and its error, ``modes ± modes_se`` → ``7.8 ± 0.2``.  A ``*`` key takes
every child of a mapping or list, and the format then starts with how to reduce them:
``per_level; *; diversity; mean .3f`` is the mean over levels, ``min``/``max`` the extremes,
``argmin``/``argmax`` the name (or index) of the child that holds them.  A key that is missing fails the build, so a page
cannot quote a number its study no longer writes, and regenerating a study's outputs
updates its page.  ``tests/test_docs.py`` resolves every role of every page the same way
(:func:`resolve`), without building the site.
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any

PATTERN = re.compile(r"\{metric\}`([^`]+)`")


@functools.cache
def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def resolve(root: str, text: str) -> str:
    """The formatted number of one role's ``text`` (``folder; key …; format``: semicolons,
    since a ``|`` would split a Markdown table's cell)."""
    # a key's "|" is written "\\|" inside a Markdown table (the table parser unescapes it)
    parts = [p.strip() for p in text.replace("\\|", "|").split(";")]
    if len(parts) < 3:
        raise ValueError(f"{{metric}}`{text}`: write `folder; key …; format`")
    folder, *keys, spec = parts
    name = folder if folder.endswith(".json") else os.path.join(folder, "metrics.json")
    value: Any = _load(os.path.join(root, "figures", name))

    def child(value: Any, key: str) -> Any:
        if isinstance(value, list):
            return value[int(key)]
        if key in value:
            return value[key]
        raise KeyError(f"{{metric}}`{text}`: figures/{name} has no {key!r}")

    spread = "*" in keys  # then the numbers are reduced (mean, min, …)
    # (label, value) pairs: one, or one per child after a "*" key
    values: list[tuple[str, Any]] = [("", value)]
    for key in keys[:-1]:
        if key == "*":
            if len(values) > 1:
                raise ValueError(f"{{metric}}`{text}`: one `*` at most")
            ((_, node),) = values
            labels = node if isinstance(node, dict) else range(len(node))
            values = [(str(label), child(node, str(label))) for label in labels]
        else:
            values = [(label, child(node, key)) for label, node in values]
    if keys[-1] == "*":  # the children themselves are the numbers
        ((_, node),) = values
        labels = node if isinstance(node, dict) else range(len(node))
        values = [(str(label), {"": child(node, str(label))}) for label in labels]
        keys = [*keys[:-1], ""]
    last = [k.strip() for k in keys[-1].split("±")]
    if not spread:
        return " ± ".join(_format(child(values[0][1], key), spec) for key in last)
    how, _, spec = spec.partition(" ")
    if how not in AGGREGATES or len(last) > 1:
        raise ValueError(
            f"{{metric}}`{text}`: after `*`, the format starts with one of "
            f"{', '.join(AGGREGATES)} and the last key names one number"
        )
    pairs = [(label, child(node, last[0])) for label, node in values]
    if how in ("argmin", "argmax"):
        pick = min if how == "argmin" else max
        return pick(pairs, key=lambda pair: pair[1])[0]
    return _format(AGGREGATES[how]([v for _, v in pairs]), spec)


AGGREGATES = {
    "mean": lambda xs: sum(xs) / len(xs),
    "min": min,
    "max": max,
    "argmin": None,  # the label of the smallest
    "argmax": None,
}


def _format(value: Any, spec: str) -> str:
    if value is None:
        return "—"
    text = format(value, spec) if spec else str(value)
    return "−" + text[1:] if text.startswith("-") else text  # the minus sign of the prose


def setup(app: Any, root: str) -> None:
    """Register the role with Sphinx (MyST passes ``{metric}`…``` roles through)."""
    from docutils import nodes

    def role(name, rawtext, text, lineno, inliner, options=None, content=None):
        try:
            return [nodes.Text(resolve(root, text))], []
        except (KeyError, ValueError, IndexError, OSError) as err:
            message = inliner.reporter.error(str(err), line=lineno)
            return [inliner.problematic(rawtext, rawtext, message)], [message]

    app.add_role("metric", role)
