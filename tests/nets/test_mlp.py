"""MLP generator and discriminator: shapes, configuration and parameter counts."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from random_inputs import normal

from gan_jax.nets.mlp import ACTIVATIONS, MLPDiscriminator, MLPGenerator, get_activation
from gan_jax.nets.variables import init_variables


def num_params(params) -> int:
    return int(ravel_pytree(params)[0].size)


@pytest.mark.parametrize("width,depth", [(8, 1), (32, 3), (64, 0)])
def test_parameter_counts(width, depth):
    gen = MLPGenerator(data_dim=2, width=width, depth=depth)
    params = init_variables(gen, jax.random.key(0), jnp.zeros((1, 5)))
    dims = [5] + [width] * depth + [2]
    expected = sum(a * b + b for a, b in itertools.pairwise(dims))
    assert num_params(params) == expected


def test_shapes():
    gen = MLPGenerator(data_dim=3, width=16, depth=2)
    z = normal(0, (10, 4))
    g_params = init_variables(gen, jax.random.key(1), z)
    x = gen.apply(g_params, z)
    assert x.shape == (10, 3)
    disc = MLPDiscriminator(width=16, depth=2)
    d_params = init_variables(disc, jax.random.key(2), x)
    assert disc.apply(d_params, x).shape == (10,)
    # Image-shaped inputs are flattened.
    images = jnp.zeros((4, 8, 8, 1))
    assert disc.apply(init_variables(disc, jax.random.key(3), images), images).shape == (4,)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_is_used(name):
    """A depth-1 net computes head(act(Wx + b)) with the named activation."""
    disc = MLPDiscriminator(width=4, depth=1, activation=name)
    x = normal(0, (6, 3))
    params = init_variables(disc, jax.random.key(1), x)
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


def test_maxout_layer_is_the_max_over_pieces_of_affine_maps():
    # Goodfellow et al. 2013: h_i = max_j (x·W_ij + b_ij), written out with loops.
    from gan_jax.nets.layers import Maxout

    layer = Maxout(features=3, pieces=4)
    x = normal(0, (5, 2))
    params = init_variables(layer, jax.random.key(1), x)
    kernel = np.asarray(params["params"]["linear"]["kernel"]).reshape(2, 3, 4)
    bias = np.asarray(params["params"]["linear"]["bias"]).reshape(3, 4)
    x_np = np.asarray(x, np.float64)
    expected = np.empty((5, 3))
    for n in range(5):
        for i in range(3):
            expected[n, i] = max(x_np[n] @ kernel[:, i, j] + bias[i, j] for j in range(4))
    np.testing.assert_allclose(layer.apply(params, x), expected, rtol=1e-5, atol=1e-6)
    # A maxout MLP: PacGAN's discriminator shapes (2·m inputs, 3 × 200 units of 5 pieces).
    disc = MLPDiscriminator(width=200, depth=3, maxout_pieces=5)
    shapes = jax.tree.map(jnp.shape, init_variables(disc, jax.random.key(2), jnp.zeros((7, 8))))[
        "params"
    ]
    assert shapes["mlp"]["hidden_0"]["linear"]["kernel"] == (8, 1000)
    assert shapes["mlp"]["hidden_2"]["linear"]["kernel"] == (200, 1000)
    assert shapes["mlp"]["head"]["kernel"] == (200, 1)


def test_batch_norm_generator_uses_batch_statistics_in_training_and_running_ones_after():
    gen = MLPGenerator(data_dim=2, width=8, depth=1, batch_norm=True)
    z = 3.0 + normal(0, (64, 4))
    variables = init_variables(gen, jax.random.key(1), z)
    p = variables["params"]["mlp"]
    assert "bias" not in p["hidden_0"]  # BN's β replaces it
    out, state = gen.apply(variables, z, train=True, mutable=["batch_stats"])
    pre = np.asarray(z @ p["hidden_0"]["kernel"], np.float64)
    mean, var = pre.mean(axis=0), pre.var(axis=0)

    def head(h):
        return np.maximum(h, 0.0) @ np.asarray(p["head"]["kernel"]) + np.asarray(p["head"]["bias"])

    # training: standardised over the batch (γ = 1, β = 0 at init); running averages move
    # by (1 − 0.95) toward the batch's statistics (PacGAN's momentum)
    np.testing.assert_allclose(out, head((pre - mean) / np.sqrt(var + 1e-5)), rtol=1e-4, atol=1e-5)
    stats = state["batch_stats"]["mlp"]["norm_0"]
    np.testing.assert_allclose(stats["mean"], 0.05 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats["var"], 0.95 + 0.05 * var, rtol=1e-5)
    # inference: the running averages (initially mean 0, var 1)
    expected = head(pre / np.sqrt(1.0 + 1e-5))
    np.testing.assert_allclose(gen.apply(variables, z, train=False), expected, rtol=1e-4, atol=1e-5)


def test_discrete_code_is_the_uniform_arg_max_and_a_per_code_first_layer_bias():
    from gan_jax.nets.mlp import with_discrete_code

    z = jnp.array([[0.1, 2.0, -1.0, 0.5, 0.7], [3.0, -2.0, 0.0, 0.1, -0.2]])
    np.testing.assert_array_equal(
        with_discrete_code(z, 3),
        np.array([[0, 1, 0, 0.5, 0.7], [1, 0, 0, 0.1, -0.2]], np.float32),
    )
    with pytest.raises(ValueError, match="more than 5"):
        with_discrete_code(z, 5)
    # The arg-max of K i.i.d. normals is uniform over K: a χ² test with K − 1 = 7 degrees
    # of freedom at n = 80,000 (the 99.9 % point of χ²₇ is 24.3).
    n, codes = 80_000, 8
    counts = np.bincount(np.asarray(jnp.argmax(normal(0, (n, codes)), -1)), minlength=8)
    assert np.sum((counts - n / codes) ** 2 / (n / codes)) < 24.3
    # G with K codes: first-layer weights over [one-hot code, the other coordinates], so two
    # latents that differ only in their code differ by the two codes' rows of the kernel
    # before the first activation.
    gen = MLPGenerator(data_dim=2, width=8, depth=1, discrete_codes=3)
    variables = init_variables(gen, jax.random.key(1), z)
    kernel = variables["params"]["mlp"]["hidden_0"]["kernel"]
    assert kernel.shape == (3 + 2, 8)  # 3 codes + (5 − 3) continuous coordinates
    head = variables["params"]["mlp"]["head"]
    p = variables["params"]["mlp"]["hidden_0"]

    def by_hand(code, rest):
        h = np.maximum(np.eye(3)[code] @ kernel[:3] + rest @ kernel[3:] + p["bias"], 0.0)
        return h @ head["kernel"] + head["bias"]

    np.testing.assert_allclose(gen.apply(variables, z)[0], by_hand(1, z[0, 3:]), rtol=1e-5)
    np.testing.assert_allclose(gen.apply(variables, z)[1], by_hand(0, z[1, 3:]), rtol=1e-5)
