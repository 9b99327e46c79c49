"""Mode coverage on 2-D Gaussian mixtures (VEEGAN arXiv:1705.07761, PacGAN
arXiv:1712.04086) and class coverage of a classifier's predictions (package doc:
:mod:`gan_jax.metrics`)."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = [
    "DEFAULT_NUM_SAMPLES",
    "class_coverage",
    "kl_from_uniform",
    "mode_coverage",
]


DEFAULT_NUM_SAMPLES = 2500  # the protocol's sample count


@jax.jit
def mode_coverage(
    samples: Array, centers: Array, std: float, threshold: float = 3.0
) -> dict[str, Array]:
    """Modes covered, high-quality fraction and reverse KL of ``samples`` ``(N, D)`` against a
    mixture with ``centers`` ``(K, D)`` and component std ``std`` (see module doc).

    Pure and jittable; returns scalars ``modes`` (int), ``high_quality``, ``reverse_kl``,
    ``off_mode`` (beyond ``2 × threshold`` σ of every mode) and ``spread`` (float), and the
    per-mode ``histogram``.
    """
    distances = jnp.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=-1)  # (N, K)
    nearest = jnp.argmin(distances, axis=1)
    distance = jnp.min(distances, axis=1)
    good = (distance <= threshold * std).astype(jnp.float32)
    num_modes = centers.shape[0]
    counts = jnp.zeros(num_modes).at[nearest].add(good)
    total = jnp.sum(counts)
    histogram = counts / jnp.maximum(total, 1.0)
    reverse_kl = jnp.where(total > 0, kl_from_uniform(histogram), math.log(num_modes))
    mean_square = jnp.sum(good * distance**2) / (jnp.maximum(total, 1.0) * samples.shape[1])
    return {
        "modes": jnp.sum(counts > 0),
        "high_quality": jnp.mean(good),
        "reverse_kl": reverse_kl,
        "off_mode": jnp.mean((distance > 2 * threshold * std).astype(jnp.float32)),
        "spread": jnp.sqrt(mean_square) / std,
        "histogram": histogram,
    }


@jax.jit
def kl_from_uniform(histogram: Array) -> Array:
    """``KL(p ‖ uniform) = Σ_k p_k log(K p_k)`` of a normalised histogram (``0 log 0 = 0``)."""
    num_bins = histogram.shape[-1]
    safe = jnp.where(histogram > 0, histogram, 1.0)
    return jnp.sum(jnp.where(histogram > 0, histogram * jnp.log(num_bins * safe), 0.0), axis=-1)


@functools.partial(jax.jit, static_argnames=("num_classes",))
def class_coverage(logits: Array, num_classes: int | None = None) -> dict[str, Array]:
    """Class coverage of generated samples from a classifier's ``logits`` ``(N, K)``:
    ``classes`` (how many classes receive at least one arg-max prediction),
    ``kl_from_uniform`` of the predicted-class histogram, and the ``histogram``."""
    num_classes = num_classes or logits.shape[-1]
    predicted = jnp.argmax(logits, axis=-1)
    counts = jnp.zeros(num_classes).at[predicted].add(1.0)
    histogram = counts / jnp.maximum(jnp.sum(counts), 1.0)
    return {
        "classes": jnp.sum(counts > 0),
        "kl_from_uniform": kl_from_uniform(histogram),
        "histogram": histogram,
    }
