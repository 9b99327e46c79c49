"""The DCGAN networks of DCGAN-TensorFlow (Kim, github.com/carpedm20/DCGAN-tensorflow), the
code behind the DCGAN rows of VEEGAN's and PacGAN's Stacked-MNIST tables (Srivastava et al.
2017, arXiv:1705.07761; Lin et al. 2018, arXiv:1712.04086), after Radford et al. 2016
(arXiv:1511.06434).

They differ from the library's DCGAN-32 (:mod:`gan_jax.nets.dcgan`) in what matters for a
reproduction, so they are their own family:

* every up/down-sampling layer is a **5×5** kernel, stride 2, TensorFlow's ``SAME``
  padding, and the sizes are halved with rounding up, so any resolution works: at 28×28,
  D is 28 → 14 → 7 → 4 → 2 and G mirrors it (G's transposed convolutions are the exact
  adjoints of those strided convolutions, :func:`conv_transpose_same`);
* D has **four** stages, ``width → 8·width`` channels (64 → 128 → 256 → 512), BatchNorm on
  all but the first, LeakyReLU(0.2), then a dense layer from the flattened 2×2×512 map to
  the logit; G projects ``z`` to 2×2×(8·width) and up-samples through 4·width, 2·width,
  width channels to the image, BatchNorm + ReLU on every hidden map, ``tanh`` out;
* every layer has a bias (before BatchNorm it is a constant the normalisation removes in
  training, but it is a parameter there, and here);
* ``z`` is **uniform on [−1, 1]¹⁰⁰**: the generator reads the library's standard-normal
  latents through ``u = erf(z/√2) = 2Φ(z) − 1``, which is exactly uniform on (−1, 1) for
  ``z ~ N(0, 1)`` (``uniform_latent=False`` reads ``z`` itself), so the game, the
  evaluation and every sampler keep one latent distribution;
* weights ``N(0, 0.02²)`` (D's convolutions: truncated at two standard deviations, as
  ``tf.truncated_normal_initializer``), biases 0; BatchNorm momentum 0.9, ε = 1e-5.

What DCGAN-TensorFlow's training loop adds (two G updates per D update, Adam(2e-4,
β₁ = 0.5), batch 64) is the scheme's and the optimiser's business, not the networks'.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.nets.dcgan import depth_to_space
from gan_jax.nets.layers import BatchNorm

Array = jax.Array

__all__ = [
    "KERNEL",
    "SMALL_MAP",
    "DCGANTFDiscriminator",
    "DCGANTFGenerator",
    "conv_same",
    "conv_transpose_phases",
    "conv_transpose_same",
    "halved_sizes",
    "same_padding",
    "truncated_init",
]

KERNEL = 5
STAGES = 4
NORMAL_INIT = nn.initializers.normal(stddev=0.02)
LEAKY_SLOPE = 0.2
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def truncated_init(key: Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32) -> Array:
    """``tf.truncated_normal_initializer(stddev=0.02)``: ``0.02·N(0, 1)`` redrawn outside two
    standard deviations (its standard deviation is 0.02·0.88; flax's ``truncated_normal``
    rescales to 0.02 instead)."""
    return 0.02 * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


def halved_sizes(resolution: int, stages: int = STAGES) -> list[int]:
    """``[resolution, ⌈resolution/2⌉, …]``, ``stages + 1`` sizes: the maps of D from the
    image down (28 → 14, 7, 4, 2), G's read backwards."""
    sizes = [resolution]
    for _ in range(stages):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


# Maps up to this size (the input's height) are convolved as one matrix product of their
# patches; larger ones by XLA's convolution.  XLA:CPU's convolutions on a few pixels with
# hundreds of channels (D's 7×7×128 and 4×4×256 inputs, G's 2×2×512) and their gradients
# are an order of magnitude slower than the same products (the measurements: the
# benchmarks page).  The same function either way.
SMALL_MAP = 8
METHODS = ("auto", "matmul", "conv")


def _uses_matmul(size: int, method: str) -> bool:
    if method not in METHODS:
        raise ValueError(f"unknown convolution method {method!r}: {', '.join(METHODS)}")
    return method == "matmul" or (method == "auto" and size <= SMALL_MAP)


