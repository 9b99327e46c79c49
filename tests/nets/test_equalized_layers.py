"""Equalized learning rate, pixel norm and fade-in (arXiv:1710.10196 §4): the effective
weights' initial scale, the gradient with respect to the stored weights, unit RMS, the
fade-in endpoints.  Gradients compare two forms of one computation: float64."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from random_inputs import normal

from gan_jax.nets.layers import (
    EqualizedConv,
    EqualizedDense,
    equalized_scale,
    fade_in,
    pixel_norm,
)
from gan_jax.nets.variables import init_variables


@pytest.fixture(scope="module", autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("lr_multiplier", [1.0, 0.01])
def test_effective_weights_start_at_he_scale_for_any_lr_multiplier(lr_multiplier):
    dense = EqualizedDense(256, lr_multiplier=lr_multiplier, param_dtype=jnp.float64)
    params = init_variables(dense, jax.random.key(0), jnp.zeros((1, 512)))["params"]
    effective = params["kernel"] * equalized_scale(512, lr_multiplier=lr_multiplier)
    # 131,072 N(0, σ²) draws: the sample std is within 1 % of σ = √(2/512) (≈ 5 s.e.)
    np.testing.assert_allclose(float(jnp.std(effective)), math.sqrt(2 / 512), rtol=0.01)
    conv = EqualizedConv(64, kernel_size=3, param_dtype=jnp.float64)
    kernel = init_variables(conv, jax.random.key(1), jnp.zeros((1, 8, 8, 32)))["params"]["kernel"]
    effective = kernel * equalized_scale(3 * 3 * 32)
    np.testing.assert_allclose(float(jnp.std(effective)), math.sqrt(2 / 288), rtol=0.02)


def test_dense_is_the_scaled_product_and_its_gradient_is_scaled():
    layer = EqualizedDense(3, lr_multiplier=0.5, param_dtype=jnp.float64)
    x = normal(2, (5, 4))
    params = init_variables(layer, jax.random.key(3), x)["params"]
    params = {**params, "bias": jnp.arange(3.0)}
    c = equalized_scale(4, lr_multiplier=0.5)
    y = layer.apply({"params": params}, x)
    np.testing.assert_allclose(y, x @ (c * params["kernel"]) + 0.5 * params["bias"], atol=1e-13)

    # d(Σ y)/dW_stored = c · d(Σ y)/dW_effective = c · xᵀ 1; d/db_stored = m · N
    grads = jax.grad(lambda p: jnp.sum(layer.apply({"params": p}, x)))(params)
    ones = jnp.ones((5, 3))
    np.testing.assert_allclose(grads["kernel"], c * x.T @ ones, atol=1e-13)
    np.testing.assert_allclose(grads["bias"], jnp.full(3, 0.5 * 5), atol=1e-13)


def test_conv_gradient_is_the_plain_convolution_gradient_scaled():
    layer = EqualizedConv(4, kernel_size=3, param_dtype=jnp.float64)
    x = normal(4, (2, 6, 6, 3))
    params = init_variables(layer, jax.random.key(5), x)["params"]
    c = equalized_scale(27)
    target = normal(6, (2, 6, 6, 4))

    def plain(kernel):
        y = jax.lax.conv_general_dilated(
            x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return jnp.sum((y - target) ** 2)

    def equalized(p):
        return jnp.sum((layer.apply({"params": p}, x) - target) ** 2)

    grads = jax.grad(equalized)(params)["kernel"]
    effective_grads = jax.grad(plain)(c * params["kernel"])
    np.testing.assert_allclose(grads, c * effective_grads, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(equalized(params), plain(c * params["kernel"]), rtol=1e-13)


def test_pixel_norm_gives_unit_rms_over_channels_and_fade_in_endpoints():
    x = 3.0 * normal(7, (2, 4, 4, 16)) + 1.0
    rms = jnp.sqrt(jnp.mean(jnp.square(pixel_norm(x)), axis=-1))
    np.testing.assert_allclose(rms, 1.0, rtol=1e-6)  # ε = 1e-8 against mean x² ≈ 10
    low, high = jnp.zeros((2, 3)), jnp.ones((2, 3))
    np.testing.assert_array_equal(fade_in(0.0, low + 2.0, high), low + 2.0)
    np.testing.assert_array_equal(fade_in(1.0, low + 2.0, high), high)
    np.testing.assert_allclose(fade_in(0.25, low + 2.0, high), 1.75)
