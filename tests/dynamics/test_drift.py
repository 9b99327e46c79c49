"""Discretisation drift (gan_jax.dynamics.drift; Rosca et al. 2021, arXiv:2105.13922): the
modified flows against closed forms, against the update rules' own one-step maps, and
against the discrete iterates (the orders of accuracy)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree
from optax.tree_utils import tree_vdot

from gan_jax import dynamics as dy
from gan_jax.dynamics import drift as dr
from gan_jax.dynamics import theory
from gan_jax.dynamics.spectrum import trainable, with_trainable


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def as_numbers(tree):
    return [float(np.asarray(leaf)) for leaf in jax.tree.leaves(tree)]


@pytest.mark.parametrize(("scheme", "d_first"), [("simultaneous", True), ("alternating", True),
                                                 ("alternating", False), ("extragradient", True)])  # fmt: skip
def test_bilinear_drift_is_its_closed_form(scheme, d_first, x64):
    game, a, eta_g, eta_d = dy.bilinear(1.5), 1.5, 0.1, 0.03
    for x, y in [(1.0, 0.0), (0.3, -2.0), (-1.2, 0.7)]:
        flow = dr.modified_flow(
            game, jnp.float64(x), jnp.float64(y), eta_g, eta_d, scheme, d_first=d_first
        )
        expected = theory.bilinear_drift(x, y, eta_g, eta_d, scheme, a=a, d_first=d_first)
        np.testing.assert_allclose(as_numbers(flow.total), expected, rtol=1e-13, atol=1e-15)
        assert as_numbers(flow.self_terms) == [0.0, 0.0]  # a bilinear game has no self terms
        np.testing.assert_allclose(
            as_numbers(flow.field), [-eta_g * a * y, eta_d * a * x], rtol=1e-13, atol=1e-15
        )


def test_simultaneous_growth_rate_matches_the_discrete_map_to_fourth_order():
    """½h² against log √(1 + h²): the difference is h⁴/4 + O(h⁶) per step."""
    for h in (0.1, 0.05, 0.02):
        gap = theory.simultaneous_drift_rate(h) - 0.5 * np.log1p(h * h)
        assert gap == pytest.approx(h**4 / 4, rel=2 * h * h)


@pytest.mark.parametrize("d_first", [True, False])
def test_alternating_modified_flow_conserves_the_invariant(d_first, x64):
    """∇Q · (F + C) = 0 for Q = x² + y² ± ηa·xy (the quantity alternating GDA conserves):
    the first-order modified flow conserves it exactly."""
    game, a, eta = dy.bilinear(0.8), 0.8, 0.2
    for x, y in [(1.0, 0.0), (0.3, -2.0), (-1.2, 0.7)]:
        sign = 1.0 if d_first else -1.0
        grad_q = np.array([2 * x + sign * eta * a * y, 2 * y + sign * eta * a * x])
        q = theory.alternating_invariant(x, y, eta, d_first=d_first, a=a)
        step = 1e-6  # ∇Q is Q's gradient
        assert (theory.alternating_invariant(x + step, y, eta, d_first=d_first, a=a) - q) / (
            step
        ) == pytest.approx(grad_q[0], abs=1e-5)
        flow = dr.modified_flow(game, jnp.float64(x), jnp.float64(y), eta, eta, "alternating",
                        d_first=d_first)  # fmt: skip
        velocity = np.array(as_numbers(flow.modified))
        assert abs(float(grad_q @ velocity)) < 1e-15
        # while the original flow alone changes it: ∇Q·F = ±η²a²(x² − y²)
        leak = float(grad_q @ np.array(as_numbers(flow.field)))
        assert leak == pytest.approx(sign * (eta * a) ** 2 * (x * x - y * y), rel=1e-12)


@pytest.mark.parametrize("loss", ["gan", "nsgan", "wgan"])
def test_dirac_gan_drift_terms_are_their_closed_forms(loss, x64):
    game = dy.dirac_gan(loss)
    for theta, psi in [(1.0, 1.0), (-0.7, 0.4), (2.0, -1.5)]:
        terms = dr.drift_terms(game, jnp.float64(theta), jnp.float64(psi))
        expected = theory.dirac_drift_terms(theta, psi, loss)
        for name, value in expected.items():
            assert float(getattr(terms, name)) == pytest.approx(float(value), rel=1e-12, abs=1e-15)


def scheme_map_derivatives(game, scheme_of, g, d, batch=None):
    """Φ₁ and Φ₂ of the scheme's one-step map ``Φ(τ)`` (learning rates scaled by τ): its
    first derivative and half its second at τ = 0, by reverse mode (our BatchNorm has a
    custom VJP, so no forward mode)."""
    state = dy.GameState(g=g, d=d, opt_state_g=None, opt_state_d=None, step=jnp.int32(0))

    def step(tau):
        scheme = scheme_of(tau)
        start = state.replace(opt_state_g=scheme.opt_g.init(g), opt_state_d=scheme.opt_d.init(d))
        new, _ = scheme.step(game, start, batch)
        return ravel_pytree((trainable(new.g), trainable(new.d)))[0]

    first = jax.jit(jax.jacrev(step))(0.0)  # jitted: ≈ 6× faster than op by op on DCGAN
    second = jax.jit(jax.jacrev(jax.jacrev(step)))(0.0)
    return first, 0.5 * second


def dense_drift(game, scheme_of, g, d, batch=None):
    """``C = Φ₂ − ½ (∂Φ₁) Φ₁`` with the Jacobian ``∂Φ₁`` formed densely (reverse mode)."""
    theta, unravel = ravel_pytree((trainable(g), trainable(d)))

    def phi1(flat):
        params_g, params_d = unravel(flat)
        players = with_trainable(g, params_g), with_trainable(d, params_d)
        return scheme_map_derivatives(game, scheme_of, *players, batch)[0]

    first, second = scheme_map_derivatives(game, scheme_of, g, d, batch)
    return first, second - 0.5 * jax.jacrev(phi1)(theta) @ first


@pytest.mark.parametrize(("d_first", "d_steps", "g_steps"), [(True, 1, 1), (True, 2, 1),
                                                              (False, 1, 3)])  # fmt: skip
def test_alternating_drift_is_the_scheme_maps_own_backward_error(d_first, d_steps, g_steps, x64):
    """The coefficients, checked against the actual update rule: the second-order part of
    ``dy.alternating``'s one-step map, differentiated, gives the same drift."""
    game, eta_g, eta_d = dy.dirac_gan("nsgan"), 0.3, 0.7
    g, d = jnp.float64(0.8), jnp.float64(-0.5)

    def scheme_of(tau):
        return dy.alternating(optax.sgd(tau * eta_g), optax.sgd(tau * eta_d), d_steps=d_steps,
                              g_steps=g_steps, d_first=d_first)  # fmt: skip

    field, expected = dense_drift(game, scheme_of, g, d)
    flow = dr.modified_flow(game, g, d, eta_g, eta_d, "alternating", d_first=d_first, d_steps=d_steps,
                    g_steps=g_steps)  # fmt: skip
    np.testing.assert_allclose(as_numbers(flow.field), field, rtol=1e-12)
    np.testing.assert_allclose(as_numbers(flow.total), expected, rtol=1e-10, atol=1e-14)


