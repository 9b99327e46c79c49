"""Update rules against textbook maps, closed forms and invariants (DESIGN.md §3)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import dynamics as dy
from gan_jax.dynamics import theory


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def f64(v):
    return jnp.asarray(v, jnp.float64)


def norms(traj):
    return np.hypot(np.asarray(traj.g), np.asarray(traj.d))


# ------------------------------------------------------------------ textbook maps


def reference_map(name, eta, x, y, steps, gamma=1.0, d_first=True):
    """The textbook recurrences on f = x·y, written independently of the library."""
    xs, ys = [x], [y]
    px, py = x, y  # z_{-1} = z_0 for OGDA
    for _ in range(steps):
        if name == "simultaneous":
            x, y = x - eta * y, y + eta * x
        elif name == "alternating":
            if d_first:
                y = y + eta * x
                x = x - eta * y
            else:
                x = x - eta * y
                y = y + eta * x
        elif name == "extragradient":
            xh, yh = x - eta * y, y + eta * x
            x, y = x - eta * yh, y + eta * xh
        elif name == "optimistic":
            x, y, px, py = x - 2 * eta * y + eta * py, y + 2 * eta * x - eta * px, x, y
        elif name == "consensus":
            # F = (y, -x); ∇½‖F‖² = (x, y)
            x, y = x - eta * (y + gamma * x), y - eta * (-x + gamma * y)
        xs.append(x)
        ys.append(y)
    return np.array(xs), np.array(ys)


SCHEMES = {
    "simultaneous": lambda opt: dy.simultaneous(opt),
    "alternating": lambda opt: dy.alternating(opt),
    "extragradient": lambda opt: dy.extragradient(opt),
    "optimistic": lambda opt: dy.optimistic(opt),
    "consensus": lambda opt: dy.consensus(opt, gamma=0.7),
}


@pytest.mark.parametrize("name", sorted(SCHEMES))
@pytest.mark.parametrize("eta", [0.05, 0.3, 1.1])
def test_schemes_are_the_textbook_maps(name, eta):
    traj = dy.rollout(dy.bilinear(), SCHEMES[name](optax.sgd(eta)), f64(0.8), f64(-1.3), 60)
    xs, ys = reference_map(name, eta, 0.8, -1.3, 60, gamma=0.7)
    np.testing.assert_allclose(traj.g, xs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(traj.d, ys, rtol=1e-12, atol=1e-12)


def test_alternating_g_first_is_the_textbook_map():
    traj = dy.rollout(
        dy.bilinear(), dy.alternating(optax.sgd(0.4), d_first=False), f64(1.0), f64(1.0), 30
    )
    xs, ys = reference_map("alternating", 0.4, 1.0, 1.0, 30, d_first=False)
    np.testing.assert_allclose(traj.g, xs, rtol=1e-12)
    np.testing.assert_allclose(traj.d, ys, rtol=1e-12)


def test_alternating_several_steps_per_player():
    eta = 0.2
    traj = dy.rollout(
        dy.bilinear(), dy.alternating(optax.sgd(eta), d_steps=3, g_steps=2), f64(1.0), f64(0.5), 4
    )
    x, y = 1.0, 0.5
    for _ in range(4):
        for _ in range(3):
            y = y + eta * x
        for _ in range(2):
            x = x - eta * y
    assert float(traj.g[-1]) == pytest.approx(x, rel=1e-12)
    assert float(traj.d[-1]) == pytest.approx(y, rel=1e-12)


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_schemes_work_on_arbitrary_pytrees(name):
    """A game on nested dict/list players moves exactly like the same game on flat vectors."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    game_flat = dy.bilinear(f64(a))

    def split(v):
        return {"w": v[:2].reshape(2, 1), "rest": [v[2:4], v[4]]}

    def join(tree):
        return jnp.concatenate([tree["w"].ravel(), tree["rest"][0], tree["rest"][1][None]])

    game_tree = dy.Game(
        loss_g=lambda g, d, b: join(g) @ f64(a) @ join(d),
        loss_d=lambda g, d, b: -(join(g) @ f64(a) @ join(d)),
    )
    x0, y0 = f64(rng.normal(size=5)), f64(rng.normal(size=5))
    opt = optax.sgd(0.05, momentum=0.3)
    flat = dy.rollout(game_flat, SCHEMES[name](opt), x0, y0, 25)
    tree = dy.rollout(game_tree, SCHEMES[name](opt), split(x0), split(y0), 25)
    np.testing.assert_allclose(jax.vmap(join)(tree.g), flat.g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jax.vmap(join)(tree.d), flat.d, rtol=1e-12, atol=1e-12)


