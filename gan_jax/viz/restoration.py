"""Figures of the super-resolution study (:mod:`gan_jax.studies.super_resolution`)."""

from __future__ import annotations

import os

import numpy as np

from gan_jax.metrics import per_pixel_std
from gan_jax.nets.progressive import resize_to
from gan_jax.studies.super_resolution import DIVERSITY_SAMPLES, SuperResolutionResults
from gan_jax.viz.plotting import plot_image_rows

__all__ = ["plot_super_resolution"]


def plot_super_resolution(results: SuperResolutionResults, out: str, patches: int = 6) -> None:
    """``out/comparison.png`` (LR | bicubic | L2 | LAG ε = 0 | LAG, three ε | HR on the first
    ``patches`` held-out images) and ``out/diversity.png`` (HR, two samples and the
    per-pixel standard deviation over the noise draws, white at its maximum)."""
    high, samples, outputs = results.high, results.samples, results.outputs
    columns = [
        (
            f"LR ({results.low.shape[1]}×{results.low.shape[2]})",
            resize_to(results.low, high.shape[1]),
        ),
        ("bicubic", outputs["bicubic"]),
        ("L2", outputs["l2"]),
        ("LAG ε = 0", outputs["lag_center"]),
        ("LAG ε₁", samples[1]),
        ("LAG ε₂", samples[2]),
        ("LAG ε₃", samples[3]),
        ("HR", high),
    ]
    rows = [np.stack([np.asarray(x[i]) for _, x in columns]) for i in range(patches)]
    plot_image_rows(
        [np.clip(r, -1, 1) for r in rows],
        os.path.join(out, "comparison.png"),
        col_labels=[name for name, _ in columns],
        title=f"Held-out images: ×{high.shape[1] // results.low.shape[1]} super-resolution "
        f"from {results.low.shape[1]}×{results.low.shape[2]} seeds",
    )
    std = np.asarray(per_pixel_std(samples))[:patches]
    top = max(float(std.max()), 1e-12)
    std_images = np.repeat((2 * std / top - 1)[..., None], high.shape[-1], axis=-1)
    diversity_rows = [
        np.stack(
            [
                np.asarray(high[i]),
                np.asarray(samples[0, i]),
                np.asarray(samples[1, i]),
                std_images[i],
            ]
        )
        for i in range(patches)
    ]
    plot_image_rows(
        [np.clip(r, -1, 1) for r in diversity_rows],
        os.path.join(out, "diversity.png"),
        col_labels=["HR", "LAG ε₀", "LAG ε₁", f"std over {DIVERSITY_SAMPLES} ε"],
        title=f"Where LAG's samples differ (white = std {top:.3f})",
    )
