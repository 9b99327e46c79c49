"""Distances between real and generated samples: the Fréchet distance of Gaussian fits
(Heusel et al. 2017, arXiv:1706.08500), the feature-set metrics of any feature extractor
(KID, precision/recall, density/coverage, the classifier score) and PGGAN's sliced
Wasserstein distance (arXiv:1710.10196)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


__all__ = [
    "Estimate",
    "classifier_score",
    "density_coverage",
    "frechet_distance",
    "frechet_feature_distance",
    "gaussian_fit",
    "kernel_distance",
    "knn_radii",
    "laplacian_pyramid",
    "mean_and_standard_error",
    "polynomial_mmd2",
    "precision_recall",
    "sliced_wasserstein",
    "sliced_wasserstein_distance",
]


def _float32(x: Array | np.ndarray) -> Array:
    """``x`` as a float32 device array; converted by NumPy, since ``jnp.asarray`` outside
    ``jit`` compiles a conversion program for every new shape."""
    if isinstance(x, jax.Array) and x.dtype == jnp.float32:
        return x
    return jax.device_put(np.asarray(x, np.float32))


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, ``ddof = 1``) covariance of ``features`` ``(N, F)``, float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need features of shape (N ≥ 2, F), got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False, ddof=1).reshape(
        features.shape[1], features.shape[1]
    )


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Squared Fréchet (2-Wasserstein) distance between ``N(μ₁, Σ₁)`` and ``N(μ₂, Σ₂)``:
    ``‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^{1/2}`` (Dowson & Landau 1982; the FID
    formula).  ``tr (Σ₁Σ₂)^{1/2} = tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}``, computed from
    symmetric eigendecompositions in float64, so it needs no ``scipy.linalg.sqrtm`` and
    never goes complex.  Host-side (numpy)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = (
        np.atleast_2d(sigma1).astype(np.float64),
        np.atleast_2d(sigma2).astype(np.float64),
    )
    root1 = _sqrt_psd(sigma1)
    middle = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_sqrt = np.sum(np.sqrt(np.clip(middle, 0.0, None)))
    value = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def frechet_feature_distance(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    """:func:`frechet_distance` between Gaussian fits of two feature sets ``(N, F)``."""
    return frechet_distance(*gaussian_fit(real_features), *gaussian_fit(fake_features))


def mean_and_standard_error(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error ``s/√n`` (sample std, ``ddof = 1``) over ``axis`` (seeds);
    the standard error of a single value is 0.  Host-side (numpy), for reporting."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.zeros_like(mean)
    return mean, values.std(axis=axis, ddof=1) / np.sqrt(n)


# ------------------------------------------------- feature-set metrics (any feature extractor)


class Estimate(NamedTuple):
    """A metric's value and its standard error (over the subsets it was averaged over)."""

    value: float
    std_error: float


@jax.jit
def polynomial_mmd2(x: Array, y: Array) -> Array:
    """The unbiased squared MMD between feature sets ``x (m, d)`` and ``y (n, d)`` with
    the cubic polynomial kernel ``k(a, b) = (a·b/d + 1)³`` (KID's estimator, Bińkowski et
    al. 2018, arXiv:1801.01401):

    ``MMD²_u = Σ_{i≠j} k(x_i, x_j)/(m(m−1)) + Σ_{i≠j} k(y_i, y_j)/(n(n−1))
    − 2 Σ_{i,j} k(x_i, y_j)/(mn)``.
    """
    m, n, d = x.shape[0], y.shape[0], x.shape[1]

    def kernel(a: Array, b: Array) -> Array:
        return (a @ b.T / d + 1.0) ** 3

    k_xx, k_yy = kernel(x, x), kernel(y, y)
    within_x = (jnp.sum(k_xx) - jnp.trace(k_xx)) / (m * (m - 1))
    within_y = (jnp.sum(k_yy) - jnp.trace(k_yy)) / (n * (n - 1))
    return within_x + within_y - 2.0 * jnp.mean(kernel(x, y))


