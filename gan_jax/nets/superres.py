"""The networks of LAG, the latent adversarial generator (Berthelot, Milanfar and Goodfellow
2020, arXiv:2003.02365), for ×2^k super-resolution, on the equalized layers of
:mod:`gan_jax.nets.layers`.

**Generator** ``G(lr, ε) -> hr`` (:class:`SuperResGenerator`): the low-resolution image
and ``noise_dim`` channels of noise ``ε`` (the latent; ``ε = 0`` is the "centre" output)
are concatenated at the low resolution; a 3×3 convolution and ``blocks`` residual blocks
(``y += conv(relu(conv(y)))/blocks``) work there; then every ×2 stage up-samples
(nearest), applies two 3×3 convolutions with LeakyReLU(0.2) and a ``to_rgb``, and the
stages' RGB outputs are summed after up-sampling (a skip generator, as the paper's code).
With ``residual=True`` (our default; the paper's code has no such path) the sum is added
to the bicubic up-sampling of the seed, so the networks learn only the detail bicubic
interpolation misses: a first 1,000-step run without it was still below bicubic.

**Discriminator** ``D(hr, δ) -> latent`` (:class:`ConditionalDiscriminator`): LAG's critic
returns a *latent map*, not a logit: ``from_rgb`` on the high-resolution image, per stage a
3×3 convolution, space-to-depth ×2 and a 3×3 convolution, down to the low resolution;
there the condition ``δ`` (how far the candidate's down-sampling is from the input,
``|lr − down(hr)|``) is concatenated, ``blocks`` 3×3 convolutions follow, and the channels
are multiplied by a fixed ``±1`` pattern (the code's "center", so that a latent of zeros is
not a trivial optimum).  ``δ`` makes D conditional: it sees whether the candidate explains
its seed.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.nets.layers import EqualizedConv
from gan_jax.nets.progressive import upsample

Array = jax.Array


def space_to_depth(x: Array, block: int = 2) -> Array:
    """``(N, H, W, C) -> (N, H/b, W/b, b·b·C)``: each ``b × b`` block becomes channels."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // block, block, w // block, block, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(n, h // block, w // block, block * block * c)


def stage_widths(filters: int, stages: int, filters_min: int) -> list[int]:
    """LAG's widths ``max(filters_min, filters / 2^s)`` for stages ``s = 0 … stages``
    (stage 0 at the low resolution)."""
    return [max(filters_min, filters >> s) for s in range(stages + 1)]


def bicubic_upsample(low_res: Array, scale: int) -> Array:
    """Bicubic interpolation ×``scale`` (``jax.image.resize``): the classical baseline and
    the path a residual :class:`SuperResGenerator` adds its detail to."""
    n, h, w, c = low_res.shape
    return jax.image.resize(low_res, (n, h * scale, w * scale, c), "cubic")


def _lrelu(x: Array) -> Array:
    return jax.nn.leaky_relu(x, 0.2)


class SuperResGenerator(nn.Module):
    """``G(lr (N, h, w, C), ε (N, h, w, noise_dim)) -> (N, h·2^stages, w·2^stages, C)``."""

    stages: int = 2
    filters: int = 64
    filters_min: int = 32
    blocks: int = 4
    residual: bool = True

    @nn.compact
    def __call__(self, low_res: Array, noise: Array) -> Array:
        widths = stage_widths(self.filters, self.stages, self.filters_min)
        y = EqualizedConv(widths[0], gain=1.0, name="input")(jnp.concatenate([low_res, noise], -1))
        for b in range(self.blocks):
            dy = jax.nn.relu(EqualizedConv(widths[0], name=f"block_{b}_a")(y))
            y = y + EqualizedConv(widths[0], gain=1.0, name=f"block_{b}_b")(dy) / self.blocks
        image = None
        for s in range(1, self.stages + 1):
            y = upsample(y)
            y = _lrelu(EqualizedConv(widths[s], name=f"stage_{s}_a")(y))
            y = _lrelu(EqualizedConv(widths[s], name=f"stage_{s}_b")(y))
            rgb = EqualizedConv(low_res.shape[-1], gain=1.0, name=f"to_rgb_{s}")(y)
            image = rgb if image is None else upsample(image) + rgb
        if self.residual:
            image = image + bicubic_upsample(low_res, 2**self.stages)
        return image


class ConditionalDiscriminator(nn.Module):
    """``D(hr (N, H, W, C), δ (N, H/2^stages, W/2^stages, C)) -> (N, h, w, filters)``, the
    latent map (module doc)."""

    stages: int = 2
    filters: int = 64
    filters_min: int = 32
    blocks: int = 4

    @nn.compact
    def __call__(self, high_res: Array, delta: Array) -> Array:
        widths = stage_widths(self.filters, self.stages, self.filters_min)
        y = _lrelu(EqualizedConv(widths[-1], name="from_rgb")(high_res))
        for s in range(self.stages, 0, -1):
            y = _lrelu(EqualizedConv(widths[s], name=f"stage_{s}_a")(y))
            y = space_to_depth(y)
            y = _lrelu(EqualizedConv(widths[s - 1], name=f"stage_{s}_b")(y))
        y = jnp.concatenate([y, delta], axis=-1)
        for b in range(self.blocks):
            y = _lrelu(EqualizedConv(widths[0], name=f"block_{b}")(y))
        center = jnp.where(jnp.arange(widths[0]) % 2 == 0, -1.0, 1.0).astype(y.dtype)
        return y * center
