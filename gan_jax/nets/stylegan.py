"""StyleGAN's generator (Karras et al. 2019, arXiv:1812.04948) with StyleGAN2's weight
demodulation and skip outputs (Karras et al. 2020, arXiv:1912.04958), and StyleGAN2's
residual discriminator, built on PGGAN's layers (:mod:`gan_jax.nets.layers`: equalized
learning rate, pixel norm, minibatch standard deviation).

**Mapping.**  ``w = f(z)``: :func:`~gan_jax.nets.layers.pixel_norm` of ``z``, then 8
equalized dense layers with LeakyReLU(0.2) and learning-rate multiplier 0.01
(:class:`MappingNetwork`).

**Synthesis** (:class:`SynthesisNetwork`).  A learned constant 4×4 input; one styled 3×3
convolution at 4×4 and two at every later resolution (after nearest-neighbour ×2
up-sampling, as our PGGAN; the papers' blurred up-sampling is left out); after every
styled convolution a noise image ``n ~ N(0, 1)`` per sample times a learned per-channel
scale (initially 0), a bias and LeakyReLU(0.2).  Each resolution's 1×1 ``to_rgb`` output
(modulated, not demodulated) is added to the up-sampled sum of the lower ones (StyleGAN2's
skip generator).  The generator's outputs are linear (no tanh), as in both papers.

Every styled layer ``ℓ`` takes its own ``w_ℓ`` (``num_ws(R) = 2·log₂R − 2`` style inputs,
8 at 32×32; :func:`style_resolutions` says which resolution each one drives).  A style is
an affine map of ``w``, ``s = A·w + b`` with ``b`` initialised to 1, and acts in one of two
ways (``style=``):

* ``"modulated"`` (StyleGAN2, §2.2): the convolution's weights are scaled per input channel,
  ``w'_{ijk} = s_i·w_{ijk}``, and demodulated per output channel,
  ``w''_{ijk} = w'_{ijk}/√(Σ_{i,k} w'_{ijk}² + ε)``, so unit-variance inputs give
  unit-variance outputs.  Computed as ``conv(x·s, w)·d`` with ``d_j = (Σ_{i,k} s_i²
  w_{ijk}² + ε)^(−1/2)`` — the same numbers as the per-sample weights, with one shared
  convolution (the papers' non-fused form; :func:`modulated_conv`).
* ``"adain"`` (StyleGAN, §2): plain convolution, noise, bias, activation, then adaptive
  instance normalisation ``AdaIN(x, y) = y_s·(x − μ(x))/σ(x) + y_b`` (eq. 1), with
  ``(y_s, y_b)`` two affine maps of ``w`` (``y_s`` starting at 1).

**Mixing and truncation** are functions of the ``(N, num_ws, w_dim)`` styles:
:func:`mix_styles` (style mixing, §3.1) and :func:`truncate` (the truncation trick in W,
§B).  :class:`StyleGenerator` keeps ``w_avg``, the running mean of ``w`` (β = 0.995 per
training batch), in its ``"w_avg"`` collection, so the library's game updates it like
BatchNorm statistics, and it travels in the state.

**Discriminator** (:class:`ResidualDiscriminator`, StyleGAN2 Fig. 7c): a 1×1
``from_rgb`` at full resolution, then per resolution two 3×3 convolutions and 2×2 average
pooling with a down-sampled 1×1 skip, summed and scaled by ``1/√2``; at 4×4 the minibatch
standard deviation (group 4), a 3×3 convolution, a dense layer and a linear logit.
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.interpolation import lerp
from gan_jax.nets.layers import (
    EqualizedConv,
    EqualizedDense,
    MinibatchStdDev,
    equalized_scale,
    pixel_norm,
)
from gan_jax.nets.progressive import downsample, feature_width, stage_resolutions, upsample

Array = jax.Array
STYLES = ("modulated", "adain")


def lrelu(x: Array) -> Array:
    """LeakyReLU with slope 0.2, the activation of every StyleGAN and PGGAN layer."""
    return jax.nn.leaky_relu(x, 0.2)


def num_ws(resolution: int) -> int:
    """Style inputs of the synthesis network at ``resolution``: ``2·log₂R − 2``."""
    return 2 * len(stage_resolutions(resolution))


def style_resolutions(resolution: int) -> list[int]:
    """The resolution each style input drives: ``[4, 8, 8, 16, 16, 32, 32, 32]`` at 32×32
    (input 0 styles the 4×4 convolution; input ``2s−1`` and ``2s`` the two convolutions at
    stage ``s``, the first of them also styling the previous stage's ``to_rgb``; the last
    one the final ``to_rgb``)."""
    stages = stage_resolutions(resolution)
    return [4] + [r for r in stages[1:] for _ in (0, 1)] + [stages[-1]]


def layer_range(resolution: int, low: int, high: int) -> tuple[int, int]:
    """``[start, stop)`` of the style inputs driving resolutions ``low … high``: at 32×32,
    coarse (4–8) is ``(0, 3)``, middle (16) ``(3, 5)`` and fine (32) ``(5, 8)``."""
    indices = [i for i, r in enumerate(style_resolutions(resolution)) if low <= r <= high]
    return indices[0], indices[-1] + 1


def broadcast_ws(w: Array, count: int) -> Array:
    """``(N, w_dim) -> (N, count, w_dim)``: the same ``w`` for every layer."""
    return jnp.broadcast_to(w[:, None, :], (w.shape[0], count, w.shape[-1]))


def mix_styles(ws: Array, ws_other: Array, crossover: Array | int) -> Array:
    """Style mixing (arXiv:1812.04948 §3.1): layers ``< crossover`` keep ``ws``, the rest
    take ``ws_other``.  ``crossover = num_ws`` is no mixing (``ws`` itself)."""
    layer = jnp.arange(ws.shape[1])[None, :, None]
    return jnp.where(layer < crossover, ws, ws_other)


def truncate(ws: Array, w_avg: Array, psi: float | Array, cutoff: int | None = None) -> Array:
    """The truncation trick in W (arXiv:1812.04948 §B): ``w' = w̄ + ψ·(w − w̄)`` on the
    layers ``< cutoff`` (all by default), computed as ``lerp(w, w̄, 1 − ψ)`` so ψ = 1
    returns ``w`` and ψ = 0 returns ``w̄`` exactly."""
    truncated = lerp(ws, jnp.broadcast_to(w_avg, ws.shape), 1.0 - jnp.asarray(psi, ws.dtype))
    if cutoff is None:
        return truncated
    layer = jnp.arange(ws.shape[1])[None, :, None]
    return jnp.where(layer < cutoff, truncated, ws)


def modulated_conv(x: Array, weight: Array, styles: Array, demodulate: bool = True) -> Array:
    """StyleGAN2's modulated convolution (arXiv:1912.04958 eqs. 1–3), NHWC, stride 1, SAME:
    the per-sample weights ``s_i·w_{ijk}`` (demodulated by
    ``d_j = (Σ_{i,k} (s_i w_{ijk})² + 1e-8)^(−1/2)``) applied as ``conv(x·s, w)·d``.
    ``weight`` is ``(k, k, C_in, C_out)`` (already scaled), ``styles`` ``(N, C_in)``."""
    y = jax.lax.conv_general_dilated(
        x * styles[:, None, None, :],
        weight,
        (1, 1),
        "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    if demodulate:
        power = jnp.square(styles) @ jnp.sum(jnp.square(weight), axis=(0, 1))  # (N, C_out)
        y = y * jax.lax.rsqrt(power + 1e-8)[:, None, None, :]
    return y


def instance_norm(x: Array, epsilon: float = 1e-8) -> Array:
    """``(x − μ)/σ`` per sample and channel over the spatial axes (AdaIN's normalisation)."""
    x = x - jnp.mean(x, axis=(1, 2), keepdims=True)
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=(1, 2), keepdims=True) + epsilon)


