"""KID, precision/recall, density/coverage, the classifier score and PGGAN's sliced
Wasserstein distance (issue 19): identities, closed forms and a loop reference."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from random_inputs import normal, uniform

from gan_jax import data, metrics
from gan_jax.metrics import distances


def loop_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """KID's unbiased MMD² written as the paper's sums, one pair at a time."""
    d = x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2.0 * xy


def test_kid_equals_the_loop_reference():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.2, size=(5, 3))
    with jax.enable_x64():
        assert float(metrics.polynomial_mmd2(jnp.asarray(x), jnp.asarray(y))) == pytest.approx(
            loop_mmd2(x, y), rel=1e-12
        )
    # one subset as large as both sets is a permutation of each: the same value
    y = rng.normal(0.5, 1.2, size=(7, 3))
    kid = metrics.kernel_distance(x, y, num_subsets=1, subset_size=7)
    assert kid.value == pytest.approx(loop_mmd2(x, y), rel=1e-5)


def test_kid_of_a_set_against_itself_is_zero_within_its_standard_error():
    """Split one set into random disjoint halves: given the set, each split's unbiased
    MMD² has expectation exactly 0 (every term averages the same pairs of distinct
    points), so the mean over 64 splits lies within 2 standard errors of 0 (a 95 % band);
    a shift of 0.1 per feature is far outside it."""
    features = normal(0, (1000, 16))

    def split_values(shift: float) -> np.ndarray:
        def one(key):
            order = jax.random.permutation(key, features.shape[0])
            return metrics.polynomial_mmd2(features[order[:500]], features[order[500:]] + shift)

        return np.asarray(jax.lax.map(one, jax.random.split(jax.random.key(1), 64)))

    mean, error = metrics.mean_and_standard_error(split_values(0.0))
    assert abs(mean) <= 2 * error
    shifted, shifted_error = metrics.mean_and_standard_error(split_values(0.1))
    assert shifted > 10 * shifted_error


def test_precision_and_recall_are_one_for_identical_sets():
    features = normal(1, (500, 8))
    assert metrics.precision_recall(features, features) == {"precision": 1.0, "recall": 1.0}


def test_one_ring_mode_has_full_precision_and_an_eighth_of_the_recall():
    """Samples of one mode of the 8-Gaussian ring against the whole ring (2-D features)."""
    ring = data.mixture_of_gaussians("ring")
    real = ring.sample(jax.random.key(2), 4000)
    one_mode = ring.centers[0] + ring.std * normal(3, (500, 2))
    result = metrics.precision_recall(real, one_mode)
    assert result["precision"] >= 0.97
    assert result["recall"] == pytest.approx(1 / 8, abs=0.02)


def test_density_and_coverage_closed_forms():
    """Identical sets: every ball holds its centre and its k neighbours, so coverage is 1
    and density (k+1)/k.  Two independent samples of one distribution: E[density] = 1 and
    E[coverage] ≈ 1 − 2^−k (Naeem et al. 2020, §4)."""
    k = 5
    real = normal(4, (2000, 8))
    identical = metrics.density_coverage(real, real, k)
    assert identical["coverage"] == 1.0
    assert identical["density"] == pytest.approx((k + 1) / k, abs=1e-6)
    other = normal(5, (2000, 8))
    independent = metrics.density_coverage(real, other, k)
    assert independent["density"] == pytest.approx(1.0, abs=0.08)
    assert independent["coverage"] == pytest.approx(1 - 2.0**-k, abs=0.02)


def test_classifier_score_bounds():
    """1 when every prediction is the same; K for confident predictions spread evenly."""
    uniform = metrics.classifier_score(jnp.zeros((100, 10)))
    assert uniform.value == pytest.approx(1.0, abs=1e-6)
    confident = 50.0 * jax.nn.one_hot(jnp.arange(100) % 10, 10)
    score = metrics.classifier_score(confident, splits=2)
    assert score.value == pytest.approx(10.0, rel=1e-5) and score.std_error < 1e-5


def test_laplacian_pyramid_reconstructs_the_image():
    images = uniform(6, (2, 32, 32, 3), minval=-1.0)
    levels = metrics.laplacian_pyramid(images, 8)
    assert [level.shape[1] for level in levels] == [32, 16, 8]

    @jax.jit  # one program (op by op, each op compiles on its own)
    def reconstruct(levels):
        image = levels[-1]
        for detail in reversed(levels[:-1]):
            up = jnp.zeros_like(detail).at[:, ::2, ::2].set(image)
            image = detail + 4.0 * distances._blur(up)
        return image

    np.testing.assert_allclose(reconstruct(levels), images, atol=1e-5)


def test_sliced_wasserstein_of_a_translation_is_the_shift():
    """In one dimension every direction is ±1: SW(a, a + μ) = |μ| exactly."""
    a = normal(7, (1000, 1))
    shift = metrics.sliced_wasserstein(a, a + 0.7, jax.random.key(8), num_directions=16)
    assert float(shift) == pytest.approx(0.7, rel=1e-5)


def test_swd_is_zero_for_identical_sets_and_grows_with_noise():
    images = data.load_dataset("digits", 32).images[:16]
    noise = normal(9, images.shape)
    distances = [
        metrics.sliced_wasserstein_distance(images, images + sigma * noise, num_directions=64)
        for sigma in (0.0, 0.1, 0.3)
    ]
    assert set(distances[0]) == {"32", "16", "mean"}
    assert all(value == 0.0 for value in distances[0].values())
    for level in ("32", "16"):
        assert 0 < distances[1][level] < distances[2][level]
