"""The latent space of a generator: interpolation, vector arithmetic and projection.

Everything takes ``generate: z (B, d) -> images (B, H, W, C)``, e.g.
``functools.partial(gan.generate, generator, state.g)`` (inference mode, so the rows of a
batch never interact), and is pure and jittable.

* **Interpolation.**  ``lerp(a, b, t) = (1 − t)·a + t·b``.  ``slerp`` follows the great
  circle (Shoemake 1985; for GAN latents White 2016, arXiv:1609.04468):
  ``slerp(a, b, t) = sin((1 − t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b`` with
  ``cos Ω = â·b̂``.  Between endpoints of equal norm it keeps that norm, and its angle
  from ``a`` is ``tΩ``; a Gaussian latent in high dimension lives near the shell
  ``‖z‖ ≈ √d``, which the chord of ``lerp`` cuts through (its midpoint of two independent
  latents has norm ≈ √(d/2)).  ``t`` broadcasts against the batch shape of the endpoints:
  endpoints ``(d,)`` and ``t`` of shape ``(T,)`` give a path ``(T, d)``.
* **Vector arithmetic** (Radford et al. 2016, arXiv:1511.06434, §6.3 and Fig. 7): a
  *concept* is the mean of a few latents whose images show it (:func:`concept_mean`; DCGAN
  averages 3, single samples being unstable); ``mean(A) − mean(B) + mean(C)`` should show
  C's content with A's difference from B.  :func:`attribute_direction` is the unit
  difference between the mean latents of the top and the bottom ``fraction`` of a
  per-sample score, and :func:`apply_direction` walks along it.
* **Projection** (inversion; Zhu et al. 2016, arXiv:1609.03552; Creswell & Bharath 2018,
  arXiv:1611.05644): ``min_z L(G(z), x) + λ (‖z‖/√d − 1)²``.  The objective is not convex,
  so :func:`project` runs ``restarts`` starts per target, all targets and restarts as one
  batch of ``N·R`` latents through one jitted step (restart ``r`` of target ``n`` starts
  at a latent drawn from ``fold_in(fold_in(key, n), r)``, so the first ``R`` restarts are
  the same for any ``R``), and keeps the best end point per target.  ``init`` starts from
  given latents instead, e.g. an encoder's guess (:func:`train_encoder`; "in-domain"
  inversion, Zhu et al. 2020, arXiv:2004.00049).  Losses: :func:`pixel_mse`,
  :func:`feature_distance` (LPIPS-like, Zhang et al. 2018, arXiv:1801.03924, on our own
  classifier's feature maps, so no downloaded weights) and :func:`weighted_loss`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.data import random_batch
from gan_jax.interpolation import lerp, slerp
from gan_jax.nets.variables import init_variables
from gan_jax.training.loop import minimize
from gan_jax.training.steps import make_chunk
from gan_jax.xla_options import step_compiler_options

__all__ = [
    "DEFAULT_OPTIMIZER",
    "INTERPOLATIONS",
    "Encoder",
    "Projection",
    "apply_direction",
    "attribute_direction",
    "best_of",
    "concept_mean",
    "feature_distance",
    "interpolate",
    "latent_prior",
    "lerp",
    "pixel_mse",
    "project",
    "restart_latents",
    "slerp",
    "train_encoder",
    "weighted_loss",
]

Array = jax.Array
Generate = Callable[[Array], Array]  # z (B, d) -> images (B, H, W, C)
ImageLoss = Callable[[Array, Array], Array]  # (images, targets) (B, H, W, C) -> (B,)


# --------------------------------------------------------------------------- interpolation


INTERPOLATIONS = {"lerp": lerp, "slerp": slerp}


def interpolate(generate: Generate, z0: Array, z1: Array, num: int, method: str = "slerp") -> Array:
    """The ``num`` images ``G(path(t))`` for ``t = 0, 1/(num − 1), …, 1`` between latents
    ``z0`` and ``z1`` of shape ``(d,)``."""
    path = INTERPOLATIONS[method](z0, z1, np.linspace(0.0, 1.0, num))
    return generate(path)


# --------------------------------------------------------------------------- arithmetic


@jax.jit
def concept_mean(latents: Array) -> Array:
    """The concept vector of a group: the mean over the group axis, ``(..., k, d) -> (..., d)``."""
    return jnp.mean(latents, axis=-2)


@functools.partial(jax.jit, static_argnames="fraction")
def attribute_direction(latents: Array, scores: Array, fraction: float = 0.25) -> Array:
    """Unit vector from the mean latent of the lowest-scoring ``fraction`` of ``latents``
    ``(n, d)`` to that of the highest-scoring ``fraction`` (``scores`` ``(n,)``)."""
    count = max(1, round(fraction * latents.shape[0]))
    order = jnp.argsort(scores)
    direction = latents[order[-count:]].mean(0) - latents[order[:count]].mean(0)
    return direction / jnp.linalg.norm(direction)


@jax.jit
def apply_direction(z: Array, direction: Array, strength: Array | float) -> Array:
    """``z + strength·direction``; ``strength`` broadcasts against ``z.shape[:-1]``."""
    return z + jnp.asarray(strength)[..., None] * direction


# --------------------------------------------------------------------------- losses


@jax.jit
def pixel_mse(images: Array, targets: Array) -> Array:
    """Per-image mean squared pixel error ``(B,)``."""
    return jnp.mean(jnp.square(images - targets), axis=tuple(range(1, images.ndim)))


def feature_distance(feature_maps: Callable[[Array], Sequence[Array]]) -> ImageLoss:
    """An LPIPS-like distance without learned weights: for each feature map ``(B, h, w, c)``
    of ``feature_maps(images)``, unit-normalise every spatial position's channel vector and
    average the squared differences over positions; sum over maps."""

    def unit(f: Array) -> Array:
        return f / (jnp.linalg.norm(f, axis=-1, keepdims=True) + 1e-10)

    def loss(images: Array, targets: Array) -> Array:
        total = 0.0
        for a, b in zip(feature_maps(images), feature_maps(targets), strict=True):
            total = total + jnp.mean(jnp.sum(jnp.square(unit(a) - unit(b)), -1), axis=(1, 2))
        return total

    return loss


def weighted_loss(*terms: tuple[float, ImageLoss]) -> ImageLoss:
    """``Σ wᵢ·Lᵢ(images, targets)`` of ``(weight, loss)`` pairs."""

    def loss(images: Array, targets: Array) -> Array:
        return sum(weight * term(images, targets) for weight, term in terms)

    return loss


@jax.jit
def latent_prior(z: Array) -> Array:
    """``(‖z‖/√d − 1)²`` per latent: zero on the shell where Gaussian latents live."""
    return jnp.square(jnp.linalg.norm(z, axis=-1) / math.sqrt(z.shape[-1]) - 1.0)


# --------------------------------------------------------------------------- projection


@dataclasses.dataclass(frozen=True)
class Projection:
    """What :func:`project` found, for ``N`` targets and ``R`` restarts of ``S`` steps."""

    best_latents: Array  # (N, d): the end point with the lowest final loss per target
    best_losses: Array  # (N,)
    final_losses: Array  # (N, R): image loss (no prior) at each restart's end point
    curves: Array  # (N, R, S): image loss before each step
    latents: Array  # (N, R, d): end points
    starts: Array  # (N, R, d)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def restart_latents(key: Array, num_targets: int, restarts: int, latent_dim: int) -> Array:
    """Starting latents ``(N, R, d)``: restart ``r`` of target ``n`` is
    ``N(0, I)`` drawn from ``fold_in(fold_in(key, n), r)``, whatever ``N`` and ``R``."""

    def one(n: Array, r: Array) -> Array:
        return jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, n), r), (latent_dim,))

    targets, starts = jnp.arange(num_targets), jnp.arange(restarts)
    return jax.vmap(lambda n: jax.vmap(lambda r: one(n, r))(starts))(targets)


def project(
    generate: Generate,
    targets: Array,
    key: Array,
    *,
    loss: ImageLoss = pixel_mse,
    steps: int = 200,
    restarts: int = 16,
    optimizer: optax.GradientTransformation | None = None,
    init: Array | None = None,
    latent_dim: int | None = None,
    prior_weight: float = 0.0,
    scan: bool | None = None,
) -> Projection:
    """Find latents whose images match ``targets`` ``(N, H, W, C)`` (see module doc).

    ``init`` ``(N, d)`` or ``(N, R, d)`` replaces the random starts (then ``latent_dim`` is
    not needed).  ``optimizer`` defaults to Adam(0.05).  The jitted steps are cached per
    ``(generate, loss, optimizer, prior_weight, steps, scan)``, so pass the same function
    objects to reuse a compilation.  The steps run as one ``lax.scan``
    (``scan=True``, the default off CPU) or as jitted steps dispatched from Python
    (default on CPU, where XLA runs convolutions inside a loop body without its fast
    kernels: see :func:`gan_jax.training.make_chunk`)."""
    optimizer = optimizer or DEFAULT_OPTIMIZER
    num_targets = targets.shape[0]
    if init is None:
        if latent_dim is None:
            raise ValueError("project needs latent_dim when no init is given")
        starts = restart_latents(key, num_targets, restarts, latent_dim)
    else:
        starts = _broadcast_starts(init, restarts)
    if scan is None:
        scan = jax.default_backend() != "cpu"
    run = _projection_chunk(generate, loss, optimizer, prior_weight, steps, scan)
    z, rows = _flatten_restarts(starts, targets)
    (z, _, rows), curves = run((z, optimizer.init(z), rows))
    final = _final_loss(generate, loss)(z, rows)
    return Projection(*_best_restarts(z, final, curves, starts))


@functools.partial(jax.jit, static_argnums=1)
def _broadcast_starts(init: Array, restarts: int) -> Array:
    """``init`` ``(N, d)`` or ``(N, R, d)`` as starts ``(N, R, d)``."""
    init = init if init.ndim == 3 else init[:, None]
    return jnp.broadcast_to(init, (init.shape[0], restarts, init.shape[-1]))


@jax.jit
def _flatten_restarts(starts: Array, targets: Array) -> tuple[Array, Array]:
    """Latents ``(N·R, d)`` (a fresh buffer: the steps donate it) and their targets: row
    ``n·R + r`` is restart ``r`` of target ``n``."""
    num_targets, restarts, dim = starts.shape
    z = jnp.copy(starts.reshape(num_targets * restarts, dim))
    return z, jnp.repeat(targets, restarts, axis=0)


@jax.jit
def _best_restarts(z: Array, final: Array, curves: Array, starts: Array) -> tuple[Array, ...]:
    """:class:`Projection`'s fields, in order, from the flat end points and losses."""
    num_targets, restarts, dim = starts.shape
    final = final.reshape(num_targets, restarts)
    ends = z.reshape(num_targets, restarts, dim)
    best = jnp.argmin(final, axis=1)
    rows = jnp.arange(num_targets)
    curves = jnp.moveaxis(curves, 0, -1).reshape(num_targets, restarts, -1)
    return ends[rows, best], final[rows, best], final, curves, ends, starts


