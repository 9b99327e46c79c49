"""Latent-space metrics: StyleGAN's perceptual path length (arXiv:1812.04948) with our
classifier's features, and feature diversity."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import numpy as np

from gan_jax.interpolation import lerp, slerp

Array = jax.Array

__all__ = [
    "feature_diversity",
    "normalized_feature_distance",
    "perceptual_path_length",
]


# --------------------------------------------------------------------------- latent-space metrics


def normalized_feature_distance(features_a: np.ndarray, features_b: np.ndarray) -> np.ndarray:
    """``‖f̂_a − f̂_b‖²`` per row with ``f̂ = f/‖f‖``: LPIPS's form (squared distance of
    unit-normalised features, Zhang et al. 2018, arXiv:1801.03924) on one feature vector."""

    def unit(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, np.float64)
        return f / (np.linalg.norm(f, axis=-1, keepdims=True) + 1e-10)

    return np.sum(np.square(unit(features_a) - unit(features_b)), axis=-1)


def perceptual_path_length(
    key: Array,
    to_space: Callable[[Array], Array],
    synthesize: Callable[[Array, Array], Array],
    embed: Callable[[Array], np.ndarray],
    latent_dim: int,
    space: str = "w",
    num_samples: int = 1000,
    epsilon: float = 1e-4,
    batch_size: int = 250,
) -> dict[str, float]:
    """Perceptual path length (Karras et al. 2019, arXiv:1812.04948 §4.2, the "full" paths):

        PPL = E[ d(G(lerp(w₀, w₁, t)), G(lerp(w₀, w₁, t + ε))) / ε² ],  t ~ U(0, 1),

    in W (``space="w"``: ``to_space`` maps ``z`` to ``w``, linear interpolation) or in Z
    (``space="z"``: ``to_space`` is the identity, spherical interpolation).  ``synthesize(
    latents, noise_key)`` generates from points of the space, and both images of a pair
    share their noise.  ``d`` is :func:`normalized_feature_distance` of ``embed``'s features
    (the paper uses VGG through LPIPS; we use the classifier behind FCD).  As in the paper's
    code, the samples outside the 1st–99th percentiles are dropped before averaging.
    Returns ``ppl`` (that mean), ``median`` and ``num_samples``.
    """

    if space not in ("w", "z"):
        raise ValueError(f"space must be 'w' or 'z', got {space!r}")
    interpolate = lerp if space == "w" else slerp
    distances = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        k = jax.random.fold_in(key, start)
        key_z, key_t, key_noise = jax.random.split(k, 3)
        z = jax.random.normal(key_z, (2, n, latent_dim))
        t = jax.random.uniform(key_t, (n,))
        a, b = to_space(z[0]), to_space(z[1])
        images_0 = synthesize(interpolate(a, b, t), key_noise)
        images_1 = synthesize(interpolate(a, b, t + epsilon), key_noise)
        d = normalized_feature_distance(embed(images_0), embed(images_1))
        distances.append(d / epsilon**2)
    distances = np.concatenate(distances)
    low, high = np.percentile(distances, [1, 99])
    kept = distances[(distances >= low) & (distances <= high)]
    return {
        "ppl": float(np.mean(kept)),
        "median": float(np.median(distances)),
        "num_samples": int(num_samples),
    }


def feature_diversity(features: np.ndarray, max_pairs: int = 500_000) -> float:
    """Mean Euclidean distance between the features of two different samples (all pairs of
    the first ``√(2·max_pairs)`` samples): 0 for a generator that always draws the same
    image."""
    f = np.asarray(features, np.float64)
    n = min(len(f), int(math.sqrt(2 * max_pairs)))
    f = f[:n]
    squared = np.sum(f * f, axis=1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2.0 * f @ f.T, 0.0)
    upper = np.triu_indices(n, k=1)
    return float(np.mean(np.sqrt(d2[upper])))
