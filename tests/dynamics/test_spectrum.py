"""The matrix-free game-Jacobian spectrum, players' Hessians and path angle (issue 18):
against dense Jacobians, Dirac-GAN's closed forms and fields whose angles are known."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from random_inputs import normal

from gan_jax import dynamics as dy
from gan_jax.dynamics import spectrum, theory
from gan_jax.gan import gan_game
from gan_jax.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.nets.variables import init_variables


def match(found: np.ndarray, reference: np.ndarray) -> float:
    """The largest distance from a found eigenvalue to the nearest reference eigenvalue."""
    return float(np.max(np.min(np.abs(found[:, None] - reference[None, :]), axis=1)))


def top_by_modulus(values: np.ndarray, k: int) -> np.ndarray:
    return np.sort(np.abs(values))[::-1][:k]


def tiny_mlp_gan():
    """An MLP GAN on 2-D data with 141 parameters, float64."""
    generator = MLPGenerator(2, width=6, depth=2, activation="tanh", param_dtype=jnp.float64)
    discriminator = MLPDiscriminator(width=6, depth=2, activation="tanh", param_dtype=jnp.float64)
    game = gan_game(generator, discriminator, latent_dim=2)
    z = jnp.zeros((4, 2))
    g = init_variables(generator, jax.random.key(0), z)
    d = init_variables(discriminator, jax.random.key(1), z)
    batch = {"real": normal(2, (16, 2)), "key": jax.random.key(3)}
    return game, g, d, batch


def test_arnoldi_matches_the_dense_jacobian_of_a_bilinear_game():
    with jax.enable_x64():
        a = normal(0, (6, 6), jnp.float64)
        x = normal(1, (6,), jnp.float64)
        y = normal(2, (6,), jnp.float64)
        game = dy.bilinear(a)
        found = spectrum.game_eigenvalues(game, x, y, k=4, dense_limit=0)
        dense = np.linalg.eigvals(-np.asarray(dy.flow_jacobian(game, x, y)))
    assert match(found, dense) < 1e-6
    np.testing.assert_allclose(np.abs(found), top_by_modulus(dense, 4), atol=1e-6)
    # the field of x·Ay is a pure rotation: every eigenvalue is imaginary
    assert np.max(np.abs(found.real)) < 1e-6


@pytest.mark.parametrize(("regularizer", "gamma"), [(None, 0.0), ("r1", 0.3)])
def test_dirac_gan_eigenvalues_are_the_closed_forms(regularizer, gamma):
    """The game Jacobian is minus the flow's: GAN ∓i/2; R1 γ/2 ∓ √(γ²/4 − 1/4)."""
    with jax.enable_x64():
        game = dy.dirac_gan("gan", regularizer, gamma)
        found = spectrum.game_eigenvalues(game, jnp.float64(0.0), jnp.float64(0.0), k=2)
    closed = -theory.dirac_eigenvalues("gan", regularizer, gamma)
    assert match(found, closed) < 1e-6 and match(closed, found) < 1e-6


def test_arnoldi_matches_the_dense_jacobian_of_a_tiny_mlp_gan():
    with jax.enable_x64():
        game, g, d, batch = tiny_mlp_gan()
        size = ravel_pytree((g, d))[0].shape[0]
        assert size <= 200
        flow = jax.jit(lambda g, d, batch: dy.flow_jacobian(game, g, d, batch=batch))
        dense = np.linalg.eigvals(-np.asarray(flow(g, d, batch)))
        for which, key in (("LM", np.abs), ("LR", np.real)):
            found = spectrum.game_eigenvalues(game, g, d, batch, k=6, which=which, dense_limit=0)
            assert match(found, dense) < 1e-6
            expected = np.sort(key(dense))[::-1][:6]
            np.testing.assert_allclose(np.sort(key(found))[::-1], expected, atol=1e-6)


