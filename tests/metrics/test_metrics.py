"""Mode coverage (VEEGAN/PacGAN protocol) pinned to closed forms."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from random_inputs import normal

from gan_jax import data, metrics

# P(‖ε‖ ≤ 3σ) for ε ~ N(0, σ² I₂): the Rayleigh CDF at 3, 1 − e^(−9/2).
HQ_2D = 1.0 - math.exp(-4.5)
# E[‖ε‖²/2 | ‖ε‖ ≤ 3σ] / σ²: ‖ε‖²/(2σ²) ~ Exp(1) truncated at 4.5, (1 − 5.5 e^(−4.5)) / HQ_2D.
SPREAD_2D_SQUARED = (1.0 - 5.5 * math.exp(-4.5)) / HQ_2D


def standard_error(p: float, n: int) -> float:
    return math.sqrt(p * (1.0 - p) / n)


@pytest.mark.parametrize("kind", ["ring", "grid"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_true_mixture_covers_every_mode(kind, seed):
    mixture = data.mixture_of_gaussians(kind)
    samples = mixture.sample(jax.random.key(seed), metrics.DEFAULT_NUM_SAMPLES)
    result = metrics.mode_coverage(samples, mixture.centers, mixture.std)
    assert int(result["modes"]) == mixture.num_modes
    # 4 standard errors of a binomial proportion at n = 2,500 (s.e. = 0.0021).
    tolerance = 4 * standard_error(HQ_2D, metrics.DEFAULT_NUM_SAMPLES)
    assert abs(float(result["high_quality"]) - HQ_2D) < tolerance
    # Multinomial noise only: E[KL] ≈ (K − 1) / (2n) (0.0014 ring, 0.0049 grid).
    assert float(result["reverse_kl"]) < 4 * (mixture.num_modes - 1) / (2 * 2500)


def test_high_quality_fraction_matches_rayleigh_cdf_at_large_n():
    mixture = data.mixture_of_gaussians("grid")
    n = 1_000_000
    samples = mixture.sample(jax.random.key(7), n)
    result = metrics.mode_coverage(samples, mixture.centers, mixture.std)
    assert abs(float(result["high_quality"]) - HQ_2D) < 4 * standard_error(HQ_2D, n)
    # spread² is a mean of n truncated Exp(1) draws (variance < 1): 4 s.e. = 4 / √n.
    assert abs(float(result["spread"]) ** 2 - SPREAD_2D_SQUARED) < 4 / math.sqrt(n)
    assert float(result["off_mode"]) < 1e-5  # e^(−18) n = 0.015 expected samples


@pytest.mark.parametrize("kind,num_modes", [("ring", 8), ("grid", 25)])
def test_single_mode_scores_one_mode_and_log_k(kind, num_modes):
    mixture = data.mixture_of_gaussians(kind)
    center = mixture.centers[3]
    samples = center + mixture.std * normal(0, (2500, 2))
    result = metrics.mode_coverage(samples, mixture.centers, mixture.std)
    assert int(result["modes"]) == 1
    np.testing.assert_allclose(float(result["reverse_kl"]), math.log(num_modes), rtol=1e-6)
    np.testing.assert_allclose(float(result["histogram"][3]), 1.0, rtol=1e-6)


@pytest.mark.parametrize("kind", ["ring", "grid"])
def test_far_samples_are_never_high_quality(kind):
    mixture = data.mixture_of_gaussians(kind)
    # Every centre shifted by (0.7, 0.3) (≥ 0.7 = 35σ from every centre on both mixtures)
    # and points far outside the mixture.
    between = mixture.centers + jnp.array([0.7, 0.3])
    distances = jnp.linalg.norm(between[:, None] - mixture.centers[None], axis=-1)
    assert float(distances.min()) > 0.5
    far = jnp.concatenate([between, jnp.full((10, 2), 50.0), jnp.full((10, 2), -50.0)])
    result = metrics.mode_coverage(far, mixture.centers, mixture.std)
    assert float(result["high_quality"]) == 0.0
    assert int(result["modes"]) == 0
    # No histogram exists; the documented value is log K, a point mass's.
    np.testing.assert_allclose(float(result["reverse_kl"]), math.log(mixture.num_modes))


def test_reverse_kl_of_hand_built_histograms():
    mixture = data.mixture_of_gaussians("ring")
    c = mixture.centers
    # Two modes equally: KL(p ‖ U_8) = log(8/2).
    two = jnp.concatenate([jnp.repeat(c[:1], 50, 0), jnp.repeat(c[5:6], 50, 0)])
    np.testing.assert_allclose(
        float(metrics.mode_coverage(two, c, mixture.std)["reverse_kl"]), math.log(4.0), rtol=1e-6
    )
    # Histogram (3/4, 1/4) on two modes: Σ p log(8p).
    skewed = jnp.concatenate([jnp.repeat(c[:1], 75, 0), jnp.repeat(c[2:3], 25, 0)])
    expected = 0.75 * math.log(8 * 0.75) + 0.25 * math.log(8 * 0.25)
    result = metrics.mode_coverage(skewed, c, mixture.std)
    np.testing.assert_allclose(float(result["reverse_kl"]), expected, rtol=1e-6)
    assert int(result["modes"]) == 2
    # Uniform over all modes: 0.
    uniform = jnp.repeat(c, 10, axis=0)
    assert abs(float(metrics.mode_coverage(uniform, c, mixture.std)["reverse_kl"])) < 1e-6


def test_three_sigma_boundary_and_low_quality_samples_do_not_count():
    mixture = data.mixture_of_gaussians("ring")
    c, std = mixture.centers, mixture.std
    direction = jnp.array([0.0, 1.0])
    inside = c[0] + 2.9 * std * direction
    outside = c[1] + 3.1 * std * direction  # nearest to mode 1, but not high quality
    result = metrics.mode_coverage(jnp.stack([inside, outside]), c, std)
    assert float(result["high_quality"]) == 0.5
    assert int(result["modes"]) == 1  # mode 1 has only a low-quality sample
    # The threshold is a parameter.
    loose = metrics.mode_coverage(jnp.stack([inside, outside]), c, std, threshold=4.0)
    assert int(loose["modes"]) == 2


def test_off_mode_and_spread_of_hand_placed_samples():
    mixture = data.mixture_of_gaussians("ring")  # neighbouring modes 77σ apart
    c, std = mixture.centers, mixture.std
    up = jnp.array([0.0, 1.0])
    samples = jnp.stack([
        c[0] + 2.0 * std * up,  # high quality, ‖x − c‖² = 4σ²
        c[1] - 1.0 * std * up,  # high quality, 1σ²
        c[2] + 4.0 * std * up,  # a tail: neither high quality nor off the modes
        c[3] + 10.0 * std * up,  # off the modes (> 6σ)
    ])  # fmt: skip
    result = metrics.mode_coverage(samples, c, std)
    assert float(result["high_quality"]) == 0.5
    assert float(result["off_mode"]) == 0.25
    np.testing.assert_allclose(float(result["spread"]), math.sqrt((4.0 + 1.0) / (2 * 2)), rtol=1e-5)
    # With no high-quality sample the spread is 0, not NaN.
    assert float(metrics.mode_coverage(samples[2:], c, std)["spread"]) == 0.0


def test_mode_coverage_is_jittable_and_vmappable():
    # float64: a batched and an unbatched sum of K terms may round differently in float32,
    # and the reverse KL of a good sample is small, so its relative error is not.
    with jax.enable_x64(True):
        mixture = data.mixture_of_gaussians("ring")
        centers = mixture.centers.astype(jnp.float64)
        keys = jax.random.split(jax.random.key(0), 3)
        samples = jax.vmap(lambda k: mixture.sample(k, 500))(keys).astype(jnp.float64)
        batched = jax.jit(jax.vmap(lambda s: metrics.mode_coverage(s, centers, mixture.std)))(
            samples
        )
        assert batched["reverse_kl"].dtype == jnp.float64
        for i in range(3):
            single = metrics.mode_coverage(samples[i], centers, mixture.std)
            assert int(batched["modes"][i]) == int(single["modes"])
            np.testing.assert_allclose(
                batched["reverse_kl"][i], single["reverse_kl"], rtol=1e-12, atol=1e-15
            )


class TestStackedModeCoverage:
    """Stacked MNIST's modes and KL against closed forms: a mode is a label triple."""

    @staticmethod
    def triples(modes):
        """The label triples (hundreds, tens, units) of mode numbers ``modes``."""
        modes = np.asarray(modes)
        return jnp.asarray(np.stack([modes // 100, modes // 10 % 10, modes % 10], axis=1))

    def test_every_mode_equally_often_is_all_1000_and_kl_zero(self):
        result = metrics.stacked_mode_coverage(self.triples(np.repeat(np.arange(1000), 3)))
        assert int(result["modes"]) == 1000
        assert abs(float(result["kl_from_uniform"])) < 1e-5
        np.testing.assert_allclose(np.asarray(result["histogram"]), 1e-3, rtol=1e-5)

    @pytest.mark.parametrize("k", [1, 7, 250])
    def test_k_equal_modes_give_log_1000_over_k(self, k):
        chosen = np.random.default_rng(k).choice(1000, size=k, replace=False)
        result = metrics.stacked_mode_coverage(self.triples(np.repeat(chosen, 4)))
        assert int(result["modes"]) == k
        np.testing.assert_allclose(float(result["kl_from_uniform"]), math.log(1000 / k), rtol=1e-5)
        # the mode number is the triple read as a base-10 number
        assert set(np.flatnonzero(np.asarray(result["histogram"]))) == set(chosen)

    def test_a_hand_built_uneven_histogram(self):
        labels = jnp.asarray([[1, 2, 3]] * 3 + [[9, 0, 0]])  # modes 123 (3/4) and 900 (1/4)
        result = metrics.stacked_mode_coverage(labels)
        histogram = np.asarray(result["histogram"])
        assert histogram[123] == 0.75 and histogram[900] == 0.25
        expected = 0.75 * math.log(1000 * 0.75) + 0.25 * math.log(1000 * 0.25)
        np.testing.assert_allclose(float(result["kl_from_uniform"]), expected, rtol=1e-6)

    def test_other_class_and_channel_counts(self):
        # 4 classes, 2 channels: 16 modes; mode (3, 1) is 3·4 + 1 = 13
        result = metrics.stacked_mode_coverage(jnp.asarray([[3, 1], [0, 0]]), num_classes=4)
        assert np.asarray(result["histogram"]).shape == (16,)
        assert np.flatnonzero(np.asarray(result["histogram"])).tolist() == [0, 13]
        np.testing.assert_allclose(float(result["kl_from_uniform"]), math.log(8), rtol=1e-6)
