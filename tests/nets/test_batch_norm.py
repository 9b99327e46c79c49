"""Our BatchNorm (reductions as matrix products, closed-form backward pass) against flax's
BatchNorm and against autodiff of the textbook formula."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from random_inputs import normal

from gan_jax.nets.layers import BatchNorm, add_channel_bias, batch_normalize, channel_sum
from gan_jax.nets.variables import init_variables


def test_channel_sum_is_the_sum_over_all_but_the_last_axis():
    with jax.enable_x64(True):  # two summation orders: compared in float64
        x = normal(0, (3, 4, 5, 6), jnp.float64)
        np.testing.assert_allclose(channel_sum(x), x.sum(axis=(0, 1, 2)), rtol=1e-12)


def textbook_batch_norm(x, scale, bias, epsilon):
    mean = x.mean(axis=tuple(range(x.ndim - 1)))
    var = (x * x).mean(axis=tuple(range(x.ndim - 1))) - mean**2
    return (x - mean) / jnp.sqrt(var + epsilon) * scale + bias, mean, var


@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 3, 6)])
def test_value_and_gradient_equal_autodiff_of_the_formula(shape):
    with jax.enable_x64(True):
        x = 2.0 + 3.0 * np.asarray(normal(0, shape, jnp.float64))
        scale, bias = normal(1, shape[-1:], jnp.float64), normal(2, shape[-1:], jnp.float64)
        # cotangents for all three outputs, including the batch statistics
        cotangents = (
            normal(3, shape, jnp.float64),
            normal(4, shape[-1:], jnp.float64),
            normal(5, shape[-1:], jnp.float64),
        )

        @jax.jit  # one program per form (op by op, each op compiled on its own)
        def value_and_vjp(x, scale, bias, cotangents):
            forms = (lambda *a: batch_normalize(*a, 1e-3), lambda *a: textbook_batch_norm(*a, 1e-3))
            results = []
            for form in forms:
                value, vjp = jax.vjp(form, x, scale, bias)
                results.append((value, vjp(cotangents)))
            return results

        (ours, grads_ours), (reference, grads_ref) = value_and_vjp(x, scale, bias, cotangents)
        for a, b in zip(ours, reference):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
        for a, b in zip(grads_ours, grads_ref):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("momentum", [0.9, 0.99])
def test_matches_flax_batch_norm(momentum):
    """Outputs, running statistics and gradients equal flax's BatchNorm.  Both sides run in
    float64: they are two summation algorithms (matrix products vs reductions), whose
    float32 rounding differs with the CPU's vector width and kernel library (a 5e-6
    difference on values of 0.05 was seen on an AVX2 machine) and with TF32 on GPU."""
    with jax.enable_x64(True):
        x = 1.5 + normal(0, (8, 4, 4, 5), jnp.float64)
        ours = BatchNorm(momentum=momentum, epsilon=1e-5)
        theirs = nn.BatchNorm(use_running_average=False, momentum=momentum, epsilon=1e-5)
        variables = init_variables(theirs, jax.random.key(1), x)
        assert jax.tree.structure(init_variables(ours, jax.random.key(1), x)) == jax.tree.structure(
            variables
        )
        variables = {
            "params": {"scale": jnp.linspace(0.5, 1.5, 5), "bias": jnp.linspace(-1.0, 1.0, 5)},
            "batch_stats": {"mean": jnp.full((5,), 0.3), "var": jnp.full((5,), 2.0)},
        }
        weights = normal(2, x.shape, jnp.float64)

        def loss(module):
            def f(params, x):
                y, state = module.apply({**variables, "params": params}, x, mutable=["batch_stats"])
                return jnp.sum(jnp.sin(y) * weights), state

            return f

        # each side one compiled program (op by op they compiled ≈ 90 small ones)
        (value_ours, state_ours), grads_ours = jax.jit(
            jax.value_and_grad(loss(ours), argnums=(0, 1), has_aux=True)
        )(variables["params"], x)
        (value_theirs, state_theirs), grads_theirs = jax.jit(
            jax.value_and_grad(loss(theirs), argnums=(0, 1), has_aux=True)
        )(variables["params"], x)
        assert value_ours.dtype == jnp.float64
        np.testing.assert_allclose(value_ours, value_theirs, rtol=1e-12)
        for a, b in zip(
            jax.tree.leaves((state_ours, grads_ours)),
            jax.tree.leaves((state_theirs, grads_theirs)),
        ):
            assert a.dtype == jnp.float64
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        # inference mode normalises with the running statistics
        inference = BatchNorm(use_running_average=True).apply(variables, x)
        expected = nn.BatchNorm(use_running_average=True).apply(variables, x)
        np.testing.assert_allclose(inference, expected, rtol=1e-12, atol=1e-12)


def test_channel_bias_gradient_is_the_channel_sum():
    with jax.enable_x64(True):  # a matrix product vs autodiff's reduction: float64
        x = normal(0, (2, 3, 4, 5), jnp.float64)
        bias = normal(1, (5,), jnp.float64)
        weights = normal(2, x.shape, jnp.float64)

        def loss(add):
            return lambda x, b: jnp.sum(jnp.sin(add(x, b)) * weights)

        ours = jax.grad(loss(add_channel_bias), argnums=(0, 1))(x, bias)
        reference = jax.grad(loss(lambda x, b: x + b), argnums=(0, 1))(x, bias)
        np.testing.assert_array_equal(add_channel_bias(x, bias), x + bias)
        for a, b in zip(ours, reference):
            assert a.dtype == jnp.float64
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
