"""What each level of a frozen classifier keeps (Shocher et al. 2020, arXiv:2003.06221):
the study of ``python -m experiments.semantic_pyramid``.

* :func:`pyramid_network`: the frozen feature network, a
  :class:`~gan_jax.nets.classifier.PyramidClassifier` trained on the training images;
* :func:`pyramid_conditions`: a training batch's conditions under hierarchical masking
  (:mod:`gan_jax.models.semantic_pyramid`: one random level per example, the others
  zeroed), D's condition (the source's fc features, unit norm) and G's reconstruction
  loss at the chosen level;
* :func:`per_level_evaluation`: generation from each level of held-out sources, with the
  pixel similarity to the source (PSNR), the class agreement with its label under the
  evaluation classifier and the diversity across ``z`` (the mean per-pixel standard
  deviation); :func:`trends` says whether they move with the level as the paper reports;
* :func:`selection_score`: the rule that picks the mode-seeking weight on a validation
  split (``--validation``), never on the test digits the study reports.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import data
from gan_jax.metrics import per_pixel_std, psnr
from gan_jax.models import semantic_pyramid as sp
from gan_jax.models.feature_classifier import (
    ClassifierMetrics,
    accuracy,
    train_classifier,
    unit_norm,
)
from gan_jax.models.feature_gan import FeatureGAN
from gan_jax.nets.classifier import PYRAMID_LEVELS, PyramidClassifier

__all__ = [
    "LevelEvaluation",
    "PyramidConditions",
    "choose_weight",
    "per_level_evaluation",
    "pyramid_conditions",
    "pyramid_network",
    "selection_score",
    "spearman",
    "spearman_p_value",
    "trends",
]

Array = jax.Array
SCALE_IMAGES = 512  # training images that set each level's root-mean-square


def pyramid_network(
    train_set: data.ImageDataset,
    test_set: data.ImageDataset,
    key: Array,
    steps: int,
    progress: bool = True,
) -> tuple[Any, Any, dict]:
    """The frozen feature network, ``(model, params, meta)`` as
    :func:`gan_jax.models.feature_classifier.load_classifier` restores them (``meta`` has
    its test accuracy)."""
    model, params, _ = train_classifier(
        train_set, key, steps, progress=progress, model=PyramidClassifier(train_set.num_classes)
    )
    meta = {
        "architecture": "pyramid",
        "num_classes": train_set.num_classes,
        "image_shape": list(train_set.image_shape),
        "test_accuracy": accuracy(model, params, test_set),
    }
    return model, params, meta


@dataclasses.dataclass(frozen=True)
class PyramidConditions:
    """``normalized(images)``: the levels at unit scale; ``conditions(real, key)``: a
    batch's masked conditions; ``reconstruction(fake, batch)``: G's feature loss."""

    normalized: Callable[[Array], list[Array]]
    conditions: Callable[[Array, Array], dict]
    reconstruction: Callable[[Array, dict], Array]


def pyramid_conditions(pyramid: Any, params: Any, images: Array) -> PyramidConditions:
    """The conditions of the frozen ``pyramid`` (variables ``params``), each level scaled by
    its root-mean-square over the first ``SCALE_IMAGES`` of ``images``."""

    def levels(x: Array) -> list[Array]:
        return pyramid.apply(params, x, method=pyramid.levels)

    scales = jax.jit(lambda x: sp.level_scales(levels(x)))(images[:SCALE_IMAGES])

    def normalized(x: Array) -> list[Array]:
        return sp.normalize_levels(levels(x), scales)

    def conditions(real: Array, key: Array) -> dict:
        targets = normalized(real)
        mask = sp.level_mask(jax.random.randint(key, (real.shape[0],), 0, sp.NUM_LEVELS))
        condition, maps = sp.masked_inputs(targets, mask)
        return {
            "condition": condition,
            "maps": maps,
            "d_condition": unit_norm(targets[sp.FC_LEVEL]),
            "targets": tuple(targets),
            "mask": mask,
        }

    def reconstruction(fake: Array, batch: dict) -> Array:
        return sp.level_reconstruction_loss(normalized(fake), batch["targets"], batch["mask"])

    return PyramidConditions(normalized, conditions, reconstruction)


@dataclasses.dataclass(frozen=True)
class LevelEvaluation:
    """``per_level``: each level's numbers; ``sources`` the held-out sources and
    ``samples[level]`` their generations ``(samples, sources, H, W, C)``."""

    per_level: dict[str, dict[str, float]]
    sources: Array
    samples: list[np.ndarray]


def per_level_evaluation(
    model: FeatureGAN,
    g: Any,
    normalized: Callable[[Array], list[Array]],
    evaluator: Any,
    evaluator_params: Any,
    test_set: data.ImageDataset,
    sources: int,
    samples: int,
    seed: int,
    keep: int = 4,
    measure: ClassifierMetrics | None = None,
) -> LevelEvaluation:
    """Generation from every level of ``sources`` random test images with ``samples``
    latent codes each (module doc); keeps the first ``keep`` sources' samples.  With
    ``measure`` (a :class:`~gan_jax.models.feature_classifier.ClassifierMetrics` of the
    evaluator) each level's row also holds the sample-quality numbers of its ``sources ×
    samples`` generations against the real images (FCD, KID, precision/recall,
    density/coverage), and the class comes from the same pass of the classifier."""
    count = min(sources, len(test_set))
    pick = np.random.default_rng(seed).choice(len(test_set), count, replace=False)
    images, labels = test_set.images[pick], np.asarray(test_set.labels)[pick]
    source_levels = jax.jit(normalized)(images)
    z = jax.random.normal(jax.random.key(seed + 5), (samples, count, model.config.latent_dim))

    @jax.jit
    def generate_at(level: int) -> Array:
        mask = sp.level_mask(jnp.full((count,), level))
        condition, maps = sp.masked_inputs(source_levels, mask)
        return jax.vmap(lambda zs: model.generate(g, zs, condition, maps))(z)

    classify = jax.jit(evaluator.apply)
    per_level, kept = {}, []
    for level, name in enumerate(PYRAMID_LEVELS):
        generated = generate_at(level)  # (samples, count, H, W, C)
        flat = generated.reshape((-1,) + generated.shape[2:])
        if measure is None:
            logits, quality = classify(evaluator_params, flat), {}
        else:  # one pass of the classifier gives the class and the quality numbers
            features, logits = measure.features_and_logits(flat)
            quality = measure.from_features(features, logits)
        predicted = np.argmax(np.asarray(logits), axis=-1)
        per_level[name] = {
            "psnr_to_source": float(
                np.mean(np.asarray(psnr(flat, jnp.tile(images, (samples, 1, 1, 1)))))
            ),
            "class_agreement": float(np.mean(predicted == np.tile(labels, samples))),
            "diversity": float(np.mean(np.asarray(per_pixel_std(generated)))),
            **quality,
        }
        kept.append(np.asarray(generated[:, :keep]))
    return LevelEvaluation(per_level, images, kept)


TREND_LEVEL = 0.05  # one-sided significance of a trend over the levels


def spearman(values: Sequence[float]) -> float:
    """Spearman's rank correlation of ``values`` with their index (the level)."""
    ranks = np.argsort(np.argsort(np.asarray(values)))
    return float(np.corrcoef(ranks, np.arange(len(values)))[0, 1])


