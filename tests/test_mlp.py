"""MLP generator and discriminator: shapes, configuration and parameter counts."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from gan_jax.nets.mlp import ACTIVATIONS, MLPDiscriminator, MLPGenerator, get_activation


def num_params(params) -> int:
    return int(ravel_pytree(params)[0].size)


@pytest.mark.parametrize("width,depth", [(8, 1), (32, 3), (64, 0)])
def test_parameter_counts(width, depth):
    gen = MLPGenerator(data_dim=2, width=width, depth=depth)
    params = gen.init(jax.random.key(0), jnp.zeros((1, 5)))
    dims = [5] + [width] * depth + [2]
    expected = sum(a * b + b for a, b in itertools.pairwise(dims))
    assert num_params(params) == expected


def test_shapes():
    gen = MLPGenerator(data_dim=3, width=16, depth=2)
    z = jax.random.normal(jax.random.key(0), (10, 4))
    g_params = gen.init(jax.random.key(1), z)
    x = gen.apply(g_params, z)
    assert x.shape == (10, 3)
    disc = MLPDiscriminator(width=16, depth=2)
    d_params = disc.init(jax.random.key(2), x)
    assert disc.apply(d_params, x).shape == (10,)
    # Image-shaped inputs are flattened.
    images = jnp.zeros((4, 8, 8, 1))
    assert disc.apply(disc.init(jax.random.key(3), images), images).shape == (4,)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_is_used(name):
    """A depth-1 net computes head(act(Wx + b)) with the named activation."""
    disc = MLPDiscriminator(width=4, depth=1, activation=name)
    x = jax.random.normal(jax.random.key(0), (6, 3))
    params = disc.init(jax.random.key(1), x)
    p = params["params"]["mlp"]
    hidden = get_activation(name)(x @ p["hidden_0"]["kernel"] + p["hidden_0"]["bias"])
    expected = (hidden @ p["head"]["kernel"] + p["head"]["bias"])[:, 0]
    # float32 both sides, sums of at most 4 products of O(1) numbers: the two orders differ
    # by at most a few ε_f32 ≈ 1.2e-7 relative, so 1e-5 is ~80 ε (matrix products run at
    # full float32 precision in the suite, also on GPU: tests/conftest.py).
    np.testing.assert_allclose(disc.apply(params, x), expected, rtol=1e-5, atol=1e-6)


def test_leaky_relu_slope_is_dcgan_0_2():
    assert float(get_activation("leaky_relu")(jnp.array(-1.0))) == pytest.approx(-0.2)


def test_callable_activation_and_unknown_name():
    assert get_activation(jnp.sin) is jnp.sin
    with pytest.raises(ValueError, match="relu"):
        get_activation("swishy")
