"""Layers shared by the discriminators and generators."""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp


class MinibatchStdDev(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, arXiv:1710.10196, §3).

    The batch is split into groups of ``group_size`` samples (sample ``i`` is in group slot
    ``i mod (N/G)``, as in the paper's reshape to ``[G, N/G, …]``).  For each slot, the
    standard deviation over the ``G`` group members of every feature is averaged into one
    number, which is appended to each member as an extra feature (vectors ``(N, F)``) or
    an extra constant channel (images ``(N, H, W, C)``).  A collapsed generator produces
    near-zero spread, which the discriminator can then see.  ``group_size`` is clipped to
    the batch size, which it must divide.
    """

    group_size: int = 4
    epsilon: float = 1e-8

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        n = x.shape[0]
        group = min(self.group_size, n)
        if n % group:
            raise ValueError(f"batch size {n} is not a multiple of the group size {group}")
        grouped = x.reshape((group, n // group) + x.shape[1:])
        std = jnp.sqrt(jnp.var(grouped, axis=0) + self.epsilon)  # (N/G, ...)
        stat = jnp.mean(std.reshape(n // group, -1), axis=1)  # (N/G,)
        per_sample = jnp.tile(stat, group)  # sample g·(N/G) + m gets stat[m]
        feature = jnp.broadcast_to(
            per_sample.reshape((n,) + (1,) * (x.ndim - 1)), x.shape[:-1] + (1,)
        )
        return jnp.concatenate([x, feature.astype(x.dtype)], axis=-1)


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al. 2013, arXiv:1302.4389):
    ``h_i = max_{j=1..k} (x·W_{:,ij} + b_ij)`` for ``i = 1..features``, ``k = pieces``.

    One Dense layer of ``features·pieces`` outputs, read as ``(features, pieces)`` (unit
    ``i``'s pieces are outputs ``i·k … i·k + k − 1``), then the max over pieces.  PacGAN's
    and VEEGAN's 2-D discriminators are three such layers (200 units, 5 pieces).
    """

    features: int
    pieces: int = 5
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.pieces < 1:
            raise ValueError(f"maxout needs at least one piece, got {self.pieces}")
        h = nn.Dense(
            self.features * self.pieces,
            kernel_init=self.kernel_init,
            param_dtype=self.param_dtype,
            name="linear",
        )(x)
        return jnp.max(h.reshape(h.shape[:-1] + (self.features, self.pieces)), axis=-1)


# --------------------------------------------------------------------------- equalized layers
#
# Karras et al. 2018 (arXiv:1710.10196, §4.1): weights are stored as N(0, 1) draws and
# scaled at run time by He's constant c = gain/√fan_in, so every layer's effective weights
# start with standard deviation gain/√fan_in (He init for gain √2) *and* Adam, which
# normalises each stored weight's update, moves every layer's effective weights at the same
# relative speed.  ``lr_multiplier`` m (StyleGAN's mapping network, arXiv:1812.04948 §C)
# stores N(0, 1/m²) and scales by c·m: the effective initial weights are unchanged while
# their learning rate is multiplied by m.  Biases are stored unscaled and multiplied by m.


def equalized_scale(fan_in: int, gain: float = math.sqrt(2.0), lr_multiplier: float = 1.0) -> float:
    """``gain / √fan_in · lr_multiplier``: what the stored weights are multiplied by."""
    return gain / math.sqrt(fan_in) * lr_multiplier


class _Equalized(nn.Module):
    """What the equalized layers share: a stored kernel ``N(0, 1/m²)`` returned scaled by
    :func:`equalized_scale`, and a bias stored unscaled and multiplied by ``m``, starting at
    ``bias_init`` (StyleGAN's style affines start at 1: every style scale is 1 at init)."""

    features: int
    use_bias: bool = True
    gain: float = math.sqrt(2.0)
    lr_multiplier: float = 1.0
    param_dtype: jnp.dtype = jnp.float32
    bias_init: float = 0.0

    def scaled_kernel(self, shape: tuple[int, ...], fan_in: int) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.normal(1.0 / self.lr_multiplier), shape, self.param_dtype
        )
        return kernel * equalized_scale(fan_in, self.gain, self.lr_multiplier)

    def add_bias(self, y: jax.Array) -> jax.Array:
        if not self.use_bias:
            return y
        bias = self.param(
            "bias",
            nn.initializers.constant(self.bias_init / self.lr_multiplier),
            (self.features,),
            self.param_dtype,
        )
        return y + bias * self.lr_multiplier


class EqualizedDense(_Equalized):
    """``x @ (c·W) + m·b`` with ``W ~ N(0, 1/m²)`` stored and ``c =``
    :func:`equalized_scale` (see the section comment)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        fan_in = x.shape[-1]
        return self.add_bias(x @ self.scaled_kernel((fan_in, self.features), fan_in))


class EqualizedConv(_Equalized):
    """A stride-1 ``SAME`` convolution (NHWC) with equalized learning rate: kernel
    ``(k, k, C_in, C_out) ~ N(0, 1/m²)`` stored, scaled by :func:`equalized_scale` with
    ``fan_in = k·k·C_in``."""

    kernel_size: int = 3

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, channels = self.kernel_size, x.shape[-1]
        kernel = self.scaled_kernel((k, k, channels, self.features), k * k * channels)
        y = jax.lax.conv_general_dilated(
            x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return self.add_bias(y)


def pixel_norm(x: jax.Array, epsilon: float = 1e-8) -> jax.Array:
    """``x / √(mean_c x² + ε)`` over the channel (last) axis at every position: each
    feature vector gets unit RMS (Karras et al. 2018, arXiv:1710.10196, §4.2)."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + epsilon)