def kernel_distance(
    real_features: Array,
    fake_features: Array,
    num_subsets: int = 100,
    subset_size: int = 1000,
    key: Array | None = None,
) -> Estimate:
    """KID, the kernel inception distance formula (arXiv:1801.01401) on any features:
    :func:`polynomial_mmd2` averaged over ``num_subsets`` pairs of random subsets of
    ``min(subset_size, N_real, N_fake)`` samples each (drawn without replacement within a
    subset), with the standard error of that mean, ``std/√num_subsets``.  Unbiased: its
    expectation is 0 when both sets come from one distribution, and it is meaningful at
    small sample sizes where FID is biased.  One ``lax.map`` over the subsets (jitted)."""
    real_features, fake_features = _float32(real_features), _float32(fake_features)
    size = min(subset_size, real_features.shape[0], fake_features.shape[0])
    keys = jax.random.split(jax.random.key(0) if key is None else key, num_subsets)
    values = np.asarray(_kid_subsets(real_features, fake_features, keys, size), np.float64)
    return Estimate(*map(float, mean_and_standard_error(values)))


@functools.partial(jax.jit, static_argnums=3)
def _kid_subsets(real: Array, fake: Array, keys: Array, size: int) -> Array:
    def one(key: Array) -> Array:
        key_real, key_fake = jax.random.split(key)
        pick_real = jax.random.choice(key_real, real.shape[0], (size,), replace=False)
        pick_fake = jax.random.choice(key_fake, fake.shape[0], (size,), replace=False)
        return polynomial_mmd2(real[pick_real], fake[pick_fake])

    return jax.lax.map(one, keys)


def _distance_fn(points: Array, exact: bool) -> Callable[[Array], Array]:
    """``point ↦ ‖point − points_j‖²`` for every ``j``.  ``exact``: as ``Σ (a − b)²``,
    exactly symmetric in floating point, which density's identity needs (with the other
    form a k-th neighbour can fall just outside the ball whose radius it defines); else
    ``‖a‖² + ‖b‖² − 2a·b``, a matrix product per chunk and faster, clipped at 0
    (rounding)."""
    if exact:
        return lambda point: jnp.sum(jnp.square(points - point), axis=-1)
    norms = jnp.sum(jnp.square(points), axis=-1)
    return lambda point: jnp.maximum(norms + jnp.sum(point * point) - 2.0 * (points @ point), 0.0)


@functools.partial(jax.jit, static_argnames=("k", "chunk", "exact"))
def knn_radii(features: Array, k: int, chunk: int = 64, exact: bool = True) -> Array:
    """Squared distance from each point of ``features (N, d)`` to its ``k``-th nearest
    *other* point (the ``k+1``-th smallest distance, the point itself being the first):
    the radius² of its k-NN ball.  Rows in chunks of ``chunk`` (``lax.map``), so memory is
    ``O(chunk·N)``; ``exact`` as in ``_distance_fn``."""
    distances_to = _distance_fn(features, exact)

    def row(point: Array) -> Array:
        # k + 1 rounds of "take the minimum, remove it": O(k·N) per row, where XLA:CPU's
        # top_k sorts the whole row (10,000 × 10,000 took 20 s)
        def remove_min(_, distances):
            return distances.at[jnp.argmin(distances)].set(jnp.inf)

        return jnp.min(jax.lax.fori_loop(0, k, remove_min, distances_to(point)))

    return jax.lax.map(row, features, batch_size=chunk)


@functools.partial(jax.jit, static_argnames=("chunk", "exact"))
def _balls_containing(
    queries: Array, centres: Array, radii: Array, chunk: int = 64, exact: bool = True
) -> Array:
    """For each query point, how many of the balls ``(centres_i, radii²_i)`` contain it."""
    distances_to = _distance_fn(centres, exact)
    return jax.lax.map(
        lambda point: jnp.sum(distances_to(point) <= radii), queries, batch_size=chunk
    )


@functools.partial(jax.jit, static_argnames=("chunk",))
def _nearest_squared_distance(queries: Array, points: Array, chunk: int = 64) -> Array:
    """For each query point, the squared distance to its nearest point of ``points``."""
    distances_to = _distance_fn(points, True)
    return jax.lax.map(lambda point: jnp.min(distances_to(point)), queries, batch_size=chunk)


