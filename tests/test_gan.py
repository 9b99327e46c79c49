"""gan_game and the mode-collapse remedies: unrolling, packing, minibatch stddev, penalties,
and BatchNorm state through every scheme."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from random_inputs import normal

from gan_jax import data, gan, losses
from gan_jax import dynamics as dy
from gan_jax.dynamics.game import Game, fold_batch
from gan_jax.nets.layers import MinibatchStdDev
from gan_jax.nets.mlp import MLP, MLPDiscriminator, MLPGenerator
from gan_jax.nets.variables import init_variables

LATENT = 3


@pytest.fixture(autouse=True)
def float64():
    """Every test here compares two numerical forms of one computation (a loss against its
    formula, a scheme against a hand-written step), so all of it runs in float64: players
    with float64 parameters, float64 data.  In float32 the forms differed by 1.9e-6
    relative under GPU TF32 products, and summation order varies between CPUs."""
    with jax.enable_x64(True):
        yield


def assert_trees_equal(a, b):
    jax.tree.map(np.testing.assert_array_equal, a, b)


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


def jit_step(rule, game):
    """``rule.step(game, ·, ·)`` as one program: run eagerly, each of the step's operations
    compiles on its own (130–160 programs per test)."""
    return jax.jit(lambda state, batch: rule.step(game, state, batch))


def mixture_batch(n=32, seed=0):
    mixture = data.mixture_of_gaussians("ring")
    real = mixture.sample(jax.random.key(seed), n).astype(jnp.float64)
    return {"real": real, "key": jax.random.key(seed + 100)}


def mlp_players(pack=1, minibatch_std_group=0, seed=0):
    G = MLPGenerator(2, width=16, depth=2, param_dtype=jnp.float64)
    D = MLPDiscriminator(
        width=16, depth=2, minibatch_std_group=minibatch_std_group, param_dtype=jnp.float64
    )
    g, d = gan.init_players(G, D, jax.random.key(seed), mixture_batch()["real"], LATENT, pack)
    return G, D, g, d


# --------------------------------------------------------------------------- gan_game


def test_gan_game_losses_are_the_textbook_formulas():
    G, D, g, d = mlp_players()
    batch = mixture_batch()
    game = gan.gan_game(G, D, latent_dim=LATENT)

    @jax.jit  # the reference as one program (op by op, each op compiles on its own)
    def textbook(g, d, batch):
        z = jax.random.normal(jax.random.fold_in(batch["key"], 0), (32, LATENT))
        fake = G.apply(g, z)
        real_logits, fake_logits = D.apply(d, batch["real"]), D.apply(d, fake)
        # Non-saturating G: −mean log σ(D(G(z)));
        # D: −mean log σ(D(x)) − mean log(1 − σ(D(G(z)))).
        loss_g = -jnp.mean(jax.nn.log_sigmoid(fake_logits))
        loss_d = -jnp.mean(jax.nn.log_sigmoid(real_logits)) - jnp.mean(
            jax.nn.log_sigmoid(-fake_logits)
        )
        return loss_g, loss_d

    loss_g, loss_d = jax.jit(game.losses)(g, d, batch)
    expected_g, expected_d = textbook(g, d, batch)
    np.testing.assert_allclose(loss_g, expected_g, rtol=1e-6)
    np.testing.assert_allclose(loss_d, expected_d, rtol=1e-6)


def test_r1_penalty_adds_half_gamma_times_mean_squared_input_gradient():
    G, D, g, d = mlp_players()
    batch = mixture_batch()
    plain = gan.gan_game(G, D, latent_dim=LATENT)
    penalised = gan.gan_game(G, D, penalties=[gan.r1(3.0)], latent_dim=LATENT)

    @jax.jit  # one program (op by op, each op compiles on its own)
    def measure(g, d, batch):
        grads = jax.vmap(jax.grad(lambda x: D.apply(d, x[None])[0]))(batch["real"])
        expected = 1.5 * jnp.mean(jnp.sum(grads**2, axis=1))
        return expected, penalised.losses(g, d, batch), plain.losses(g, d, batch)

    expected, with_penalty, without = measure(g, d, batch)
    np.testing.assert_allclose(with_penalty[1] - without[1], expected, rtol=1e-5)
    # G's loss is untouched by D's penalty.
    np.testing.assert_allclose(with_penalty[0], without[0])


def test_rpgan_with_r1_and_r2_is_r3gans_objective():
    """R3GAN (arXiv:2501.05441): D minimises mean softplus(D(x̃) − D(x)) + (γ/2)(R1 + R2),
    R1 = mean ‖∇D(x)‖² on the reals and R2 = mean ‖∇D(x̃)‖² on the fakes; G minimises
    mean softplus(D(x) − D(x̃)), its real scores included (float64, by hand)."""
    G, D, g, d = mlp_players()
    batch, gamma = mixture_batch(), 3.0
    rp_g, rp_d = (
        losses.relativistic_paired_generator_loss,
        losses.relativistic_paired_discriminator_loss,
    )
    game = gan.gan_game(
        G, D, rp_g, rp_d, penalties=[gan.r1(gamma), gan.r2(gamma)], latent_dim=LATENT
    )

    @jax.jit  # one program (op by op, each op compiles on its own)
    def both(g, d, batch):
        z = jax.random.normal(jax.random.fold_in(batch["key"], 0), (32, LATENT))
        fake, real = G.apply(g, z), batch["real"]
        real_logits, fake_logits = D.apply(d, real), D.apply(d, fake)

        def mean_squared_gradient(x):
            grads = jax.vmap(jax.grad(lambda xi: D.apply(d, xi[None])[0]))(x)
            return jnp.mean(jnp.sum(grads**2, axis=1))

        penalty = 0.5 * gamma * (mean_squared_gradient(real) + mean_squared_gradient(fake))
        expected_d = jnp.mean(jax.nn.softplus(fake_logits - real_logits)) + penalty
        expected_g = jnp.mean(jax.nn.softplus(real_logits - fake_logits))
        return game.losses(g, d, batch), (expected_g, expected_d)

    (loss_g, loss_d), (expected_g, expected_d) = both(g, d, batch)
    np.testing.assert_allclose(loss_g, expected_g, rtol=1e-12)
    np.testing.assert_allclose(loss_d, expected_d, rtol=1e-12)


def test_wgan_gp_penalty_uses_interpolates_between_real_and_fake():
    G, D, g, d = mlp_players()
    batch = mixture_batch()
    game = gan.gan_game(
        G,
        D,
        losses.wasserstein_generator_loss,
        losses.wasserstein_discriminator_loss,
        penalties=[gan.wgan_gp(10.0)],
        latent_dim=LATENT,
    )
    plain = gan.gan_game(
        G,
        D,
        losses.wasserstein_generator_loss,
        losses.wasserstein_discriminator_loss,
        latent_dim=LATENT,
    )

    @jax.jit  # one program (op by op, each op compiles on its own)
    def measure(g, d, batch):
        z = jax.random.normal(jax.random.fold_in(batch["key"], 0), (32, LATENT))
        fake = G.apply(g, z)
        key = jax.random.fold_in(jax.random.fold_in(batch["key"], 1), 0)
        expected = 10.0 * losses.wasserstein_gradient_penalty(
            lambda x: D.apply(d, x), batch["real"], fake, key
        )
        return expected, game.losses(g, d, batch)[1] - plain.losses(g, d, batch)[1]

    expected, difference = measure(g, d, batch)
    np.testing.assert_allclose(difference, expected, rtol=1e-5)
    assert float(expected) > 0.0


# --------------------------------------------------------------------------- unrolled


@pytest.mark.parametrize("k", [0, 1, 2, 5])
@pytest.mark.parametrize("eta", [0.1, 0.3])
def test_unrolled_bilinear_gradient_closed_form(k, eta):
    # f(x, y) = xy; D (y) ascends: y_k = y + kηx, so loss_g = x(y + kηx), ∇_x = y + 2kηx.
    game = gan.unrolled(dy.bilinear(), optax.sgd(eta), k)
    x, y = jnp.float32(0.7), jnp.float32(-0.4)
    loss, grad, _ = game.grad_g(x, y)
    np.testing.assert_allclose(loss, x * (y + k * eta * x), rtol=1e-6)
    np.testing.assert_allclose(grad, y + 2 * k * eta * x, rtol=1e-6)
    # D's loss and gradient are unchanged.
    np.testing.assert_allclose(game.grad_d(x, y)[1], -x)


@pytest.mark.parametrize("scheme", [dy.alternating, dy.simultaneous])
def test_unrolled_with_zero_steps_reproduces_the_plain_gan_step_exactly(scheme):
    G, D, g, d = mlp_players()
    batch = mixture_batch()
    optimizer = optax.adam(1e-3, b1=0.5)
    plain = gan.gan_game(G, D, latent_dim=LATENT)
    zero = gan.unrolled(plain, optimizer, 0)
    assert zero is not plain  # the unrolled code path (an empty scan) runs
    rule = scheme(optimizer)
    state_plain, metrics_plain = jit_step(rule, plain)(rule.init(plain, g, d), batch)
    state_zero, metrics_zero = jit_step(rule, zero)(rule.init(zero, g, d), batch)
    assert_trees_equal(state_plain.g, state_zero.g)
    assert_trees_equal(state_plain.d, state_zero.d)
    assert_trees_equal(metrics_plain, metrics_zero)


def test_unrolled_one_step_matches_the_hand_written_unrolled_loss():
    G, D, g, d = mlp_players()
    batch = mixture_batch()
    eta = 0.05
    plain = gan.gan_game(G, D, latent_dim=LATENT)
    game = gan.unrolled(plain, optax.sgd(eta), 1)

    def unrolled_loss(g):
        inner_batch = fold_batch(batch, gan._UNROLL_FOLD_OFFSET)
        d_grad = jax.grad(lambda d_: plain.loss_d(g, d_, inner_batch)[0])(d)
        d1 = jax.tree.map(lambda p, q: p - eta * q, d, d_grad)
        return plain.loss_g(g, d1, batch)[0]

    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves((g, d)))
    expected_loss, expected_grad = jax.jit(jax.value_and_grad(unrolled_loss))(g)
    loss, grad, _ = jax.jit(game.grad_g)(g, d, batch)
    assert loss.dtype == jnp.float64
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    assert_trees_close(grad, expected_grad, rtol=1e-10, atol=1e-12)
    # Unrolling changes G's gradient (it sees D's response).
    plain_grad = jax.jit(plain.grad_g)(g, d, batch)[1]
    difference = jax.tree.map(
        lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))), grad, plain_grad
    )
    assert max(jax.tree.leaves(difference)) > 1e-4


def adam_state_after(optimizer, d, gradients):
    """D's optimizer state after it has seen ``gradients`` (so moments are non-zero)."""
    update = jax.jit(lambda grad, state: optimizer.update(grad, state, d)[1])  # one program
    state = optimizer.init(d)
    for grad in gradients:
        state = update(grad, state)
    return state


