"""What progressive growing looks like over a run (Karras et al. 2018, arXiv:1710.10196): the
analyses ``python -m experiments.train_pggan`` adds to the runner's outputs.

* :func:`stages`: the same latents at the end of every stable phase (restored from its
  checkpoint; shown at the final resolution) with the phase's evaluation, and at α = 0, ½
  and 1 at the end of every fade-in (α = 0 is the previous stage up-sampled);
* :func:`schedule` and :func:`growth_marks`: the phases and where each fade-in starts, in
  images seen.

Figures are returned as data (:class:`~gan_jax.studies.figures.ImageRows`) for
:mod:`gan_jax.viz`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from gan_jax.models.progressive_gan import ProgressiveGAN, images_seen
from gan_jax.nets.progressive import resize_to
from gan_jax.studies.figures import ImageRows
from gan_jax.training.checkpoint import CheckpointError

__all__ = ["Stages", "growth_marks", "schedule", "stages"]

FADE_ALPHAS = (0.0, 0.5, 1.0)
FADE_SAMPLES = 6


@dataclasses.dataclass(frozen=True)
class Stages:
    """``numbers``: per finished stage its resolution, last step, images seen, FCD and
    classes; ``figures``: ``stages.png`` and ``fade_in.png`` (when there are any)."""

    numbers: list[dict[str, Any]]
    figures: dict[str, ImageRows]


def stages(model: ProgressiveGAN, workdir: str, z: jax.Array, history: list[dict]) -> Stages:
    """Every finished phase of the run in ``workdir`` seen through the latents ``z``;
    ``history`` is the run's evaluation rows."""
    full = model.config.resolution
    evals = {row["step"]: row for row in history}
    stage_rows, stage_labels, fade_rows, fade_labels, numbers = [], [], [], [], []
    for phase in model.phases:
        try:
            end_state = model.phase_state(workdir, phase)
        except CheckpointError:  # a phase this run did not reach
            continue
        if int(end_state.step) != phase.end:
            continue
        r = phase.resolution
        if phase.fade:
            for alpha in FADE_ALPHAS:
                images = model.generate_at(end_state, z[:FADE_SAMPLES], alpha)
                fade_rows.append(np.asarray(resize_to(images, full)))
                fade_labels.append(f"{r}×{r}, α = {alpha:g}")
            continue
        stage_rows.append(np.asarray(model.generate(end_state, z)))
        seen = images_seen(model.phases, phase.end)
        stage_labels.append(f"{r}×{r}\n{seen // 1000}k images")
        row = evals.get(phase.end, {})
        numbers.append(
            {
                "resolution": r,
                "step": phase.end,
                "images": seen,
                "fcd": row.get("fcd"),
                "classes": row.get("classes"),
            }
        )
    figures = {}
    if stage_rows:
        figures["stages.png"] = ImageRows(
            stage_rows, stage_labels, None,
            f"PGGAN: the same z at the end of every stage (shown at {full}×{full})",
        )  # fmt: skip
    if fade_rows:
        figures["fade_in.png"] = ImageRows(
            fade_rows, fade_labels, None,
            "Fade-in: the same z at α = 0 (previous stage, up-sampled), ½, 1 (new block)",
        )  # fmt: skip
    return Stages(numbers, figures)


def schedule(model: ProgressiveGAN) -> list[dict[str, Any]]:
    """The phases: name, first and last step, batch size."""
    return [
        {"phase": p.name, "start": p.start, "end": p.end, "batch_size": p.batch_size}
        for p in model.phases
    ]


def growth_marks(model: ProgressiveGAN) -> list[tuple[int, str]]:
    """``(images seen, "R×R")`` where each fade-in starts."""
    return [
        (images_seen(model.phases, p.start), f"{p.resolution}×{p.resolution}")
        for p in model.phases
        if p.fade
    ]
