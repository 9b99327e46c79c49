"""Fréchet distance against Gaussian closed forms; class coverage on built histograms."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from gan_jax import metrics


def test_frechet_one_dimensional_closed_form():
    # W2²(N(m1, s1²), N(m2, s2²)) = (m1 − m2)² + (s1 − s2)²
    for m1, s1, m2, s2 in [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -0.5, 0.5), (3.0, 0.1, 3.0, 4.0)]:
        value = metrics.frechet_distance(
            np.array([m1]), np.array([[s1**2]]), np.array([m2]), np.array([[s2**2]])
        )
        assert value == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-12, abs=1e-12)


def test_frechet_diagonal_and_commuting_closed_forms():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3.0, 16), rng.uniform(0.1, 3.0, 16)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    value = metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert value == pytest.approx(expected, rel=1e-10)
    # Same eigenvectors (commuting): the same formula in the rotated basis.
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    value = metrics.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert value == pytest.approx(expected, rel=1e-9)


def test_frechet_general_matches_scipy_sqrtm_and_properties():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    s1, s2 = x @ x.T + 0.1 * np.eye(8), y @ y.T + 0.1 * np.eye(8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
    value = metrics.frechet_distance(mu1, s1, mu2, s2)
    assert value == pytest.approx(expected, rel=1e-8)
    # Symmetric, zero on identical Gaussians, translation-invariant in the covariance term.
    assert metrics.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(value, rel=1e-8)
    assert metrics.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)
    shift = np.full(8, 2.0)
    assert metrics.frechet_distance(mu1 + shift, s1, mu2 + shift, s2) == pytest.approx(
        value, rel=1e-8
    )


def test_frechet_of_samples_converges_to_population_value():
    # Two isotropic Gaussians in 4-d: d² = ‖Δμ‖² + 4 (σ1 − σ2)² = 1 + 4 · 0.25 = 2.
    rng = np.random.default_rng(2)
    n = 200_000
    a = rng.normal(size=(n, 4))
    b = 1.5 * rng.normal(size=(n, 4)) + np.array([1.0, 0, 0, 0])
    value = metrics.frechet_feature_distance(a, b)
    assert value == pytest.approx(2.0, abs=0.03)


def test_gaussian_fit_is_unbiased_mean_and_covariance():
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 2.0]])
    mu, cov = metrics.gaussian_fit(x)
    np.testing.assert_allclose(mu, [2.0, 2.0])
    np.testing.assert_allclose(cov, np.cov(x.T, ddof=1))


def test_class_coverage_histograms():
    eye = jnp.eye(10)
    balanced = metrics.class_coverage(jnp.tile(eye, (3, 1)))
    assert int(balanced["classes"]) == 10
    assert float(balanced["kl_from_uniform"]) == pytest.approx(0.0, abs=1e-6)
    single = metrics.class_coverage(jnp.tile(eye[3], (50, 1)))
    assert int(single["classes"]) == 1
    assert float(single["kl_from_uniform"]) == pytest.approx(math.log(10), rel=1e-6)
    # three quarters class 0, one quarter class 1, out of 4 classes:
    # KL = ¾ log(4·¾) + ¼ log(4·¼) = ¾ log 3.
    logits = jnp.concatenate([jnp.tile(jnp.eye(4)[0], (3, 1)), jnp.eye(4)[1][None]])
    two = metrics.class_coverage(logits)
    assert int(two["classes"]) == 2
    assert float(two["kl_from_uniform"]) == pytest.approx(0.75 * math.log(3), rel=1e-6)
