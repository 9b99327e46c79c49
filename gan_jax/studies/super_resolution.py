"""LAG against bicubic interpolation and an L2 network on held-out images (Berthelot,
Milanfar and Goodfellow 2020, arXiv:2003.02365): the study of
``python -m experiments.super_resolution``.

Each method super-resolves the ×4 area down-sampled seeds ``y`` of images ``x`` it never
trained on; per method: the HR PSNR, the LR consistency (the PSNR of ``down(x̂)`` against
``y``, capped at 100 dB where it is exact) and the sharpness ratio (energy above the seed's
Nyquist frequency, output over truth; :mod:`gan_jax.metrics.restoration`).  LAG's diversity
is the per-pixel standard deviation over ``DIVERSITY_SAMPLES`` noise draws, overall and on
the truth's edges and flat regions.  The same measures on as many *training* images tell
generalisation from fitting.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.dynamics.game import PyTree
from gan_jax.metrics import (
    detail_by_region,
    diversity_by_region,
    lr_consistency,
    psnr,
    sharpness_ratio,
)
from gan_jax.models.lag import LAGModel, bicubic_upsample
from gan_jax.nets.progressive import area_downsample

__all__ = [
    "DIVERSITY_SAMPLES",
    "SuperResolutionResults",
    "compare_methods",
    "fixed_subset",
    "method_metrics",
]

Array = jax.Array
DIVERSITY_SAMPLES = 16


def fixed_subset(images: Array, count: int, key: Array) -> Array:
    """``count`` images drawn without replacement by a fixed key (all if fewer)."""
    size = min(count, images.shape[0])
    return images[jax.random.choice(key, images.shape[0], (size,), replace=False)]


def method_metrics(outputs: Array, high: Array, low: Array) -> dict[str, float]:
    """HR PSNR (the mean of per-image PSNRs, and ``psnr_pooled`` of the pooled MSE, which
    flat patches do not dominate), LR consistency, sharpness ratio, and where the detail
    goes (:func:`gan_jax.metrics.detail_by_region`: on the truth's edges, and as
    artifacts on its flat regions) of ``outputs`` (module doc)."""
    consistency = np.asarray(lr_consistency(outputs, low))
    detail = detail_by_region(outputs, high, high.shape[1] // low.shape[1])
    pooled = psnr(outputs.reshape(1, -1), high.reshape(1, -1))  # the batch as one image
    return {
        "psnr": float(np.mean(np.asarray(psnr(outputs, high)))),
        "psnr_pooled": float(pooled[0]),
        "lr_consistency": float(np.mean(np.minimum(consistency, 100.0))),  # inf: exact
        "sharpness": sharpness_ratio(outputs, high),
        "edge_detail_ratio": detail["edges_ratio"],
        "flat_detail_rms": detail["flat_rms"],
        "truth_flat_detail_rms": detail["target_flat_rms"],
    }


@dataclasses.dataclass(frozen=True)
class SuperResolutionResults:
    """The numbers (``methods``, ``methods_on_training_patches``, ``diversity``) and the
    held-out arrays the figures show: ``high``, its seeds ``low``, each method's
    ``outputs`` and LAG's ``samples`` ``(DIVERSITY_SAMPLES, N, H, W, C)``."""

    methods: dict[str, dict[str, float]]
    methods_on_training_patches: dict[str, dict[str, float]]
    diversity: dict[str, float]
    high: Array
    low: Array
    outputs: dict[str, Array]
    samples: Array

    def checks(self) -> dict[str, bool]:
        """The comparisons the results page reports."""
        lag = self.methods["lag_sample"]
        return {
            "lag_sharpness_in_0.7_1.3": 0.7 <= lag["sharpness"] <= 1.3,
            "l2_sharpness_below_lag": self.methods["l2"]["sharpness"] < lag["sharpness"],
            "lag_lr_consistency_at_least_30_db": lag["lr_consistency"] >= 30.0,
            "diversity_positive_and_higher_on_edges": self.diversity["mean"] > 0
            and self.diversity["edges"] > self.diversity["flat"],
        }

    def numbers(self) -> dict[str, Any]:
        return {
            "eval_patches": int(self.high.shape[0]),
            "methods": self.methods,
            "methods_on_training_patches": self.methods_on_training_patches,
            "diversity": self.diversity,
            "diversity_samples": DIVERSITY_SAMPLES,
            "checks": self.checks(),
        }


def compare_methods(
    model: LAGModel,
    g_ema: PyTree,
    l2_params: PyTree,
    train_images: Array,
    test_images: Array,
    eval_patches: int,
) -> SuperResolutionResults:
    """Bicubic, the L2 network (``l2_params``), LAG at ``ε = 0`` and LAG's samples (G's
    average ``g_ema``) on ``eval_patches`` fixed held-out images, and the first three on as
    many training images."""
    scale, noise_dim = model.config.scale, model.config.noise_dim
    high = fixed_subset(test_images, eval_patches, jax.random.key(11))
    low = area_downsample(high, scale)
    noise_keys = jax.random.split(jax.random.key(12), DIVERSITY_SAMPLES)
    noise_shape = low.shape[:-1] + (noise_dim,)
    samples = jnp.stack(
        [model.super_resolve(g_ema, low, jax.random.normal(k, noise_shape)) for k in noise_keys]
    )

    def deterministic(low: Array) -> dict[str, Array]:
        return {
            "bicubic": bicubic_upsample(low, scale),
            "l2": model.super_resolve(l2_params, low),
            "lag_center": model.super_resolve(g_ema, low),
        }

    outputs = {**deterministic(low), "lag_sample": samples[0]}
    seen = fixed_subset(train_images, eval_patches, jax.random.key(13))
    seen_low = area_downsample(seen, scale)
    return SuperResolutionResults(
        methods={name: method_metrics(x, high, low) for name, x in outputs.items()},
        methods_on_training_patches={
            name: method_metrics(x, seen, seen_low) for name, x in deterministic(seen_low).items()
        },
        diversity=diversity_by_region(samples, high),
        high=high,
        low=low,
        outputs=outputs,
        samples=samples,
    )
