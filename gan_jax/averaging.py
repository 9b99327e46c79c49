"""Exponential moving average of a player's weights, the generator that PGGAN and StyleGAN
evaluate (Karras et al. 2018, arXiv:1710.10196 §A.1; Yazıcı et al. 2019,
arXiv:1806.04498, on why averaged generators score better):

    θ̄ ← β·θ̄ + (1 − β)·θ       after every step.

The decay is set by a half-life in real images, as StyleGAN's ``ema_kimg`` (10k images):
``β = 0.5^(batch / half_life)``, so the average spans the same amount of data whatever the
batch size, which is what a schedule with per-stage batch sizes needs.  With a ramp-up
``r`` (StyleGAN2-ADA's ``ema_rampup``, Karras et al. 2020, arXiv:2006.06676) the half-life
is ``min(half_life, r·images_seen)``: early weights, far from where training goes, are
forgotten quickly instead of being averaged into a network that is no network at all.  The
average lives in the training state (``GameState.extra``), never in a module.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax.dynamics.game import PyTree


def ema_decay(
    batch_size: int,
    half_life_images: float,
    images_seen: jax.Array | float | None = None,
    rampup: float = 0.0,
) -> jax.Array | float:
    """``0.5^(batch_size / h)``: a weight's influence halves every ``h`` images, with
    ``h = half_life_images``, or ``min(half_life_images, rampup·images_seen)`` with a
    ramp-up (``images_seen`` may be traced).  ``h = 0`` gives 0 (no averaging)."""
    if half_life_images <= 0:
        return 0.0
    if rampup <= 0 or images_seen is None:
        return 0.5 ** (batch_size / half_life_images)
    half_life = jnp.minimum(half_life_images, rampup * jnp.asarray(images_seen, jnp.float32))
    return jnp.where(half_life > 0, 0.5 ** (batch_size / jnp.maximum(half_life, 1e-8)), 0.0)


def update_ema(average: PyTree, current: PyTree, decay: float | jax.Array) -> PyTree:
    """``decay·average + (1 − decay)·current``, leaf by leaf (written as
    ``current + decay·(average − current)``, exact at ``decay = 0``)."""
    return jax.tree.map(lambda a, c: c + decay * (a - c), average, current)