def test_separate_optimizers_per_player():
    traj = dy.rollout(
        dy.bilinear(), dy.simultaneous(optax.sgd(0.1), optax.sgd(0.3)), f64(1.0), f64(1.0), 1
    )
    assert float(traj.g[1]) == pytest.approx(1.0 - 0.1)
    assert float(traj.d[1]) == pytest.approx(1.0 + 0.3)


# ------------------------------------------------------------------ invariants


@pytest.mark.parametrize("eta", [0.01, 0.1, 0.5, 1.0])
def test_simultaneous_norm_grows_by_sqrt_1_plus_eta2_each_step(eta):
    n = norms(dy.rollout(dy.bilinear(), dy.simultaneous(optax.sgd(eta)), f64(0.3), f64(-0.7), 200))
    np.testing.assert_allclose(n[1:] / n[:-1], math.sqrt(1 + eta * eta), rtol=1e-12)


@pytest.mark.parametrize("d_first", [True, False])
@pytest.mark.parametrize("eta", [0.05, 0.5, 1.5, 1.99])
def test_alternating_conserves_its_invariant(eta, d_first):
    traj = dy.rollout(
        dy.bilinear(), dy.alternating(optax.sgd(eta), d_first=d_first), f64(1.0), f64(1.0), 10_000
    )
    q = theory.alternating_invariant(np.asarray(traj.g), np.asarray(traj.d), eta, d_first)
    np.testing.assert_allclose(q, q[0], rtol=1e-5)
    # The wrong sign is not conserved (so the test can tell the orders apart).
    wrong = theory.alternating_invariant(np.asarray(traj.g), np.asarray(traj.d), eta, not d_first)
    assert np.max(np.abs(wrong - wrong[0])) > 1e-3
    # Bounded: the invariant is a positive-definite ellipse for η < 2.
    bound = math.sqrt(q[0] / (1 - eta / 2))
    assert np.max(norms(traj)) <= bound * (1 + 1e-9)


def test_alternating_diverges_beyond_eta_2():
    n = norms(dy.rollout(dy.bilinear(), dy.alternating(optax.sgd(2.1)), f64(1.0), f64(1.0), 200))
    assert n[-1] > 1e6


# ------------------------------------------------------------------ closed forms vs autodiff

ETAS = np.array([0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 1.2, 1.6, 1.9, 2.0, 2.3, 3.0])
MEMORYLESS = {
    "simultaneous": (dy.simultaneous, theory.simultaneous_radius),
    "alternating": (dy.alternating, theory.alternating_radius),
    "extragradient": (dy.extragradient, theory.extragradient_radius),
    "consensus": (lambda o: dy.consensus(o, gamma=0.8), lambda e: theory.consensus_radius(e, 0.8)),
}


@pytest.mark.parametrize("name", sorted(MEMORYLESS))
def test_closed_form_radius_matches_update_jacobian(name):
    make, closed_form = MEMORYLESS[name]
    for eta in ETAS:
        jac = dy.update_jacobian(dy.bilinear(), make(optax.sgd(eta)), f64(0.2), f64(-0.4))
        assert dy.spectral_radius(jac) == pytest.approx(
            float(closed_form(eta)), rel=1e-9, abs=1e-12
        ), eta


def _steady_state_radius(scheme):
    game = dy.bilinear()
    state = scheme.init(game, f64(0.2), f64(-0.4))
    state, _ = scheme.step(game, state)
    return dy.spectral_radius(dy.state_jacobian(game, scheme, state))