def fade_in(alpha: jax.Array | float, low: jax.Array, high: jax.Array) -> jax.Array:
    """``(1 − α)·low + α·high``: PGGAN's blend of the previous resolution's (up-sampled)
    output ``low`` and the new block's ``high`` while ``α`` grows from 0 to 1."""
    return (1.0 - alpha) * low + alpha * high


def channel_sum(x: jax.Array) -> jax.Array:
    """``Σ`` over every axis but the last: ``(…, C) -> (C,)``, written as the product
    ``1ᵀ X`` of a ones vector with ``X`` reshaped to ``(M, C)``.

    Same value as ``x.sum(axis=(0, …, ndim−2))``, but a matrix product rather than a
    reduction: with XLA:CPU's Eigen back end (:data:`gan_jax.training.XLA_CPU_OPTIONS`) the
    product is several times faster (the benchmarks page of the documentation).
    """
    flat = x.reshape(-1, x.shape[-1])
    return jnp.ones((flat.shape[0],), x.dtype) @ flat


@jax.custom_vjp
def add_channel_bias(x: jax.Array, bias: jax.Array) -> jax.Array:
    """``x + bias`` broadcast over the last axis, whose bias gradient ``Σ ∂y`` is a
    :func:`channel_sum` (a matrix product) rather than the reduction autodiff would emit."""
    return x + bias


def _add_channel_bias_forward(x, bias):
    return x + bias, None


def _add_channel_bias_backward(residuals, dy):
    del residuals
    return dy, channel_sum(dy)


add_channel_bias.defvjp(_add_channel_bias_forward, _add_channel_bias_backward)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def batch_normalize(
    x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Batch normalisation with batch statistics (Ioffe & Szegedy 2015, arXiv:1502.03167)
    over every axis but the last: returns ``(y, μ, σ²)`` with

        μ = mean(x),  σ² = mean(x²) − μ²,  x̂ = (x − μ)/√(σ² + ε),  y = γ·x̂ + β.

    The backward pass is the closed form (``m`` elements per channel)

        ∂β = Σ ∂y,  ∂γ = Σ ∂y·x̂,  ∂x = γ/(m·√(σ² + ε))·(m·∂y − ∂β − x̂·∂γ)
               + ∂μ/m + 2·∂σ²·(x − μ)/m,

    with every ``Σ`` a :func:`channel_sum`.  Tests pin value and gradient to autodiff of the
    formula above.
    """
    return _batch_normalize_forward(x, scale, bias, epsilon)[0]


def _batch_normalize_forward(x, scale, bias, epsilon):
    m = x.size // x.shape[-1]
    mean = channel_sum(x) / m
    var = jnp.maximum(channel_sum(x * x) / m - mean * mean, 0.0)
    inv_std = jax.lax.rsqrt(var + epsilon)
    x_hat = (x - mean) * inv_std
    return (x_hat * scale + bias, mean, var), (x_hat, inv_std, scale)


def _batch_normalize_backward(epsilon, residuals, cotangents):
    del epsilon
    x_hat, inv_std, scale = residuals
    dy, d_mean, d_var = cotangents
    m = x_hat.size // x_hat.shape[-1]
    d_bias = channel_sum(dy)
    d_scale = channel_sum(dy * x_hat)
    dx = (scale * inv_std / m) * (m * dy - d_bias - x_hat * d_scale)
    dx = dx + d_mean / m + (2.0 / m) * d_var * x_hat / inv_std
    return dx, d_scale, d_bias


batch_normalize.defvjp(_batch_normalize_forward, _batch_normalize_backward)


class BatchNorm(nn.Module):
    """Batch normalisation over all axes but the last, a drop-in for ``flax.linen.BatchNorm``
    with the same variables (``params``: ``scale``, ``bias``; ``batch_stats``: ``mean``,
    ``var``) and semantics: :func:`batch_normalize` in training mode, running averages
    ``r ← momentum·r + (1 − momentum)·batch`` (biased batch variance, not updated while
    initialising), and ``(x − r_μ)/√(r_σ² + ε)·γ + β`` with ``use_running_average``.

    Ours because its statistics and gradients are matrix products (:func:`channel_sum`),
    which XLA:CPU runs an order of magnitude faster than the reductions flax emits.
    """

    use_running_average: bool = False
    momentum: float = 0.99
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (channels,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (channels,), jnp.float32)
        running_mean = self.variable("batch_stats", "mean", jnp.zeros, (channels,), jnp.float32)
        running_var = self.variable("batch_stats", "var", jnp.ones, (channels,), jnp.float32)
        if self.use_running_average:
            inv_std = jax.lax.rsqrt(running_var.value + self.epsilon)
            return (x - running_mean.value) * inv_std * scale + bias
        y, mean, var = batch_normalize(x, scale, bias, self.epsilon)
        if not self.is_initializing():
            keep = self.momentum
            running_mean.value = keep * running_mean.value + (1 - keep) * mean
            running_var.value = keep * running_var.value + (1 - keep) * var
        return y
