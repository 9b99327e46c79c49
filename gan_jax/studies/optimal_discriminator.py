"""Goodfellow et al. 2014 (arXiv:1406.2661) Proposition 1 and Theorem 1, measured: the
study of ``python -m experiments.optimal_discriminator``.

``p_data = N(0, 1)`` and the generator is frozen at ``p_g = N(μ, 1)`` for each μ.  An MLP
discriminator trains with the minimax discriminator loss on fresh samples (every μ at once
under ``vmap``, each chunk of steps one ``lax.scan``:
:func:`gan_jax.models.optimal_discriminator.fit_discriminator`) and is compared with the
closed form ``D*(x) = σ(μ²/2 − μx)`` on [−3, 3]; its Monte-Carlo value ``V̂(D, G)`` is
compared with ``V* = −log 4 + 2·JSD(p_data‖p_g)``, the JSD integrated numerically.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from gan_jax.models.optimal_discriminator import (
    fit_discriminator,
    gan_value,
    gaussian_log_density,
    gaussian_shift_jsd,
    gaussian_shift_optimal_discriminator,
    optimal_value,
)
from gan_jax.training.steps import chunk_lengths

__all__ = [
    "MAX_ABS_ERROR_TARGET",
    "VALUE_ERROR_TARGET",
    "OptimalDiscriminatorResults",
    "measure",
    "sample_fake",
    "sample_real",
]

Array = jax.Array
MAX_ABS_ERROR_TARGET = 0.05  # max over x ∈ [−3, 3] of |D − D*|
VALUE_ERROR_TARGET = 0.02  # |V̂ − V*|


def sample_real(mu: Array, key: Array, n: int) -> Array:
    """``n`` samples of ``p_data = N(0, 1)``, shape ``(n, 1)`` (``mu`` unused)."""
    del mu  # p_data does not depend on the generator
    return jax.random.normal(key, (n, 1))


def sample_fake(mu: Array, key: Array, n: int) -> Array:
    """``n`` samples of the frozen generator's ``p_g = N(μ, 1)``, shape ``(n, 1)``."""
    return mu + jax.random.normal(key, (n, 1))


@dataclasses.dataclass(frozen=True)
class OptimalDiscriminatorResults:
    """Per μ: the learned ``d_learned`` and optimal ``d_star`` discriminators on the grid
    ``x``, the per-step ``losses`` ``(num_mu, steps)`` and the numbers ``per_mu``."""

    mus: list[float]
    x: np.ndarray
    d_learned: np.ndarray
    d_star: np.ndarray
    losses: np.ndarray
    per_mu: dict[str, dict[str, float]]
    train_seconds: float

    def metrics(self) -> dict[str, Any]:
        worst_d = max(r["max_abs_error"] for r in self.per_mu.values())
        worst_v = max(r["value_abs_error"] for r in self.per_mu.values())
        return {
            "per_mu": self.per_mu,
            "max_abs_error_overall": worst_d,
            "max_value_abs_error_overall": worst_v,
            "targets": {
                "max_abs_error": MAX_ABS_ERROR_TARGET,
                "value_abs_error": VALUE_ERROR_TARGET,
            },
            "passes": bool(worst_d <= MAX_ABS_ERROR_TARGET and worst_v <= VALUE_ERROR_TARGET),
            "train_seconds": self.train_seconds,
        }

    def panels(self) -> list[dict[str, Any]]:
        """One panel per μ for :func:`gan_jax.viz.plotting.plot_optimal_discriminator`."""
        return [
            {
                "mu": mu,
                "p_data": np.exp(np.asarray(gaussian_log_density(self.x))),
                "p_g": np.exp(np.asarray(gaussian_log_density(self.x, mu))),
                "d_learned": self.d_learned[i],
                "d_star": self.d_star[i],
                **self.per_mu[f"{mu:g}"],
            }
            for i, mu in enumerate(self.mus)
        ]


def measure(
    discriminator: nn.Module,
    optimizer: Any,
    mus: Sequence[float],
    *,
    steps: int,
    batch_size: int,
    eval_samples: int,
    seed: int,
    log_every: int = 100,
    progress: bool = True,
) -> OptimalDiscriminatorResults:
    """Train ``discriminator`` with ``optimizer`` against every frozen ``N(μ, 1)`` for
    ``steps`` steps of ``batch_size`` real and fake samples (chunks of ``log_every``), then
    compare it with ``D*`` and its value with ``V*`` (``eval_samples`` per term)."""
    mu_array = jnp.asarray(mus, dtype=jnp.float32)
    init, run = fit_discriminator(discriminator, optimizer, sample_real, sample_fake, batch_size)
    key_init, key_eval = jax.random.split(jax.random.key(seed))
    fits = jax.vmap(init)(jax.random.split(key_init, len(mus)), mu_array)
    lengths = chunk_lengths(0, steps, log_every)  # the last one may be shorter
    run_chunk = {n: jax.jit(jax.vmap(lambda fit, mu, n=n: run(fit, mu, n))) for n in set(lengths)}
    start = time.perf_counter()
    losses = []
    for length in tqdm(lengths, desc="fitting D", unit="chunk", disable=not progress):
        fits, chunk_losses = run_chunk[length](fits, mu_array)
        losses.append(np.asarray(chunk_losses))
    losses = np.concatenate(losses, axis=1)  # (num_mu, steps)
    train_seconds = time.perf_counter() - start

    x = jnp.linspace(-3.0, 3.0, 601)
    apply = jax.vmap(discriminator.apply, in_axes=(0, None))
    d_learned = jax.nn.sigmoid(apply(fits.params, x[:, None]))  # (num_mu, 601)
    d_star = jax.vmap(gaussian_shift_optimal_discriminator, in_axes=(None, 0))(x, mu_array)
    max_abs_error = jnp.max(jnp.abs(d_learned - d_star), axis=1)

    def monte_carlo_value(params: dict, mu: Array, key: Array) -> Array:
        key_real, key_fake = jax.random.split(key)
        real = sample_real(mu, key_real, eval_samples)
        fake = sample_fake(mu, key_fake, eval_samples)
        return gan_value(discriminator.apply(params, real), discriminator.apply(params, fake))

    value_mc = jax.jit(jax.vmap(monte_carlo_value))(
        fits.params, mu_array, jax.random.split(key_eval, len(mus))
    )
    jsd = jax.vmap(gaussian_shift_jsd)(mu_array)
    value_theory = optimal_value(jsd)
    per_mu = {
        f"{mu:g}": {
            "max_abs_error": float(max_abs_error[i]),
            "value_mc": float(value_mc[i]),
            "value_theory": float(value_theory[i]),
            "value_abs_error": float(abs(value_mc[i] - value_theory[i])),
            "jsd": float(jsd[i]),
            "final_loss": float(losses[i, -1]),
        }
        for i, mu in enumerate(mus)
    }
    return OptimalDiscriminatorResults(
        list(mus),
        np.asarray(x),
        np.asarray(d_learned),
        np.asarray(d_star),
        losses,
        per_mu,
        train_seconds,
    )