def spearman_p_value(values: Sequence[float], increasing: bool = True) -> float:
    """Exact one-sided permutation p-value of Spearman's ρ with the level: the share of the
    ``n!`` orderings of ``values`` whose ρ is at least the observed one (at most, for
    ``increasing=False``).  ``1/n!`` for a strictly monotone sequence; ``n ≤ 8``."""
    n = len(values)
    if n > 8:
        raise ValueError(f"{n} values: the exact enumeration is meant for at most 8 levels")
    sign = 1.0 if increasing else -1.0
    observed = sign * spearman(values)
    level = np.arange(n) - (n - 1) / 2
    orderings = np.array(list(itertools.permutations(range(n))), np.float64)
    rhos = sign * (orderings - (n - 1) / 2) @ level / (level @ level)
    return float(np.mean(rhos >= observed - 1e-12))


def trends(per_level: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The rank correlations of pixel similarity and diversity with the level and their
    exact one-sided p-values (:func:`spearman_p_value`); "falls" and "rises" only where
    the trend is significant at ``TREND_LEVEL`` (0.05) (a last-above-first comparison would
    call ρ = 0.29 a rise); the lowest class agreement."""
    trend = {k: [row[k] for row in per_level.values()] for k in next(iter(per_level.values()))}
    psnr_p = spearman_p_value(trend["psnr_to_source"], increasing=False)
    diversity_p = spearman_p_value(trend["diversity"], increasing=True)
    return {
        "psnr_falls": psnr_p < TREND_LEVEL,
        "class_agreement_min": min(trend["class_agreement"]),
        "diversity_rises": diversity_p < TREND_LEVEL,
        "spearman_psnr_vs_level": spearman(trend["psnr_to_source"]),
        "spearman_psnr_p_value": psnr_p,
        "spearman_diversity_vs_level": spearman(trend["diversity"]),
        "spearman_diversity_p_value": diversity_p,
    }


MIN_CLASS_AGREEMENT = 0.9  # every level must keep the source's class this often


def selection_score(
    per_level: dict[str, dict[str, float]], min_agreement: float = MIN_CLASS_AGREEMENT
) -> float | None:
    """The criterion that chooses the mode-seeking weight, declared before the sweep: the
    mean diversity over the levels, provided every level keeps the source's class at
    least ``min_agreement`` of the time (else ``None``: the weight is out).  More
    diversity without losing the condition is what the term is for (arXiv:1903.05628);
    the weight with the highest score on the *validation* split is the one reported.
    Where no weight of the sweep qualifies, the one whose worst level keeps the class most
    often is reported (the condition comes first); :func:`choose_weight` applies both."""
    rows = per_level.values()
    if min(row["class_agreement"] for row in rows) < min_agreement:
        return None
    return float(np.mean([row["diversity"] for row in rows]))


def choose_weight(validation: dict[float, dict[str, dict[str, float]]]) -> float:
    """The mode-seeking weight of a sweep, from each weight's *validation* ``per_level``
    (:func:`selection_score`; without a qualifying weight, the highest minimum class
    agreement)."""
    scores = {w: selection_score(rows) for w, rows in validation.items()}
    qualified = {w: v for w, v in scores.items() if v is not None}
    if qualified:
        return max(qualified, key=qualified.get)
    return max(validation, key=lambda w: min(r["class_agreement"] for r in validation[w].values()))