def test_unrolled_with_d_adam_state_matches_a_hand_written_differentiable_adam_step():
    # Metz et al.'s code: the inner step is D's own Adam step from its moments (m, v, t):
    #   m' = β₁m + (1−β₁)∇,  v' = β₂v + (1−β₂)∇²,  d₁ = d − η·(m'/(1−β₁^{t+1})) /
    #   (√(v'/(1−β₂^{t+1}) + ε_root) + ε),  loss_g(g, d₁(g)).
    G, D, g, d = mlp_players()
    batch = mixture_batch()
    eta, b1, b2, eps, eps_root = 1e-3, 0.5, 0.999, 1e-8, 1e-16
    optimizer = optax.adam(eta, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    plain = gan.gan_game(G, D, latent_dim=LATENT)
    warm = [jax.jit(plain.grad_d)(g, d, mixture_batch(seed=s))[1] for s in (1, 2, 3)]
    opt_state = adam_state_after(optimizer, d, warm)
    m, v, count = opt_state[0].mu, opt_state[0].nu, int(opt_state[0].count)
    assert count == 3
    game = gan.unrolled(plain, optimizer, 1, optimizer_state="discriminator")

    def unrolled_loss(g):
        inner_batch = fold_batch(batch, gan._UNROLL_FOLD_OFFSET)
        grad = jax.grad(lambda d_: plain.loss_d(g, d_, inner_batch)[0])(d)
        t = count + 1

        def step(p, m_, v_, q):
            m1 = b1 * m_ + (1 - b1) * q
            v1 = b2 * v_ + (1 - b2) * q**2
            m_hat, v_hat = m1 / (1 - b1**t), v1 / (1 - b2**t)
            return p - eta * m_hat / (jnp.sqrt(v_hat + eps_root) + eps)

        d1 = jax.tree.map(step, d, m, v, grad)
        return plain.loss_g(g, d1, batch)[0]

    # one compiled program for the reference (op by op it compiled ≈ 200 small ones)
    expected_loss, expected_grad = jax.jit(jax.value_and_grad(unrolled_loss))(g)
    grad_g = jax.jit(game.grad_g)
    loss, grad, _ = grad_g(g, d, {**batch, "opt_state_d": opt_state})
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    assert_trees_close(grad, expected_grad, rtol=1e-9, atol=1e-12)
    # The alternating scheme hands G's loss D's optimizer state after D's own step; that
    # step is finite, and G moves exactly as with the hand-written gradient at that point.
    rule = dy.alternating(optimizer)
    state = rule.init(game, g, d).replace(opt_state_d=opt_state)
    new_state, metrics = jit_step(rule, game)(state, batch)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves((new_state, metrics)))
    g_batch = {**fold_batch(batch, 1), "opt_state_d": new_state.opt_state_d}
    _, g_grad, _ = grad_g(g, new_state.d, g_batch)
    g_expected, _ = jax.jit(functools.partial(gan.apply_update, optimizer))(
        g_grad, state.opt_state_g, g
    )
    assert_trees_close(new_state.g, g_expected, rtol=1e-12, atol=1e-14)


