"""DCGAN-TensorFlow nets: the 5×5 stride-2 SAME convolution and its transpose against
loop definitions (TensorFlow's padding rule), every way of computing them equal in value and
gradient (float64), the 28×28 layer sizes and parameter count in closed form, uniform
latents, TensorFlow's truncated initialiser."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from random_inputs import normal

from gan_jax.models.image_gan import parameter_count
from gan_jax.nets.dcgan_tf import (
    DCGANTFDiscriminator,
    DCGANTFGenerator,
    conv_same,
    conv_transpose_phases,
    conv_transpose_same,
    halved_sizes,
    same_padding,
    truncated_init,
)
from gan_jax.nets.variables import init_variables

# TensorFlow's SAME rule: pad_along = max((out − 1)·stride + k − in, 0), top = along // 2
TF_PADDING = {28: (1, 2), 14: (1, 2), 7: (2, 2), 4: (1, 2), 5: (2, 2), 3: (2, 2)}


def padded(x: np.ndarray, size: int) -> np.ndarray:
    before, after = TF_PADDING[size]
    return np.pad(x, ((0, 0), (before, after), (before, after), (0, 0)))


def conv_by_definition(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """out[i, j] = Σ_{r,c} x_pad[2i + r, 2j + c]·w[r, c]."""
    size = x.shape[1]
    out = math.ceil(size / 2)
    xp = padded(x, size)
    y = np.zeros((x.shape[0], out, out, kernel.shape[-1]))
    for i in range(out):
        for j in range(out):
            y[:, i, j] = np.einsum(
                "nrcx,rcxy->ny", xp[:, 2 * i : 2 * i + 5, 2 * j : 2 * j + 5], kernel
            )
    return y


def transpose_by_definition(x: np.ndarray, kernel: np.ndarray, size: int) -> np.ndarray:
    """out[2i + r − top, 2j + c − top] += x[i, j]·w[r, c]ᵀ (``kernel`` (5, 5, C_out, C_in))."""
    top = TF_PADDING[size][0]
    y = np.zeros((x.shape[0], size, size, kernel.shape[2]))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            for r in range(5):
                for c in range(5):
                    oy, ox = 2 * i + r - top, 2 * j + c - top
                    if 0 <= oy < size and 0 <= ox < size:
                        y[:, oy, ox] += x[:, i, j] @ kernel[r, c].T
    return y


@pytest.mark.parametrize("size", sorted(TF_PADDING))
def test_same_padding_is_tensorflows(size):
    assert same_padding(size) == TF_PADDING[size]


@pytest.mark.parametrize("size", [28, 7, 4])
def test_convolution_and_its_transpose_equal_their_definitions(size):
    half = math.ceil(size / 2)
    with jax.enable_x64(True):
        y = normal(0, (2, size, size, 3), jnp.float64)
        x = normal(1, (2, half, half, 4), jnp.float64)
        kernel = normal(2, (5, 5, 3, 4), jnp.float64)
        expected_conv = conv_by_definition(np.asarray(y), np.asarray(kernel))
        expected_transpose = transpose_by_definition(np.asarray(x), np.asarray(kernel), size)
        for method in ("conv", "matmul"):
            got = jax.jit(lambda y, k, m=method: conv_same(y, k, m))(y, kernel)
            np.testing.assert_allclose(got, expected_conv, rtol=1e-10, atol=1e-10)
        forms = [lambda x, k: conv_transpose_same(x, k, size)] + [
            lambda x, k, m=m: conv_transpose_phases(x, k, size, m) for m in ("conv", "matmul")
        ]
        for form in forms:
            got = jax.jit(form)(x, kernel)
            np.testing.assert_allclose(got, expected_transpose, rtol=1e-10, atol=1e-10)
        # the transpose is the adjoint: <conv(y), x> = <y, convᵀ(x)>
        np.testing.assert_allclose(
            np.vdot(expected_conv, np.asarray(x)), np.vdot(np.asarray(y), expected_transpose)
        )


def test_transpose_forms_have_equal_gradients():
    with jax.enable_x64(True):
        x = normal(0, (2, 4, 4, 6), jnp.float64)
        kernel = normal(1, (5, 5, 3, 6), jnp.float64)
        weights = normal(2, (2, 7, 7, 3), jnp.float64)

        def loss(form):
            return jax.jit(jax.grad(lambda x, k: jnp.sum(jnp.tanh(form(x, k)) * weights), (0, 1)))

        reference = loss(lambda x, k: conv_transpose_same(x, k, 7))(x, kernel)
        for method in ("conv", "matmul"):
            grads = loss(lambda x, k, m=method: conv_transpose_phases(x, k, 7, m))(x, kernel)
            for a, b in zip(grads, reference):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_28_by_28_networks_have_dcgan_tensorflows_sizes():
    assert halved_sizes(28) == [28, 14, 7, 4, 2]
    generator, discriminator = DCGANTFGenerator(28, 3), DCGANTFDiscriminator()
    z = jnp.zeros((2, 100))

    def variables_and_images():
        g = init_variables(generator, jax.random.key(0), z)
        images = generator.apply(g, z, mutable=["batch_stats"])[0]
        return g, images, init_variables(discriminator, jax.random.key(1), images)

    g, images, d = jax.eval_shape(variables_and_images)  # shapes only: nothing is computed
    assert images.shape == (2, 28, 28, 3)
    widths = [(512, 256), (256, 128), (128, 64), (64, 3)]  # G's transposed convolutions
    g_expected = 100 * 2048 + 2048 + 2 * 512  # dense 100 → 2·2·512 with bias, BN γ, β
    g_expected += sum(25 * a * b + b for a, b in widths) + 2 * (256 + 128 + 64)
    d_widths = [(3, 64), (64, 128), (128, 256), (256, 512)]
    d_expected = sum(25 * a * b + b for a, b in d_widths) + 2 * (128 + 256 + 512)
    d_expected += 2 * 2 * 512 + 1  # the dense logit from the flattened 2×2×512 map
    assert parameter_count(g) == g_expected and parameter_count(d) == d_expected


def test_generator_reads_z_as_uniform_on_minus_one_one():
    # erf(z/√2) = 2Φ(z) − 1: its quantiles from 100,000 normal draws are the uniform's
    # (Dvoretzky–Kiefer–Wolfowitz: sup |F̂ − F| < 0.006 with probability 0.9985)
    z = normal(0, (100_000,))
    u = np.sort(np.asarray(jax.scipy.special.erf(z / math.sqrt(2.0))))
    empirical = np.arange(1, len(u) + 1) / len(u)
    assert np.max(np.abs(empirical - (u + 1) / 2)) < 0.006
    # and the generator applies it: with uniform_latent off, feeding u gives the same images
    generator = DCGANTFGenerator(28, 1, width=4)
    plain = DCGANTFGenerator(28, 1, width=4, uniform_latent=False)
    z = normal(1, (4, 100))

    @jax.jit
    def both(z):
        variables = init_variables(generator, jax.random.key(0), z)
        a = generator.apply(variables, z, mutable=["batch_stats"])[0]
        u = jax.scipy.special.erf(z / math.sqrt(2.0))
        return a, plain.apply(variables, u, mutable=["batch_stats"])[0]

    a, b = both(z)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_truncated_initialiser_is_tensorflows():
    w = np.asarray(truncated_init(jax.random.key(0), (200_000,)))
    assert np.abs(w).max() <= 0.04  # redrawn beyond two standard deviations of 0.02
    # the N(0, 0.02²) truncated at ±2σ has standard deviation 0.02·0.8796 (not 0.02)
    np.testing.assert_allclose(w.std(), 0.02 * 0.87962566, rtol=0.01)
