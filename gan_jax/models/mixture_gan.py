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
import jax.numpy as jnp

from gan_jax import metrics
from gan_jax.averaging import GeneratorEMA
from gan_jax.data import GaussianMixture
from gan_jax.dynamics.game import Game, GameState
from gan_jax.dynamics.rollout import Trajectory, continue_rollout
from gan_jax.gan import generate, init_players
from gan_jax.models.assembly import extra_update, initial_state

Array = jax.Array


def init_on_mixture(
    game: Game,
    scheme: Any,
    generator: nn.Module,
    discriminator: nn.Module,
    mixture: GaussianMixture,
    key: Array,
    *,
    batch_size: int,
    latent_dim: int,
    pack: int = 1,
    ema: GeneratorEMA | None = None,
) -> GameState:
    """The state at step 0 of a run seeded by ``key``: G and D initialised, the scheme's
    optimizer states, ``key`` itself (every step's data derive from it), and G's average
    in ``extra["g_ema"]`` with an ``ema``.  ``pack`` is the discriminator's PacGAN pack size
    (its input width at initialisation)."""
    key_init, key_data, _ = jax.random.split(key, 3)
    real_example = mixture.sample(key_data, batch_size)
    g0, d0 = init_players(generator, discriminator, key_init, real_example, latent_dim, pack)
    return initial_state(scheme, game, g0, d0, key, ema=ema)


def train_chunk(
    game: Game,
    scheme: Any,
    mixture: GaussianMixture,
    state: GameState,
    start: int | Array,
    num_steps: int,
    *,
    batch_size: int,
    every: int,
    ema: GeneratorEMA | None = None,
    unroll: int = 1,
) -> tuple[GameState, tuple[tuple[Any, Any, Any], dict[str, Array]]]:
    """Steps ``start … start + num_steps − 1`` of a run (``start`` may be traced: one
    compiled chunk serves a whole run, so a long run reports progress and keeps its state
    on device between chunks).  Step ``t`` sees ``{"real": batch_size fresh samples drawn
    from fold_in(key_data, t), "key": fold_in(key_z, t)}``; with ``ema`` (Yazıcı et al.
    2019, arXiv:1806.04498) G's average follows ``θ̄ ← β·θ̄ + (1 − β)·θ`` after every step and
    never feeds back into training.  Returns
    :func:`~gan_jax.dynamics.rollout.continue_rollout`'s ``(state, ((g, d, extra) every
    ``every`` steps, per-step metrics))``.
    """
    _, key_data, key_z = jax.random.split(state.key, 3)

    def batch_at(t: Array) -> dict[str, Array]:
        real = mixture.sample(jax.random.fold_in(key_data, t), batch_size)
        return {"real": real, "key": jax.random.fold_in(key_z, t)}

    update_extra = extra_update(ema, batch_size)
    return continue_rollout(
        game, scheme, state, start, num_steps, batch_at, unroll, every, update_extra
    )


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
    ema: GeneratorEMA | None = None,
    unroll: int = 1,
) -> Trajectory:
    """A whole run in one program: :func:`init_on_mixture`, then :func:`train_chunk` for
    ``num_steps`` steps.  Returns the trajectory with G and D (and G's average,
    ``trajectory.extra["g_ema"]``) every ``every`` steps from step 0, and the per-step
    losses."""
    state = init_on_mixture(
        game, scheme, generator, discriminator, mixture, key,
        batch_size=batch_size, latent_dim=latent_dim, pack=pack, ema=ema,
    )  # fmt: skip
    first = (state.g, state.d, state.extra)
    _, (kept, metrics) = train_chunk(
        game, scheme, mixture, state, 0, num_steps,
        batch_size=batch_size, every=every, ema=ema, unroll=unroll,
    )  # fmt: skip
    gs, ds, extras = jax.tree.map(
        lambda a, b: jnp.concatenate([jnp.asarray(a, b.dtype)[None], b]), first, kept
    )
    return Trajectory(g=gs, d=ds, metrics=metrics, extra=extras)


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
