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

:class:`GeneratorEMA` is the piece any GAN uses (PGGAN, StyleGAN, DCGAN with
``ImageGAN``'s ``ema=``): it averages a flax variables dict's ``params`` and *copies* its
other collections (StyleGAN's ``w_avg``, BatchNorm statistics), as StyleGAN2's code copies
buffers into ``G_ema``.  A fixed per-step β (StyleGAN's 0.999) is the half-life
``batch·ln ½ / ln β`` (:meth:`GeneratorEMA.from_beta`).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from gan_jax.dynamics.game import PyTree
from gan_jax.nets.variables import copy_tree

__all__ = [
    "GeneratorEMA",
    "average_variables",
    "ema_decay",
    "update_ema",
]


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


def average_variables(average: PyTree, current: PyTree, decay: float | jax.Array) -> PyTree:
    """:func:`update_ema` of a flax variables dict's ``params``; every other collection
    (running statistics, StyleGAN's ``w_avg``) is copied from ``current``."""
    return {
        name: update_ema(average[name], value, decay) if name == "params" else value
        for name, value in current.items()
    }


@dataclasses.dataclass(frozen=True)
class GeneratorEMA:
    """The moving average of a generator's variables (module doc): half-life
    ``half_life_images`` real images, ramp-up ``rampup`` (0: none)."""

    half_life_images: float
    rampup: float = 0.0

    @classmethod
    def from_beta(cls, beta: float, batch_size: int, rampup: float = 0.0) -> GeneratorEMA:
        """The average with per-step decay ``beta`` at ``batch_size`` (β = 0.999 at batch 64:
        a half-life of 44,300 images)."""
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"EMA β must be in [0, 1), got {beta}")
        half_life = 0.0 if beta == 0 else batch_size * math.log(0.5) / math.log(beta)
        return cls(half_life, rampup)

    def init(self, g: PyTree) -> PyTree:
        """The average's initial value: a copy of ``g`` (own buffers; steps donate states)."""
        return copy_tree(g)

    def decay(self, batch_size: int, images_seen: jax.Array | float | None = None):
        return ema_decay(batch_size, self.half_life_images, images_seen, self.rampup)

    def update(
        self,
        average: PyTree,
        g: PyTree,
        batch_size: int,
        images_seen: jax.Array | float | None = None,
    ) -> PyTree:
        """``average`` after one step of ``batch_size`` images that brought G to ``g``."""
        return average_variables(average, g, self.decay(batch_size, images_seen))
