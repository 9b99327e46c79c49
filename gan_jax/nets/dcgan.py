"""DCGAN generator and discriminator (Radford et al. 2016, arXiv:1511.06434).

The paper's guidelines: strided convolutions instead of pooling, BatchNorm in both nets
(not on G's output nor D's input layer), ReLU in G with ``tanh`` on the output, LeakyReLU
(slope 0.2) in D, no fully connected hidden layers.  Generic in resolution (``4·2^k``: 32,
64, …) and channels (1 or 3).

**DCGAN-32 reference config** (the benchmark's definition, ``width=64``, ``resolution=32``):

* G: ``z ∈ R^100`` → project to 4×4×256 → 8×8×128 → 16×16×64 → 32×32×C, each hidden map
  BN + ReLU, output ``tanh``;
* D: 32×32×C → 16×16×64 (no BN) → 8×8×128 → 4×4×256 (BN + LeakyReLU(0.2)) → 1 logit
  (a 4×4 valid convolution);
* every up/down-sampling layer is a 4×4 kernel, stride 2, padding 1 (PyTorch's
  ``ConvTranspose2d(·, ·, 4, 2, 1)`` / ``Conv2d(·, ·, 4, 2, 1)``);
* weights ``N(0, 0.02²)`` as in the paper; BatchNorm momentum 0.9 (PyTorch's 0.1), ε = 1e-5.

G's projection ``z → 4×4×C₀`` is a matrix multiply followed by a reshape, exactly what the
paper describes (and what PyTorch's ``ConvTranspose2d(nz, C₀, 4, 1, 0)`` on a 1×1 input
computes).

**Up-sampling as sub-pixel convolution.**  :class:`ConvTranspose4x4` has the parameters of
a 4×4 stride-2 transposed convolution and computes exactly that function, as four
sub-pixel phases followed by a depth-to-space shuffle (Shi et al. 2016, arXiv:1609.05158):
output pixel ``(2m + a, 2n + b)`` only sees a 2×2 neighbourhood of inputs through 4 of the
16 kernel taps, so each phase is an ordinary 2×2 convolution with those taps.  Same
parameters, same outputs (a test pins it to the definition), same multiply-adds, but
XLA:CPU differentiates a plain convolution far faster than a transposed one (the
measurements: the benchmarks page of the documentation).  ``method="transpose"`` keeps the
direct form for comparison.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.nets.layers import BatchNorm, add_channel_bias

Array = jax.Array

DCGAN_INIT = nn.initializers.normal(stddev=0.02)
LEAKY_SLOPE = 0.2
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

# A 4×4, stride-2, padding-1 transposed kernel adds in[i]·w[k] to out[2i − 1 + k].  Output row
# 2m + a therefore sees two input rows: a = 0 sees rows m − 1, m through taps 3, 1; a = 1
# sees rows m, m + 1 through taps 2, 0.  Phase a is a 2×2 convolution with those taps, the
# input padded by one row before (a = 0) or after (a = 1).
_PHASE_TAPS = ((3, 1), (2, 0))
_PHASE_PADDING = ((1, 0), (0, 1))


def phase_kernel(kernel: Array, a: int, b: int) -> Array:
    """The 2×2 kernel of output phase ``(a, b)`` (rows ``2m + a``, columns ``2n + b``) of the
    4×4 stride-2 padding-1 transposed convolution with ``kernel`` ``(4, 4, C_in, C_out)``:
    taps ``_PHASE_TAPS`` ``[a] × [b]``, i.e. ``(3, 1)`` / ``(2, 0)``, which is the strided
    slice ``kernel[::-1, ::-1][a::2, b::2]`` (one slice, whose gradient is one pad)."""
    return kernel[::-1, ::-1][a::2, b::2]


def depth_to_space(x: Array, block: int = 2) -> Array:
    """``(N, H, W, b·b·C) -> (N, b·H, b·W, C)``: channel block ``a·b + c`` goes to the
    sub-pixel ``(a, c)`` of each ``b × b`` output cell."""
    n, h, w, channels = x.shape
    c = channels // (block * block)
    x = x.reshape(n, h, w, block, block, c)
    x = x.transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h * block, w * block, c)


# Up to this many channels on the narrow side (G's output, D's input), a layer is computed as
# one matrix product plus cheap shifted adds or slices; wider layers use convolutions.
NARROW_CHANNELS = 4


def _shifted_phase_sum(u: Array) -> Array:
    """Overlap-add of per-pixel 4×4 output patches ``u`` ``(N, H, W, 4, 4, C)`` (input pixel
    ``(i, j)`` adds ``u[i, j, r, c]`` to output ``(2i − 1 + r, 2j − 1 + c)``) into
    ``(N, 2H, 2W, C)``: output phase ``(a, b)`` sums the 2×2 taps of ``_PHASE_TAPS``."""
    h, w = u.shape[1:3]
    padded = jnp.pad(u, ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0), (0, 0)))
    phases = []
    for a in (0, 1):
        for b in (0, 1):
            total = 0.0
            for t, r in enumerate(_PHASE_TAPS[a]):
                for s, c in enumerate(_PHASE_TAPS[b]):
                    # tap t of phase a reads input row m + t + a − 1 (padded index m + t + a)
                    total = total + padded[:, t + a : t + a + h, s + b : s + b + w, r, c, :]
            phases.append(total)
    return depth_to_space(jnp.concatenate(phases, axis=-1))


def subpixel_conv_transpose(x: Array, kernel: Array) -> Array:
    """The 4×4 stride-2 padding-1 transposed convolution of ``x`` with ``kernel``
    ``(4, 4, C_in, C_out)`` as four 2×2 phase convolutions and a depth-to-space shuffle."""
    phases = [
        jax.lax.conv_general_dilated(
            x,
            phase_kernel(kernel, a, b),
            window_strides=(1, 1),
            padding=(_PHASE_PADDING[a], _PHASE_PADDING[b]),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        for a in (0, 1)
        for b in (0, 1)
    ]
    return depth_to_space(jnp.concatenate(phases, axis=-1))


# the ``method`` values of ConvTranspose4x4 and Conv4x4Down (one function each, computed
# differently)
UPSAMPLE_METHODS = ("auto", "subpixel", "overlap_add", "transpose")
DOWNSAMPLE_METHODS = ("auto", "im2col", "conv")


class _Conv4x4Layer(nn.Module):
    """What the 4×4 stride-2 layers share: ``nn.Conv``'s variables (``kernel``
    ``(4, 4, C_in, C_out)`` in float32, optional ``bias``) and a ``method`` that picks how
    the layer's one function is computed, ``"auto"`` choosing by the narrow side's width."""

    features: int
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = DCGAN_INIT
    method: str = "auto"

    def _kernel(self, x: Array) -> Array:
        shape = (4, 4, x.shape[-1], self.features)
        return self.param("kernel", self.kernel_init, shape, jnp.float32).astype(x.dtype)

    def _method(self, narrow_channels: int, narrow: str, wide: str) -> str:
        if self.method != "auto":
            return self.method
        return narrow if narrow_channels <= NARROW_CHANNELS else wide

    def _add_bias(self, y: Array) -> Array:
        if not self.use_bias:
            return y
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return add_channel_bias(y, bias)


class ConvTranspose4x4(_Conv4x4Layer):
    """A 4×4, stride-2, padding-1 transposed convolution (doubles H and W).  ``kernel`` is
    ``(4, 4, C_in, C_out)`` with PyTorch's tap convention ``out[2i − 1 + k] += in[i]·kernel[k]``.

    ``method`` picks how the same function is computed:

    * ``"subpixel"``: four 2×2 phase convolutions and a depth-to-space shuffle (module doc);
    * ``"overlap_add"``: one matrix product ``(N·H·W, C_in) @ (C_in, 16·C_out)`` giving every
      input pixel's 4×4 output patch, then the patches added into place (col2im).  Same
      multiply-adds; it wins when ``C_out`` is tiny, where each phase convolution would have
      one output channel (G's 16×16×64 → 32×32×1 layer), and loses when it is wide;
    * ``"auto"`` (default): ``overlap_add`` up to :data:`NARROW_CHANNELS` outputs, else
      ``subpixel``;
    * ``"transpose"``: ``lax.conv_transpose``, the textbook form, kept for comparison.
    """

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kernel = self._kernel(x)
        method = self._method(self.features, narrow="overlap_add", wide="subpixel")
        if method == "subpixel":
            y = subpixel_conv_transpose(x, kernel)
        elif method == "overlap_add":
            n, h, w, c_in = x.shape
            patches = x.reshape(-1, c_in) @ kernel.transpose(2, 0, 1, 3).reshape(c_in, -1)
            y = _shifted_phase_sum(patches.reshape(n, h, w, 4, 4, self.features))
        elif method == "transpose":
            # The textbook form: correlate the zero-dilated input, padded by k − 1 − p = 2,
            # with the flipped kernel (what flax's nn.ConvTranspose lowers to).
            y = jax.lax.conv_transpose(
                x,
                kernel[::-1, ::-1],
                strides=(2, 2),
                padding=((2, 2), (2, 2)),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )
        else:
            raise ValueError(
                f"unknown up-sampling method {self.method!r}: auto, subpixel, overlap_add or "
                "transpose"
            )
        return self._add_bias(y)


def im2col_4x4_stride2(x: Array) -> Array:
    """The 4×4 patches of a stride-2, padding-1 convolution: ``(N, H, W, C) ->
    (N·H/2·W/2, 16·C)``, columns ordered ``(row tap, column tap, channel)`` like a flattened
    ``(4, 4, C, ·)`` kernel."""
    n, h, w, c = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    taps = [padded[:, r : r + h : 2, s : s + w : 2, :] for r in range(4) for s in range(4)]
    return jnp.stack(taps, axis=3).reshape(n * (h // 2) * (w // 2), 16 * c)


class Conv4x4Down(_Conv4x4Layer):
    """A 4×4, stride-2, padding-1 convolution (halves H and W) with ``nn.Conv``'s variables
    (``kernel`` ``(4, 4, C_in, C_out)``, ``bias``).

    ``method="auto"`` (default) computes it as :func:`im2col_4x4_stride2` and one matrix
    product when ``C_in`` ≤ :data:`NARROW_CHANNELS` (D's image input, where it is faster), and
    as ``lax.conv_general_dilated`` otherwise (``"conv"``); ``"im2col"`` forces the former.

    Second derivatives favour ``"im2col"`` at every width: XLA:CPU differentiates a strided
    convolution's gradient through input-dilated convolutions, while im2col's are matrix
    products and pads, several times faster, while first-order training prefers the
    convolution for the wide layers (the measurements: the benchmarks page).  Hence :class:`DCGANDiscriminator`'s ``downsample`` flag, which
    :mod:`gan_jax.dynamics.spectrum`'s users set to ``"im2col"``.
    """

    @nn.compact
    def __call__(self, x: Array) -> Array:
        c_in = x.shape[-1]
        kernel = self._kernel(x)
        method = self._method(c_in, narrow="im2col", wide="conv")
        if method == "im2col":
            n, h, w, _ = x.shape
            y = im2col_4x4_stride2(x) @ kernel.reshape(16 * c_in, self.features)
            y = y.reshape(n, h // 2, w // 2, self.features)
        elif method == "conv":
            y = jax.lax.conv_general_dilated(
                x,
                kernel,
                window_strides=(2, 2),
                padding=((1, 1), (1, 1)),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )
        else:
            raise ValueError(f"unknown convolution method {self.method!r}: auto, im2col or conv")
        return self._add_bias(y)


# The layer methods for second derivatives (game-Jacobian and Hessian products,
# :mod:`gan_jax.dynamics.spectrum`): the same functions and parameters as the defaults,
# computed as matrix products, pads and slices, which XLA:CPU differentiates twice far faster
# than it does strided or padded convolutions.  One product with the DCGAN-32 game's ``Jᵀ``
# (1.73 M parameters, batch 64, 2 CPU cores): 2.47 s with the defaults, 1.11 s with im2col
# down-sampling, 0.86 s with overlap-add up-sampling too; the first-order vector field costs
# 0.32 s instead of 0.21 s, so training keeps the defaults.
SECOND_ORDER_METHODS = {"upsample": "overlap_add", "downsample": "im2col"}


def num_stages(resolution: int) -> int:
    """Up-sampling stages from 4×4 to ``resolution`` (a ``ValueError`` unless 4·2^k ≥ 8)."""
    stages = round(math.log2(resolution / 4)) if resolution >= 8 else 0
    if stages < 1 or 4 * 2**stages != resolution:
        raise ValueError(f"DCGAN resolution must be 4·2^k ≥ 8 (8, 16, 32, 64, …), got {resolution}")
    return stages


def _batch_norm(train: bool) -> BatchNorm:
    return BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


class DCGANGenerator(nn.Module):
    """``z (N, latent) -> images (N, R, R, channels)`` in ``[-1, 1]`` (see module doc).

    Widths: the 4×4 map has ``width·2^(k−1)`` channels for ``R = 4·2^k`` and each
    up-sampling halves them (256 → 128 → 64 for the reference).
    """

    resolution: int = 32
    channels: int = 1
    width: int = 64
    upsample: str = "auto"  # ConvTranspose4x4's method: the same function, computed differently

    @nn.compact
    def __call__(self, z: Array, train: bool = True) -> Array:
        stages = num_stages(self.resolution)
        features = self.width * 2 ** (stages - 1)
        x = nn.Dense(4 * 4 * features, use_bias=False, kernel_init=DCGAN_INIT)(z)
        x = x.reshape(z.shape[0], 4, 4, features)
        x = nn.relu(_batch_norm(train)(x))
        for _ in range(stages - 1):
            features //= 2
            x = ConvTranspose4x4(features, use_bias=False, method=self.upsample)(x)
            x = nn.relu(_batch_norm(train)(x))
        return jnp.tanh(ConvTranspose4x4(self.channels, method=self.upsample)(x))


class DCGANDiscriminator(nn.Module):
    """``images (N, R, R, C) -> logits (N,)`` (see module doc).  Stride-2 4×4 convolutions
    with ``width, 2·width, …`` channels down to 4×4, BN on all but the first, LeakyReLU(0.2),
    then one 4×4 valid convolution to a logit.

    ``batch_norm=False`` drops the BatchNorm layers (each convolution gets a bias instead):
    D then scores every sample on its own, which gradient penalties on ``∇ₓD`` (R1, R2,
    WGAN-GP) assume, as in R3GAN's normalisation-free D (arXiv:2501.05441)."""

    width: int = 64
    downsample: str = "auto"  # Conv4x4Down's method: the same function, computed differently
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: Array, train: bool = True) -> Array:
        stages = num_stages(x.shape[1])
        x = discriminator_trunk(x, self.width, self.downsample, train, self.batch_norm)
        x = nn.Conv(1, (4, 4), padding="VALID", kernel_init=DCGAN_INIT, name=f"Conv_{stages}")(x)
        return x.reshape(x.shape[0])


def discriminator_trunk(
    x: Array, width: int, downsample: str, train: bool, batch_norm: bool = True
) -> Array:
    """D's stride-2 stages ``R×R×C → 4×4×(width·2^(k−1))`` (``Conv_0 … Conv_{k−1}``, BN on
    all but the first unless ``batch_norm`` is off, LeakyReLU(0.2)); call it inside a compact
    module's ``__call__``, whose scope names the layers (:class:`DCGANDiscriminator`,
    :class:`~gan_jax.nets.conditional.ProjectionDiscriminator`)."""
    features = width
    for stage in range(num_stages(x.shape[1])):
        normalized = batch_norm and stage > 0
        x = Conv4x4Down(features, use_bias=not normalized, method=downsample, name=f"Conv_{stage}")(
            x
        )
        if normalized:
            x = _batch_norm(train)(x)
        x = nn.leaky_relu(x, negative_slope=LEAKY_SLOPE)
        features *= 2
    return x
