"""Train GANs on 2-D Gaussian mixtures, many seeds at once, and measure their mode coverage.

The whole run is one pure function of a PRNG key: real data are sampled on device from
the mixture inside the ``lax.scan`` of :func:`gan_jax.dynamics.rollout`, so
``jax.vmap(train_on_mixture)`` over keys trains every seed in one XLA program.  The
generator's parameters are kept every ``every`` steps, and :func:`coverage_over_training`
scores each kept generator with :func:`gan_jax.metrics.mode_coverage` on a fixed set of
latent codes (the same ``z`` for every snapshot, so snapshots are comparable).

A few lines train and score a vanilla GAN on the ring::

    mixture = data.mixture_of_gaussians("ring")
    G, D = MLPGenerator(2), MLPDiscriminator()
    game = gan.gan_game(G, D, latent_dim=2)
    scheme = dynamics.alternating(optax.adam(1e-3, b1=0.5))
    run = train_on_mixture(game, scheme, G, D, mixture, jax.random.key(0),
                           num_steps=5000, batch_size=256, latent_dim=2, every=500)
    coverage = coverage_over_training(G, run.g, mixture, jax.random.key(1), latent_dim=2)
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

from gan_jax import metrics
from gan_jax.data import GaussianMixture
from gan_jax.dynamics.game import Game
from gan_jax.dynamics.rollout import Trajectory, rollout
from gan_jax.gan import generate, init_players

Array = jax.Array


def train_on_mixture(
    game: Game,
    scheme: Any,
    generator: nn.Module,
    discriminator: nn.Module,
    mixture: GaussianMixture,
    key: Array,
    *,
    num_steps: int,
    batch_size: int,
    latent_dim: int,
    every: int,
    pack: int = 1,
) -> Trajectory:
    """Initialise G and D from ``key`` and run ``num_steps`` steps of ``scheme``.

    Step ``t`` sees ``{"real": batch_size fresh samples, "key": fold_in(key_z, t)}``.
    ``pack`` is the discriminator's PacGAN pack size (its input width at initialisation).
    Returns the trajectory with G and D every ``every`` steps and the per-step losses.
    """
    key_init, key_data, key_z = jax.random.split(key, 3)
    real_example = mixture.sample(key_data, batch_size)
    g0, d0 = init_players(generator, discriminator, key_init, real_example, latent_dim, pack)

    def batch_at(t: Array) -> dict[str, Array]:
        real = mixture.sample(jax.random.fold_in(key_data, t), batch_size)
        return {"real": real, "key": jax.random.fold_in(key_z, t)}

    return rollout(game, scheme, g0, d0, num_steps, batch_at, every=every)


def coverage_over_training(
    generator: nn.Module,
    generators: Any,
    mixture: GaussianMixture,
    key: Array,
    *,
    latent_dim: int,
    num_samples: int = metrics.DEFAULT_NUM_SAMPLES,
) -> dict[str, Array]:
    """:func:`~gan_jax.metrics.mode_coverage` of each generator in ``generators`` (variables
    stacked on a leading snapshot axis), on the same ``num_samples`` latent codes.

    Returns the metric dict with a leading snapshot axis, plus the ``samples`` themselves.
    """
    z = jax.random.normal(key, (num_samples, latent_dim))

    def score(g: Any) -> dict[str, Array]:
        samples = generate(generator, g, z)
        return {**metrics.mode_coverage(samples, mixture.centers, mixture.std), "samples": samples}

    return jax.lax.map(score, generators)