def test_unrolled_continuing_d_state_needs_a_scheme_that_passes_it():
    G, D, g, d = mlp_players()
    game = gan.unrolled(gan.gan_game(G, D, latent_dim=LATENT), optax.adam(1e-3), 1, "discriminator")
    with pytest.raises(ValueError, match="opt_state_d"):
        game.grad_g(g, d, mixture_batch())
    with pytest.raises(ValueError, match="fresh, discriminator"):
        gan.unrolled(game, optax.adam(1e-3), 1, "warm")


def test_a_fresh_inner_adam_step_has_a_nan_derivative_at_a_zero_gradient():
    # Why the fresh-Adam unroll went NaN: its first step is ĝ/(√(ĝ²) + ε) with v = (1−β₂)g²,
    # and d√v/dv = ∞ at v = 0, so at a coordinate whose gradient is exactly 0 the chain rule
    # gives ∞·0 = NaN.  ε_root inside the root makes the same step differentiable: at g = 0
    # its derivative is 1/(√ε_root + ε) exactly, and elsewhere the step is unchanged.
    def first_step(g, eps_root):
        optimizer = optax.adam(1.0, eps=1e-8, eps_root=eps_root)
        updates, _ = optimizer.update(g, optimizer.init(g))
        return updates

    # each as one program (op by op, each op compiles on its own)
    slope = jax.jit(jax.jacfwd(lambda g: first_step(g, 0.0)))(np.array([0.0, 0.5]))
    assert np.isnan(slope[0, 0])
    eps_root = 1e-16
    slope = jax.jit(jax.jacfwd(lambda g: first_step(g, eps_root)))(np.array([0.0, 0.5]))
    np.testing.assert_allclose(-slope[0, 0], 1.0 / (np.sqrt(eps_root) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(
        jax.jit(first_step, static_argnums=1)(np.array([0.5]), eps_root),
        -1.0 / (1 + 2e-8),
        rtol=1e-12,
    )


# --------------------------------------------------------------------------- PacGAN


def test_pack_samples_layout_for_vectors_and_images():
    x = jnp.arange(8.0).reshape(4, 2)
    np.testing.assert_array_equal(gan.pack_samples(x, 2), [[0, 1, 2, 3], [4, 5, 6, 7]])
    np.testing.assert_array_equal(gan.pack_samples(x, 1), x)
    images = jnp.arange(4 * 3 * 3 * 2.0).reshape(4, 3, 3, 2)
    packed = gan.pack_samples(images, 2)
    assert packed.shape == (2, 3, 3, 4)
    # Channels of sample 2i, then of sample 2i+1, at every pixel.
    np.testing.assert_array_equal(packed[1, :, :, :2], images[2])
    np.testing.assert_array_equal(packed[1, :, :, 2:], images[3])
    with pytest.raises(ValueError, match="multiple of the pack size"):
        gan.pack_samples(x[:3], 2)


def test_pacgan_with_pack_one_is_the_plain_gan_step():
    G, D, g, d = mlp_players()
    batch = mixture_batch()

    def loss_g(g, d, batch):
        z = jax.random.normal(jax.random.fold_in(batch["key"], 0), (32, LATENT))
        return losses.modified_generator_loss(D.apply(d, G.apply(g, z))), {}

    def loss_d(g, d, batch):
        z = jax.random.normal(jax.random.fold_in(batch["key"], 0), (32, LATENT))
        return losses.minimax_discriminator_loss(
            D.apply(d, batch["real"]), D.apply(d, G.apply(g, z))
        ), {}

    hand_written = Game(loss_g, loss_d, has_aux=True)
    packed = gan.gan_game(G, D, latent_dim=LATENT, pack=1)
    rule = dy.alternating(optax.adam(1e-3, b1=0.5))
    a, _ = jit_step(rule, hand_written)(rule.init(hand_written, g, d), batch)
    b, _ = jit_step(rule, packed)(rule.init(packed, g, d), batch)
    assert_trees_equal(a.g, b.g)
    assert_trees_equal(a.d, b.d)


def test_pacgan_discriminator_scores_concatenated_packs():
    G, D, g, d = mlp_players(pack=2)
    batch = mixture_batch()
    game = gan.gan_game(G, D, latent_dim=LATENT, pack=2)
    z = jax.random.normal(jax.random.fold_in(batch["key"], 0), (32, LATENT))
    fake = G.apply(g, z)
    real_logits = D.apply(d, batch["real"].reshape(16, 4))
    fake_logits = D.apply(d, fake.reshape(16, 4))
    assert real_logits.shape == (16,)
    expected = losses.minimax_discriminator_loss(real_logits, fake_logits)
    np.testing.assert_allclose(game.losses(g, d, batch)[1], expected, rtol=1e-6)


# --------------------------------------------------------------------------- InfoGAN codes


class _IdentityGenerator(nn.Module):
    """G(z) = z, so a fake's code logits below are its own latent."""

    @nn.compact
    def __call__(self, z):
        return z


class _PackIsCodeLogits(nn.Module):
    """D whose logit is ``pack · w`` and whose code logits are the pack itself."""

    @nn.compact
    def __call__(self, x):
        w = self.param("w", nn.initializers.normal(1.0), (x.shape[-1],), jnp.float64)
        return x @ w, x


@pytest.mark.parametrize("pack", [1, 2])
def test_infogan_code_term_is_the_cross_entropy_of_each_samples_code(pack):
    """With ``G(z) = z`` and Q's logits equal to the (packed) input, Q's logits for fake
    ``n`` are ``z_n`` itself exactly when the game unpacks Q's outputs in pack order, and
    the code term is then ``λ·mean_n(logsumexp z_n − max z_n)`` (the code is ``argmax z_n``);
    both players' losses add it."""
    codes, weight = 4, 0.5
    G, D = _IdentityGenerator(), _PackIsCodeLogits()
    real = normal(0, (32, codes), jnp.float64)
    batch = {"real": real, "key": jax.random.key(1)}
    g, d = gan.init_players(G, D, jax.random.key(2), real, codes, pack)
    game = gan.gan_game(G, D, latent_dim=codes, pack=pack, latent_codes=codes, code_weight=weight)

    def losses_and_references(g, d, batch):
        z = jax.random.normal(jax.random.fold_in(batch["key"], 0), (32, codes))
        code_term = weight * jnp.mean(jax.nn.logsumexp(z, axis=-1) - jnp.max(z, axis=-1))
        w = d["params"]["w"]
        fake_logits = gan.pack_samples(z, pack) @ w
        real_logits = gan.pack_samples(batch["real"], pack) @ w
        expected_g = losses.modified_generator_loss(fake_logits) + code_term
        expected_d = losses.minimax_discriminator_loss(real_logits, fake_logits) + code_term
        return game.losses(g, d, batch), (expected_g, expected_d)

    # one program (run eagerly, each operation would compile on its own)
    (loss_g, loss_d), (expected_g, expected_d) = jax.jit(losses_and_references)(g, d, batch)
    np.testing.assert_allclose(loss_g, expected_g, rtol=1e-12)
    np.testing.assert_allclose(loss_d, expected_d, rtol=1e-12)


def test_mlp_discriminator_code_head_shares_the_logit_layer():
    """``code_outputs = n``: D's last layer has ``1 + n`` units on D's body; the logit is
    a one-output D with the head's first column, the code logits an ``n``-output MLP with
    the other columns."""
    x = normal(0, (6, 2))
    D = MLPDiscriminator(width=8, depth=2, code_outputs=3)
    d = init_variables(D, jax.random.key(1), x)
    logits, code_logits = D.apply(d, x)
    assert logits.shape == (6,) and code_logits.shape == (6, 3)
    body = d["params"]["mlp"]

    def with_head(columns: slice) -> dict:
        return {**body, "head": jax.tree.map(lambda a: a[..., columns], body["head"])}

    single = MLPDiscriminator(width=8, depth=2).apply(
        {"params": {"mlp": with_head(slice(0, 1))}}, x
    )
    # float64: a 1-column and a 4-column product differ only in summation order (~1e-16)
    np.testing.assert_allclose(single, logits, rtol=1e-12, atol=1e-15)
    code_only = MLP(3, width=8, depth=2, activation="leaky_relu")
    codes = code_only.apply({"params": with_head(slice(1, None))}, x)
    np.testing.assert_allclose(codes, code_logits, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- minibatch stddev


def test_minibatch_stddev_matches_a_reference_loop():
    x = normal(0, (12, 5))
    group = 4
    out = MinibatchStdDev(group).apply({}, x)
    assert out.shape == (12, 6)
    np.testing.assert_array_equal(out[:, :5], x)
    xs = np.asarray(x, np.float64)
    slots = 12 // group
    for i in range(12):
        members = xs[[j for j in range(12) if j % slots == i % slots]]
        expected = np.mean(np.sqrt(members.var(axis=0) + 1e-8))
        np.testing.assert_allclose(out[i, 5], expected, rtol=1e-5)


def test_minibatch_stddev_on_images_and_on_a_collapsed_batch():
    images = normal(1, (8, 4, 4, 3))
    out = MinibatchStdDev(4).apply({}, images)
    assert out.shape == (8, 4, 4, 4)
    # One constant channel per sample.
    np.testing.assert_allclose(out[..., 3], out[:, :1, :1, 3] * jnp.ones((8, 4, 4)))
    collapsed = jnp.ones((8, 6))
    np.testing.assert_allclose(MinibatchStdDev(4).apply({}, collapsed)[:, 6], 1e-4, rtol=1e-3)
    with pytest.raises(ValueError, match="multiple of the group size"):
        MinibatchStdDev(4).apply({}, jnp.ones((6, 2)))


def test_minibatch_stddev_discriminator_sees_the_batch():
    _, D, _, d = mlp_players(minibatch_std_group=4)
    _, D_plain, _, d_plain = mlp_players()
    x = np.asarray(mixture_batch(8)["real"])
    varied = x.copy()
    varied[1:] *= 3.0  # sample 0 unchanged, its group's spread changes
    first = jax.jit(lambda D, d, x: D.apply(d, x)[0], static_argnums=0)
    assert abs(float(first(D, d, x) - first(D, d, varied))) > 1e-6
    np.testing.assert_array_equal(first(D_plain, d_plain, x), first(D_plain, d_plain, varied))


# --------------------------------------------------------------------------- BatchNorm state


class BatchNormGenerator(nn.Module):
    @nn.compact
    def __call__(self, z, train: bool = True):
        h = nn.Dense(8, param_dtype=jnp.float64)(z)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, param_dtype=jnp.float64)(h)
        return nn.Dense(2, param_dtype=jnp.float64)(nn.relu(h))


class BatchNormDiscriminator(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = True):
        h = nn.Dense(8, param_dtype=jnp.float64)(x)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, param_dtype=jnp.float64)(h)
        return nn.Dense(1, param_dtype=jnp.float64)(nn.leaky_relu(h, 0.2))[:, 0]


def batchnorm_players():
    G, D = BatchNormGenerator(), BatchNormDiscriminator()
    g, d = gan.init_players(G, D, jax.random.key(3), mixture_batch()["real"], LATENT)
    return G, D, g, d


def test_batchnorm_statistics_follow_each_players_own_forward_passes():
    G, D, g, d = batchnorm_players()
    batch = mixture_batch()
    game = gan.gan_game(G, D, latent_dim=LATENT)
    rule = dy.alternating(optax.adam(1e-3, b1=0.5))
    state, _ = jit_step(rule, game)(rule.init(game, g, d), batch)

    def references(g, d, batch, state_g):
        # D step (batch index 0): D's statistics move over the real, then the fake batch.
        z = jax.random.normal(jax.random.fold_in(batch["key"], 0), (32, LATENT))
        fake, _ = G.apply(g, z, train=True, mutable=["batch_stats"])
        _, s1 = D.apply(d, batch["real"], train=True, mutable=["batch_stats"])
        _, s2 = D.apply({**d, **s1}, fake, train=True, mutable=["batch_stats"])
        # G step (index 1): G's statistics move over its own generation.
        z_g = jax.random.normal(jax.random.fold_in(fold_batch(batch, 1)["key"], 0), (32, LATENT))
        _, sg = G.apply(g, z_g, train=True, mutable=["batch_stats"])
        # Inference uses the running averages.
        sample = gan.generate(G, state_g, z)
        return s2["batch_stats"], sg["batch_stats"], sample, G.apply(state_g, z, train=False)

    d_stats, g_stats, sample, inference = jax.jit(references)(g, d, batch, state.g)
    assert_trees_close(state.d["batch_stats"], d_stats)
    assert_trees_close(state.g["batch_stats"], g_stats)
    np.testing.assert_allclose(sample, inference, rtol=1e-6)


@pytest.mark.integration  # a training run (tests/README.md, tiers)
@pytest.mark.parametrize(
    "make",
    [dy.simultaneous, dy.alternating, dy.extragradient, dy.optimistic, dy.consensus],
    ids=["simultaneous", "alternating", "extragradient", "optimistic", "consensus"],
)
def test_every_scheme_trains_a_batchnorm_gan_and_updates_its_statistics(make):
    G, D, g, d = batchnorm_players()
    game = gan.gan_game(G, D, latent_dim=LATENT)
    rule = make(optax.adam(1e-3, b1=0.5))
    state, step = rule.init(game, g, d), jit_step(rule, game)
    for t in range(3):
        state, metrics = step(state, mixture_batch(seed=t))
    assert np.isfinite(float(metrics["loss_d"])) and np.isfinite(float(metrics["loss_g"]))
    for old, new in ((g, state.g), (d, state.d)):
        for collection in ("params", "batch_stats"):
            moved = jax.tree.map(
                lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))),
                old[collection],
                new[collection],
            )
            assert max(jax.tree.leaves(moved)) > 1e-5, collection
    # Running variances stay finite and positive (absorbed, never stepped by Adam).
    for leaf in jax.tree.leaves((state.g["batch_stats"], state.d["batch_stats"])):
        assert np.all(np.isfinite(leaf))
    variances = [
        state.d["batch_stats"]["BatchNorm_0"]["var"],
        state.g["batch_stats"]["BatchNorm_0"]["var"],
    ]
    assert all(float(v.min()) > 0 for v in variances)


