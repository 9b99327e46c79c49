"""Metric writers: where a run's numbers go, as :class:`~gan_jax.training.callbacks.Callback`
s of :func:`gan_jax.training.fit` (process 0 only).

* ``jsonl``, always on: ``workdir/metrics.jsonl``, the run's own record (one row per step,
  one per evaluation), which ``--resume`` truncates to the restored step and the runner's
  figures and ``metrics.json`` are computed from (:mod:`gan_jax.training.logs`);
* ``tensorboard``: TensorBoard event files in ``workdir`` itself (so ``tensorboard
  --logdir runs/`` lists each run by its folder), written with ``tensorboardX`` (no
  TensorFlow): every per-step scalar as ``train/<name>``, every evaluation number as
  ``eval/<name>``, at the same steps and values as ``metrics.jsonl``; the sample grid as
  the image ``samples``; the run's settings as the text ``config``.  A resumed run purges
  the events past its checkpoint (``purge_step``), as it truncates ``metrics.jsonl``;
* ``wandb`` (the optional ``wandb`` package; ``WANDB_MODE=offline`` works without a
  network): the same scalars, image and config, in a W&B run kept in ``workdir/wandb`` whose
  id is saved in ``workdir/wandb_run_id``, so ``--resume`` continues the same W&B run.

``--writers jsonl,tensorboard,wandb`` picks them (:func:`writers_flag`); a writer whose
package is missing is a user error at parse time, before any work.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gan_jax.training.callbacks import Callback
from gan_jax.training.logs import METRICS_FILE, truncate_metrics

__all__ = [
    "WRITERS",
    "JsonlWriter",
    "TensorBoardWriter",
    "WandbWriter",
    "image_grid",
    "make_writers",
    "writers_flag",
]

# writer name → (the package it needs, how to install it)
WRITERS = {
    "jsonl": (None, ""),
    "tensorboard": ("tensorboardX", "pip install tensorboardX"),
    "wandb": ("wandb", "pip install wandb"),
}
WANDB_ID_FILE = "wandb_run_id"
SAMPLE_COLUMNS = 10


def writers_flag(text: str) -> str:
    """argparse type of ``--writers``: names from :data:`WRITERS` separated by commas, each
    with its package installed; returned normalised (``jsonl`` first, always there)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in WRITERS:
            raise argparse.ArgumentTypeError(
                f"unknown writer {name!r}; choose from: {', '.join(WRITERS)}"
            )
        package, install = WRITERS[name]
        if package and importlib.util.find_spec(package) is None:
            raise argparse.ArgumentTypeError(
                f"the {name} writer needs the {package} package: {install}"
            )
    return ",".join(["jsonl", *dict.fromkeys(n for n in names if n != "jsonl")])


def make_writers(
    spec: str, workdir: str, config: Mapping[str, Any] | None = None
) -> list[Callback]:
    """The writers ``spec`` (:func:`writers_flag`) names besides ``jsonl`` (which
    :func:`~gan_jax.training.fit` always writes), for the run in ``workdir`` with the
    settings ``config``."""
    made: list[Callback] = []
    for name in writers_flag(spec).split(",")[1:]:
        kind = TensorBoardWriter if name == "tensorboard" else WandbWriter
        made.append(kind(workdir, config))
    return made


def image_grid(images: np.ndarray, ncols: int | None = None, padding: int = 1) -> np.ndarray:
    """Tile ``(N, H, W, C)`` images in ``[-1, 1]`` into one ``(rows·(H+p)+p, cols·(W+p)+p, C)``
    array in ``[0, 1]``, row-major, with ``padding`` pixels of white between tiles.

    ``ncols`` defaults to ``ceil(sqrt(N))``; missing tiles of the last row stay white.
    """
    images = np.clip((np.asarray(images, dtype=np.float32) + 1.0) / 2.0, 0.0, 1.0)
    n, h, w, c = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.ones(
        (nrows * (h + padding) + padding, ncols * (w + padding) + padding, c), np.float32
    )
    for i in range(n):
        r, col = divmod(i, ncols)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = images[i]
    return grid


