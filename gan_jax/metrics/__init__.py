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

from gan_jax.metrics.attributes import (
    ink_mass,
    slant,
)
from gan_jax.metrics.coverage import (
    DEFAULT_NUM_SAMPLES,
    class_coverage,
    kl_from_uniform,
    mode_coverage,
    stacked_mode_coverage,
)
from gan_jax.metrics.distances import (
    Estimate,
    classifier_score,
    density_coverage,
    frechet_distance,
    frechet_feature_distance,
    gaussian_fit,
    kernel_distance,
    knn_radii,
    laplacian_pyramid,
    mean_and_standard_error,
    polynomial_mmd2,
    precision_recall,
    sliced_wasserstein,
    sliced_wasserstein_distance,
)
from gan_jax.metrics.latent_space import (
    feature_diversity,
    normalized_feature_distance,
    perceptual_path_length,
)
from gan_jax.metrics.restoration import (
    detail_by_region,
    detail_layer,
    diversity_by_region,
    edge_and_flat_masks,
    high_frequency_energy,
    lr_consistency,
    per_pixel_std,
    psnr,
    sharpness_ratio,
)

__all__ = [
    "DEFAULT_NUM_SAMPLES",
    "Estimate",
    "class_coverage",
    "classifier_score",
    "density_coverage",
    "detail_by_region",
    "detail_layer",
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
    "stacked_mode_coverage",
]