def precision_recall(
    real_features: Array, fake_features: Array, k: int = 3, real_radii: Array | None = None
) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019, arXiv:1904.06991): each set's
    manifold is the union of k-NN balls around its points;

    * precision = the fraction of generated samples inside the real manifold (quality);
    * recall = the fraction of real samples inside the generated manifold (coverage: a
      generator that drops modes loses recall, not precision).

    Both are 1 for identical sets (every point lies in its own ball).  Chunked
    (:func:`knn_radii`), ``O(N·M)`` time, distances as matrix products (a point exactly
    on a ball's boundary may round either way; only density needs exact ties).
    ``real_radii``: the real set's ``knn_radii(real, k, exact=False)``, computed once by a
    caller that measures many generated sets against one real set."""
    real, fake = _float32(real_features), _float32(fake_features)
    if real_radii is None:
        real_radii = knn_radii(real, k, exact=False)
    fake_radii = knn_radii(fake, k, exact=False)
    inside_real = np.asarray(_balls_containing(fake, real, real_radii, exact=False))
    inside_fake = np.asarray(_balls_containing(real, fake, fake_radii, exact=False))
    return {"precision": float(np.mean(inside_real > 0)), "recall": float(np.mean(inside_fake > 0))}


def density_coverage(
    real_features: Array, fake_features: Array, k: int = 5, real_radii: Array | None = None
) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020, arXiv:2002.09797), from k-NN balls around the
    *real* points only (robust to generated outliers):

    * density = ``(1/(kM)) Σ_j Σ_i 1[y_j ∈ B(x_i, NND_k(x_i))]`` (expected 1 when the
      distributions match; above 1 when samples crowd dense real regions);
    * coverage = ``(1/N) Σ_i 1[∃ j: y_j ∈ B(x_i, NND_k(x_i))]``, the fraction of real
      neighbourhoods that hold a generated sample.

    ``real_radii``: ``knn_radii(real, k)``, computed once by a caller that measures many
    generated sets against one real set."""
    real, fake = _float32(real_features), _float32(fake_features)
    radii = knn_radii(real, k) if real_radii is None else real_radii
    density = np.sum(np.asarray(_balls_containing(fake, real, radii))) / (k * fake.shape[0])
    coverage = np.mean(np.asarray(_nearest_squared_distance(real, fake)) <= np.asarray(radii))
    return {"density": float(density), "coverage": float(coverage)}


def classifier_score(logits: Array, splits: int = 1) -> Estimate:
    """The Inception-score formula (Salimans et al. 2016, arXiv:1606.03498) on any
    classifier's logits, named for what it is (our classifier is not Inception):
    ``exp(mean_x KL(p(y|x) ‖ p(y)))`` with ``p(y)`` the mean prediction, computed within
    each of ``splits`` equal parts; the mean over parts and its standard error.  1 when
    every prediction is the same; ``K`` for confident predictions spread evenly over
    ``K`` classes."""
    scores = np.asarray(_classifier_scores(_float32(logits), splits), np.float64)
    return Estimate(*map(float, mean_and_standard_error(scores)))


@functools.partial(jax.jit, static_argnums=1)
def _classifier_scores(logits: Array, splits: int) -> Array:
    """:func:`classifier_score` of each of the ``splits`` parts."""
    log_p = jax.nn.log_softmax(logits, axis=-1)
    parts = log_p[: log_p.shape[0] // splits * splits].reshape(splits, -1, log_p.shape[-1])
    log_marginal = jax.nn.logsumexp(parts, axis=1, keepdims=True) - math.log(parts.shape[1])
    kl = jnp.sum(jnp.exp(parts) * (parts - log_marginal), axis=-1)
    return jnp.exp(jnp.mean(kl, axis=1))


# --------------------------------------------------------- PGGAN's sliced Wasserstein distance

_BINOMIAL_5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(images: Array) -> Array:
    """Separable 5-tap binomial blur, reflected borders, per channel (NHWC)."""
    padded = jnp.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    taps = jnp.asarray(_BINOMIAL_5, images.dtype)
    height, width = images.shape[1], images.shape[2]
    rows = sum(taps[i] * padded[:, i : i + height] for i in range(5))
    return sum(taps[i] * rows[:, :, i : i + width] for i in range(5))


@functools.partial(jax.jit, static_argnames=("min_resolution",))
def laplacian_pyramid(images: Array, min_resolution: int = 16) -> list[Array]:
    """PGGAN's Laplacian pyramid (Karras et al. 2018, arXiv:1710.10196, App. D): levels
    ``L_s = G_s − up(G_{s+1})`` from full resolution down to ``min_resolution``, where
    ``G_{s+1}`` is ``G_s`` blurred (binomial 5-tap) and subsampled ×2 and ``up`` is zero
    insertion followed by the same blur ×4; the last level is the low-pass image
    ``G`` at ``min_resolution``.  Summing the levels back up reconstructs the image."""
    levels, current = [], images
    while current.shape[1] > min_resolution:
        low = _blur(current)[:, ::2, ::2]
        up = jnp.zeros_like(current).at[:, ::2, ::2].set(low)
        levels.append(current - 4.0 * _blur(up))
        current = low
    return [*levels, current]


def sliced_wasserstein(a: Array, b: Array, key: Array, num_directions: int = 512) -> Array:
    """Sliced Wasserstein distance between two equally large point sets ``(N, D)``: the mean
    over ``num_directions`` random unit directions ``u`` of the 1-D Wasserstein-1 distance
    between the projections, ``mean_u mean_i |sort(a·u)_i − sort(b·u)_i|``.  Translating
    ``b`` by ``μ`` gives exactly ``mean_u |u·μ|`` when the sets are otherwise equal."""
    if a.shape != b.shape:
        raise ValueError(f"point sets of shapes {a.shape} and {b.shape}; they must be equal")
    directions = jax.random.normal(key, (a.shape[1], num_directions), a.dtype)
    directions = directions / jnp.linalg.norm(directions, axis=0, keepdims=True)
    projected_a = jnp.sort(a @ directions, axis=0)
    projected_b = jnp.sort(b @ directions, axis=0)
    return jnp.mean(jnp.abs(projected_a - projected_b))


def _patch_descriptors(level: Array, corners: Array, size: int) -> Array:
    """``size × size`` patches at ``corners (N, P, 2)`` of each image, flattened, with each
    channel normalised to zero mean and unit variance over the whole set (PGGAN)."""

    def patches_of(image: Array, image_corners: Array) -> Array:
        return jax.vmap(
            lambda c: jax.lax.dynamic_slice(image, (c[0], c[1], 0), (size, size, image.shape[-1]))
        )(image_corners)

    patches = jax.vmap(patches_of)(level, corners)  # (N, P, size, size, C)
    patches = patches.reshape(-1, size, size, level.shape[-1])
    patches = patches - jnp.mean(patches, axis=(0, 1, 2))
    patches = patches / (jnp.std(patches, axis=(0, 1, 2)) + 1e-8)
    return patches.reshape(patches.shape[0], -1)


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _level_swd(
    real: Array, fake: Array, key: Array, patch_size: int, per_image: int, num_directions: int
) -> Array:
    corner_key, direction_key = jax.random.split(key)
    room = real.shape[1] - patch_size + 1
    corners = jax.random.randint(corner_key, (real.shape[0], per_image, 2), 0, room)
    return sliced_wasserstein(
        _patch_descriptors(real, corners, patch_size),
        _patch_descriptors(fake, corners, patch_size),
        direction_key,
        num_directions,
    )


def sliced_wasserstein_distance(
    real_images: Array,
    fake_images: Array,
    key: Array | None = None,
    min_resolution: int = 16,
    patch_size: int = 7,
    max_descriptors: int = 65536,
    num_directions: int = 512,
) -> dict[str, float]:
    """PGGAN's multi-scale sliced Wasserstein distance (arXiv:1710.10196, App. D): for each
    level of the :func:`laplacian_pyramid` (full resolution down to ``min_resolution``),
    ``patch_size²·C`` descriptors of random patches, normalised per channel within each
    set, compared with :func:`sliced_wasserstein`.  Returns one distance per level, keyed
    by its resolution, and their ``"mean"``; PGGAN's tables print them ×10³.

    Our choices: the patch positions of real and generated images come from the same
    key, so identical sets give exactly 0; each level keeps at most ``max_descriptors``
    descriptors (PGGAN: 128 per image of 16,384 images), ``max_descriptors // N`` per image.
    """
    count = min(real_images.shape[0], fake_images.shape[0])
    real_images, fake_images = real_images[:count], fake_images[:count]
    per_image = max(1, min(128, max_descriptors // count))
    key = jax.random.key(0) if key is None else key
    result = {}
    for index, (real_level, fake_level) in enumerate(
        zip(
            laplacian_pyramid(real_images, min_resolution),
            laplacian_pyramid(fake_images, min_resolution),
            strict=True,
        )
    ):
        distance = _level_swd(
            real_level,
            fake_level,
            jax.random.fold_in(key, index),
            patch_size,
            per_image,
            num_directions,
        )
        result[str(real_level.shape[1])] = float(distance)
    result["mean"] = float(np.mean(list(result.values())))
    return result