def _correlate(window: Array, kernel: Array, out: int, stride: int, matmul: bool) -> Array:
    """The valid cross-correlation ``(N, ·, ·, C_in) -> (N, out, out, C_out)`` of ``window``
    with ``kernel`` ``(kh, kw, C_in, C_out)`` at ``stride``: as XLA's convolution, or as the
    product of the ``(N·out², kh·kw·C_in)`` patches (columns ordered like the flattened
    kernel) with the ``(kh·kw·C_in, C_out)`` kernel."""
    if not matmul:
        return jax.lax.conv_general_dilated(
            window, kernel, (stride, stride), "VALID", dimension_numbers=_DIMENSIONS
        )
    kh, kw, c_in, c_out = kernel.shape
    span = stride * (out - 1) + 1
    taps = [
        window[:, r : r + span : stride, c : c + span : stride]
        for r in range(kh)
        for c in range(kw)
    ]
    patches = jnp.stack(taps, axis=3).reshape(-1, kh * kw * c_in)
    return (patches @ kernel.reshape(kh * kw * c_in, c_out)).reshape(-1, out, out, c_out)


def same_padding(size: int) -> tuple[int, int]:
    """TensorFlow's ``SAME`` padding ``(before, after)`` of a 5×5 stride-2 convolution of
    ``size`` pixels: ``max(2·(⌈size/2⌉ − 1) + 5 − size, 0)`` in all, the odd one after."""
    total = max(2 * (math.ceil(size / 2) - 1) + KERNEL - size, 0)
    return total // 2, total - total // 2


def conv_same(x: Array, kernel: Array, method: str = "auto") -> Array:
    """The 5×5 stride-2 convolution with TensorFlow's ``SAME`` padding (output ``⌈H/2⌉``;
    an odd total padding puts the extra row after), ``kernel`` ``(5, 5, C_in, C_out)``;
    ``method`` (``"auto"``: by :data:`SMALL_MAP`) picks how it is computed."""
    size = x.shape[1]
    before, after = same_padding(size)
    padded = jnp.pad(x, ((0, 0), (before, after), (before, after), (0, 0)))
    return _correlate(padded, kernel, math.ceil(size / 2), 2, _uses_matmul(size, method))


def conv_transpose_same(x: Array, kernel: Array, size: int) -> Array:
    """The transposed convolution ``(N, h, w, C_in) -> (N, size, size, C_out)`` of
    ``tf.nn.conv2d_transpose`` with stride 2 and ``SAME`` padding: the adjoint of
    :func:`conv_same` from a ``size × size × C_out`` map, whose output is ``h × w``.
    ``kernel`` is ``(5, 5, C_out, C_in)``, TensorFlow's layout (the forward convolution's).

    The definition, by ``jax.linear_transpose`` (slow on CPU); :func:`conv_transpose_phases`
    computes the same function the fast way."""
    _check_sizes(x, size)
    image = jax.ShapeDtypeStruct((x.shape[0], size, size, kernel.shape[2]), x.dtype)
    (y,) = jax.linear_transpose(lambda t: conv_same(t, kernel, "conv"), image)(x)
    return y


def _check_sizes(x: Array, size: int) -> None:
    if math.ceil(size / 2) != x.shape[1] or x.shape[1] != x.shape[2]:
        raise ValueError(
            f"a stride-2 SAME convolution of {size}×{size} gives {math.ceil(size / 2)}², "
            f"not {x.shape[1:3]}"
        )


def _phase_taps(phase: int, before: int) -> tuple[list[int], int]:
    """Output pixel ``2m + phase`` of the adjoint receives ``x[m + d]·w[k]`` for the taps
    ``k ≡ phase + before (mod 2)``, with ``d = (phase + before − k)/2``: those taps in order
    of increasing ``d`` (decreasing ``k``), and the smallest ``d``."""
    taps = [k for k in range(KERNEL - 1, -1, -1) if (k - phase - before) % 2 == 0]
    return taps, (phase + before - taps[0]) // 2


