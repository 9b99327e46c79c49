"""Progressive growing of GANs (Karras et al. 2018, arXiv:1710.10196): the generator and
discriminator of every resolution 4 → 8 → … → R, with the new block faded in.

**Networks** (the paper's Table 2, widths scaled down for small images):

* G: ``z`` → pixel_norm → dense to 4×4×w₄ (gain √2/4) → conv 3×3 → then per resolution
  ``r = 8 … R``: nearest-neighbour ×2 up-sampling, two 3×3 convolutions.  Every
  convolution is followed by LeakyReLU(0.2) and :func:`pixel_norm`.  ``to_rgb_r`` is a
  linear 1×1 convolution (gain 1); the output is not squashed (as in the paper).
* D mirrors it: ``from_rgb_r`` (1×1 conv + LeakyReLU), per resolution two 3×3
  convolutions and 2×2 average pooling, and at 4×4 :class:`MinibatchStdDev`, a 3×3 conv,
  a dense layer and the linear output (gain 1).  No normalisation in D.
* Every layer has an equalized learning rate (:class:`EqualizedDense`,
  :class:`EqualizedConv`); widths are ``min(fmap_max, fmap_base / r)``.

**Fade-in.**  With a static ``resolution`` R and a traced ``alpha``,
``G_R(z, α) = (1 − α)·up(to_rgb_{R/2}(h_{R/2})) + α·to_rgb_R(block_R(h_{R/2}))`` and
``D_R(x, α) = rest((1 − α)·from_rgb_{R/2}(down(x)) + α·block_R(from_rgb_R(x)))``, so
``G_R(z, 0) = up(G_{R/2}(z, 1))`` and ``D_R(x, 0) = D_{R/2}(down(x), 1)`` with the same
parameters (tests pin both).  Changing α never recompiles; each resolution is its own
program.

**Growing only adds parameters.**  Layers are named by resolution (``block_8``,
``to_rgb_8``, ``from_rgb_8``) and their shapes do not depend on R, and the network of
resolution R creates the ``to_rgb``/``from_rgb`` of *every* resolution ≤ R at
initialisation (the unused ones are never called afterwards, and have zero gradients).
So the variables of ``G_{R/2}`` are a subset of those of ``G_R`` and
:func:`grow_parameters` copies them over bit for bit.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.nets.layers import (
    EqualizedConv,
    EqualizedDense,
    MinibatchStdDev,
    fade_in,
    pixel_norm,
)

Array = jax.Array
LEAKY_SLOPE = 0.2


def stage_resolutions(resolution: int) -> tuple[int, ...]:
    """``(4, 8, …, resolution)``; ``resolution`` must be ``4·2^k``."""
    k = math.log2(resolution / 4) if resolution >= 4 else -1.0
    if k < 0 or k != int(k):
        raise ValueError(f"resolution {resolution} is not 4·2^k (4, 8, 16, 32, 64, …)")
    return tuple(4 * 2**i for i in range(int(k) + 1))


def feature_width(resolution: int, fmap_base: int, fmap_max: int) -> int:
    """The paper's width rule ``min(fmap_max, fmap_base / resolution)`` (at least 1)."""
    return max(1, min(fmap_max, fmap_base // resolution))


def upsample(x: Array) -> Array:
    """Nearest-neighbour ×2 up-sampling of NHWC images (each pixel becomes a 2×2 block)."""
    n, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, c))
    return x.reshape(n, 2 * h, 2 * w, c)


def area_downsample(x: Array, factor: int) -> Array:
    """Area down-sampling of NHWC images by an integer ``factor``: each output pixel is the
    mean of its ``factor × factor`` block (the sizes must divide)."""
    n, h, w, c = x.shape
    if h % factor or w % factor:
        raise ValueError(f"{h}×{w} images do not split into {factor}×{factor} blocks")
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def downsample(x: Array) -> Array:
    """2×2 average pooling of NHWC images (the adjoint of :func:`upsample`, divided by 4)."""
    return area_downsample(x, 2)


def resize_to(x: Array, resolution: int) -> Array:
    """``x`` brought to ``resolution`` by repeated :func:`upsample` or :func:`downsample`."""
    while x.shape[1] < resolution:
        x = upsample(x)
    while x.shape[1] > resolution:
        x = downsample(x)
    return x


def _lrelu(x: Array) -> Array:
    return nn.leaky_relu(x, LEAKY_SLOPE)


class _GeneratorBlock(nn.Module):
    """The 4×4 block (dense from the latent + conv) or a ×2 block (up-sample + 2 convs)."""

    features: int
    first: bool
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if self.first:
            x = pixel_norm(x)
            x = EqualizedDense(
                16 * self.features,
                gain=math.sqrt(2) / 4,
                param_dtype=self.param_dtype,
                name="dense",
            )(x)
            x = pixel_norm(_lrelu(x.reshape(x.shape[0], 4, 4, self.features)))
            return pixel_norm(
                _lrelu(EqualizedConv(self.features, param_dtype=self.param_dtype, name="conv")(x))
            )
        x = upsample(x)
        x = pixel_norm(
            _lrelu(EqualizedConv(self.features, param_dtype=self.param_dtype, name="conv0")(x))
        )
        return pixel_norm(
            _lrelu(EqualizedConv(self.features, param_dtype=self.param_dtype, name="conv1")(x))
        )


