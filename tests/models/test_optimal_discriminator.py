"""Goodfellow et al. 2014, Prop. 1 and Thm. 1: closed forms, quadrature and the learner."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import integrate, stats

from gan_jax.models import optimal_discriminator as od
from gan_jax.nets.mlp import MLPDiscriminator

MUS = [0.0, 0.5, 1.0, 2.0, 3.7]


def scipy_jsd(mu: float) -> float:
    """Independent JSD(N(0,1)‖N(μ,1)) by adaptive quadrature on the real line."""
    p, q = stats.norm(0, 1).pdf, stats.norm(mu, 1).pdf

    def integrand(x):
        m = 0.5 * (p(x) + q(x))
        out = 0.0
        for f in (p, q):
            if f(x) > 0:
                out += 0.5 * f(x) * math.log(f(x) / m)
        return out

    return integrate.quad(integrand, -np.inf, np.inf, points=None, limit=200, epsabs=1e-12)[0]


@pytest.mark.parametrize("mu", MUS)
def test_gaussian_shift_d_star_is_the_density_ratio(mu):
    x = np.linspace(-6, 6, 101)
    pd, pg = stats.norm(0, 1).pdf(x), stats.norm(mu, 1).pdf(x)
    np.testing.assert_allclose(
        od.gaussian_shift_optimal_discriminator(x, mu), pd / (pd + pg), rtol=1e-5
    )
    np.testing.assert_allclose(
        od.optimal_discriminator(od.gaussian_log_density(x), od.gaussian_log_density(x, mu)),
        pd / (pd + pg),
        rtol=1e-5,
    )


def test_d_star_is_one_half_when_p_g_equals_p_data():
    x = jnp.linspace(-10, 10, 41)
    np.testing.assert_array_equal(od.gaussian_shift_optimal_discriminator(x, 0.0), 0.5)


def test_d_star_maximises_the_pointwise_value():
    """a·log(y) + b·log(1-y) peaks at y = a/(a+b): perturbing D* lowers V."""
    mu = 1.3
    with jax.enable_x64(True):
        x = jnp.linspace(-12, 12 + mu, 20001)
        pd, pg = jnp.exp(od.gaussian_log_density(x)), jnp.exp(od.gaussian_log_density(x, mu))
        logit_star = 0.5 * mu * mu - mu * x

        def value(logit):
            return jnp.trapezoid(
                pd * jax.nn.log_sigmoid(logit) + pg * jax.nn.log_sigmoid(-logit), x
            )

        v_star = value(logit_star)
        for delta in (-0.3, -0.05, 0.05, 0.3):
            assert float(value(logit_star + delta)) < float(v_star)
            assert float(value(logit_star + delta * x)) < float(v_star)


@pytest.mark.parametrize("mu", MUS)
def test_jsd_quadrature_matches_scipy(mu):
    with jax.enable_x64(True):
        ours = float(od.gaussian_shift_jsd(mu))
    assert ours == pytest.approx(scipy_jsd(mu), abs=1e-9)
    assert 0.0 <= ours <= math.log(2.0)


def test_jsd_limits():
    with jax.enable_x64(True):
        assert float(od.gaussian_shift_jsd(0.0)) == pytest.approx(0.0, abs=1e-12)
        assert float(od.gaussian_shift_jsd(40.0)) == pytest.approx(math.log(2.0), abs=1e-9)


def test_value_at_equilibrium_is_minus_log_4():
    assert float(od.optimal_value(od.gaussian_shift_jsd(0.0))) == pytest.approx(
        -math.log(4.0), abs=1e-6
    )
    zeros = jnp.zeros(1000)  # D ≡ 1/2
    assert float(od.gan_value(zeros, zeros)) == pytest.approx(-math.log(4.0), rel=1e-6)


@pytest.mark.parametrize("mu", MUS)
def test_theorem_1_value_identity(mu):
    """∫ p_data log D* + p_g log(1 - D*) equals -log 4 + 2·JSD (independent quadrature)."""
    p, q = stats.norm(0, 1), stats.norm(mu, 1)

    def integrand(x):
        log_ratio = p.logpdf(x) - q.logpdf(x)
        # log D* = -softplus(-r), log(1 - D*) = -softplus(r)
        return -p.pdf(x) * np.logaddexp(0, -log_ratio) - q.pdf(x) * np.logaddexp(0, log_ratio)

    value = integrate.quad(integrand, -np.inf, np.inf, limit=200, epsabs=1e-12)[0]
    with jax.enable_x64(True):
        assert float(od.optimal_value(od.gaussian_shift_jsd(mu))) == pytest.approx(value, abs=1e-8)


@pytest.mark.integration  # a training run (tests/README.md, tiers)
def test_fit_discriminator_learns_d_star():
    """A short fit for μ = 1 gets within the study's 0.05 of D* on [-3, 3]."""
    disc = MLPDiscriminator(width=32, depth=2)
    steps = 1500
    init, run = od.fit_discriminator(
        disc,
        optax.adam(optax.cosine_decay_schedule(5e-3, steps)),
        sample_real=lambda mu, k, n: jax.random.normal(k, (n, 1)),
        sample_fake=lambda mu, k, n: mu + jax.random.normal(k, (n, 1)),
        batch_size=1024,
    )
    mu = jnp.float32(1.0)
    fit, losses = jax.jit(lambda key, mu: run(init(key, mu), mu, steps))(jax.random.key(0), mu)
    assert losses.shape == (steps,)
    x = jnp.linspace(-3, 3, 121)[:, None]
    d = jax.jit(lambda params: jax.nn.sigmoid(disc.apply(params, x)))(fit.params)
    error = float(jnp.max(jnp.abs(d - od.gaussian_shift_optimal_discriminator(x[:, 0], mu))))
    assert error < 0.05
    # The final loss is near its infimum log 4 - 2·JSD (minibatch noise only).
    assert float(jnp.mean(losses[-100:])) == pytest.approx(
        -float(od.optimal_value(od.gaussian_shift_jsd(1.0))), abs=0.01
    )


@pytest.mark.integration  # a training run (tests/README.md, tiers)
def test_fit_is_vmappable_and_matches_single_fits():
    # float64: batched and unbatched products may round differently in float32
    with jax.enable_x64(True):
        disc = MLPDiscriminator(width=8, depth=1, param_dtype=jnp.float64)
        init, run = od.fit_discriminator(
            disc,
            optax.sgd(0.1),
            sample_real=lambda mu, k, n: jax.random.normal(k, (n, 1), jnp.float64),
            sample_fake=lambda mu, k, n: mu + jax.random.normal(k, (n, 1), jnp.float64),
            batch_size=32,
        )
        mus = jnp.array([0.0, 2.0], jnp.float64)
        keys = jax.random.split(jax.random.key(0), 2)
        fit_one = jax.jit(lambda k, m: run(init(k, m), m, 20)[1])
        losses = jax.jit(jax.vmap(fit_one))(keys, mus)
        assert losses.dtype == jnp.float64
        for i in range(2):
            single_losses = fit_one(keys[i], mus[i])
            np.testing.assert_allclose(losses[i], single_losses, rtol=1e-10, atol=1e-12)