def _scalars(row: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a ``metrics.jsonl`` row but ``step`` and ``eval`` (a non-finite number,
    stored as a string, back as a float; other strings and lists left out)."""
    out = {}
    for key, value in row.items():
        if key in ("step", "eval") or isinstance(value, bool):
            continue
        if (
            isinstance(value, (int, float))
            or isinstance(value, str)
            and value.lower() in ("nan", "inf", "-inf")
        ):
            out[key] = float(value)
    return out


def _config_markdown(config: Mapping[str, Any]) -> str:
    lines = ["| setting | value |", "|---|---|"]
    lines += [f"| {key} | {json.dumps(config[key])} |" for key in sorted(config)]
    return "\n".join(lines)


class JsonlWriter(Callback):
    """``workdir/metrics.jsonl`` (module doc): created empty for a new run, truncated to the
    restored step on resume; flushed after every chunk."""

    def __init__(self, workdir: str) -> None:
        self.path = os.path.join(workdir, METRICS_FILE)
        self._file: Any = None

    def on_start(self, workdir: str, step: int, resumed: bool) -> None:
        if resumed:
            truncate_metrics(workdir, step)
        else:
            open(self.path, "w").close()
        self._file = open(self.path, "a")  # noqa: SIM115 — open across the hooks

    def on_steps(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._file.writelines(json.dumps(dict(row)) + "\n" for row in rows)
        self._file.flush()

    def on_evaluation(self, step: int, numbers: Mapping[str, Any], state: Any) -> None:
        self._file.write(json.dumps({"step": step, "eval": True, **numbers}) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoardWriter(Callback):
    """TensorBoard event files (module doc) through ``tensorboardX``."""

    def __init__(self, workdir: str, config: Mapping[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.config = dict(config or {})
        self.writer: Any = None

    def on_start(self, workdir: str, step: int, resumed: bool) -> None:
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(self.workdir, purge_step=step + 1 if resumed else None)
        if self.config:
            self.writer.add_text("config", _config_markdown(self.config), step)

    def on_steps(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            for name, value in _scalars(row).items():
                self.writer.add_scalar(f"train/{name}", value, row["step"])

    def on_evaluation(self, step: int, numbers: Mapping[str, Any], state: Any) -> None:
        for name, value in _scalars(numbers).items():
            self.writer.add_scalar(f"eval/{name}", value, step)
        self.writer.flush()

    def on_samples(self, step: int, images: np.ndarray) -> None:
        grid = image_grid(images, SAMPLE_COLUMNS)
        self.writer.add_image("samples", grid, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class WandbWriter(Callback):
    """A W&B run (module doc): ``train/<name>`` and ``eval/<name>`` scalars at the run's
    steps, the image ``samples``, the settings as its config."""

    def __init__(self, workdir: str, config: Mapping[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.config = dict(config or {})
        self.run: Any = None
        self.run_id: str | None = None

    def on_start(self, workdir: str, step: int, resumed: bool) -> None:
        import wandb

        id_path = os.path.join(self.workdir, WANDB_ID_FILE)
        if self.run_id is None:  # the first start; a phased run (PGGAN) starts again
            if resumed and os.path.isfile(id_path):
                with open(id_path) as f:
                    self.run_id = f.read().strip()
            else:
                self.run_id = uuid.uuid4().hex[:12]
                with open(id_path, "w") as f:
                    f.write(self.run_id + "\n")
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "gan_jax"),
            dir=self.workdir,
            name=os.path.basename(os.path.normpath(self.workdir)),
            id=self.run_id,
            resume="allow",
            config=self.config,
        )

    def on_steps(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            scalars = {f"train/{k}": v for k, v in _scalars(row).items()}
            self.run.log(scalars, step=row["step"])

    def on_evaluation(self, step: int, numbers: Mapping[str, Any], state: Any) -> None:
        self.run.log({f"eval/{k}": v for k, v in _scalars(numbers).items()}, step=step)

    def on_samples(self, step: int, images: np.ndarray) -> None:
        import wandb

        grid = image_grid(images, SAMPLE_COLUMNS)
        self.run.log({"samples": wandb.Image(grid)}, step=step)

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
