"""Figures as data: what a study hands :mod:`gan_jax.viz.studies` to draw, so that the
studies compute without matplotlib and the figures are drawn in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["Curves", "ImageRows", "LossSlice", "ProjectionCurves"]


@dataclasses.dataclass(frozen=True)
class ImageRows:
    """A figure of image rows (:func:`gan_jax.viz.plotting.plot_image_rows`)."""

    rows: list[np.ndarray]
    row_labels: Sequence[str] | None
    col_labels: Sequence[str] | None
    title: str


@dataclasses.dataclass(frozen=True)
class ProjectionCurves:
    """The projection figure (:func:`gan_jax.viz.plotting.plot_projection_study`)."""

    final_losses: np.ndarray
    restart_counts: Sequence[int]
    success: Mapping[int, float]
    predicted: Mapping[int, float]
    threshold: float


@dataclasses.dataclass(frozen=True)
class LossSlice:
    """A 2-D slice of the projection loss (:func:`gan_jax.viz.plotting.plot_latent_slice`)."""

    a: np.ndarray
    b: np.ndarray
    losses: np.ndarray
    points: Mapping[str, tuple[float, float]]


@dataclasses.dataclass(frozen=True)
class Curves:
    """Named curves ``{label: (x, y)}`` (:func:`gan_jax.viz.plotting.plot_curves`)."""

    curves: Mapping[str, tuple[np.ndarray, np.ndarray]]
    xlabel: str
    ylabel: str
    title: str
    logy: bool = False
    hlines: Mapping[str, float] | None = None
