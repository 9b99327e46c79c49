"""StyleGAN trained on the library's own game, schemes and fit loop, and the measurements of
its claims (Karras et al. 2019, arXiv:1812.04948; StyleGAN2, arXiv:1912.04958).

**Training** (:func:`build_stylegan`): the networks of :mod:`gan_jax.nets.stylegan` in a
:func:`gan_jax.gan.gan_game` with the non-saturating loss (``loss=``: any of
:data:`gan_jax.models.image_gan.LOSSES`) and ``(γ/2)·R1`` on the reals made lazy
(:func:`gan_jax.gan.lazy`: every 16 steps, ×16), under any scheme with Adam(2e-3, β₁ = 0,
β₂ = 0.99) for both players (StyleGAN2's values), assembled by
:func:`gan_jax.models.image_gan.assemble_image_gan` like the DCGAN.  The generator mixes styles
with probability 0.9 and keeps ``w_avg`` in its variables; the state's ``extra["g_ema"]``
holds the moving average of G (:class:`gan_jax.averaging.GeneratorEMA`, β = 0.999 per
step, with StyleGAN2-ADA's ramp-up: the half-life is at most 10 % of the images seen, so
the random initial weights are forgotten early).  Evaluation uses the average.

**Two defaults depart from the papers, for MNIST at 160,000 images** (the sweep that chose
them: docs/results/train_stylegan.md): R1's γ is 50, not StyleGAN2's 10 for FFHQ (weaker
penalties left G further behind DCGAN), and the noise inputs start at 16×16
(``noise_min_resolution``), not 4×4: with noise at 4×4 and 8×8 G drew the digit from the
noise and ignored ``w``.  ``StyleGANConfig(r1_gamma=10.0, noise_min_resolution=4)`` is the papers'
setting; the 8×8 digits' earlier run used ``r1_gamma=1.0`` with noise everywhere.
Path-length regularisation (StyleGAN2 §3.2) is not implemented: at 32×32 its extra generator back-propagation would cost more than the
default run's time allows.

**Measurements** (on a trained generator's variables ``g``):

* :func:`path_lengths`: PPL in Z and in W (:func:`gan_jax.metrics.perceptual_path_length`);
* :func:`mixing_locality`: how often the classifier's predicted class changes, and the mean
  absolute pixel change, when source B's coarse, middle or fine styles replace source A's;
* :func:`truncation_tradeoff`: FCD, classes covered and feature diversity against ψ.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from gan_jax import cli, gan
from gan_jax.averaging import GeneratorEMA
from gan_jax.configs import option
from gan_jax.data import map_in_batches
from gan_jax.dynamics.game import PyTree
from gan_jax.errors import UserError
from gan_jax.metrics import feature_diversity, perceptual_path_length
from gan_jax.models.assembly import (
    LOSSES,
    SCHEMES,
    adam_beta_option,
    adam_rate_option,
    batch_size_option,
    ema_beta_option,
    ema_rampup_option,
    loss_option,
    progressive_resolution_flag,
    require_choice,
    scheme_option,
)
from gan_jax.models.image_gan import ImageGAN, assemble_image_gan
from gan_jax.nets.progressive import stage_resolutions
from gan_jax.nets.stylegan import (
    STYLES,
    ResidualDiscriminator,
    StyleGenerator,
    broadcast_ws,
    layer_range,
    truncate,
)

Array = jax.Array
TRUNCATION_PSIS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)


@dataclasses.dataclass(frozen=True)
class StyleGANConfig:
    """Networks, loss, optimiser and averaging (defaults: StyleGAN2's loss and optimiser,
    R1's γ and the noise inputs set for MNIST (module doc); widths ``min(64, 256/r)``)."""

    resolution: int = option(32, "4·2^k", type=progressive_resolution_flag)
    channels: int = option(1, derived=True)  # the data's
    latent_dim: int = option(128, "z's size", type=cli.positive_int)
    w_dim: int = option(128, "w's size", type=cli.positive_int)
    mapping_layers: int = option(8, "layers of the mapping network", type=cli.positive_int)
    mapping_lr_multiplier: float = option(
        0.01,
        "the mapping network's learning-rate multiplier",
        type=cli.positive_float,
        flag="mapping-lr",
    )
    fmap_base: int = option(
        256, "width at resolution r: min(fmap_max, fmap_base/r)", type=cli.positive_int
    )
    fmap_max: int = option(64, "the widest layer", type=cli.positive_int)
    style: str = option(
        "modulated", f"one of {', '.join(STYLES)}", type=cli.choice("style", STYLES)
    )
    mixing_prob: float = option(0.9, "style-mixing rate", type=cli.probability)
    loss: str = loss_option("ns", LOSSES)
    r1_gamma: float = option(50.0, "γ of (γ/2)·R1", type=cli.non_negative_float)
    r1_every: int = option(16, "lazy R1: every N steps, scaled by N", type=cli.positive_int)
    scheme: str = scheme_option()
    lr_g: float = adam_rate_option(2e-3, "G's")
    lr_d: float = adam_rate_option(2e-3, "D's")
    beta1: float = adam_beta_option(0.0, 1)
    beta2: float = adam_beta_option(0.99, 2)
    batch_size: int = batch_size_option(64)
    ema_beta: float = ema_beta_option()
    ema_rampup: float = ema_rampup_option()
    w_avg_beta: float = option(
        0.995, "β of w's running average (truncation's centre)", type=cli.decay_rate
    )
    noise_min_resolution: int = option(
        16,
        "noise inputs at this resolution and above (4: every layer, as the papers)",
        type=cli.positive_int,
    )
    noise_lr_multiplier: float = option(
        1.0,
        "the noise strengths' learning-rate multiplier",
        type=cli.positive_float,
        flag="noise-lr",
    )

    def __post_init__(self) -> None:
        require_choice("loss", self.loss, LOSSES)
        require_choice("scheme", self.scheme, SCHEMES)
        require_choice("style", self.style, STYLES)
        stage_resolutions(self.resolution)
        if self.resolution < 8:
            raise UserError(f"StyleGAN needs --resolution 8 or more, got {self.resolution}")


def networks(config: StyleGANConfig) -> tuple[StyleGenerator, ResidualDiscriminator]:
    """StyleGAN's generator and residual discriminator at ``config``'s sizes."""
    c = config
    generator = StyleGenerator(
        resolution=c.resolution,
        channels=c.channels,
        w_dim=c.w_dim,
        mapping_layers=c.mapping_layers,
        mapping_lr_multiplier=c.mapping_lr_multiplier,
        fmap_base=c.fmap_base,
        fmap_max=c.fmap_max,
        style=c.style,
        mixing_prob=c.mixing_prob,
        w_avg_beta=c.w_avg_beta,
        noise_min_resolution=c.noise_min_resolution,
        noise_lr_multiplier=c.noise_lr_multiplier,
    )
    return generator, ResidualDiscriminator(c.resolution, c.fmap_base, c.fmap_max)


def build_stylegan(
    config: StyleGANConfig, images: Array, key: Array, mesh: Mesh | None = None
) -> ImageGAN:
    """The StyleGAN of ``config`` (module doc) as an :class:`~gan_jax.models.image_gan.ImageGAN`
    with G's moving average."""
    generator, discriminator = networks(config)
    g_loss, d_loss = LOSSES[config.loss]
    penalties = [gan.lazy(gan.r1(config.r1_gamma), config.r1_every)] if config.r1_gamma else []
    game = gan.gan_game(
        generator, discriminator, g_loss, d_loss, penalties, latent_dim=config.latent_dim
    )
    adam = functools.partial(optax.adam, b1=config.beta1, b2=config.beta2)
    scheme = SCHEMES[config.scheme](adam(config.lr_g), adam(config.lr_d))
    ema = GeneratorEMA.from_beta(config.ema_beta, config.batch_size, config.ema_rampup)
    every = config.r1_every if config.r1_gamma else 1  # no penalty: one kind of step
    return assemble_image_gan(
        config, generator, discriminator, game, scheme, images, key, mesh, ema, every
    )


# --------------------------------------------------------------------------- sampling


@dataclasses.dataclass(frozen=True)
class StyleSampler:
    """A trained generator's pieces, jitted: :meth:`map` (``z -> ws``), :meth:`synthesize`
    (``ws, noise_key -> images``; ``noise_key=None``: no noise) and :attr:`w_avg`."""

    generator: StyleGenerator
    variables: PyTree

    @property
    def w_avg(self) -> Array:
        return self.variables["w_avg"]["w_avg"]

    @property
    def num_ws(self) -> int:
        return self.generator.num_ws

    def map(self, z: Array) -> Array:
        return _map_fn(self.generator)(self.variables, z)

    def synthesize(self, ws: Array, noise_key: Array | None = None) -> Array:
        if noise_key is None:
            return _synthesize_quiet_fn(self.generator)(self.variables, ws)
        return _synthesize_fn(self.generator)(self.variables, ws, noise_key)

    def truncated(self, z: Array, psi: float, noise_key: Array | None, cutoff=None) -> Array:
        """``G(z)`` with the styles truncated to ψ."""
        return self.synthesize(truncate(self.map(z), self.w_avg, psi, cutoff), noise_key)


@functools.cache
def _map_fn(generator: StyleGenerator) -> Callable:
    return jax.jit(lambda v, z: generator.apply(v, z, method="map"))


@functools.cache
def _synthesize_fn(generator: StyleGenerator) -> Callable:
    return jax.jit(lambda v, ws, key: generator.apply(v, ws, key, method="synthesize"))


@functools.cache
def _synthesize_quiet_fn(generator: StyleGenerator) -> Callable:
    return jax.jit(lambda v, ws: generator.apply(v, ws, None, method="synthesize"))


# --------------------------------------------------------------------------- measurements


def style_groups(resolution: int) -> dict[str, tuple[int, int]]:
    """The style inputs StyleGAN's Fig. 3 swaps, scaled to ``resolution`` (≥ 8): coarse
    (4–8, or 4 alone at 8×8), middle (16 … R/2, from 32×32 up) and fine (R alone)."""
    if resolution < 8:
        raise ValueError(f"style groups need a resolution of at least 8, got {resolution}")
    groups = {"coarse": layer_range(resolution, 4, min(8, resolution // 2))}
    if resolution >= 32:
        groups["middle"] = layer_range(resolution, 16, resolution // 2)
    groups["fine"] = layer_range(resolution, resolution, resolution)
    return groups


def swap_styles(ws_a: Array, ws_b: Array, layers: tuple[int, int]) -> Array:
    """``ws_a`` with the style inputs ``[start, stop)`` taken from ``ws_b``."""
    index = jnp.arange(ws_a.shape[1])[None, :, None]
    return jnp.where((index >= layers[0]) & (index < layers[1]), ws_b, ws_a)


def path_lengths(
    sampler: StyleSampler,
    embed: Callable[[Array], np.ndarray],
    key: Array,
    latent_dim: int,
    num_samples: int = 1000,
) -> dict[str, dict]:
    """PPL in Z (slerp of z, then map and synthesise) and in W (lerp of w), with the same
    pair keys in both spaces (module doc)."""
    num_ws = sampler.num_ws

    def from_z(z: Array, noise_key: Array) -> Array:
        return sampler.synthesize(sampler.map(z), noise_key)

    def from_w(w: Array, noise_key: Array) -> Array:
        return sampler.synthesize(broadcast_ws(w, num_ws), noise_key)

    def to_w(z: Array) -> Array:
        return sampler.map(z)[:, 0]

    return {
        "z": perceptual_path_length(key, lambda z: z, from_z, embed, latent_dim, "z", num_samples),
        "w": perceptual_path_length(key, to_w, from_w, embed, latent_dim, "w", num_samples),
    }


def mixing_locality(
    sampler: StyleSampler,
    predict: Callable[[Array], np.ndarray],
    key: Array,
    latent_dim: int,
    resolution: int,
    num_pairs: int = 1000,
) -> dict[str, dict[str, float]]:
    """For each style group (:func:`style_groups`): the fraction of pairs (A, B) whose
    predicted class changes when B's styles of that group replace A's, and the mean
    absolute pixel change, with the same noise for the mixed image and A."""
    key_a, key_b, key_noise = jax.random.split(key, 3)
    ws_a = sampler.map(jax.random.normal(key_a, (num_pairs, latent_dim)))
    ws_b = sampler.map(jax.random.normal(key_b, (num_pairs, latent_dim)))

    def synth(ws: Array) -> Array:
        return map_in_batches(lambda w: sampler.synthesize(w, key_noise), ws, size=250)

    base = synth(ws_a)
    base_class = predict(base)
    result = {}
    for name, layers in style_groups(resolution).items():
        mixed = synth(swap_styles(ws_a, ws_b, layers))
        result[name] = {
            "layers": list(layers),
            "class_change": float(np.mean(predict(mixed) != base_class)),
            "pixel_change": float(jnp.mean(jnp.abs(mixed - base))),
        }
    return result


def truncation_tradeoff(
    sampler: StyleSampler,
    measure: Callable[[Array], dict],
    embed: Callable[[Array], np.ndarray],
    z: Array,
    noise_key: Array,
    psis: Sequence[float] = TRUNCATION_PSIS,
) -> list[dict[str, float]]:
    """FCD, classes, class KL (``measure``) and :func:`gan_jax.metrics.feature_diversity`
    of ``G(z)`` truncated to each ψ (all layers), with the same noise."""
    rows = []
    for psi in psis:
        truncated = functools.partial(sampler.truncated, psi=psi, noise_key=noise_key)
        images = map_in_batches(truncated, z, size=250)
        numbers = measure(images)
        rows.append({"psi": psi, **numbers, "diversity": feature_diversity(embed(images))})
    return rows