def test_lanczos_matches_the_dense_hessian():
    with jax.enable_x64():
        game, g, d, batch = tiny_mlp_gan()
        for name, player in (("g", g), ("d", d)):
            params, unravel = ravel_pytree(player["params"])

            def own_loss(p, name=name, unravel=unravel):
                players = {"g": g, "d": d}
                players[name] = {**players[name], "params": unravel(p)}
                loss = game.loss_g if name == "g" else game.loss_d
                return loss(players["g"], players["d"], batch)[0]

            dense = np.linalg.eigvalsh(np.asarray(jax.jit(jax.hessian(own_loss))(params)))
            # a full Krylov space: the exact spectrum
            found = spectrum.hessian_eigenvalues(
                game, g, d, batch, name, k=2, steps=params.shape[0], dense_limit=0
            )
            np.testing.assert_allclose(found["largest"], dense[-2:], atol=1e-6)
            np.testing.assert_allclose(found["smallest"], dense[:2], atol=1e-6)
            # a short run: the extreme Ritz values lie inside the spectrum (interlacing) and
            # within their residual of an eigenvalue
            short = spectrum.hessian_eigenvalues(game, g, d, batch, name, steps=12, dense_limit=0)
            assert (
                dense[0] - 1e-9 <= short["smallest"][0] and short["largest"][-1] <= dense[-1] + 1e-9
            )
            for value, residual in (
                (short["smallest"][0], short["residual_smallest"][0]),
                (short["largest"][-1], short["residual_largest"][-1]),
            ):
                assert np.min(np.abs(dense - value)) <= residual + 1e-9


def test_path_angle_of_a_rotation_and_of_a_gradient_field():
    """Towards the equilibrium 0 from (x₀, y₀): the bilinear field (y, −x) is orthogonal
    to the path (cosine 0); the potential field (x, y) of ½‖x‖² + ½‖y‖² points back along
    it (cosine −1 before the end, +1 past it).  Both have norm |1 − α|·‖(x₀, y₀)‖."""
    start = (jnp.array([1.0, -2.0]), jnp.array([0.5, 3.0]))
    end = (jnp.zeros(2), jnp.zeros(2))
    radius = float(jnp.linalg.norm(jnp.concatenate(start)))
    alphas = np.array([-0.5, 0.0, 0.5, 0.9, 1.1, 1.5])
    rotation = spectrum.path_angle(dy.bilinear(), start, end, alphas=alphas)
    np.testing.assert_allclose(rotation["cosine"], 0.0, atol=1e-6)
    np.testing.assert_allclose(rotation["norm"], np.abs(1 - alphas) * radius, rtol=1e-6)
    potential = dy.Game(
        loss_g=lambda g, d, batch: 0.5 * jnp.sum(g**2),
        loss_d=lambda g, d, batch: 0.5 * jnp.sum(d**2),
    )
    gradient = spectrum.path_angle(potential, start, end, alphas=alphas)
    np.testing.assert_allclose(gradient["cosine"], np.where(alphas < 1, -1.0, 1.0), atol=1e-6)
    np.testing.assert_allclose(gradient["norm"], np.abs(1 - alphas) * radius, rtol=1e-6)


def test_field_norms_and_the_end_dip_of_a_gradient_field():
    """The potential ½‖x − m‖² + ½‖y − m‖² has field (x − m, y − m): at (x, y) its norms are
    ‖x − m‖, ‖y − m‖ and their hypotenuse.  On the path from ``start`` to ``end`` with its
    zero at the midpoint, ‖v(θ_α)‖ = |½ − α|·‖end − start‖, so the end point's dip is
    ½ / median |½ − α| over the other α (not stationary), and a path that ends at the zero
    dips to 0."""
    start = (jnp.array([1.0, -2.0]), jnp.array([0.5, 3.0]))
    end = (jnp.array([3.0, 0.0]), jnp.array([-1.5, 1.0]))
    mid_g, mid_d = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
    potential = dy.Game(
        loss_g=lambda g, d, batch: 0.5 * jnp.sum((g - mid_g) ** 2),
        loss_d=lambda g, d, batch: 0.5 * jnp.sum((d - mid_d) ** 2),
    )
    norms = spectrum.field_norms(potential, *start)
    np.testing.assert_allclose(
        [norms["g"], norms["d"], norms["total"]],
        [np.hypot(1.0, 1.0), np.hypot(1.0, 1.0), 2.0],
        rtol=1e-6,
    )
    alphas = np.array([-0.5, 0.0, 0.25, 0.9, 1.0, 1.5])
    angle = spectrum.path_angle(potential, start, end, alphas=alphas)
    others = np.abs(0.5 - np.delete(alphas, 4))
    assert spectrum.end_dip(angle) == pytest.approx(0.5 / np.median(others), rel=1e-6)
    to_zero = spectrum.path_angle(potential, start, (mid_g, mid_d), alphas=alphas)
    assert spectrum.end_dip(to_zero) <= 1e-6 < spectrum.NEAR_STATIONARY_DIP
    with pytest.raises(ValueError, match="α = 1"):
        spectrum.end_dip({"alpha": np.array([0.0, 0.5]), "norm": np.array([1.0, 2.0])})