def test_optimistic_radius_matches_state_jacobian():
    for eta in ETAS:
        # At η = 1/2 the OGDA characteristic polynomial has a double root (its discriminant
        # (1 - i)² + 2i vanishes): eigenvalues of such a defective matrix are only
        # determined to O(√ε) ≈ 1e-8 in float64.
        rel = 1e-7 if eta == 0.5 else 1e-9
        assert _steady_state_radius(dy.optimistic(optax.sgd(eta))) == pytest.approx(
            theory.optimistic_radius(eta), rel=rel
        ), eta


@pytest.mark.parametrize("beta", [-0.9, -0.5, -0.1, 0.0, 0.3, 0.7])
def test_momentum_radii_match_state_jacobian(beta):
    for eta in ETAS[:9]:
        alt = _steady_state_radius(dy.alternating(optax.sgd(eta, momentum=beta)))
        sim = _steady_state_radius(dy.simultaneous(optax.sgd(eta, momentum=beta)))
        assert alt == pytest.approx(theory.alternating_momentum_radius(eta, beta), rel=1e-7), (
            eta,
            beta,
        )
        assert sim == pytest.approx(theory.simultaneous_momentum_radius(eta, beta), rel=1e-7), (
            eta,
            beta,
        )


def test_momentum_zero_reduces_to_plain_schemes():
    for eta in (0.1, 0.5, 1.5):
        assert theory.alternating_momentum_radius(eta, 0.0) == pytest.approx(
            theory.alternating_radius(eta)
        )
        assert theory.simultaneous_momentum_radius(eta, 0.0) == pytest.approx(
            theory.simultaneous_radius(eta)
        )


def test_matrix_game_radius_uses_the_largest_singular_value():
    a = np.diag([0.5, 2.0, 1.0])
    jac = dy.update_jacobian(
        dy.bilinear(f64(a)), dy.simultaneous(optax.sgd(0.3)), f64(np.ones(3)), f64(np.ones(3))
    )
    assert dy.spectral_radius(jac) == pytest.approx(
        float(theory.simultaneous_radius(0.3, a=2.0)), rel=1e-12
    )


# ------------------------------------------------------------------ convergence regions

REGION_SCHEMES = {
    "extragradient": (dy.extragradient, theory.extragradient_radius),
    "optimistic": (dy.optimistic, theory.optimistic_radius),
    "consensus": (lambda o: dy.consensus(o, gamma=0.5), lambda e: theory.consensus_radius(e, 0.5)),
}


@pytest.mark.parametrize("name", sorted(REGION_SCHEMES))
def test_converges_exactly_where_the_closed_form_says(name):
    make, closed_form = REGION_SCHEMES[name]
    etas = np.linspace(0.02, 3.0, 150)
    steps = 3000

    def final_log_ratio(eta):
        traj = dy.rollout(dy.bilinear(), make(optax.sgd(eta)), f64(1.0), f64(1.0), steps)
        return jnp.log(jnp.hypot(traj.g[-1], traj.d[-1]) / jnp.sqrt(2.0))

    measured = np.asarray(jax.jit(jax.vmap(final_log_ratio))(f64(etas))) / steps
    predicted = np.log(closed_form(etas))
    decided = np.abs(predicted) > 2e-3  # leave out a sliver around ρ = 1
    assert decided.sum() > 120
    # A run that overflowed (NaN from inf - inf) diverged; one that underflowed to 0
    # (log = -inf) converged.
    measured_sign = np.where(np.isnan(measured), 1.0, np.sign(measured))
    np.testing.assert_array_equal(measured_sign[decided], np.sign(predicted[decided]))
    # The measured rate is the predicted one (finite-step transients are O(1/steps)).  A
    # run whose final radius is below the smallest normal float64 left exact arithmetic:
    # subnormals lose precision, and a GPU held one run at the smallest subnormal instead
    # of reaching 0.  Such a run converged (checked above) but has no measurable rate.
    final_log_radius = measured * steps + 0.5 * np.log(2.0)
    normal = final_log_radius > np.log(np.finfo(np.float64).tiny)
    finite = np.isfinite(measured) & decided & normal
    np.testing.assert_allclose(measured[finite], predicted[finite], atol=2e-3)


