"""The optimal discriminator and the value of the GAN game (Goodfellow et al. 2014).

Proposition 1 of arXiv:1406.2661: for a fixed generator with density ``p_g`` the
discriminator maximising

``V(D, G) = E_{x~p_data}[log D(x)] + E_{x~p_g}[log(1 - D(x))]``

is ``D*(x) = p_data(x) / (p_data(x) + p_g(x))``, i.e. the logit of ``D*`` is the log density
ratio ``log p_data(x) - log p_g(x)``.  Theorem 1: at that discriminator

``V(D*, G) = -log 4 + 2·JSD(p_data ‖ p_g)``,

which is ``-log 4`` exactly when ``p_g = p_data`` (and then ``D* ≡ 1/2``).

This module holds the closed forms (each jitted: one program per shape when called
eagerly), a quadrature of the Jensen-Shannon divergence, the
Monte-Carlo value of a learned discriminator, and :func:`fit_discriminator`, which trains a
discriminator against a *frozen* generator (the inner maximisation of the minimax game)
with ``lax.scan``.  Everything is a pure function, so a whole family of generators is fit
at once under ``jax.vmap``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from gan_jax.losses import minimax_discriminator_loss

Array = jax.Array
# sample(generator, key, n) -> samples; ``generator`` is any pytree (here: a frozen G).
Sampler = Callable[[Any, Array, int], Array]

LOG_4 = math.log(4.0)


@jax.jit
def gaussian_log_density(x: Array, mean: Array | float = 0.0, std: Array | float = 1.0) -> Array:
    """``log N(x; mean, std²)`` element-wise."""
    z = (x - mean) / std
    return -0.5 * z * z - jnp.log(std) - 0.5 * math.log(2.0 * math.pi)


@jax.jit
def optimal_discriminator(log_p_data: Array, log_p_g: Array) -> Array:
    """``D*(x) = p_data/(p_data + p_g) = σ(log p_data - log p_g)`` (arXiv:1406.2661, Prop. 1).

    Takes log densities, so it is exact where both densities underflow.
    """
    return jax.nn.sigmoid(log_p_data - log_p_g)


@jax.jit
def gaussian_shift_optimal_discriminator(x: Array, mu: Array | float) -> Array:
    """``D*`` for ``p_data = N(0, 1)`` against ``p_g = N(μ, 1)``: ``σ(μ²/2 - μx)``.

    The log density ratio ``-x²/2 + (x - μ)²/2 = μ²/2 - μx`` is linear in ``x``; at
    ``μ = 0`` it vanishes and ``D* ≡ 1/2``.
    """
    return jax.nn.sigmoid(0.5 * mu * mu - mu * x)


@jax.jit
def jensen_shannon_divergence(log_p: Array, log_q: Array, grid: Array) -> Array:
    """``JSD(p‖q) = ½ KL(p‖m) + ½ KL(q‖m)``, ``m = (p+q)/2``, by the trapezoid rule.

    ``log_p`` and ``log_q`` are log densities evaluated on the 1-D ``grid``, which must
    cover the mass of both.  The integrand is formed in log space, so tails where the
    densities underflow contribute exactly zero instead of NaN.  In nats, in ``[0, log 2]``.
    """
    log_m = jnp.logaddexp(log_p, log_q) - math.log(2.0)
    integrand = 0.5 * (jnp.exp(log_p) * (log_p - log_m) + jnp.exp(log_q) * (log_q - log_m))
    return jnp.trapezoid(integrand, grid)


@jax.jit
def optimal_value(jsd: Array | float) -> Array:
    """``V(D*, G) = -log 4 + 2·JSD(p_data‖p_g)`` (arXiv:1406.2661, Theorem 1)."""
    return -LOG_4 + 2.0 * jnp.asarray(jsd)


@functools.partial(jax.jit, static_argnames="num_points")
def gaussian_shift_jsd(
    mu: Array | float, half_width: float = 12.0, num_points: int = 24001
) -> Array:
    """``JSD(N(0,1) ‖ N(μ,1))`` by quadrature on ``[min(0, μ) - w, max(0, μ) + w]``.

    There is no closed form; ``w = 12`` standard deviations leaves tails below 1e-30.
    """
    grid = jnp.linspace(
        jnp.minimum(0.0, mu) - half_width, jnp.maximum(0.0, mu) + half_width, num_points
    )
    return jensen_shannon_divergence(
        gaussian_log_density(grid), gaussian_log_density(grid, mu), grid
    )


@jax.jit
def gan_value(real_logits: Array, fake_logits: Array) -> Array:
    """Monte-Carlo ``V(D, G) = mean log D(x_real) + mean log(1 - D(x_fake))``.

    This is exactly ``-minimax_discriminator_loss`` (no label smoothing): the
    discriminator's loss is minus the value it maximises.
    """
    return -minimax_discriminator_loss(real_logits, fake_logits)


@flax.struct.dataclass
class DiscriminatorFit:
    """State of :func:`fit_discriminator`: parameters, optimizer state and RNG key."""

    params: Any
    opt_state: Any
    key: Array


def fit_discriminator(
    discriminator: nn.Module,
    optimizer: optax.GradientTransformation,
    sample_real: Sampler,
    sample_fake: Sampler,
    batch_size: int,
    loss_fn: Callable[[Array, Array], Array] = minimax_discriminator_loss,
) -> tuple[Callable[[Array, Any], DiscriminatorFit], Callable[..., tuple[DiscriminatorFit, Array]]]:
    """Best response of a discriminator to a frozen generator, as ``(init, run)``.

    * ``init(key, generator) -> DiscriminatorFit`` initialises the parameters.
    * ``run(fit, generator, num_steps) -> (fit, losses)`` takes ``num_steps`` optimizer
      steps with ``lax.scan``, each on fresh samples (``batch_size`` real, ``batch_size``
      fake: the infinite-data regime of Proposition 1), and returns the per-step losses.
      ``num_steps`` is static.

    Both are pure, so ``jax.vmap`` over ``generator`` fits a family of generators at once.
    """

    def init(key: Array, generator: Any) -> DiscriminatorFit:
        key_init, key_sample, key_next = jax.random.split(key, 3)
        params = discriminator.init(key_init, sample_real(generator, key_sample, batch_size))
        return DiscriminatorFit(params=params, opt_state=optimizer.init(params), key=key_next)

    def step(fit: DiscriminatorFit, generator: Any) -> tuple[DiscriminatorFit, Array]:
        key, key_real, key_fake = jax.random.split(fit.key, 3)
        real = sample_real(generator, key_real, batch_size)
        fake = sample_fake(generator, key_fake, batch_size)

        def loss(params: Any) -> Array:
            return loss_fn(discriminator.apply(params, real), discriminator.apply(params, fake))

        value, grads = jax.value_and_grad(loss)(fit.params)
        updates, opt_state = optimizer.update(grads, fit.opt_state, fit.params)
        params = optax.apply_updates(fit.params, updates)
        return DiscriminatorFit(params=params, opt_state=opt_state, key=key), value

    def run(
        fit: DiscriminatorFit, generator: Any, num_steps: int
    ) -> tuple[DiscriminatorFit, Array]:
        return jax.lax.scan(lambda f, _: step(f, generator), fit, None, length=num_steps)

    return init, run
