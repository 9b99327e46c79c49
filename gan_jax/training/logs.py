"""A run's log, ``workdir/metrics.jsonl``: one row per step (``step``, ``loss_g``,
``loss_d``) and one per evaluation (``step``, ``"eval": true`` and the evaluator's
numbers).  Non-finite numbers are written as strings (``"nan"``), so every line is JSON."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

__all__ = ["METRICS_FILE", "json_number", "loss_curves", "read_metrics", "truncate_metrics"]

METRICS_FILE = "metrics.jsonl"


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of ``workdir/metrics.jsonl`` (empty if there is none)."""
    path = os.path.join(os.fspath(workdir), METRICS_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def truncate_metrics(workdir: str, last_step: int) -> None:
    """Drop the rows of ``workdir/metrics.jsonl`` past ``last_step`` (a resumed run)."""
    rows = [row for row in read_metrics(workdir) if row["step"] <= last_step]
    with open(os.path.join(workdir, METRICS_FILE), "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)


def json_number(value: Any) -> Any:
    """``float(value)``, or its string when it is not finite (JSON has no NaN)."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def loss_curves(rows: list[dict[str, Any]], names: tuple[str, ...] = ("loss_d", "loss_g")):
    """``{name: (steps, values)}`` of the per-step rows of ``metrics.jsonl``."""
    curves = {}
    for name in names:
        points = [(r["step"], r[name]) for r in rows if name in r and "eval" not in r]
        if points:
            steps, values = zip(*points)
            curves[name] = (np.array(steps), np.array(values, dtype=float))
    return curves
