"""Sample-quality metrics.

**Image metrics.**  The *Fréchet classifier distance* (FCD) is the FID formula of Heusel et
al. 2017 (arXiv:1706.08500),
``d² = ‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2})``, between Gaussian fits of the
penultimate features of *our own* classifier (:mod:`gan_jax.nets.classifier`, trained on
the dataset by ``experiments.train_classifier``) for real and generated images.  It is not
FID: no pretrained Inception network can be downloaded here, and values are comparable
only between runs that use the same classifier checkpoint and sample sizes.  *Class
coverage* is the image analogue of modes covered: the number of classes the classifier
assigns generated samples to, and the KL divergence of that predicted-class histogram from
uniform (0 for a perfectly balanced generator, ``log K`` for one class).

Mode coverage on Gaussian mixtures follows the protocol of VEEGAN (Srivastava et al. 2017,
arXiv:1705.07761) and PacGAN (Lin et al. 2018, arXiv:1712.04086): a generated sample is
*high quality* if it lies within ``3σ`` of its nearest mode centre; a mode is *covered*
if at least one high-quality sample is nearest to it; the *reverse KL* is
``KL(p̂ ‖ uniform) = Σ_k p̂_k log(K p̂_k)`` of the histogram ``p̂`` of high-quality
samples over the ``K`` modes (``0 log 0 = 0``).  With no high-quality sample at all the
histogram is undefined; we report ``log K``, the value of a point mass (the worst case).
Two more numbers say *why* samples miss the ``3σ`` disc.  ``off_mode`` is the fraction
farther than ``6σ`` from every mode: the mass a continuous generator puts on the bridges
between modes, which it cannot cut (Khayatkhoei et al. 2018, arXiv:1806.00880; Tanielian
et al. 2020, arXiv:2006.04596); the true mixture has ``e^{−18} ≈ 1.5·10⁻⁸`` there in 2-D.
``spread`` is the root-mean-square per-coordinate offset of the high-quality samples from
their mode, in units of ``σ``: ``√(Σ_good ‖x − c‖² / (n_good D)) / σ``.  For the true
mixture in 2-D it is the Gaussian truncated at ``3σ``,
``√((1 − 5.5 e^{−4.5}) / (1 − e^{−4.5})) = 0.9744``; below that the modes are too narrow,
above it too wide.

**Latent-space metrics.**  :func:`perceptual_path_length` (StyleGAN's PPL, with our
classifier's features in place of VGG) and :func:`feature_diversity` (mean pairwise
feature distance, the diversity side of the truncation trade-off).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.interpolation import lerp, slerp
from gan_jax.nets.progressive import area_downsample

__all__ = [
    "DEFAULT_NUM_SAMPLES",
    "Estimate",
    "class_coverage",
    "classifier_score",
    "density_coverage",
    "diversity_by_region",
    "edge_and_flat_masks",
    "feature_diversity",
    "frechet_distance",
    "frechet_feature_distance",
    "gaussian_fit",
    "high_frequency_energy",
    "ink_mass",
    "kernel_distance",
    "kl_from_uniform",
    "knn_radii",
    "laplacian_pyramid",
    "lr_consistency",
    "mean_and_standard_error",
    "mode_coverage",
    "normalized_feature_distance",
    "per_pixel_std",
    "perceptual_path_length",
    "polynomial_mmd2",
    "precision_recall",
    "psnr",
    "sharpness_ratio",
    "slant",
    "sliced_wasserstein",
    "sliced_wasserstein_distance",
]

Array = jax.Array

DEFAULT_NUM_SAMPLES = 2500  # the protocol's sample count


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


def kl_from_uniform(histogram: Array) -> Array:
    """``KL(p ‖ uniform) = Σ_k p_k log(K p_k)`` of a normalised histogram (``0 log 0 = 0``)."""
    num_bins = histogram.shape[-1]
    safe = jnp.where(histogram > 0, histogram, 1.0)
    return jnp.sum(jnp.where(histogram > 0, histogram * jnp.log(num_bins * safe), 0.0), axis=-1)


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


# --------------------------------------------------------------------------- digit attributes


def ink_mass(images: jax.Array) -> jax.Array:
    """Mean ink per image ``(N,)``: the mean of ``(x + 1)/2`` over pixels of images in
    ``[−1, 1]`` (white ink on black); thicker strokes carry more."""
    return jnp.mean((images + 1.0) / 2.0, axis=tuple(range(1, images.ndim)))


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


# --------------------------------------------------------------------------- super-resolution


def psnr(images: Array, targets: Array, data_range: float = 2.0) -> Array:
    """Peak signal-to-noise ratio per image, ``10·log₁₀(range² / MSE)`` dB (``range`` = 2
    for images in ``[−1, 1]``); ``+inf`` for identical images."""
    axes = tuple(range(1, images.ndim))
    mse = jnp.mean(jnp.square(images - targets), axis=axes)
    return 10.0 * jnp.log10(data_range**2 / mse)


def lr_consistency(outputs: Array, low_res: Array) -> Array:
    """PSNR between the area down-sampled outputs and the low-resolution inputs, per image:
    how well a super-resolved image explains its seed (``+inf`` when exactly)."""

    return psnr(area_downsample(outputs, outputs.shape[1] // low_res.shape[1]), low_res)


def high_frequency_energy(images: Array, cutoff: float = 0.125) -> Array:
    """Spectral energy ``Σ |F(x)|²`` of each image (all channels) at radial frequencies
    above ``cutoff`` cycles per pixel (the Nyquist limit is 0.5; an ×4 low-resolution image
    holds nothing above 0.125)."""
    h, w = images.shape[1:3]
    fy, fx = jnp.fft.fftfreq(h)[:, None], jnp.fft.fftfreq(w)[None, :]
    high = (jnp.sqrt(fy**2 + fx**2) > cutoff)[None, :, :, None]
    spectrum = jnp.square(jnp.abs(jnp.fft.fft2(images, axes=(1, 2))))
    return jnp.sum(spectrum * high, axis=(1, 2, 3))


def sharpness_ratio(outputs: Array, targets: Array, cutoff: float = 0.125) -> float:
    """``Σ high-frequency energy of the outputs / Σ that of the targets`` over a batch
    (:func:`high_frequency_energy`): 1 when the outputs are as detailed as the truth, below
    1 when blurred (an L2 regression's answer), above 1 when over-sharpened or noisy."""
    return float(
        jnp.sum(high_frequency_energy(outputs, cutoff))
        / jnp.sum(high_frequency_energy(targets, cutoff))
    )


def per_pixel_std(samples: Array) -> Array:
    """``(Z, N, H, W, C) -> (N, H, W)``: the standard deviation over ``Z`` samples for the
    same input (LAG's different z), averaged over channels."""
    return jnp.mean(jnp.std(samples, axis=0), axis=-1)


def edge_and_flat_masks(images: Array, fraction: float = 0.2) -> tuple[Array, Array]:
    """Per image, the ``k = round(fraction·H·W)`` pixels with the largest gradient
    magnitude (edges) and the ``k`` with the smallest (flat regions), from forward
    differences of the channel mean, ``(N, H, W)`` booleans each.  By rank, so ties (a
    flat image) still give ``k`` pixels each."""
    luma = jnp.mean(images, axis=-1)
    gy = jnp.diff(luma, axis=1, append=luma[:, -1:, :])
    gx = jnp.diff(luma, axis=2, append=luma[:, :, -1:])
    magnitude = jnp.sqrt(gy**2 + gx**2).reshape(images.shape[0], -1)
    count = magnitude.shape[1]
    k = max(1, round(fraction * count))
    rank = jnp.argsort(jnp.argsort(magnitude, axis=1, stable=True), axis=1)
    return (rank >= count - k).reshape(luma.shape), (rank < k).reshape(luma.shape)


def diversity_by_region(samples: Array, targets: Array, fraction: float = 0.2) -> dict:
    """Mean :func:`per_pixel_std` over all pixels, over the targets' edges and over their
    flat regions (:func:`edge_and_flat_masks`): where a conditional generator's
    variation concentrates."""
    std = per_pixel_std(samples)
    edges, flat = edge_and_flat_masks(targets, fraction)
    return {
        "mean": float(jnp.mean(std)),
        "edges": float(jnp.sum(std * edges) / jnp.sum(edges)),
        "flat": float(jnp.sum(std * flat) / jnp.sum(flat)),
    }


# ------------------------------------------------- feature-set metrics (any feature extractor)


class Estimate(NamedTuple):
    """A metric's value and its standard error (over the subsets it was averaged over)."""

    value: float
    std_error: float


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
    real_features = jnp.asarray(real_features, jnp.float32)
    fake_features = jnp.asarray(fake_features, jnp.float32)
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
    form a k-th neighbour falls just outside the ball whose radius it defines: 3 % off);
    else ``‖a‖² + ‖b‖² − 2a·b``, a matrix product per chunk and ≈ 4× faster, clipped at
    0 (rounding)."""
    if exact:
        return lambda point: jnp.sum(jnp.square(points - point), axis=-1)
    norms = jnp.sum(jnp.square(points), axis=-1)
    return lambda point: jnp.maximum(norms + jnp.sum(point * point) - 2.0 * (points @ point), 0.0)


@functools.partial(jax.jit, static_argnames=("k", "chunk", "exact"))
def knn_radii(features: Array, k: int, chunk: int = 64, exact: bool = True) -> Array:
    """Squared distance from each point of ``features (N, d)`` to its ``k``-th nearest
    *other* point (the ``k+1``-th smallest distance, the point itself being the first):
    the radius² of its k-NN ball.  Rows in chunks of ``chunk`` (``lax.map``), so memory is
    ``O(chunk·N)``; ``exact`` as in :func:`_distance_fn`."""
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
    real = jnp.asarray(real_features, jnp.float32)
    fake = jnp.asarray(fake_features, jnp.float32)
    if real_radii is None:
        real_radii = knn_radii(real, k, exact=False)
    fake_radii = knn_radii(fake, k, exact=False)
    return {
        "precision": float(jnp.mean(_balls_containing(fake, real, real_radii, exact=False) > 0)),
        "recall": float(jnp.mean(_balls_containing(real, fake, fake_radii, exact=False) > 0)),
    }


def density_coverage(real_features: Array, fake_features: Array, k: int = 5) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020, arXiv:2002.09797), from k-NN balls around the
    *real* points only (robust to generated outliers):

    * density = ``(1/(kM)) Σ_j Σ_i 1[y_j ∈ B(x_i, NND_k(x_i))]`` (expected 1 when the
      distributions match; above 1 when samples crowd dense real regions);
    * coverage = ``(1/N) Σ_i 1[∃ j: y_j ∈ B(x_i, NND_k(x_i))]``, the fraction of real
      neighbourhoods that hold a generated sample."""
    real = jnp.asarray(real_features, jnp.float32)
    fake = jnp.asarray(fake_features, jnp.float32)
    radii = knn_radii(real, k)
    density = jnp.sum(_balls_containing(fake, real, radii)) / (k * fake.shape[0])
    coverage = jnp.mean(_nearest_squared_distance(real, fake) <= radii)
    return {"density": float(density), "coverage": float(coverage)}


def classifier_score(logits: Array, splits: int = 1) -> Estimate:
    """The Inception-score formula (Salimans et al. 2016, arXiv:1606.03498) on any
    classifier's logits, named for what it is (our classifier is not Inception):
    ``exp(mean_x KL(p(y|x) ‖ p(y)))`` with ``p(y)`` the mean prediction, computed within
    each of ``splits`` equal parts; the mean over parts and its standard error.  1 when
    every prediction is the same; ``K`` for confident predictions spread evenly over
    ``K`` classes."""
    log_p = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32), axis=-1)
    parts = log_p[: log_p.shape[0] // splits * splits].reshape(splits, -1, log_p.shape[-1])
    log_marginal = jax.nn.logsumexp(parts, axis=1, keepdims=True) - math.log(parts.shape[1])
    kl = jnp.sum(jnp.exp(parts) * (parts - log_marginal), axis=-1)
    scores = np.asarray(jnp.exp(jnp.mean(kl, axis=1)), np.float64)
    return Estimate(*map(float, mean_and_standard_error(scores)))


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