DEFAULT_OPTIMIZER = optax.adam(0.05)


@functools.lru_cache(maxsize=32)
def _projection_chunk(
    generate: Generate,
    loss: ImageLoss,
    optimizer: optax.GradientTransformation,
    prior_weight: float,
    steps: int,
    scan: bool,
) -> Callable:
    """``steps`` projection steps on ``(z, opt_state, rows)``; built once per setting, so
    repeated calls (restart sweeps, tests) compile once."""

    def objective(z: Array, rows: Array) -> tuple[Array, Array]:
        per_row = loss(generate(z), rows)
        return jnp.sum(per_row + prior_weight * latent_prior(z)), per_row

    def step(state: tuple) -> tuple[tuple, Array]:
        z, opt_state, rows = state
        (_, per_row), grads = jax.value_and_grad(objective, has_aux=True)(z, rows)
        updates, opt_state = optimizer.update(grads, opt_state, z)
        return (optax.apply_updates(z, updates), opt_state, rows), per_row

    return make_chunk(step, steps, scan=scan)


@functools.lru_cache(maxsize=32)
def _final_loss(generate: Generate, loss: ImageLoss) -> Callable:
    return jax.jit(
        lambda z, rows: loss(generate(z), rows), compiler_options=step_compiler_options()
    )