def test_extragradient_region_is_eta_below_one():
    assert theory.extragradient_radius(0.999) < 1 < theory.extragradient_radius(1.001)


def test_negative_momentum_makes_alternating_converge():
    """Gidel et al. 2019: alternating + β < 0 converges; simultaneous + any β does not."""
    eta = 0.5
    for beta in (-0.1, -0.3, -0.5):
        assert theory.alternating_momentum_radius(eta, beta) < 1
        traj = dy.rollout(
            dy.bilinear(), dy.alternating(optax.sgd(eta, momentum=beta)), f64(1.0), f64(1.0), 2000
        )
        assert norms(traj)[-1] < 1e-6
    betas = np.linspace(-0.95, 0.95, 39)
    for eta in (0.05, 0.3, 0.8, 1.5):
        assert np.all(theory.simultaneous_momentum_radius(eta, betas) >= 1.0 - 1e-12)
        for beta in (-0.5, 0.0, 0.5):
            traj = dy.rollout(
                dy.bilinear(),
                dy.simultaneous(optax.sgd(eta, momentum=beta)),
                f64(1.0),
                f64(1.0),
                500,
            )
            assert norms(traj)[-1] >= norms(traj)[0]
    # Positive momentum does not rescue alternating GDA.
    assert theory.alternating_momentum_radius(0.5, 0.5) > 1


# ------------------------------------------------------------------ Dirac-GAN


def dirac_flow_eigs(game, scheme=dy.simultaneous):
    return dy.eigenvalues(dy.flow_jacobian(game, f64(0.0), f64(0.0), scheme=scheme))


@pytest.mark.parametrize("loss,expected", [("gan", 0.5j), ("nsgan", 0.5j), ("wgan", 1j)])
def test_dirac_unregularised_eigenvalues_are_purely_imaginary(loss, expected):
    np.testing.assert_allclose(
        dirac_flow_eigs(dy.dirac_gan(loss)), [-expected, expected], atol=1e-12
    )


@pytest.mark.parametrize("regularizer", ["r1", "r2"])
@pytest.mark.parametrize("gamma", [0.1, 0.3, 1.0, 2.5])
def test_dirac_gradient_penalty_eigenvalues(regularizer, gamma):
    got = dirac_flow_eigs(dy.dirac_gan("gan", regularizer, gamma))
    root = np.sqrt(complex(gamma**2 / 4 - 0.25))
    expected = np.array([-gamma / 2 - root, -gamma / 2 + root])
    np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(expected), atol=1e-10)
    np.testing.assert_allclose(
        np.sort_complex(got),
        np.sort_complex(theory.dirac_eigenvalues("gan", regularizer, gamma)),
        atol=1e-10,
    )


@pytest.mark.parametrize("loss", ["gan", "nsgan", "wgan"])
@pytest.mark.parametrize("sigma", [0.3, 0.7, 1.5, 2.5])
def test_dirac_instance_noise_eigenvalues(loss, sigma):
    got = dirac_flow_eigs(dy.dirac_gan(loss, "instance_noise", noise_std=sigma))
    a, b = theory.DIRAC_F_PRIME[loss], theory.DIRAC_F_SECOND[loss]
    root = np.sqrt(complex(b * b * sigma**4 - a * a))
    expected = np.array([b * sigma**2 - root, b * sigma**2 + root])
    np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(expected), atol=1e-6)


@pytest.mark.parametrize("gamma", [0.2, 1.0, 3.0])
def test_dirac_consensus_eigenvalues(gamma):
    got = dirac_flow_eigs(dy.dirac_gan("gan"), scheme=lambda o: dy.consensus(o, gamma=gamma))
    np.testing.assert_allclose(got, [-gamma / 4 - 0.5j, -gamma / 4 + 0.5j], atol=1e-12)
    np.testing.assert_allclose(got, theory.dirac_eigenvalues(consensus_gamma=gamma), atol=1e-12)


