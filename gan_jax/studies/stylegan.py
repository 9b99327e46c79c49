"""What a trained StyleGAN does with its styles, noise and truncation (Karras et al. 2019,
arXiv:1812.04948): the analyses ``python -m experiments.train_stylegan`` adds to the
runner's outputs, on G's moving average.

* Fig. 3, style mixing (:func:`style_mixing_rows`): sources A with a source B's coarse,
  middle or fine styles;
* truncation in W (``w̄ + ψ·(w − w̄)``) at ``FIGURE_PSIS`` and its diversity/quality
  trade-off (:func:`gan_jax.models.stylegan.truncation_tradeoff`);
* Fig. 4, the noise inputs: 64 noise draws of the same ``w``, their per-pixel standard
  deviation, and the image without noise;
* the measurements: perceptual path length in Z and W
  (:func:`gan_jax.models.stylegan.path_lengths`, arXiv:1812.04948 §4.2) and how often
  swapping each style group changes the class (:func:`gan_jax.models.stylegan.mixing_locality`),
  and the paper's claims they test.

Figures are returned as data (:class:`~gan_jax.studies.figures.ImageRows`) for
:mod:`gan_jax.viz`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.gan import latents
from gan_jax.models.image_gan import EVAL_NOISE_SEED, ImageGAN
from gan_jax.models.stylegan import (
    StyleSampler,
    mixing_locality,
    path_lengths,
    style_groups,
    swap_styles,
    truncation_tradeoff,
)
from gan_jax.studies.figures import ImageRows

__all__ = ["FIGURE_PSIS", "StyleGANAnalysis", "analyse", "style_mixing_rows"]

FIGURE_PSIS = (1.0, 0.7, 0.5, 0.0)
NOISE_DRAWS = 64


def style_mixing_rows(
    sampler: StyleSampler, resolution: int, latent_dim: int, key: jax.Array, noise_key
) -> tuple[list[np.ndarray], list[str]]:
    """StyleGAN's Fig. 3 at ``resolution``: a top row of sources A, then for each style
    group two sources B and A with B's styles of that group."""
    key_a, key_b = jax.random.split(key)
    ws_a = sampler.map(latents(key_a, 6, latent_dim))
    groups = style_groups(resolution)
    ws_b = sampler.map(latents(key_b, 2 * len(groups), latent_dim))
    a_images = np.asarray(sampler.synthesize(ws_a, noise_key))
    b_images = np.asarray(sampler.synthesize(ws_b, noise_key))
    blank = np.ones_like(a_images[:1])
    rows, labels = [np.concatenate([blank, a_images])], ["sources A →"]
    for g, (name, layers) in enumerate(groups.items()):
        for i in (2 * g, 2 * g + 1):
            ws_bi = jnp.broadcast_to(ws_b[i : i + 1], ws_a.shape)
            mixed = np.asarray(sampler.synthesize(swap_styles(ws_a, ws_bi, layers), noise_key))
            rows.append(np.concatenate([b_images[i : i + 1], mixed]))
            low, high = layers
            labels.append(f"B: {name} styles\n(inputs {low}–{high - 1})")
    return rows, labels


@dataclasses.dataclass(frozen=True)
class StyleGANAnalysis:
    """``numbers`` for ``metrics.json`` (``ppl``, ``mixing_locality``, ``truncation``,
    ``noise_std_max``, ``claims``) and ``figures`` by file name."""

    numbers: dict[str, Any]
    figures: dict[str, ImageRows]


def analyse(model: ImageGAN, state: Any, measure: Any, samples: int = 1000) -> StyleGANAnalysis:
    """Every analysis of the module doc on G's average in ``state``; ``measure`` is the
    evaluation classifier (:class:`~gan_jax.models.feature_classifier.ClassifierMetrics`),
    ``samples`` the latents each measurement averages over."""
    config = model.config
    sampler = StyleSampler(model.generator, state.extra["g_ema"])
    noise_key = jax.random.key(EVAL_NOISE_SEED)

    def embed(images: jax.Array) -> np.ndarray:
        return measure.features_and_logits(images)[0]

    def predict(images: jax.Array) -> np.ndarray:
        return measure.features_and_logits(images)[1].argmax(-1)

    rows, labels = style_mixing_rows(
        sampler, config.resolution, config.latent_dim, jax.random.key(3), noise_key
    )
    figures = {
        "style_mixing.png": ImageRows(
            rows, labels, None,
            "Style mixing: sources A (top) with B's coarse, middle or fine styles (left)",
        )
    }  # fmt: skip
    z = latents(jax.random.key(4), 10, config.latent_dim)
    figures["truncation.png"] = ImageRows(
        [np.asarray(sampler.truncated(z, psi, noise_key)) for psi in FIGURE_PSIS],
        [f"ψ = {psi:g}" for psi in FIGURE_PSIS], None,
        "Truncation in W: w̄ + ψ·(w − w̄), the same z and noise in every column",
    )  # fmt: skip
    ws = sampler.map(latents(jax.random.key(5), 4, config.latent_dim))
    draws = np.stack(
        [np.asarray(sampler.synthesize(ws, jax.random.key(100 + i))) for i in range(NOISE_DRAWS)]
    )  # (draws, 4, H, W, C)
    quiet = np.asarray(sampler.synthesize(ws, None))
    std = draws.std(axis=0)
    top = max(float(std.max()), 1e-12)
    figures["noise.png"] = ImageRows(
        [
            np.concatenate([draws[:4, i], quiet[i : i + 1], 2.0 * std[i : i + 1] / top - 1.0])
            for i in range(ws.shape[0])
        ],
        [f"w{i + 1}" for i in range(ws.shape[0])],
        ["noise 1", "noise 2", "noise 3", "noise 4", "no noise", "std"],
        f"Noise inputs: one w per row; std over {NOISE_DRAWS} draws (white = {top:.3f})",
    )
    ppl = path_lengths(sampler, embed, jax.random.key(6), config.latent_dim, samples)
    locality = mixing_locality(
        sampler, predict, jax.random.key(7), config.latent_dim, config.resolution, samples
    )
    tradeoff = truncation_tradeoff(
        sampler, measure, embed, latents(jax.random.key(8), samples, config.latent_dim), noise_key
    )
    diversity = [row["diversity"] for row in tradeoff]  # ψ from 1 down to 0
    coarse = locality["coarse"]["class_change"]
    fine = locality["fine"]["class_change"]
    numbers = {
        "ppl": ppl,
        "mixing_locality": locality,
        "truncation": tradeoff,
        "noise_std_max": top,
        "claims": {
            "ppl_w_below_ppl_z": ppl["w"]["ppl"] < ppl["z"]["ppl"],
            "coarse_over_fine_class_change": coarse / fine if fine else float("inf"),
            "coarse_class_change_at_least_3x_fine": coarse >= 3 * fine,
            "diversity_falls_monotonically": bool(np.all(np.diff(diversity) < 0)),
        },
    }
    return StyleGANAnalysis(numbers, figures)