def conv_transpose_phases(x: Array, kernel: Array, size: int, method: str = "auto") -> Array:
    """:func:`conv_transpose_same` as four stride-1 correlations, one per output phase
    ``(2m + a, 2n + b)``, and a depth-to-space interleave (Shi et al. 2016,
    arXiv:1609.05158; :mod:`gan_jax.nets.dcgan` does the same for 4×4 kernels).  Phase
    ``a`` reads 3 or 2 of the 5 taps (those of its parity); every phase is computed on
    ``⌈size/2⌉`` rows and columns and the interleaved map cropped to ``size``.  The same
    function as the definition, an order of magnitude faster on XLA:CPU, which computes a
    zero-dilated convolution and its gradients slowly; ``method`` as in :func:`conv_same`."""
    _check_sizes(x, size)
    before, _ = same_padding(size)
    half = x.shape[1]
    rows = [_phase_taps(a, before) for a in (0, 1)]
    low = max(-start for _, start in rows)
    high = max(start + len(taps) - 1 for taps, start in rows)
    padded = jnp.pad(x, ((0, 0), (low, high), (low, high), (0, 0)))
    matmul = _uses_matmul(half, method)
    phases = []
    for taps_a, start_a in rows:
        for taps_b, start_b in rows:
            window = padded[
                :,
                low + start_a : low + start_a + half + len(taps_a) - 1,
                low + start_b : low + start_b + half + len(taps_b) - 1,
            ]
            phase_kernel = kernel[jnp.array(taps_a)][:, jnp.array(taps_b)]
            phases.append(_correlate(window, phase_kernel.transpose(0, 1, 3, 2), half, 1, matmul))
    return depth_to_space(jnp.concatenate(phases, axis=-1))[:, :size, :size]


def _batch_norm(train: bool) -> BatchNorm:
    return BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


class DCGANTFGenerator(nn.Module):
    """``z (N, latent) -> images (N, R, R, channels)`` in ``[-1, 1]`` (see module doc):
    ``z`` (read as uniform with ``uniform_latent``) → dense to ``s×s×8·width`` with
    ``s = ⌈R/16⌉`` → three 5×5 stride-2 transposed convolutions to ``4·width``,
    ``2·width``, ``width`` channels (BN + ReLU on each map) → one to ``channels``, ``tanh``."""

    resolution: int = 28
    channels: int = 1
    width: int = 64
    uniform_latent: bool = True

    @nn.compact
    def __call__(self, z: Array, train: bool = True) -> Array:
        if self.uniform_latent:
            z = jax.scipy.special.erf(z / math.sqrt(2.0))  # 2Φ(z) − 1 ~ U(−1, 1)
        sizes = halved_sizes(self.resolution)[::-1]  # 2, 4, 7, 14, 28
        features = self.width * 2 ** (STAGES - 1)
        x = nn.Dense(sizes[0] ** 2 * features, kernel_init=NORMAL_INIT)(z)
        x = nn.relu(_batch_norm(train)(x.reshape(z.shape[0], sizes[0], sizes[0], features)))
        for stage, size in enumerate(sizes[1:]):
            last = stage == STAGES - 1
            out = self.channels if last else features // 2
            kernel = self.param(
                f"kernel_{stage}", NORMAL_INIT, (KERNEL, KERNEL, out, x.shape[-1]), jnp.float32
            )
            bias = self.param(f"bias_{stage}", nn.initializers.zeros, (out,), jnp.float32)
            x = conv_transpose_phases(x, kernel.astype(x.dtype), size) + bias.astype(x.dtype)
            if last:
                return jnp.tanh(x)
            x = nn.relu(_batch_norm(train)(x))
            features = out
        raise AssertionError("unreachable: the last stage returns")


class DCGANTFDiscriminator(nn.Module):
    """``images (N, R, R, C) -> logits (N,)`` (see module doc): four 5×5 stride-2 ``SAME``
    convolutions with ``width, 2·width, 4·width, 8·width`` channels, BN on all but the
    first, LeakyReLU(0.2), then a dense layer from the flattened map to one logit."""

    width: int = 64
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: Array, train: bool = True) -> Array:
        features = self.width
        for stage in range(STAGES):
            kernel = self.param(
                f"kernel_{stage}",
                truncated_init,
                (KERNEL, KERNEL, x.shape[-1], features),
                jnp.float32,
            )
            bias = self.param(f"bias_{stage}", nn.initializers.zeros, (features,), jnp.float32)
            x = conv_same(x, kernel.astype(x.dtype)) + bias.astype(x.dtype)
            if self.batch_norm and stage > 0:
                x = _batch_norm(train)(x)
            x = nn.leaky_relu(x, negative_slope=LEAKY_SLOPE)
            features *= 2
        logit = nn.Dense(1, kernel_init=NORMAL_INIT)(x.reshape(x.shape[0], -1))
        return logit.reshape(x.shape[0])
