"""The ``{metric}`` role: a number on a results page read from a committed ``metrics.json``.

A role's text is ``folder; key; key; …; format``: it reads
``figures/<folder>/metrics.json`` (or ``figures/<folder>`` when it names a ``.json``
file), follows the keys (list indices are integers) and formats the value with the Python
format spec (``.3g``, ``.1f``, ``,.0f``, …; a ``%`` spec multiplies by 100).

* A last key written ``a ± b`` formats two sibling keys as a mean and its error:
  ``modes ± modes_se`` → ``7.8 ± 0.2``.
* A ``*`` key, or a ``*`` in the file name (``stylegan_vs_dcgan/stylegan_seed*.json``:
  one number per file, in name order), spreads the role over several numbers, and the
  format then starts with how to reduce them: ``mean``, ``std`` (sample, n − 1),
  ``mean±std``, ``min``, ``max``, or ``argmin``/``argmax`` (the key, index or file name
  that holds the extreme).  ``per_level; *; diversity; mean .3f`` is a mean over levels.
* Several sources joined by ``&`` (``a.json; kl & b.json; raw; kl; mean±std .4f``) reduce
  numbers that sit under different keys or files.

A key that is missing fails the build, so a page cannot quote a number its study no
longer writes, and regenerating a study's outputs updates its page.
``tests/test_docs.py`` resolves every role of every page the same way (:func:`resolve`),
without building the site.
"""

from __future__ import annotations

import functools
import glob
import json
import math
import os
import re
from typing import Any

PATTERN = re.compile(r"\{metric\}`([^`]+)`")


@functools.cache
def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def resolve(root: str, text: str, raw: bool = False) -> Any:
    """The formatted number of one role's ``text`` (``folder; key …; format``: semicolons,
    since a ``|`` would split a Markdown table's cell); with ``raw``, the number itself."""
    # a key's "|" is written "\\|" inside a Markdown table (the table parser unescapes it)
    body, _, spec = text.replace("\\|", "|").rpartition(";")
    spec = spec.strip()
    if "&" in body:  # numbers from several places, reduced: `a; k & b; k; mean .2f`
        how, _, spec = spec.partition(" ")
        values = [resolve(root, f"{source}; ", raw=True) for source in body.split("&")]
        if how not in REDUCTIONS or how.startswith("arg"):
            raise ValueError(
                f"{{metric}}`{text}`: `&` needs one of sum, mean, std, mean±std, min, max"
            )
        return REDUCTIONS[how](values, spec)
    parts = [p.strip() for p in body.split(";")] + [spec]
    if len(parts) < 3:
        raise ValueError(f"{{metric}}`{text}`: write `folder; key …; format`")
    folder, *keys, spec = parts
    name = folder if folder.endswith(".json") else os.path.join(folder, "metrics.json")

    def child(node: Any, key: str) -> Any:
        if isinstance(node, list):
            return node[int(key)]
        if key in node:
            return node[key]
        raise KeyError(f"{{metric}}`{text}`: figures/{name} has no {key!r}")

    def children(node: Any) -> list[tuple[str, Any]]:
        labels = node if isinstance(node, dict) else range(len(node))
        return [(str(label), child(node, str(label))) for label in labels]

    paths = [os.path.join(root, "figures", name)]
    if "*" in name:  # one number per matching file, in name order
        paths = sorted(glob.glob(paths[0]))
        if not paths:
            raise OSError(f"{{metric}}`{text}`: no file matches figures/{name}")
    # (label, node) pairs: one, or one per file or per child of a "*" key
    nodes = [(os.path.basename(path), _load(path)) for path in paths]
    for key in keys[:-1]:
        if key == "*":
            if len(nodes) > 1:
                raise ValueError(f"{{metric}}`{text}`: one `*` at most")
            nodes = children(nodes[0][1])
        else:
            nodes = [(label, child(node, key)) for label, node in nodes]
    last = [k.strip() for k in keys[-1].split("±")]
    if last == ["*"]:
        if len(nodes) > 1:
            raise ValueError(f"{{metric}}`{text}`: one `*` at most")
        pairs = children(nodes[0][1])
    elif len(nodes) == 1 and "*" not in keys and "*" not in name:
        if raw:
            return child(nodes[0][1], last[0])
        return " ± ".join(_format(child(nodes[0][1], key), spec) for key in last)
    elif len(last) == 1:
        pairs = [(label, child(node, last[0])) for label, node in nodes]
    else:
        raise ValueError(f"{{metric}}`{text}`: `a ± b` names one number each, not a spread")
    how, _, spec = spec.partition(" ")
    if how not in REDUCTIONS:
        raise ValueError(
            f"{{metric}}`{text}`: a spread's format starts with one of {', '.join(REDUCTIONS)}"
        )
    if how in ("argmin", "argmax"):
        return (min if how == "argmin" else max)(pairs, key=lambda pair: pair[1])[0]
    return REDUCTIONS[how]([value for _, value in pairs], spec)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _std(xs: list[float]) -> float:
    return math.sqrt(sum((x - _mean(xs)) ** 2 for x in xs) / (len(xs) - 1))


REDUCTIONS = {
    "sum": lambda xs, spec: _format(sum(xs), spec),
    "mean": lambda xs, spec: _format(_mean(xs), spec),
    "std": lambda xs, spec: _format(_std(xs), spec),
    "mean±std": lambda xs, spec: f"{_format(_mean(xs), spec)} ± {_format(_std(xs), spec)}",
    "min": lambda xs, spec: _format(min(xs), spec),
    "max": lambda xs, spec: _format(max(xs), spec),
    "argmin": None,  # the label of the smallest
    "argmax": None,
}


def _format(value: Any, spec: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):  # a study's check: "holds"
        return "yes" if value else "no"
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