@pytest.mark.parametrize("scheme", ["simultaneous", "alternating"])
def test_unregularised_dirac_gan_does_not_converge(scheme):
    make = {"simultaneous": dy.simultaneous, "alternating": dy.alternating}[scheme]
    traj = dy.rollout(dy.dirac_gan("gan"), make(optax.sgd(0.2)), f64(1.0), f64(1.0), 5000)
    # It never gets close to the equilibrium (0, 0): simultaneous spirals out, alternating cycles.
    assert np.min(norms(traj)[1000:]) > 0.5


def test_dirac_r1_converges_within_500_steps():
    traj = dy.rollout(
        dy.dirac_gan("gan", "r1", gamma=0.3),
        dy.simultaneous(optax.sgd(0.2)),
        f64(1.0),
        f64(1.0),
        500,
    )
    assert norms(traj)[-1] < 1e-3


def test_dirac_r1_and_r2_coincide_and_nsgan_differs_only_away_from_zero():
    for theta, psi in [(0.3, -1.2), (2.0, 0.5)]:
        r1 = dy.dirac_gan("gan", "r1", 0.7).losses(f64(theta), f64(psi))
        r2 = dy.dirac_gan("gan", "r2", 0.7).losses(f64(theta), f64(psi))
        np.testing.assert_allclose(r1, r2)
    # L(θ, ψ) = f(ψθ) + f(0) with f(t) = -log(1 + e^{-t}).
    loss_g, loss_d = dy.dirac_gan("gan").losses(f64(0.5), f64(2.0))
    expected = -math.log1p(math.exp(-1.0)) - math.log(2.0)
    assert float(loss_g) == pytest.approx(expected) and float(loss_d) == pytest.approx(-expected)
    # NS-GAN: G minimises -f(-ψθ) = log(1 + e^{ψθ}).
    assert float(dy.dirac_gan("nsgan").loss_g(f64(0.5), f64(2.0), None)) == pytest.approx(
        math.log1p(math.e)
    )


def test_clipped_wgan_stays_in_the_box():
    opt_d = optax.chain(optax.sgd(0.2), dy.clip_parameters(0.5))
    traj = dy.rollout(
        dy.dirac_gan("wgan"), dy.simultaneous(optax.sgd(0.2), opt_d), f64(1.0), f64(0.3), 300
    )
    assert np.max(np.abs(np.asarray(traj.d))) <= 0.5 + 1e-12
    assert np.max(np.abs(np.asarray(traj.d))) == pytest.approx(0.5)


# ------------------------------------------------------------------ batches, rollouts


def test_every_evaluation_gets_its_own_batch():
    """A D loss ψ·n(key): sgd(1) moves ψ by -n(key_i) for each of the d_steps evaluations."""
    game = dy.Game(
        loss_g=lambda g, d, b: g * d, loss_d=lambda g, d, b: d * jax.random.normal(b["key"])
    )
    batch = {"key": jax.random.key(7), "data": jnp.ones(3)}
    scheme = dy.alternating(optax.sgd(1.0), d_steps=3)
    state, _ = scheme.step(game, scheme.init(game, f64(0.0), f64(0.0)), batch)
    noise = [float(jax.random.normal(dy.fold_batch(batch, i)["key"])) for i in range(3)]
    assert len(set(noise)) == 3
    assert float(state.d) == pytest.approx(-sum(noise), rel=1e-6)
    assert dy.fold_batch(batch, 0) is batch
    np.testing.assert_array_equal(dy.fold_batch(batch, 2)["data"], batch["data"])