def best_of(final_losses: Array, restarts: int) -> Array:
    """Best final loss per target among its first ``restarts`` restarts ``(N,)``: what
    :func:`project` with that many restarts returns, since restarts are independent and
    their starts do not depend on ``R``."""
    return jnp.min(final_losses[:, :restarts], axis=1)


# --------------------------------------------------------------------------- encoder


class Encoder(nn.Module):
    """``images (N, H, W, C) -> z (N, latent_dim)``: three stride-2 4×4 convolutions with
    LeakyReLU(0.2) (DCGAN's discriminator trunk, no BatchNorm) and a linear head."""

    latent_dim: int
    width: int = 64

    @nn.compact
    def __call__(self, x: Array) -> Array:
        for i in range(3):
            x = nn.leaky_relu(nn.Conv(self.width * 2**i, (4, 4), strides=(2, 2))(x), 0.2)
        return nn.Dense(self.latent_dim)(x.reshape(x.shape[0], -1))


def train_encoder(
    generate: Generate,
    latent_dim: int,
    image_shape: tuple[int, ...],
    key: Array,
    steps: int = 2000,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    width: int = 64,
    num_pairs: int | None = None,
    progress: bool = True,
) -> tuple[Encoder, dict, list[float]]:
    """Fit ``E(G(z)) ≈ z`` on pairs ``(G(z), z)``, ``z ~ N(0, I)`` (mean squared latent
    error, Adam); returns the encoder, its parameters and the per-step losses.  Fresh
    pairs every step, or with ``num_pairs`` a fixed set generated once and sampled with
    replacement (cheaper when G costs more than E).  A regression, not a game: trained
    like the metric's classifier."""
    model = Encoder(latent_dim=latent_dim, width=width)
    init_key, pairs_key, key = jax.random.split(key, 3)
    params = init_variables(model, init_key, jnp.zeros((1, *image_shape)))
    if num_pairs is not None:
        pool_z = jax.random.normal(pairs_key, (num_pairs, latent_dim))
        pool_x = jnp.concatenate(
            [generate(pool_z[i : i + 1024]) for i in range(0, num_pairs, 1024)]
        )

    def sample(key: Array) -> tuple[Array, Array]:
        if num_pairs is None:
            z = jax.random.normal(key, (batch_size, latent_dim))
            return z, jax.lax.stop_gradient(generate(z))
        z, images = random_batch(key, (pool_z, pool_x), batch_size)
        return z, images

    def loss(params: dict, key: Array) -> Array:
        z, images = sample(key)
        return jnp.mean(jnp.square(model.apply(params, images) - z))

    params, history = minimize(
        loss, params, key, steps, optax.adam(learning_rate), "encoder", progress
    )
    return model, params, history