class StyledConv(nn.Module):
    """One styled layer (module doc): ``style`` ``"modulated"`` or ``"adain"``; ``noise``
    ``(N, H, W, 1)`` or None (no noise).  The per-channel noise strength is stored
    divided by ``noise_lr_multiplier`` and multiplied back (the equalized-learning-rate
    trick), so Adam moves it ``noise_lr_multiplier`` times as fast as the other weights."""

    features: int
    style: str = "modulated"
    kernel_size: int = 3
    noise_lr_multiplier: float = 1.0

    @nn.compact
    def __call__(self, x: Array, w: Array, noise: Array | None) -> Array:
        k, c_in = self.kernel_size, x.shape[-1]
        weight = self.param(
            "kernel", nn.initializers.normal(1.0), (k, k, c_in, self.features)
        ) * equalized_scale(k * k * c_in)
        if self.style == "modulated":
            styles = EqualizedDense(c_in, gain=1.0, bias_init=1.0, name="affine")(w)
            y = modulated_conv(x, weight, styles, demodulate=True)
        else:
            y = jax.lax.conv_general_dilated(
                x, weight, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
        strength = self.param("noise_strength", nn.initializers.zeros, (self.features,))
        strength = strength * self.noise_lr_multiplier
        if noise is not None:
            y = y + noise * strength
        y = lrelu(y + self.param("bias", nn.initializers.zeros, (self.features,)))
        if self.style == "adain":
            scale = EqualizedDense(self.features, gain=1.0, bias_init=1.0, name="style_scale")(w)
            shift = EqualizedDense(self.features, gain=1.0, name="style_bias")(w)
            y = scale[:, None, None, :] * instance_norm(y) + shift[:, None, None, :]
        return y


class ToRGB(nn.Module):
    """A modulated 1×1 convolution to ``channels`` without demodulation, plus a bias
    (StyleGAN2's ``tRGB``)."""

    channels: int

    @nn.compact
    def __call__(self, x: Array, w: Array) -> Array:
        c_in = x.shape[-1]
        weight = self.param(
            "kernel", nn.initializers.normal(1.0), (1, 1, c_in, self.channels)
        ) * equalized_scale(c_in, gain=1.0)
        styles = EqualizedDense(c_in, gain=1.0, bias_init=1.0, name="affine")(w)
        y = modulated_conv(x, weight, styles, demodulate=False)
        return y + self.param("bias", nn.initializers.zeros, (self.channels,))


class MappingNetwork(nn.Module):
    """``z -> w``: pixel norm, then ``num_layers`` equalized dense layers of width
    ``w_dim`` with LeakyReLU(0.2), learning rate multiplied by ``lr_multiplier``."""

    w_dim: int = 128
    num_layers: int = 8
    lr_multiplier: float = 0.01

    @nn.compact
    def __call__(self, z: Array) -> Array:
        x = pixel_norm(z)
        for i in range(self.num_layers):
            x = lrelu(
                EqualizedDense(self.w_dim, lr_multiplier=self.lr_multiplier, name=f"dense_{i}")(x)
            )
        return x


class SynthesisNetwork(nn.Module):
    """``(ws (N, num_ws, w_dim), noise_key) -> images (N, R, R, channels)`` (module doc).
    ``noise_key=None`` leaves the noise out (the noise-free generator).  Noise enters the
    styled convolutions at resolutions ``≥ noise_min_resolution`` only (4: every one, as
    both papers), its strengths trained at ``noise_lr_multiplier`` times the rate."""

    resolution: int = 32
    channels: int = 1
    fmap_base: int = 512
    fmap_max: int = 64
    style: str = "modulated"
    noise_min_resolution: int = 4
    noise_lr_multiplier: float = 1.0

    def width(self, resolution: int) -> int:
        return feature_width(resolution, self.fmap_base, self.fmap_max)

    @nn.compact
    def __call__(self, ws: Array, noise_key: Array | None = None) -> Array:
        if self.style not in STYLES:
            raise ValueError(f"unknown style {self.style!r}; choose one of {STYLES}")
        if ws.shape[1] != num_ws(self.resolution):
            raise ValueError(
                f"{ws.shape[1]} style inputs, the network takes {num_ws(self.resolution)}"
            )
        n = ws.shape[0]
        layer = iter(range(num_ws(self.resolution)))

        def noise(size: int) -> Array | None:
            index = next(layer)
            if noise_key is None or size < self.noise_min_resolution:
                return None
            return jax.random.normal(jax.random.fold_in(noise_key, index), (n, size, size, 1))

        const = self.param("const", nn.initializers.normal(1.0), (4, 4, self.width(4)))
        x = jnp.broadcast_to(const, (n, *const.shape))
        conv = functools.partial(
            StyledConv, style=self.style, noise_lr_multiplier=self.noise_lr_multiplier
        )
        x = conv(self.width(4), name="conv_4")(x, ws[:, 0], noise(4))
        rgb = ToRGB(self.channels, name="to_rgb_4")(x, ws[:, 1])
        for stage, r in enumerate(stage_resolutions(self.resolution)[1:], start=1):
            x = upsample(x)
            x = conv(self.width(r), name=f"conv0_{r}")(x, ws[:, 2 * stage - 1], noise(r))
            x = conv(self.width(r), name=f"conv1_{r}")(x, ws[:, 2 * stage], noise(r))
            rgb = upsample(rgb) + ToRGB(self.channels, name=f"to_rgb_{r}")(x, ws[:, 2 * stage + 1])
        return rgb


class StyleGenerator(nn.Module):
    """``G(z) = synthesis(mix(f(z), f(z₂)), noise)`` (module doc).

    ``__call__(z, train)``: in training (``train=True`` and a ``"noise"`` RNG given to
    ``apply``) the running mean ``w_avg`` is updated,
    ``w̄ ← β·w̄ + (1 − β)·mean_batch(w)``, and with probability ``mixing_prob`` the batch
    is style-mixed with the ``w`` of fresh latents at a crossover drawn uniformly from
    ``1 … num_ws − 1`` (mixing regularisation, §3.1: one draw per batch, as the papers'
    code).  The noise images come from the ``"noise"`` RNG; without it there is no noise.
    ``psi < 1`` truncates towards ``w_avg`` (layers ``< cutoff``).  The pieces are methods
    too: :meth:`map` (``z -> ws``) and :meth:`synthesize` (``ws, noise_key -> images``).
    """

    resolution: int = 32
    channels: int = 1
    w_dim: int = 128
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    fmap_base: int = 512
    fmap_max: int = 64
    style: str = "modulated"
    mixing_prob: float = 0.9
    w_avg_beta: float = 0.995
    noise_min_resolution: int = 4
    noise_lr_multiplier: float = 1.0

    def setup(self) -> None:
        self.mapping = MappingNetwork(self.w_dim, self.mapping_layers, self.mapping_lr_multiplier)
        self.synthesis = SynthesisNetwork(
            self.resolution,
            self.channels,
            self.fmap_base,
            self.fmap_max,
            self.style,
            self.noise_min_resolution,
            self.noise_lr_multiplier,
        )
        self.w_avg = self.variable("w_avg", "w_avg", jnp.zeros, (self.w_dim,), jnp.float32)

    @property
    def num_ws(self) -> int:
        return num_ws(self.resolution)

    def map(self, z: Array) -> Array:
        """``z (N, latent_dim) -> ws (N, num_ws, w_dim)``, the same ``w`` for every layer."""
        return broadcast_ws(self.mapping(z), self.num_ws)

    def synthesize(self, ws: Array, noise_key: Array | None = None) -> Array:
        return self.synthesis(ws, noise_key)

    def average_w(self) -> Array:
        """The running mean ``w_avg`` (the truncation centre)."""
        return self.w_avg.value

    def __call__(
        self, z: Array, train: bool = False, psi: float = 1.0, cutoff: int | None = None
    ) -> Array:
        w = self.mapping(z)
        if train and not self.is_initializing():
            batch_mean = jax.lax.stop_gradient(jnp.mean(w, axis=0))
            self.w_avg.value = lerp(batch_mean, self.w_avg.value, self.w_avg_beta)
        ws = broadcast_ws(w, self.num_ws)
        key = self.make_rng("noise") if self.has_rng("noise") else None
        if train and key is not None and self.mixing_prob > 0:
            key, key_z, key_cut, key_mix = jax.random.split(key, 4)
            ws_other = self.map(jax.random.normal(key_z, z.shape, z.dtype))
            crossover = jnp.where(
                jax.random.uniform(key_mix) < self.mixing_prob,
                jax.random.randint(key_cut, (), 1, self.num_ws),
                self.num_ws,
            )
            ws = mix_styles(ws, ws_other, crossover)
        if psi != 1.0:
            ws = truncate(ws, self.w_avg.value, psi, cutoff)
        return self.synthesis(ws, key)


class ResidualDiscriminator(nn.Module):
    """StyleGAN2's residual discriminator (module doc): ``(N, R, R, C) -> (N,)`` logits."""

    resolution: int = 32
    fmap_base: int = 512
    fmap_max: int = 64
    mbstd_group: int = 4

    def width(self, resolution: int) -> int:
        return feature_width(resolution, self.fmap_base, self.fmap_max)

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x = lrelu(EqualizedConv(self.width(self.resolution), kernel_size=1, name="from_rgb")(x))
        for r in reversed(stage_resolutions(self.resolution)[1:]):
            out = self.width(r // 2)
            skip = EqualizedConv(out, kernel_size=1, use_bias=False, gain=1.0, name=f"skip_{r}")(
                downsample(x)
            )
            y = lrelu(EqualizedConv(self.width(r), name=f"conv0_{r}")(x))
            y = downsample(lrelu(EqualizedConv(out, name=f"conv1_{r}")(y)))
            x = (y + skip) * math.sqrt(0.5)
        x = MinibatchStdDev(self.mbstd_group)(x)
        x = lrelu(EqualizedConv(self.width(4), name="conv_4")(x))
        x = lrelu(EqualizedDense(self.width(4), name="dense_4")(x.reshape(x.shape[0], -1)))
        return EqualizedDense(1, gain=1.0, name="logit")(x)[:, 0]