def test_rollout_shapes_jit_and_vmap():
    game = dy.bilinear()

    @jax.jit
    def final_norm(eta):
        traj = dy.rollout(game, dy.extragradient(optax.sgd(eta)), f64(1.0), f64(1.0), 100)
        return jnp.hypot(traj.g, traj.d)

    etas = f64([0.1, 0.5, 0.9])
    swept = jax.vmap(final_norm)(etas)
    assert swept.shape == (3, 101)
    for i, eta in enumerate(etas):
        np.testing.assert_allclose(swept[i], final_norm(eta), rtol=1e-12)
    traj = dy.rollout(game, dy.simultaneous(optax.sgd(0.1)), f64(1.0), f64(2.0), 5)
    assert float(traj.g[0]) == 1.0 and float(traj.d[0]) == 2.0
    assert traj.metrics["loss_g"].shape == (5,)
    np.testing.assert_allclose(
        traj.metrics["loss_g"], np.asarray(traj.g[:-1]) * np.asarray(traj.d[:-1])
    )


def test_rollout_thinned_with_every_is_the_full_trajectory_subsampled():
    game = dy.bilinear()
    scheme = dy.alternating(optax.sgd(0.1, momentum=0.5))
    full = dy.rollout(game, scheme, f64(1.0), f64(0.5), 60)
    thin = dy.rollout(game, scheme, f64(1.0), f64(0.5), 60, every=15)
    assert thin.g.shape == (5,)
    np.testing.assert_array_equal(thin.g, full.g[::15])
    np.testing.assert_array_equal(thin.d, full.d[::15])
    np.testing.assert_array_equal(thin.metrics["loss_g"], full.metrics["loss_g"])
    # every need not divide num_steps: the final state is kept as well
    ragged = dy.rollout(game, scheme, f64(1.0), f64(0.5), 60, every=7)
    kept = dy.kept_steps(60, 7)
    np.testing.assert_array_equal(kept, [0, 7, 14, 21, 28, 35, 42, 49, 56, 60])
    np.testing.assert_array_equal(ragged.g, full.g[kept])
    np.testing.assert_array_equal(ragged.d, full.d[kept])
    np.testing.assert_array_equal(ragged.metrics["loss_g"], full.metrics["loss_g"])
    short = dy.rollout(game, scheme, f64(1.0), f64(0.5), 5, every=7)  # fewer steps than every
    np.testing.assert_array_equal(short.g, full.g[np.array([0, 5])])
    with pytest.raises(ValueError, match="must be positive"):
        dy.rollout(game, scheme, f64(1.0), f64(0.5), 60, every=0)


def test_a_rollout_continued_in_chunks_from_a_traced_start_is_the_whole_rollout():
    # Step t's batch is a function of t, so the chunks must see the global step index.
    game = dy.Game(loss_g=lambda g, d, b: g * d + b * g, loss_d=lambda g, d, b: -g * d)
    scheme = dy.alternating(optax.adam(0.05))
    shift = lambda t: 0.01 * t
    whole = dy.rollout(game, scheme, f64(1.0), f64(0.5), 60, shift, every=10)
    chunk = jax.jit(
        lambda state, start: dy.continue_rollout(game, scheme, state, start, 20, shift, every=10)
    )
    state = scheme.init(game, f64(1.0), f64(0.5))
    kept = [float(state.g)]
    for start in (0, 20, 40):  # one compiled chunk, traced start
        state, ((g, _, _), metrics) = chunk(state, start)
        kept += [float(x) for x in g]
        np.testing.assert_array_equal(
            metrics["loss_g"], whole.metrics["loss_g"][start : start + 20]
        )
    np.testing.assert_array_equal(kept, whole.g)
    assert chunk._cache_size() == 1


def test_rollout_batch_may_be_a_function_of_the_step():
    game = dy.Game(loss_g=lambda g, d, b: g * d + b["shift"] * g, loss_d=lambda g, d, b: -g * d)
    scheme = dy.simultaneous(optax.sgd(0.1))
    shifts = f64(np.linspace(-1.0, 1.0, 8))
    traj = dy.rollout(game, scheme, f64(0.3), f64(0.2), 8, lambda t: {"shift": shifts[t]})
    g, d = 0.3, 0.2
    for t in range(8):
        g, d = g - 0.1 * (d + float(shifts[t])), d + 0.1 * g
        np.testing.assert_allclose(float(traj.g[t + 1]), g, rtol=1e-12)
        np.testing.assert_allclose(float(traj.d[t + 1]), d, rtol=1e-12)
