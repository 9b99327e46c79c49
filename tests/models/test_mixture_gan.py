"""Training on Gaussian mixtures: seeds under vmap, thinned snapshots, coverage over training."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import data, gan, metrics
from gan_jax import dynamics as dy
from gan_jax.models import mixture_gan
from gan_jax.nets.mlp import MLPDiscriminator, MLPGenerator


def float64_ring_game(width: int, depth: int):
    """The ring in float64 and a float64 MLP GAN on it (call inside ``jax.enable_x64``)."""
    ring = data.mixture_of_gaussians("ring")
    mixture = data.GaussianMixture(centers=ring.centers.astype(jnp.float64), std=ring.std)
    G = MLPGenerator(2, width=width, depth=depth, param_dtype=jnp.float64)
    D = MLPDiscriminator(width=width, depth=depth, param_dtype=jnp.float64)
    return mixture, G, D, gan.gan_game(G, D, latent_dim=2)


@pytest.mark.integration  # a training run (tests/README.md, tiers)
def test_vmapped_seeds_equal_seeds_trained_one_by_one():
    # In float64: batched and unbatched matrix products may sum in different orders, and
    # 40 Adam steps can amplify float32 rounding (a near-zero gradient changing sign moves a
    # parameter by a whole step); in float64 the two agree to rounding.
    with jax.enable_x64(True):
        mixture, G, D, game = float64_ring_game(width=16, depth=2)
        scheme = dy.alternating(optax.adam(1e-3, b1=0.5))

        def train(key):
            return mixture_gan.train_on_mixture(
                game,
                scheme,
                G,
                D,
                mixture,
                key,
                num_steps=40,
                batch_size=32,
                latent_dim=2,
                every=10,
            )

        keys = jax.random.split(jax.random.key(0), 3)
        batched = jax.jit(jax.vmap(train))(keys)
        assert batched.metrics["loss_d"].shape == (3, 40)
        kernel = batched.g["params"]["mlp"]["head"]["kernel"]
        assert kernel.shape[:2] == (3, 5) and kernel.dtype == jnp.float64
        for i in range(3):
            single = jax.jit(train)(keys[i])
            jax.tree.map(
                lambda a, b, i=i: np.testing.assert_allclose(a[i], b, rtol=1e-10, atol=1e-12),
                batched.g,
                single.g,
            )
        # Different seeds are different runs.
        assert float(jnp.max(jnp.abs(kernel[0, -1] - kernel[1, -1]))) > 1e-3


class ShiftedNoise(nn.Module):
    """A "generator" ``z ↦ c + s·z``: a point mass at ``c`` blurred by ``s``."""

    @nn.compact
    def __call__(self, z):
        center = self.param("center", nn.initializers.zeros, (2,))
        scale = self.param("scale", nn.initializers.ones, ())
        return center + scale * z


def test_coverage_over_training_scores_each_snapshot():
    mixture = data.mixture_of_gaussians("ring")
    # Snapshot 0: one mode (σ-blurred); snapshot 1: far from all modes.
    snapshots = {
        "params": {
            "center": jnp.stack([mixture.centers[2], jnp.array([9.0, 9.0])]),
            "scale": jnp.array([mixture.std, mixture.std]),
        }
    }
    coverage = mixture_gan.coverage_over_training(
        ShiftedNoise(), snapshots, mixture, jax.random.key(0), latent_dim=2
    )
    assert coverage["samples"].shape == (2, 2500, 2)
    np.testing.assert_array_equal(coverage["modes"], [1, 0])
    np.testing.assert_allclose(coverage["reverse_kl"], [math.log(8), math.log(8)], rtol=1e-6)
    assert abs(float(coverage["high_quality"][0]) - (1 - math.exp(-4.5))) < 0.01
    assert float(coverage["high_quality"][1]) == 0.0


def test_mean_and_standard_error():
    values = jnp.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    mean, se = metrics.mean_and_standard_error(values)
    np.testing.assert_allclose(mean, [3.0, 2.0])
    np.testing.assert_allclose(se, [2.0 / math.sqrt(3.0), 0.0], rtol=1e-6)
    mean, se = metrics.mean_and_standard_error(jnp.array([4.0]))
    assert float(mean) == 4.0 and float(se) == 0.0


@pytest.mark.integration  # a training run (tests/README.md, tiers)
def test_generator_ema_in_the_rollout_equals_a_hand_written_average():
    # θ̄₀ = θ₀, θ̄ₜ₊₁ = β·θ̄ₜ + (1 − β)·θₜ₊₁ after every step, from the trajectory of G itself;
    # the average never feeds back into training (G and D are those of a run without it).
    from gan_jax.averaging import GeneratorEMA

    with jax.enable_x64(True):
        mixture, G, D, game = float64_ring_game(width=8, depth=1)
        scheme = dy.alternating(optax.adam(1e-2, b1=0.5))
        beta = 0.9

        def train(ema, every=1):
            return mixture_gan.train_on_mixture(
                game, scheme, G, D, mixture, jax.random.key(3), num_steps=12, batch_size=16,
                latent_dim=2, every=every, ema=ema,
            )  # fmt: skip

        run = jax.jit(lambda: train(GeneratorEMA.from_beta(beta, 16)))()
        average = jax.tree.map(lambda x: x[0], run.g)
        for t in range(1, 13):
            average = jax.tree.map(lambda a, x, t=t: beta * a + (1 - beta) * x[t], average, run.g)
            jax.tree.map(
                lambda a, b, t=t: np.testing.assert_allclose(b[t], a, rtol=1e-12, atol=1e-14),
                average,
                run.extra["g_ema"],
            )
        plain = jax.jit(lambda: train(None))()
        assert plain.extra is None
        # The run without the average is another program: XLA may round it differently (an
        # ulp), so "equal" is to float64 rounding; an average fed back into training would
        # move G by O(lr) = 1e-2.
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14), plain.g, run.g
        )
        # thinned snapshots keep the average at the kept steps
        thinned = jax.jit(lambda: train(GeneratorEMA.from_beta(beta, 16), every=5))()
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b[np.array([0, 5, 10, 12])], rtol=1e-12),
            thinned.extra["g_ema"],
            run.extra["g_ema"],
        )
