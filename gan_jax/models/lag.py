"""LAG, the latent adversarial generator (Berthelot, Milanfar and Goodfellow 2020,
arXiv:2003.02365), as a :class:`~gan_jax.dynamics.Game`: super-resolution that samples
the sharp high-resolution images consistent with a low-resolution seed.

With the seed ``y = down(x)`` (area down-sampling by ``scale``), noise ``ε ~ N(0, I)``
(``noise_dim`` channels at the seed's resolution), the critic ``C(x̂) = D(x̂, δ(x̂))`` whose
condition is ``δ(x̂) = round(|y − down(x̂)|)`` (rounded to steps of 4/127.5, with a
straight-through gradient, as the paper's code), and D's outputs latent maps:

* ``loss_d = −mean C(x) + mean C(G(y, ε)) + λ·GP`` (the GP lazily, every 4 steps ×4, in
  :class:`LAGConfig`: it is half of a step's cost), the WGAN critic loss on every element
  of the latent map with the gradient penalty on the channel-mean ``C`` at interpolates.
  The code's penalty, ``(rms(∇) − t)²/t²`` with the root-mean-square over the image's
  ``H·W·C`` entries, is exactly :func:`gan_jax.losses.wasserstein_gradient_penalty` with
  target ``t·√(H·W·C)``; λ = 10, t = 1.
* ``loss_g = −mean C(G(y, ε)) + μ·mean (C(x) − C(G(y, 0)))²``: the adversarial term on a
  random sample and the centre loss (:func:`gan_jax.losses.latent_center_loss`) for
  ``ε = 0``, μ = 10.

The paper's code also multiplies D's loss by 4 ("TTUR"); under Adam a constant factor on a
loss changes nothing but the weight of Adam's ε, so it is left out.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math

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
    ema_clock,
    ema_rampup_option,
    require_choice,
    scheme_option,
    uniform_real_batches,
)
from gan_jax.nets.progressive import area_downsample
from gan_jax.nets.superres import (  # noqa: F401  (bicubic_upsample: the baseline)
    ConditionalDiscriminator,
    SuperResGenerator,
    bicubic_upsample,
)
from gan_jax.nets.variables import init_variables

Array = jax.Array
DELTA_STEPS = 127.5 / 4  # the condition is rounded to multiples of 1/DELTA_STEPS


def centre_noise(low_res: Array, noise_dim: int) -> Array:
    """``ε = 0`` for the seeds ``low_res``: ``noise_dim`` zero channels at their resolution
    (the generator's centre output)."""
    return jnp.zeros(low_res.shape[:-1] + (noise_dim,), low_res.dtype)


def straight_through_round(x: Array, steps: float = DELTA_STEPS) -> Array:
    """``round(x·s)/s`` forward, the identity backward."""
    return x + jax.lax.stop_gradient(jnp.round(x * steps) / steps - x)


def lag_game(
    generator: nn.Module,
    discriminator: nn.Module,
    scale: int = 4,
    noise_dim: int = 16,
    center_weight: float = 10.0,
    gp_weight: float = 10.0,
    gp_target: float = 1.0,
    gp_every: int = 1,
) -> Game:
    """LAG's game (module doc) on batches ``{"real": x (N, H, W, C), "key": key}``; the
    players are the flax variables of ``generator(low_res, noise)`` and
    ``discriminator(high_res, delta)``.  ``gp_every = k > 1`` makes the gradient penalty
    lazy (:func:`gan_jax.gan.lazy`: ×k on steps ≡ 0 mod k, read from the batch's
    ``"regularize"`` or ``"step"``)."""

    def seed_and_noise(batch: dict) -> tuple[Array, Array]:
        low_res = area_downsample(batch["real"], scale)
        shape = low_res.shape[:-1] + (noise_dim,)
        return low_res, jax.random.normal(jax.random.fold_in(batch["key"], 0), shape)

    def critic(d: PyTree, x: Array, low_res: Array) -> Array:
        delta = straight_through_round(jnp.abs(low_res - area_downsample(x, scale)))
        return discriminator.apply(d, x, delta)

    def loss_g(g: PyTree, d: PyTree, batch: dict) -> Array:
        low_res, noise = seed_and_noise(batch)
        sample = generator.apply(g, low_res, noise)
        center = generator.apply(g, low_res, jnp.zeros_like(noise))
        latent_real = critic(d, batch["real"], low_res)
        return -jnp.mean(critic(d, sample, low_res)) + center_weight * losses.latent_center_loss(
            latent_real, critic(d, center, low_res)
        )

    def loss_d(g: PyTree, d: PyTree, batch: dict) -> Array:
        real = batch["real"]
        low_res, noise = seed_and_noise(batch)
        sample = generator.apply(g, low_res, noise)
        wasserstein = jnp.mean(critic(d, sample, low_res)) - jnp.mean(critic(d, real, low_res))

        def channel_mean(x: Array) -> Array:
            return jnp.mean(critic(d, x, low_res), axis=-1)

        target = gp_target * math.sqrt(math.prod(real.shape[1:]))

        def penalty(d_fn, real, fake, key):
            return gp_weight * losses.wasserstein_gradient_penalty(
                d_fn, real, fake, key, target=target
            )

        key = jax.random.fold_in(batch["key"], 1)
        weighted = gan.lazy(penalty, gp_every)
        if isinstance(weighted, gan.LazyPenalty):
            regularize = batch.get("regularize")
            if regularize is None:
                regularize = batch["step"] % gp_every == 0
            return wasserstein + weighted(channel_mean, real, sample, key, regularize)
        return wasserstein + weighted(channel_mean, real, sample, key)

    return Game(loss_g=loss_g, loss_d=loss_d)


# --------------------------------------------------------------------------- training


def scale_flag(text: str) -> int:
    """argparse type of ``--scale``: a power of 2 from 2 up."""
    value = cli.positive_int(text)
    if value < 2 or value & (value - 1):
        raise argparse.ArgumentTypeError(f"must be a power of 2 (2, 4, 8, …), got {text}")
    return value


@dataclasses.dataclass(frozen=True)
class LAGConfig:
    """Networks, losses and optimiser (defaults: the paper code's Adam(1e-3, 0, 0.99), μ = 10,
    λ = 10, EMA 0.999).  Widths are sized for 32×32 patches from 8×8 seeds on 2 CPU cores:
    32 filters at the seed's resolution, 16 at 16×16 and 32×32: in a fixed time these
    widths train three times the steps of 64/32, which is what met the study's checks
    (docs/results/super_resolution.md has the measurements)."""

    scale: int = option(4, "up-sampling factor, a power of 2", type=scale_flag)
    channels: int = option(3, derived=True)  # the data's
    noise_dim: int = option(16, "G's noise channels", type=cli.positive_int)
    filters: int = option(32, "width at the seed's resolution", type=cli.positive_int)
    filters_min: int = option(16, "the narrowest width", type=cli.positive_int)
    blocks: int = option(4, "residual blocks at the seed's resolution", type=cli.positive_int)
    center_weight: float = option(10.0, "μ of the centre loss", type=cli.non_negative_float)
    gp_weight: float = option(10.0, "λ of WGAN-GP", type=cli.non_negative_float)
    gp_every: int = option(4, "lazy gradient penalty: every N steps", type=cli.positive_int)
    scheme: str = scheme_option()
    lr: float = adam_rate_option(1e-3, "both players'")
    beta1: float = adam_beta_option(0.0, 1)
    beta2: float = adam_beta_option(0.99, 2)
    batch_size: int = batch_size_option(32, "patches")
    ema_beta: float = ema_beta_option()
    ema_rampup: float = ema_rampup_option()

    def __post_init__(self) -> None:
        require_choice("scheme", self.scheme, SCHEMES)

    @property
    def stages(self) -> int:
        stages = int(math.log2(self.scale))
        if 2**stages != self.scale:
            raise ValueError(f"scale {self.scale} is not a power of 2")
        return stages


def networks(config: LAGConfig) -> tuple[SuperResGenerator, ConditionalDiscriminator]:
    """LAG's generator and conditional discriminator at ``config``'s sizes."""
    sizes = {
        "stages": config.stages,
        "filters": config.filters,
        "filters_min": config.filters_min,
        "blocks": config.blocks,
    }
    return SuperResGenerator(**sizes), ConditionalDiscriminator(**sizes)


@dataclasses.dataclass(frozen=True)
class LAGModel:
    """LAG assembled on the library's loop: ``step`` for :func:`gan_jax.training.fit` from
    ``state`` (``extra["g_ema"]``: G's moving average, the generator evaluated)."""

    config: LAGConfig
    generator: SuperResGenerator
    discriminator: ConditionalDiscriminator
    game: Game
    step: training.StepFn
    state: GameState

    def super_resolve(self, g: PyTree, low_res: Array, noise: Array | None = None) -> Array:
        """``G(y, ε)``; ``noise=None`` is the centre output ``ε = 0``."""
        if noise is None:
            noise = centre_noise(low_res, self.config.noise_dim)
        return _apply_fn(self.generator)(g, low_res, noise)


@functools.cache
def _apply_fn(module: nn.Module):
    return jax.jit(module.apply)


def init_players(config: LAGConfig, key: Array, real: Array) -> tuple[PyTree, PyTree]:
    """G's and D's variables from ``key``, shaped by the high-resolution batch ``real``."""
    generator, discriminator = networks(config)
    low_res = area_downsample(real, config.scale)
    noise = centre_noise(low_res, config.noise_dim)
    key_g, key_d = jax.random.split(key)
    return (
        init_variables(generator, key_g, low_res, noise),
        init_variables(discriminator, key_d, real, low_res),
    )


def build_lag(config: LAGConfig, images: Array, key: Array) -> LAGModel:
    """LAG on high-resolution ``images`` ``(N, H, W, C)`` in ``[−1, 1]``: batches drawn
    uniformly with replacement on device, any scheme with Adam for both players, G's
    moving average in ``state.extra``."""
    generator, discriminator = networks(config)
    game = lag_game(
        generator,
        discriminator,
        config.scale,
        config.noise_dim,
        config.center_weight,
        config.gp_weight,
        gp_every=config.gp_every,
    )
    adam = optax.adam(config.lr, b1=config.beta1, b2=config.beta2)
    scheme = SCHEMES[config.scheme](adam, adam)
    init_key, train_key = jax.random.split(key)
    assembly = assemble(
        game,
        scheme,
        init_players(config, init_key, images[: config.batch_size]),
        train_key,
        images,
        uniform_real_batches(config.batch_size),
        batch_size=config.batch_size,
        ema=GeneratorEMA.from_beta(config.ema_beta, config.batch_size, config.ema_rampup),
        clock=ema_clock(config.batch_size),
        regularize_every=config.gp_every,
    )
    return LAGModel(config, generator, discriminator, game, assembly.step, assembly.state)


# The L2 baseline's optimiser: EDSR's for pixel-loss super-resolution (Lim et al. 2017,
# arXiv:1707.02921: Adam(1e-4, β₁ 0.9, β₂ 0.999)); LAG's Adam(1e-3, β₁ 0) is a GAN's
L2_BASELINE_ADAM = {"learning_rate": 1e-4, "b1": 0.9, "b2": 0.999}


def starting_at_bicubic(g: PyTree) -> PyTree:
    """``g`` with the residual generator's ``to_rgb`` layers zeroed: ``G(y, ε)`` is then
    exactly ``bicubic(y)`` (:class:`~gan_jax.nets.superres.SuperResGenerator` adds its
    image to the bicubic path), and training adds only the detail its loss asks for."""
    params = {
        name: jax.tree.map(jnp.zeros_like, layer) if name.startswith("to_rgb") else layer
        for name, layer in g["params"].items()
    }
    return {**g, "params": params}


def train_l2_baseline(
    config: LAGConfig, images: Array, key: Array, steps: int, progress: bool = True
) -> tuple[PyTree, list[float]]:
    """The blurry answer: the same generator trained on ``mean (G(y, 0) − x)²`` alone (ε = 0
    always), with the same batch size, starting from bicubic interpolation
    (:func:`starting_at_bicubic`) and with :data:`L2_BASELINE_ADAM`
    (:func:`gan_jax.training.minimize`): from LAG's random initial residual and with
    LAG's optimiser it stayed below bicubic interpolation, its own skip path (docs/results/super_resolution.md,
    LAG section)."""
    generator, _ = networks(config)
    g, _ = init_players(config, jax.random.fold_in(key, 1), images[: config.batch_size])
    g = starting_at_bicubic(g)

    def loss(params: PyTree, key: Array) -> Array:
        real = random_batch(key, images, config.batch_size)
        low_res = area_downsample(real, config.scale)
        noise = centre_noise(low_res, config.noise_dim)
        return jnp.mean(jnp.square(generator.apply(params, low_res, noise) - real))

    adam = optax.adam(**L2_BASELINE_ADAM)
    return training.minimize(loss, g, key, steps, adam, "L2 baseline", progress)