# --------------------------------------------------------------------------- PRNG keys


class _RecordingGenerator(nn.Module):
    """G(z) = z·a that hands every latent batch it sees to ``record`` (a host callback)."""

    record: object

    @nn.compact
    def __call__(self, z):
        jax.debug.callback(self.record, z)
        return z * self.param("a", nn.initializers.ones, (), z.dtype)


@pytest.mark.parametrize("legacy", [False, True])
def test_two_d_steps_draw_two_latent_batches_and_legacy_keys_are_refused(legacy):
    """Alternating with d_steps = 2 on a gan_game: each D step sees its own latents.  A
    legacy uint32 key would reach both steps unfolded (the same noise twice), so it is a
    TypeError that names the conversion; wrap_key_data gives the typed key it asks for."""
    seen: list = []
    generator = _RecordingGenerator(lambda z: seen.append(np.asarray(z)))
    discriminator = MLPDiscriminator(width=8, depth=1)
    game = gan.gan_game(generator, discriminator, latent_dim=2)
    z, x = jnp.zeros((4, 2)), jnp.zeros((4, 2))
    g, d = (
        init_variables(generator, jax.random.key(0), z),
        init_variables(discriminator, jax.random.key(1), x),
    )
    scheme = dy.alternating(optax.sgd(0.1), d_steps=2)
    state, step = scheme.init(game, g, d), jit_step(scheme, game)
    raw = jax.random.PRNGKey(3)  # the legacy layout: uint32[2]
    assert raw.dtype == jnp.uint32 and raw.shape == (2,)
    typed = jax.random.wrap_key_data(raw)
    batch = {"real": mixture_batch(4)["real"], "key": raw if legacy else typed}
    if legacy:
        with pytest.raises(TypeError, match="legacy uint32 PRNGKey.*wrap_key_data"):
            step(state, batch)
        with pytest.raises(TypeError, match=r"gan_game's batch\['key'\].*wrap_key_data"):
            game.loss_d(g, d, batch)
        batch["key"] = typed
    seen.clear()
    jax.effects_barrier()
    step(state, batch)
    jax.effects_barrier()
    # The draws of evaluations 0 and 1 (the two D steps) and 2 (G's step), computed by
    # another program: equal to a few ulps (XLA's CPU emitters may evaluate erf⁻¹ in another
    # order inside a fused program); another key's draws differ at O(1).  Host callbacks
    # are unordered, so each recorded batch is matched to the draw it equals.
    folded = [
        gan.latents(jax.random.fold_in(fold_batch(batch, i)["key"], 0), 4, 2) for i in range(3)
    ]
    ulps = 4 * np.finfo(np.float64).eps

    def draws_equal_to(z):
        return [i for i, f in enumerate(folded) if np.allclose(z, f, rtol=ulps, atol=0)]

    assert all(z.shape == (4, 2) for z in seen)
    assert not np.allclose(folded[0], folded[1])
    assert sorted(i for z in seen for i in draws_equal_to(z)) == [0, 1, 2]