class ProgressiveGenerator(nn.Module):
    """``G_R(z, α)`` (module doc): images ``(N, R, R, channels)``."""

    resolution: int = 32
    channels: int = 1
    fmap_base: int = 1024
    fmap_max: int = 128
    param_dtype: jnp.dtype = jnp.float32

    def width(self, resolution: int) -> int:
        return feature_width(resolution, self.fmap_base, self.fmap_max)

    @nn.compact
    def __call__(self, z: Array, alpha: Array | float = 1.0) -> Array:
        sizes = stage_resolutions(self.resolution)

        def to_rgb(r: int, h: Array) -> Array:
            return EqualizedConv(
                self.channels,
                kernel_size=1,
                gain=1.0,
                param_dtype=self.param_dtype,
                name=f"to_rgb_{r}",
            )(h)

        features = {}
        h = z
        for r in sizes:
            h = _GeneratorBlock(
                self.width(r), first=r == 4, param_dtype=self.param_dtype, name=f"block_{r}"
            )(h)
            features[r] = h
        if self.is_initializing():  # every resolution's toRGB exists from the start
            for r in sizes[:-2]:
                to_rgb(r, features[r])
        high = to_rgb(self.resolution, features[self.resolution])
        if self.resolution == 4:
            return high
        low = upsample(to_rgb(self.resolution // 2, features[self.resolution // 2]))
        return fade_in(alpha, low, high)


class _DiscriminatorBlock(nn.Module):
    """A ×½ block (2 convs + average pooling) or the 4×4 head (minibatch stddev, conv,
    dense, linear logit)."""

    features: int
    out_features: int
    last: bool
    group_size: int = 4
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if self.last:
            x = MinibatchStdDev(self.group_size)(x)
            x = _lrelu(EqualizedConv(self.features, param_dtype=self.param_dtype, name="conv")(x))
            x = _lrelu(
                EqualizedDense(self.out_features, param_dtype=self.param_dtype, name="dense")(
                    x.reshape(x.shape[0], -1)
                )
            )
            return EqualizedDense(1, gain=1.0, param_dtype=self.param_dtype, name="logit")(x)[:, 0]
        x = _lrelu(EqualizedConv(self.features, param_dtype=self.param_dtype, name="conv0")(x))
        x = _lrelu(EqualizedConv(self.out_features, param_dtype=self.param_dtype, name="conv1")(x))
        return downsample(x)


class ProgressiveDiscriminator(nn.Module):
    """``D_R(x, α)`` (module doc): one logit per image of shape ``(N, R, R, C)``."""

    resolution: int = 32
    fmap_base: int = 1024
    fmap_max: int = 128
    param_dtype: jnp.dtype = jnp.float32
    group_size: int = 4

    def width(self, resolution: int) -> int:
        return feature_width(resolution, self.fmap_base, self.fmap_max)

    @nn.compact
    def __call__(self, x: Array, alpha: Array | float = 1.0) -> Array:
        sizes = stage_resolutions(self.resolution)

        def from_rgb(r: int, image: Array) -> Array:
            return _lrelu(
                EqualizedConv(
                    self.width(r), kernel_size=1, param_dtype=self.param_dtype, name=f"from_rgb_{r}"
                )(image)
            )

        blocks = {
            r: _DiscriminatorBlock(
                self.width(r),
                self.width(r // 2) if r > 4 else self.width(4),
                last=r == 4,
                group_size=self.group_size,
                param_dtype=self.param_dtype,
                name=f"block_{r}",
            )
            for r in sizes
        }
        if self.is_initializing():  # every resolution's fromRGB exists from the start
            small = x
            for r in reversed(sizes[:-2]):
                small = resize_to(small, r)
                from_rgb(r, small)
        h = blocks[self.resolution](from_rgb(self.resolution, x))
        if self.resolution == 4:
            return h
        h = fade_in(alpha, from_rgb(self.resolution // 2, downsample(x)), h)
        for r in reversed(sizes[:-1]):
            h = blocks[r](h)
        return h


def grow_parameters(grown: dict, previous: dict) -> dict:
    """``grown`` (freshly initialised variables of the larger network) with every entry of
    ``previous`` (the smaller network's) copied over unchanged; raises if ``previous`` has
    an entry ``grown`` lacks or of another shape (growing only adds parameters)."""

    def merge(new: object, old: object, path: str) -> object:
        if isinstance(old, dict):
            if not isinstance(new, dict):
                raise TypeError(f"{path}: the grown network has a leaf where there was a tree")
            missing = set(old) - set(new)
            if missing:
                raise ValueError(f"{path}: the grown network lacks {sorted(missing)}")
            return {k: merge(new[k], old[k], f"{path}/{k}") if k in old else new[k] for k in new}
        if jnp.shape(new) != jnp.shape(old):
            raise ValueError(f"{path}: shape {jnp.shape(old)} became {jnp.shape(new)}")
        return old

    return merge(dict(grown), dict(previous), "")
