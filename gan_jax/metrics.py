"""Sample-quality metrics.

Mode coverage on Gaussian mixtures follows the protocol of VEEGAN (Srivastava et al. 2017,
arXiv:1705.07761) and PacGAN (Lin et al. 2018, arXiv:1712.04086): a generated sample is
*high quality* if it lies within ``3σ`` of its nearest mode centre; a mode is *covered*
if at least one high-quality sample is nearest to it; the *reverse KL* is
``KL(p̂ ‖ uniform) = Σ_k p̂_k log(K p̂_k)`` of the histogram ``p̂`` of high-quality
samples over the ``K`` modes (``0 log 0 = 0``).  With no high-quality sample at all the
histogram is undefined; we report ``log K``, the value of a point mass (the worst case).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

DEFAULT_NUM_SAMPLES = 2500  # the protocol's sample count


def mode_coverage(
    samples: Array, centers: Array, std: float, threshold: float = 3.0
) -> dict[str, Array]:
    """Modes covered, high-quality fraction and reverse KL of ``samples`` ``(N, D)`` against a
    mixture with ``centers`` ``(K, D)`` and component std ``std`` (see module doc).

    Pure and jittable; returns scalars ``modes`` (int), ``high_quality`` and
    ``reverse_kl`` (float), and the per-mode ``histogram``.
    """
    distances = jnp.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=-1)  # (N, K)
    nearest = jnp.argmin(distances, axis=1)
    good = jnp.min(distances, axis=1) <= threshold * std
    num_modes = centers.shape[0]
    counts = jnp.zeros(num_modes).at[nearest].add(good.astype(jnp.float32))
    total = jnp.sum(counts)
    histogram = counts / jnp.maximum(total, 1.0)
    kl_terms = jnp.where(
        histogram > 0,
        histogram * jnp.log(num_modes * jnp.where(histogram > 0, histogram, 1.0)),
        0.0,
    )
    reverse_kl = jnp.where(total > 0, jnp.sum(kl_terms), math.log(num_modes))
    return {
        "modes": jnp.sum(counts > 0),
        "high_quality": jnp.mean(good.astype(jnp.float32)),
        "reverse_kl": reverse_kl,
        "histogram": histogram,
    }


def mean_and_standard_error(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error ``s/√n`` (sample std, ``ddof = 1``) over ``axis`` (seeds);
    the standard error of a single value is 0.  Host-side (numpy), for reporting."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.zeros_like(mean)
    return mean, values.std(axis=axis, ddof=1) / np.sqrt(n)
