"""Digit attributes measured on the images themselves (ink mass, slant): the scores
the latent-space studies steer by."""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = [
    "ink_mass",
    "slant",
]


# --------------------------------------------------------------------------- digit attributes


@jax.jit
def ink_mass(images: jax.Array) -> jax.Array:
    """Mean ink per image ``(N,)``: the mean of ``(x + 1)/2`` over pixels of images in
    ``[−1, 1]`` (white ink on black); thicker strokes carry more."""
    return jnp.mean((images + 1.0) / 2.0, axis=tuple(range(1, images.ndim)))


@jax.jit
def slant(images: jax.Array) -> jax.Array:
    """Slant of the ink per image ``(N,)`` from its second moments: ``μ₁₁ / μ₀₂``, the
    regression slope of column on row under ink weights ``(x + 1)/2``, with rows counted
    upwards, so a stroke leaning right (``/``) is positive and an upright one is 0."""
    weights = jnp.mean((images + 1.0) / 2.0, axis=-1)  # (N, H, W)
    height, width = weights.shape[1:]
    rows = (height - 1 - jnp.arange(height, dtype=weights.dtype))[:, None]  # upwards
    cols = jnp.arange(width, dtype=weights.dtype)[None, :]
    mass = jnp.sum(weights, axis=(1, 2)) + 1e-12

    def mean(f: jax.Array) -> jax.Array:
        return jnp.sum(weights * f, axis=(1, 2)) / mass

    row_c = rows - mean(rows)[:, None, None]
    col_c = cols - mean(cols)[:, None, None]
    return mean(row_c * col_c) / (mean(row_c * row_c) + 1e-12)
