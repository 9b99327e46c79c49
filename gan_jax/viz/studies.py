"""Draws the figures the studies return as data (:mod:`gan_jax.studies.figures`)."""

from __future__ import annotations

import os

from gan_jax.studies.figures import Curves, ImageRows, LossSlice, ProjectionCurves
from gan_jax.viz.plotting import (
    plot_curves,
    plot_image_rows,
    plot_latent_slice,
    plot_projection_study,
)

__all__ = ["draw", "draw_all"]


def draw(figure: ImageRows | ProjectionCurves | LossSlice | Curves, path: str) -> str:
    """Draw one of the study's figures to ``path``."""
    if isinstance(figure, Curves):
        return plot_curves(
            figure.curves, path, figure.xlabel, figure.ylabel, figure.title, figure.logy,
            figure.hlines,
        )  # fmt: skip
    if isinstance(figure, ImageRows):
        return plot_image_rows(
            figure.rows, path, figure.row_labels, figure.col_labels, title=figure.title
        )
    if isinstance(figure, ProjectionCurves):
        return plot_projection_study(
            figure.final_losses, figure.restart_counts, figure.success, figure.predicted,
            figure.threshold, path,
        )  # fmt: skip
    return plot_latent_slice(figure.a, figure.b, figure.losses, figure.points, path)


def draw_all(figures: dict, out: str) -> None:
    """Every figure of ``{file name: figure}`` into ``out``."""
    for name, figure in figures.items():
        draw(figure, os.path.join(out, name))