def test_extragradient_drift_is_minus_simultaneous_and_its_maps_own(x64):
    """Extragradient's drift, checked against ``dy.extragradient``'s one-step map: the
    opposite of simultaneous GD's."""
    game, eta_g, eta_d = dy.dirac_gan("nsgan"), 0.3, 0.7
    g, d = jnp.float64(0.8), jnp.float64(-0.5)

    def scheme_of(tau):
        return dy.extragradient(optax.sgd(tau * eta_g), optax.sgd(tau * eta_d))

    field, expected = dense_drift(game, scheme_of, g, d)
    flow = dr.modified_flow(game, g, d, eta_g, eta_d, "extragradient")
    simultaneous = dr.modified_flow(game, g, d, eta_g, eta_d, "simultaneous")
    np.testing.assert_allclose(as_numbers(flow.field), field, rtol=1e-12)
    np.testing.assert_allclose(as_numbers(flow.total), expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(as_numbers(flow.total), -np.array(as_numbers(simultaneous.total)))


@pytest.mark.integration
def test_dcgan_drift_equals_the_dense_jacobian_computation(x64):
    """On a tiny DCGAN (BatchNorm in G, float64): the reverse-over-reverse drift of
    simultaneous GD equals ``Φ₂ − ½ J Φ₁`` from the scheme's own map with ``J`` dense."""
    from gan_jax.models.image_gan import ImageGANConfig, build_image_gan

    config = ImageGANConfig(resolution=8, channels=1, latent_dim=2, width=2, batch_size=4)
    images = jax.random.uniform(jax.random.key(1), (8, 8, 8, 1), jnp.float64, -1.0, 1.0)
    model = build_image_gan(config, images, jax.random.key(0))
    g, d = jax.tree.map(lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating)
                        else x, (model.state.g, model.state.d))  # fmt: skip
    batch = {"real": images[:4], "key": jax.random.key(3), "step": jnp.int32(0)}
    eta_g, eta_d = 0.05, 0.2

    def scheme_of(tau):
        return dy.simultaneous(optax.sgd(tau * eta_g), optax.sgd(tau * eta_d))

    # Φ₁ and Φ₂ from the scheme's map; ∂Φ₁ = ∂F densely from the game's field (a third
    # derivative of the map would cost far more on a network)
    field, second = scheme_map_derivatives(model.game, scheme_of, g, d, batch)
    theta, unravel = ravel_pytree((trainable(g), trainable(d)))
    scale = jnp.concatenate([jnp.full(ravel_pytree(trainable(g))[0].shape, eta_g),
                             jnp.full(ravel_pytree(trainable(d))[0].shape, eta_d)])  # fmt: skip

    def game_field(flat):
        params_g, params_d = unravel(flat)
        players = with_trainable(g, params_g), with_trainable(d, params_d)
        grads = model.game.vector_field(*players, batch)
        return -scale * ravel_pytree((trainable(grads[0]), trainable(grads[1])))[0]

    np.testing.assert_allclose(game_field(theta), field, rtol=1e-10, atol=1e-14)
    assert float(jnp.abs(second).max()) < 1e-12  # simultaneous GD's map is linear in η
    expected = second - 0.5 * jax.jit(jax.jacrev(game_field))(theta) @ field

    @jax.jit
    def drift(g, d):
        return dr.modified_flow(model.game, g, d, eta_g, eta_d, "simultaneous", batch=batch)

    flow = drift(g, d)
    got = ravel_pytree(flow.total)[0]
    assert got.shape == expected.shape and float(jnp.abs(expected).max()) > 1e-6
    np.testing.assert_allclose(ravel_pytree(flow.field)[0], field, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("scheme", ["simultaneous", "alternating", "extragradient"])
def test_modified_flow_tracks_the_iterates_to_second_order(scheme):
    """Dirac-GAN over a fixed horizon T = 2 (n = T/h steps): the discrete iterates leave the
    game's own flow by O(h) and the modified flow by O(h²): the fitted orders.  (The
    study's runner: ``modified_field`` integrated by ``odeint`` in float64.)"""
    from gan_jax.studies import discretisation_drift as study

    hs = (0.2, 0.1, 0.05, 0.025)
    errors = {"original": [], "modified": []}
    for h in hs:
        run = study.toy_run("dirac_gan", scheme, h, round(2.0 / h), every_step=False)
        for name, found in errors.items():
            found.append(float(np.linalg.norm(run["discrete"][-1] - run[name][-1])))
    assert study.fitted_order(hs, errors["original"]) == pytest.approx(1.0, abs=0.15), errors
    assert study.fitted_order(hs, errors["modified"]) == pytest.approx(2.0, abs=0.2), errors
    assert errors["modified"][-1] < 0.05 * errors["original"][-1]


def assert_field_loses(game, regularized, eta_g, eta_d, scheme, part):
    """At two points: the regularised game's field is the plain one minus exactly the
    plain modified flow's ``part`` (``"interaction"`` or ``"self_terms"``), a nonzero one."""
    for x, y in [(0.6, -1.1), (-0.3, 0.9)]:
        x, y = jnp.float64(x), jnp.float64(y)
        plain = dr.modified_flow(game, x, y, eta_g, eta_d, scheme)
        field = as_numbers(dr.modified_flow(regularized, x, y, eta_g, eta_d, scheme).field)
        removed = as_numbers(getattr(plain, part))
        expected = np.subtract(as_numbers(plain.field), removed)
        np.testing.assert_allclose(field, expected, rtol=1e-13, atol=1e-16)
        assert np.max(np.abs(removed)) > 1e-5  # not a vacuous check


def test_explicit_regulariser_cancels_the_interaction_terms(x64):
    """Simultaneous GD on the regularised game: its field is the game's minus exactly the
    interaction drift, so its modified flow is the game's flow plus the self terms, to
    first order (for the bilinear game: a pure rotation, no outward spiral)."""
    eta_g, eta_d = 0.1, 0.05
    for game in (dy.bilinear(1.0), dy.dirac_gan("nsgan")):
        regularized = dr.drift_regularized(game, eta_g, eta_d)
        assert_field_loses(game, regularized, eta_g, eta_d, "simultaneous", "interaction")
    x, y = jnp.float64(-0.3), jnp.float64(0.9)
    # the bilinear game: F' + C = F (no self terms), which conserves η_d x² + η_g y² (no
    # outward spiral), while the plain modified flow F + C grows it
    plain = dr.modified_flow(dy.bilinear(1.0), x, y, eta_g, eta_d, "simultaneous")
    regularized_field = np.subtract(as_numbers(plain.field), as_numbers(plain.interaction))
    velocity = regularized_field + np.array(as_numbers(plain.total))
    grad_energy = np.array([2 * eta_d * float(x), 2 * eta_g * float(y)])
    assert abs(grad_energy @ velocity) < 1e-16
    assert grad_energy @ np.array(as_numbers(plain.modified)) > 1e-4


def test_self_regulariser_cancels_extragradients_self_terms(x64):
    """With ``self_g = self_d = 1`` each player's field gains ``−½η²S``, its own gradient
    descent implicit term (``R^self = (η/4)‖∇L‖²``): extragradient's modified flow on the
    regularised game is the game's flow plus its interaction terms alone, to first order;
    the interaction regulariser is untouched when ``strength`` is 0."""
    eta_g, eta_d = 0.1, 0.05
    for game in (dy.dirac_gan("nsgan"), dy.dirac_gan("gan")):  # (wgan: no self terms)
        regularized = dr.drift_regularized(game, eta_g, eta_d, 0.0, 0.0, self_g=1.0, self_d=1.0)
        # F' = F − ½η²S = F − (extragradient's self terms, +½η²S)
        assert_field_loses(game, regularized, eta_g, eta_d, "extragradient", "self_terms")
    # closed form, Dirac-GAN nsgan: L_g = −log σ(−θψ), so ∂_θ L_g = ψ σ(θψ),
    # R^self_g = (η_g/4) ψ² σ(θψ)² and ∂_θ R^self_g = (η_g/2) ψ³ σ(θψ)² (1 − σ(θψ))
    theta, psi = jnp.float64(0.4), jnp.float64(-0.7)
    game = dy.dirac_gan("nsgan")
    regularized = dr.drift_regularized(game, eta_g, eta_d, 0.0, 0.0, self_g=1.0)
    extra = jax.grad(regularized.loss_g)(theta, psi, None) - jax.grad(game.loss_g)(theta, psi, None)
    s = float(jax.nn.sigmoid(theta * psi))
    assert float(jax.grad(game.loss_g)(theta, psi, None)) == pytest.approx(
        float(psi) * s, rel=1e-12
    )
    assert float(extra) == pytest.approx(eta_g / 2 * float(psi) ** 3 * s**2 * (1 - s), rel=1e-12)


@pytest.mark.integration
def test_dcgan_config_takes_plain_sgd_and_the_drift_regulariser():
    """``--optimizer sgd`` steps each player by ``−η ∇L`` exactly; ``--drift-regularizer s``
    adds ``s·R`` to the players' losses (both for simultaneous, D alone for alternating,
    whose first mover D is); a scheme the drift was not derived for is refused."""
    from gan_jax.errors import UserError
    from gan_jax.models.image_gan import ImageGANConfig, build_image_gan

    with pytest.raises(UserError, match="--drift-regularizer is derived for simultaneous"):
        ImageGANConfig(scheme="extragradient", drift_regularizer=1.0)
    images = jax.random.uniform(jax.random.key(1), (16, 8, 8, 1), jnp.float32, -1.0, 1.0)
    base = {"resolution": 8, "channels": 1, "latent_dim": 2, "width": 4, "batch_size": 8,
            "optimizer": "sgd", "lr_g": 0.05, "lr_d": 0.2, "d_batch_norm": False}  # fmt: skip
    config = ImageGANConfig(scheme="simultaneous", **base)
    plain = build_image_gan(config, images, jax.random.key(0))
    batch = {"real": images[:8], "key": jax.random.key(3), "step": jnp.int32(0)}
    state = plain.scheme.init(plain.game, plain.state.g, plain.state.d)
    stepped, _ = plain.scheme.step(plain.game, state, batch)
    _, (grad_g, grad_d), _ = plain.game.gradients(state.g, state.d, batch)
    for new, old, grad, lr in (
        (stepped.g, state.g, grad_g, 0.05),
        (stepped.d, state.d, grad_d, 0.2),
    ):
        for a, b, c in zip(*(jax.tree.leaves(trainable(t)) for t in (new, old, grad))):
            np.testing.assert_allclose(a, b - lr * c, rtol=1e-6, atol=1e-7)

    g, d = state.g, state.d

    def loss_g(g_, d_):
        return plain.game.loss_g(g_, d_, batch)[0]

    def loss_d(g_, d_):
        return plain.game.loss_d(g_, d_, batch)[0]

    def grad(loss, argnum):
        return trainable(jax.grad(loss, argnum)(g, d))

    penalty_g = -0.5 * 0.2 * tree_vdot(grad(loss_g, 1), grad(loss_d, 1))
    penalty_d = -0.5 * 0.05 * tree_vdot(grad(loss_d, 0), grad(loss_g, 0))
    expected = {"simultaneous": (penalty_g, penalty_d), "alternating": (0.0, penalty_d)}
    for scheme, (want_g, want_d) in expected.items():
        config = ImageGANConfig(scheme=scheme, drift_regularizer=2.0, **base)
        game = build_image_gan(config, images, jax.random.key(0)).game
        got_g = game.loss_g(g, d, batch)[0] - loss_g(g, d)
        got_d = game.loss_d(g, d, batch)[0] - loss_d(g, d)
        np.testing.assert_allclose([got_g, got_d], [2 * want_g, 2 * want_d], rtol=1e-4, atol=1e-7)
    # --self-drift-regularizer s: s·(η/4)‖∇L‖² on each player's own loss, extragradient too
    own_g = 0.25 * 0.05 * tree_vdot(grad(loss_g, 0), grad(loss_g, 0))
    own_d = 0.25 * 0.2 * tree_vdot(grad(loss_d, 1), grad(loss_d, 1))
    config = ImageGANConfig(scheme="extragradient", self_drift_regularizer=3.0, **base)
    game = build_image_gan(config, images, jax.random.key(0)).game
    got = [game.loss_g(g, d, batch)[0] - loss_g(g, d), game.loss_d(g, d, batch)[0] - loss_d(g, d)]
    np.testing.assert_allclose(got, [3 * own_g, 3 * own_d], rtol=1e-4, atol=1e-7)
    assert own_g > 1e-6 and own_d > 1e-6
    with pytest.raises(UserError, match="--self-drift-regularizer is derived for"):
        ImageGANConfig(scheme="consensus", self_drift_regularizer=1.0)


@pytest.mark.parametrize("scheme", ["simultaneous", "alternating", "extragradient"])
def test_minimization_factor_is_the_schemes_own_step(x64, scheme):
    """A player minimising its own ``½λx²`` (the other held still by a zero loss): one step
    of the scheme's own map multiplies ``x`` by ``theory.minimization_factor`` — for
    extragradient ``1 − a + a²``, above 1 for ``a = ηλ > 1`` where gradient descent's
    ``1 − a`` still contracts."""
    lam, eta = 3.0, 0.5  # a = 1.5: gradient descent contracts by −0.5, extragradient grows ×1.75
    game = dy.Game(
        loss_g=lambda g, d, batch=None: 0.5 * lam * g**2,
        loss_d=lambda g, d, batch=None: 0.5 * lam * d**2,
    )
    rule = {"simultaneous": dy.simultaneous, "alternating": dy.alternating,
            "extragradient": dy.extragradient}[scheme](optax.sgd(eta), optax.sgd(eta))  # fmt: skip
    state = rule.init(game, jnp.float64(0.7), jnp.float64(-0.4))
    stepped = rule.step(game, state, None)[0]
    factor = theory.minimization_factor(scheme, eta * lam)
    assert float(stepped.g) == pytest.approx(0.7 * factor, rel=1e-14)
    assert float(stepped.d) == pytest.approx(-0.4 * factor, rel=1e-14)
    assert (abs(factor) < 1) == (scheme != "extragradient")


def test_extragradient_stalls_on_a_logistic_discriminators_spurious_fixed_point(x64):
    """D's common mode ``c = k·ψ`` with loss ``softplus(−c) + softplus(c)`` and sharpness
    ``s = ηk²/2`` at the minimum: beyond extragradient's limit (``s = 1.5``) its iterates
    settle at ``theory.logistic_extragradient_fixed_point`` (the root of ``c = 2s·tanh(c/2)``),
    where its lookahead sits on the minimum, while gradient descent converges to ``c = 0``;
    below the limit (``s = 0.8``) both converge to 0."""
    k = 2.0

    def loss_d(g, d, batch=None):
        c = k * d
        return jax.nn.softplus(-c) + jax.nn.softplus(c)

    game = dy.Game(loss_g=lambda g, d, batch=None: 0.0 * g, loss_d=loss_d)
    for s, spurious in ((1.5, True), (0.8, False)):
        eta = 2.0 * s / k**2
        c_star = theory.logistic_extragradient_fixed_point(s)
        assert (c_star > 0) == spurious
        assert c_star == pytest.approx(2 * s * np.tanh(c_star / 2), abs=1e-12)
        for rule, expected in ((dy.extragradient, c_star), (dy.simultaneous, 0.0)):
            scheme = rule(optax.sgd(eta), optax.sgd(eta))
            state = scheme.init(game, jnp.float64(0.0), jnp.float64(3.0 / k))  # c = 3
            state = jax.lax.fori_loop(
                0, 200, lambda _, st, rule=scheme: rule.step(game, st, None)[0], state
            )
            assert k * float(state.d) == pytest.approx(expected, abs=1e-9), (s, rule)
    assert theory.logistic_extragradient_fixed_point(1.5) == pytest.approx(2.5757, abs=1e-4)
