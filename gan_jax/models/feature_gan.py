"""GANs that generate from the features of a recognition network, the machinery OpenGAN
(Ditria, Meyer and Drummond 2020, arXiv:2003.08074) and Semantic Pyramid (Shocher et al.
2020, arXiv:2003.06221) share: a GAN loss as the loss of a conditional image task.

A frozen feature network turns each real image ``x`` of a batch into its conditions,
on device, inside the training step (``conditions(x, key)``, supplied by the caller):

* ``"condition"`` ``c`` ``(N, d)``: the vector G's conditional BatchNorms see;
* ``"maps"``: feature maps injected into G at their resolution (may be empty);
* ``"d_condition"``: the vector the projection discriminator is conditioned on;
* anything else the feature loss needs (its targets, a level mask).

The game (:func:`feature_conditioned_game`), with ``G`` a
:class:`~gan_jax.nets.conditional.ConditionalGenerator` and ``D`` a
:class:`~gan_jax.nets.conditional.ProjectionDiscriminator`:

* ``loss_g = g_loss(D(G(z, c, maps), c_D)) + λ·feature_loss(G(z, c, maps), batch)``
* ``loss_d = d_loss(D(x, c_D), D(G(z, c, maps), c_D))``

``feature_loss`` ties the sample back to its condition through the frozen network
(OpenGAN: the sample's embedding near the exemplar's; Semantic Pyramid: the sample's
features at the chosen level near the source's).  It trains through the library's
schemes and :func:`gan_jax.training.fit` (checkpoints, ``--resume``, the NaN guard), with
G's moving average in ``state.extra["g_ema"]``, the generator evaluated.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax import cli, gan, losses, training
from gan_jax.averaging import GeneratorEMA
from gan_jax.configs import option
from gan_jax.data import random_batch
from gan_jax.dynamics.game import Game, GameState, PyTree
from gan_jax.models.assembly import (
    SCHEMES,
    adam_beta_option,
    adam_rate_option,
    assemble,
    batch_size_option,
    ema_beta_option,
    require_choice,
    scheme_option,
)
from gan_jax.nets.conditional import ConditionalGenerator, ProjectionDiscriminator
from gan_jax.nets.variables import init_variables

Array = jax.Array
Conditions = Callable[[Array, Array], dict]
FeatureLoss = Callable[[Array, dict], Array]


def feature_conditioned_game(
    generator: nn.Module,
    discriminator: nn.Module,
    latent_dim: int,
    feature_loss: FeatureLoss | None = None,
    feature_weight: float = 0.0,
    g_loss: Callable[[Array], Array] = losses.modified_generator_loss,
    d_loss: Callable[[Array, Array], Array] = losses.minimax_discriminator_loss,
    diversity_weight: float = 0.0,
) -> Game:
    """The game of the module doc on batches ``{"real", "key", "condition", "maps",
    "d_condition", …}``; players are flax variables (BatchNorm statistics through the
    ``has_aux`` protocol, as :func:`gan_jax.gan.gan_game`).  ``diversity_weight`` > 0 adds
    ``w·L_ms`` (:func:`gan_jax.losses.mode_seeking_loss`) to G's loss, from a second batch
    of samples with fresh latents and the same conditions: a generator conditioned on rich
    features and a reconstruction loss otherwise learns to ignore ``z``."""

    def latents(batch: dict, index: int) -> Array:
        key = jax.random.fold_in(batch["key"], index)
        return gan.latents(key, batch["real"].shape[0], latent_dim)

    def fake_samples(g: PyTree, batch: dict, index: int = 0) -> tuple[Array, dict]:
        z = latents(batch, index)
        return gan.apply_model(
            generator, g, z, condition=batch["condition"], maps=tuple(batch["maps"])
        )

    def score(d: PyTree, x: Array, batch: dict) -> tuple[Array, dict]:
        return gan.apply_model(discriminator, d, x, condition=batch["d_condition"])

    def loss_g(g: PyTree, d: PyTree, batch: dict) -> tuple[Array, dict]:
        fake, g_state = fake_samples(g, batch)
        total = g_loss(score(d, fake, batch)[0])
        if feature_loss is not None and feature_weight:
            total = total + feature_weight * feature_loss(fake, batch)
        if diversity_weight:
            other, _ = fake_samples(g, batch, index=3)
            spread = losses.mode_seeking_loss(fake, other, latents(batch, 0), latents(batch, 3))
            total = total + diversity_weight * spread
        return total, g_state

    def loss_d(g: PyTree, d: PyTree, batch: dict) -> tuple[Array, dict]:
        fake, _ = fake_samples(g, batch)
        real_logits, d_state = score(d, batch["real"], batch)
        fake_logits, d_state = score(Game.absorb(d, d_state), fake, batch)
        return d_loss(real_logits, fake_logits), d_state

    return Game(loss_g=loss_g, loss_d=loss_d, has_aux=True)


@dataclasses.dataclass(frozen=True)
class FeatureGANConfig:
    """Networks and optimisation (defaults: DCGAN's Adam(2e-4, 0.5) at width 32, batch 64,
    EMA β = 0.999, feature-loss weight λ = 1, no mode-seeking term)."""

    resolution: int = option(32, derived=True)  # the data's
    channels: int = option(1, derived=True)  # the data's
    latent_dim: int = option(32, "z's size", type=cli.positive_int)
    width: int = option(32, "G's and D's width", type=cli.positive_int)
    feature_weight: float = option(1.0, "λ of the feature loss", type=cli.non_negative_float)
    diversity_weight: float = option(
        0.0, "weight of the mode-seeking term (arXiv:1903.05628)", type=cli.non_negative_float
    )
    scheme: str = scheme_option()
    lr: float = adam_rate_option(2e-4, "both players'")
    beta1: float = adam_beta_option(0.5, 1)
    beta2: float = adam_beta_option(0.999, 2)
    batch_size: int = batch_size_option(64)
    ema_beta: float = ema_beta_option()

    def __post_init__(self) -> None:
        require_choice("scheme", self.scheme, SCHEMES)


@dataclasses.dataclass(frozen=True)
class FeatureGAN:
    """A feature-conditioned GAN assembled on the library's loop: ``step`` for
    :func:`gan_jax.training.fit` from ``state``."""

    config: FeatureGANConfig
    generator: ConditionalGenerator
    discriminator: ProjectionDiscriminator
    game: Game
    step: training.StepFn
    state: GameState

    def generate(self, g: PyTree, z: Array, condition: Array, maps: tuple = ()) -> Array:
        """``G(z, c, maps)`` in inference mode (BatchNorm running averages)."""
        return _generate_fn(self.generator)(g, z, condition, tuple(maps))


@functools.cache
def _generate_fn(generator: nn.Module):
    return jax.jit(lambda g, z, c, maps: gan.generate(generator, g, z, condition=c, maps=maps))


def build_feature_gan(
    config: FeatureGANConfig,
    images: Array,
    conditions: Conditions,
    key: Array,
    feature_loss: FeatureLoss | None = None,
) -> FeatureGAN:
    """The feature-conditioned GAN of ``config`` on ``images`` ``(N, R, R, C)`` in
    ``[−1, 1]``: real batches drawn uniformly with replacement on device, their conditions
    from ``conditions(real, key)`` (module doc), Adam for both players under
    ``config.scheme``, G's moving average in ``state.extra["g_ema"]``."""
    generator = ConditionalGenerator(config.resolution, config.channels, config.width)
    discriminator = ProjectionDiscriminator(config.width)
    game = feature_conditioned_game(
        generator,
        discriminator,
        config.latent_dim,
        feature_loss,
        config.feature_weight,
        diversity_weight=config.diversity_weight,
    )
    adam = optax.adam(config.lr, b1=config.beta1, b2=config.beta2)
    scheme = SCHEMES[config.scheme](adam, adam)
    init_key, train_key, example_key = jax.random.split(key, 3)
    real = images[: config.batch_size]
    example = conditions(real, example_key)
    key_g, key_d = jax.random.split(init_key)
    z = jnp.zeros((real.shape[0], config.latent_dim), real.dtype)
    g = init_variables(generator, key_g, z, example["condition"], tuple(example["maps"]))
    d = init_variables(discriminator, key_d, real, example["d_condition"])

    def draw_batch(key: Array, state: GameState, images: Array) -> dict:
        key_data, key_condition, key_noise = jax.random.split(key, 3)
        real = random_batch(key_data, images, config.batch_size)
        return {"real": real, "key": key_noise, **conditions(real, key_condition)}

    assembly = assemble(
        game,
        scheme,
        (g, d),
        train_key,
        images,
        draw_batch,
        batch_size=config.batch_size,
        ema=GeneratorEMA.from_beta(config.ema_beta, config.batch_size),
    )
    return FeatureGAN(config, generator, discriminator, game, assembly.step, assembly.state)
