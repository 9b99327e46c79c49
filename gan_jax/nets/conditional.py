"""Networks that generate from features, and the discriminator that judges an image against
its condition: the blocks :mod:`gan_jax.models.feature_gan` builds OpenGAN and Semantic Pyramid
from.

* :class:`ConditionalBatchNorm`: BatchNorm followed by a feature-wise affine map whose scale
  and shift are linear in a condition vector ``c`` (conditional BN, de Vries et al. 2017,
  arXiv:1707.00683; FiLM, Perez et al. 2018, arXiv:1709.07871):
  ``y = BN(x)·(1 + γ(c)) + β(c)``, with ``γ`` and ``β`` zero at initialisation (plain BN).
* :class:`ConditionalGenerator`: the DCGAN generator (:mod:`gan_jax.nets.dcgan`) with ``c``
  concatenated to ``z`` and every BatchNorm conditional on ``c``; feature *maps* are
  injected where G's hidden map has their resolution: a 1×1 convolution (no bias) of each
  map is added to G's activations before that layer's normalisation (maps smaller than
  4×4 are nearest-neighbour up-sampled to 4×4 first), Semantic Pyramid's way of feeding
  spatial features to the generator (Shocher et al. 2020, arXiv:2003.06221).  A zero
  condition or map adds exactly nothing, so masking an input removes G's dependence on it.
* :class:`ProjectionDiscriminator`: the projection discriminator (Miyato and Koyama 2018,
  arXiv:1802.05637) on the DCGAN trunk: ``D(x, c) = ψ(φ(x)) + ⟨W c, φ(x)⟩`` with ``φ(x)``
  the flattened last 4×4 map, ``ψ`` linear (DCGAN's 4×4 valid convolution) and ``W`` a
  linear embedding of the condition vector (a class label is the one-hot special case).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.nets.dcgan import (
    BN_EPSILON,
    BN_MOMENTUM,
    DCGAN_INIT,
    ConvTranspose4x4,
    discriminator_trunk,
    num_stages,
)
from gan_jax.nets.layers import BatchNorm

Array = jax.Array
SMALLEST_MAP = 4  # G's first hidden resolution: smaller condition maps are up-sampled to it


class ConditionalBatchNorm(nn.Module):
    """``BN(x)·(1 + γ(c)) + β(c)`` (module doc); ``x`` ``(N, H, W, C)``, ``c`` ``(N, d)``."""

    momentum: float = BN_MOMENTUM
    epsilon: float = BN_EPSILON

    @nn.compact
    def __call__(self, x: Array, condition: Array, train: bool = True) -> Array:
        channels = x.shape[-1]
        y = BatchNorm(use_running_average=not train, momentum=self.momentum, epsilon=self.epsilon)(
            x
        )
        gamma = nn.Dense(channels, kernel_init=nn.initializers.zeros, name="gamma")(condition)
        beta = nn.Dense(channels, kernel_init=nn.initializers.zeros, name="beta")(condition)
        return y * (1.0 + gamma[:, None, None, :]) + beta[:, None, None, :]


def injection_resolution(map_size: int) -> int:
    """The resolution of G's hidden map that receives a condition map of ``map_size``."""
    return max(map_size, SMALLEST_MAP)


class ConditionalGenerator(nn.Module):
    """``G(z, c, maps) -> images (N, R, R, channels)`` in ``[−1, 1]`` (module doc).

    ``z`` ``(N, latent)``; ``condition`` ``(N, d)`` (``d`` may be 0); ``maps`` a sequence
    of ``(N, s, s, C_i)`` feature maps with ``s`` a power of two no larger than ``R/2``,
    each injected at resolution ``max(s, 4)`` through its own 1×1 convolution."""

    resolution: int = 32
    channels: int = 1
    width: int = 64

    def _inject(self, x: Array, maps: Sequence[Array]) -> Array:
        for i, feature_map in enumerate(maps):
            if injection_resolution(feature_map.shape[1]) != x.shape[1]:
                continue
            factor = x.shape[1] // feature_map.shape[1]
            up = jnp.repeat(jnp.repeat(feature_map, factor, axis=1), factor, axis=2)
            conv = nn.Conv(
                x.shape[-1], (1, 1), use_bias=False, kernel_init=DCGAN_INIT, name=f"inject_{i}"
            )
            x = x + conv(up)
        return x

    @nn.compact
    def __call__(
        self, z: Array, condition: Array, maps: Sequence[Array] = (), train: bool = True
    ) -> Array:
        stages = num_stages(self.resolution)
        for feature_map in maps:
            size = injection_resolution(feature_map.shape[1])
            if size > self.resolution // 2 or self.resolution % size:
                raise ValueError(
                    f"a {feature_map.shape[1]}×{feature_map.shape[2]} condition map has no "
                    f"hidden layer of its resolution in a {self.resolution}×{self.resolution} G"
                )
        features = self.width * 2 ** (stages - 1)
        x = nn.Dense(4 * 4 * features, use_bias=False, kernel_init=DCGAN_INIT)(
            jnp.concatenate([z, condition], axis=-1)
        )
        x = self._inject(x.reshape(z.shape[0], 4, 4, features), maps)
        x = nn.relu(ConditionalBatchNorm()(x, condition, train))
        for _ in range(stages - 1):
            features //= 2
            x = ConvTranspose4x4(features, use_bias=False)(x)
            x = self._inject(x, maps)
            x = nn.relu(ConditionalBatchNorm()(x, condition, train))
        return jnp.tanh(ConvTranspose4x4(self.channels)(x))


class ProjectionDiscriminator(nn.Module):
    """``D(x, c) = ψ(φ(x)) + ⟨W c, φ(x)⟩`` (module doc) on images ``(N, R, R, C)`` and
    conditions ``(N, d)``; ``features_only=True`` returns ``φ(x)`` ``(N, F)``."""

    width: int = 64
    downsample: str = "auto"

    @nn.compact
    def __call__(
        self, x: Array, condition: Array, train: bool = True, features_only: bool = False
    ) -> Array:
        phi = discriminator_trunk(x, self.width, self.downsample, train)
        phi = phi.reshape(phi.shape[0], -1)
        if features_only:
            return phi
        unconditional = nn.Dense(1, kernel_init=DCGAN_INIT, name="psi")(phi)[:, 0]
        embedded = nn.Dense(phi.shape[-1], use_bias=False, kernel_init=DCGAN_INIT, name="embed")(
            condition
        )
        return unconditional + jnp.sum(embedded * phi, axis=-1)
