"""Losses against TF-GAN's published golden values, independent NumPy formulas, closed-form
penalties and finite differences."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from random_inputs import normal

from gan_jax import losses
from gan_jax.nets.mlp import MLPDiscriminator
from gan_jax.nets.variables import init_variables

# TF-GAN losses_impl_test.py inputs and expected values.
TFGAN_REAL = np.array([-5.0, 1.4, 12.5, 2.7], np.float32)
TFGAN_FAKE = np.array([10.0, 4.4, -5.5, 3.6], np.float32)
TFGAN_DEFAULT_SMOOTHING = 0.25  # TF-GAN's default for the minimax/modified D losses


def softplus_np(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def sigmoid_np(x):
    return 1.0 / (1.0 + np.exp(-x))


class TestTFGANGoldenValues:
    def test_least_squares(self):
        assert float(losses.least_squares_generator_loss(TFGAN_FAKE)) == pytest.approx(
            17.69625, abs=1e-5
        )
        assert float(
            losses.least_squares_discriminator_loss(TFGAN_REAL, TFGAN_FAKE)
        ) == pytest.approx(41.73375, abs=1e-5)

    def test_modified(self):
        assert float(losses.modified_generator_loss(TFGAN_FAKE)) == pytest.approx(1.38582, abs=1e-5)
        d = losses.modified_discriminator_loss(TFGAN_REAL, TFGAN_FAKE, TFGAN_DEFAULT_SMOOTHING)
        assert float(d) == pytest.approx(6.19637, abs=1e-5)

    def test_minimax(self):
        d = losses.minimax_discriminator_loss(TFGAN_REAL, TFGAN_FAKE, TFGAN_DEFAULT_SMOOTHING)
        assert float(d) == pytest.approx(6.19637, abs=1e-5)
        # TF-GAN's generator value carries the constant softplus(-1) of its dummy real
        # logits (see the docstring); ours is the bare saturating loss.
        g = float(losses.minimax_generator_loss(TFGAN_FAKE))
        assert g - softplus_np(-1.0) == pytest.approx(-4.82408, abs=1e-5)

    def test_wasserstein(self):
        assert float(losses.wasserstein_generator_loss(TFGAN_FAKE)) == pytest.approx(
            -3.125, abs=1e-6
        )
        assert float(
            losses.wasserstein_discriminator_loss(TFGAN_REAL, TFGAN_FAKE)
        ) == pytest.approx(0.225, abs=1e-6)

    def test_hinge(self):
        assert float(losses.wasserstein_hinge_generator_loss(TFGAN_FAKE)) == pytest.approx(
            -3.125, abs=1e-6
        )
        assert float(
            losses.wasserstein_hinge_discriminator_loss(TFGAN_REAL, TFGAN_FAKE)
        ) == pytest.approx(6.75, abs=1e-6)

    def test_patch_shapes_give_the_same_mean(self):
        real, fake = TFGAN_REAL.reshape(2, 2), TFGAN_FAKE.reshape(2, 2)
        assert float(losses.modified_generator_loss(fake)) == pytest.approx(1.38582, abs=1e-5)
        assert float(losses.least_squares_discriminator_loss(real, fake)) == pytest.approx(
            41.73375, abs=1e-5
        )

    def test_gradient_penalty(self):
        # D(x) = 2x on 4-D inputs: ‖∇D‖ = 4 everywhere, so GP = (4 - 1)² = 9; target 2 → 1.
        real = jnp.array([[-12.3, 23.2, 16.3, -43.2]])
        fake = jnp.array([[3.1, 2.3, -12.3, 32.1]])
        key = jax.random.key(0)
        d_fn = lambda x: 2.0 * x
        assert float(losses.wasserstein_gradient_penalty(d_fn, real, fake, key)) == pytest.approx(
            9.0, abs=1e-5
        )
        assert float(
            losses.wasserstein_gradient_penalty(d_fn, real, fake, key, one_sided=True)
        ) == pytest.approx(9.0, abs=1e-5)
        assert float(
            losses.wasserstein_gradient_penalty(d_fn, real, fake, key, target=2.0)
        ) == pytest.approx(1.0, abs=1e-5)


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    return rng.normal(0, 3, (7, 3)).astype(np.float32), rng.normal(0, 3, (7, 3)).astype(np.float32)


class TestAgainstNumpy:
    """Each loss against the naive textbook formula, computed independently in NumPy."""

    def test_minimax_discriminator(self, logits):
        real, fake = logits
        for s in (0.0, 0.1, 0.5):
            t = 1 - s / 2
            dr, df = sigmoid_np(real.astype(np.float64)), sigmoid_np(fake.astype(np.float64))
            expected = np.mean(-(t * np.log(dr) + (1 - t) * np.log(1 - dr))) + np.mean(
                -np.log(1 - df)
            )
            got = losses.minimax_discriminator_loss(real, fake, label_smoothing=s)
            np.testing.assert_allclose(float(got), expected, rtol=1e-5)

    def test_generator_losses(self, logits):
        _, fake = logits
        d = sigmoid_np(fake.astype(np.float64))
        np.testing.assert_allclose(
            float(losses.minimax_generator_loss(fake)), np.mean(np.log(1 - d)), rtol=1e-5
        )
        np.testing.assert_allclose(
            float(losses.modified_generator_loss(fake)), -np.mean(np.log(d)), rtol=1e-5
        )
        np.testing.assert_allclose(
            float(losses.wasserstein_generator_loss(fake)), -np.mean(fake), rtol=1e-5
        )
        np.testing.assert_allclose(
            float(losses.least_squares_generator_loss(fake)),
            0.5 * np.mean((fake - 1) ** 2),
            rtol=1e-5,
        )

    def test_discriminator_losses(self, logits):
        real, fake = logits
        np.testing.assert_allclose(
            float(losses.wasserstein_discriminator_loss(real, fake)),
            np.mean(fake) - np.mean(real),
            rtol=1e-5,
            atol=1e-6,
        )
        np.testing.assert_allclose(
            float(losses.wasserstein_hinge_discriminator_loss(real, fake)),
            np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake)),
            rtol=1e-5,
        )
        np.testing.assert_allclose(
            float(losses.least_squares_discriminator_loss(real, fake)),
            0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake**2),
            rtol=1e-5,
        )

    def test_value_at_chance_is_log4(self):
        zeros = jnp.zeros(16)
        assert float(losses.minimax_discriminator_loss(zeros, zeros)) == pytest.approx(
            math.log(4.0), rel=1e-6
        )


ALL_LOSSES = {
    "minimax_d": lambda r, f: losses.minimax_discriminator_loss(r, f, 0.1),
    "modified_d": losses.modified_discriminator_loss,
    "minimax_g": lambda r, f: losses.minimax_generator_loss(f),
    "modified_g": lambda r, f: losses.modified_generator_loss(f),
    "wgan_g": lambda r, f: losses.wasserstein_generator_loss(f),
    "wgan_d": losses.wasserstein_discriminator_loss,
    "hinge_g": lambda r, f: losses.wasserstein_hinge_generator_loss(f),
    "hinge_d": losses.wasserstein_hinge_discriminator_loss,
    "ls_g": lambda r, f: losses.least_squares_generator_loss(f),
    "ls_d": losses.least_squares_discriminator_loss,
}


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_extreme_logits_are_finite(name):
    loss = ALL_LOSSES[name]
    extreme = jnp.array([-1e4, 1e4, -3e4, 3e4, 0.0])
    for real, fake in [(extreme, extreme), (extreme, -extreme)]:
        value, grads = jax.value_and_grad(loss, argnums=(0, 1))(real, fake)
        assert np.isfinite(float(value)), name
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grads), name


def test_log_sigmoid_form_is_exact_at_large_logits():
    # log(1 - σ(l)) = -l - log(1 + e^{-l}) ≈ -l for large l: the naive form gives -inf.
    assert float(losses.minimax_generator_loss(jnp.array([1e4]))) == pytest.approx(-1e4)
    assert float(losses.modified_generator_loss(jnp.array([-1e4]))) == pytest.approx(1e4)


# ----------------------------------------------------------------- penalties


def tanh_net(params, x):
    """A smooth 2-layer discriminator written in plain jnp (per-sample logits)."""
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return (h @ params["w2"])[:, 0] + params["b2"]


def make_tanh_params(key, dim=3, width=5, dtype=jnp.float64):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "w1": jax.random.normal(k1, (dim, width), dtype),
        "b1": jax.random.normal(k2, (width,), dtype) * 0.1,
        "w2": jax.random.normal(k3, (width, 1), dtype),
        "b2": jnp.asarray(0.3, dtype),
    }


PENALTIES = {
    "r1": lambda d, real, fake, key: losses.r1_penalty(d, real),
    "r2": lambda d, real, fake, key: losses.r2_penalty(d, fake),
    "wgan_gp": lambda d, real, fake, key: losses.wasserstein_gradient_penalty(d, real, fake, key),
    "wgan_gp_one_sided": lambda d, real, fake, key: losses.wasserstein_gradient_penalty(
        d, real, fake, key, target=0.5, one_sided=True
    ),
    "wgan_gp_target": lambda d, real, fake, key: losses.wasserstein_gradient_penalty(
        d, real, fake, key, target=3.0
    ),
}


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalty_gradients_match_finite_differences(name):
    """d(penalty)/d(params) and d(penalty)/d(inputs) by autodiff vs central differences."""
    penalty = PENALTIES[name]
    with jax.enable_x64(True):
        key = jax.random.key(1)
        params = make_tanh_params(jax.random.key(2))
        real = normal(3, (6, 3), jnp.float64)
        fake = normal(4, (6, 3), jnp.float64) + 1.0

        def of_params(p):
            return penalty(lambda x: tanh_net(p, x), real, fake, key)

        def of_inputs(r, f):
            return penalty(lambda x: tanh_net(params, x), r, f, key)

        flat, unravel = ravel_pytree(params)
        of_params = jax.jit(of_params)  # the differences evaluate it 2·size times
        grad_auto = ravel_pytree(jax.jit(jax.grad(of_params))(params))[0]
        eps = 1e-6
        grad_fd = np.array(
            [
                (of_params(unravel(flat.at[i].add(eps))) - of_params(unravel(flat.at[i].add(-eps))))
                / (2 * eps)
                for i in range(flat.size)
            ]
        )
        assert float(of_params(params)) > 0
        np.testing.assert_allclose(np.asarray(grad_auto), grad_fd, rtol=1e-6, atol=1e-8)

        inputs = jnp.concatenate([real.ravel(), fake.ravel()])
        split = real.size

        @jax.jit
        def of_flat_inputs(v):
            return of_inputs(v[:split].reshape(real.shape), v[split:].reshape(fake.shape))

        grad_auto = jax.jit(jax.grad(of_flat_inputs))(inputs)
        grad_fd = np.array(
            [
                (of_flat_inputs(inputs.at[i].add(eps)) - of_flat_inputs(inputs.at[i].add(-eps)))
                / (2 * eps)
                for i in range(inputs.size)
            ]
        )
        np.testing.assert_allclose(np.asarray(grad_auto), grad_fd, rtol=1e-6, atol=1e-8)


def test_r1_closed_forms():
    x = normal(0, (8, 4))
    w = jnp.array([1.0, -2.0, 0.5, 3.0])
    # Linear D(x) = w·x has ∇D = w everywhere: R1 = ‖w‖².
    assert float(losses.r1_penalty(lambda v: v @ w, x)) == pytest.approx(float(w @ w), rel=1e-6)
    # Quadratic D(x) = ½‖x‖² has ∇D = x: R1 = mean ‖x‖².
    quadratic = lambda v: 0.5 * jnp.sum(v * v, axis=1)
    assert float(losses.r2_penalty(quadratic, x)) == pytest.approx(
        float(jnp.mean(jnp.sum(x * x, 1))), rel=1e-6
    )
    # Image-shaped inputs are flattened per sample.
    images = x.reshape(8, 2, 2, 1)
    assert float(
        losses.r1_penalty(lambda v: 0.5 * jnp.sum(v * v, axis=(1, 2, 3)), images)
    ) == pytest.approx(float(jnp.mean(jnp.sum(x * x, 1))), rel=1e-6)


@pytest.mark.parametrize("target", [0.5, 1.0, 2.0, 7.0])
@pytest.mark.parametrize("slope", [0.1, 0.25, 1.0, 3.0])
def test_gradient_penalty_target_rescaling(target, slope):
    """D(x) = c·Σx on 4-D inputs has ‖∇D‖ = 2c: GP = (2c/t - 1)², one-sided max(0, ·)²."""
    real = normal(0, (5, 4))
    fake = normal(1, (5, 4))
    d_fn = lambda v: slope * jnp.sum(v, axis=1)
    norm = 2.0 * slope
    two_sided = losses.wasserstein_gradient_penalty(
        d_fn, real, fake, jax.random.key(2), target=target
    )
    one_sided = losses.wasserstein_gradient_penalty(
        d_fn, real, fake, jax.random.key(2), target=target, one_sided=True
    )
    assert float(two_sided) == pytest.approx((norm / target - 1) ** 2, rel=1e-4, abs=1e-7)
    assert float(one_sided) == pytest.approx(max(0.0, norm / target - 1) ** 2, rel=1e-4, abs=1e-7)


def test_gradient_penalty_interpolates_between_real_and_fake():
    """With D(x) = ½‖x‖², ‖∇D(x̂)‖ = ‖x̂‖; check x̂ = x + α(x̃ - x) with α ~ U[0,1] per sample."""
    real = jnp.zeros((4096, 2))
    fake = jnp.tile(jnp.array([[3.0, 4.0]]), (4096, 1))  # ‖x̂‖ = 5α
    d_fn = lambda v: 0.5 * jnp.sum(v * v, axis=1)
    gp = losses.wasserstein_gradient_penalty(d_fn, real, fake, jax.random.key(0))
    # E[(5α - 1)²] = 25/3 - 5 + 1 for α ~ U[0, 1]
    assert float(gp) == pytest.approx(25 / 3 - 5 + 1, rel=0.03)


def test_losses_differentiate_through_a_real_discriminator():
    disc = MLPDiscriminator(width=32, depth=2)
    real = normal(0, (16, 2))
    fake = normal(1, (16, 2)) + 2.0
    params = init_variables(disc, jax.random.key(2), real)
    d_fn = lambda p: lambda x: disc.apply(p, x)
    objectives = {
        name: (lambda p, f=f: f(disc.apply(p, real), disc.apply(p, fake)))
        for name, f in ALL_LOSSES.items()
    }
    objectives.update(
        {
            name: (lambda p, f=f: f(d_fn(p), real, fake, jax.random.key(3)))
            for name, f in PENALTIES.items()
        }
    )
    # every loss's gradient in one program (per loss it was 15 programs; op by op, hundreds)
    all_grads = jax.jit(lambda p: {n: jax.grad(o)(p) for n, o in objectives.items()})(params)
    for name, grads in all_grads.items():
        flat = ravel_pytree(grads)[0]
        assert np.all(np.isfinite(np.asarray(flat))), name
        assert float(jnp.linalg.norm(flat)) > 0, name


def test_wasserstein_drift_is_the_critic_loss_plus_epsilon_mean_square_real_score():
    """PGGAN §A.1: L_D = mean D(G(z)) − mean D(x) + ε·mean D(x)², ε = 0.001 by default."""
    real, fake = jnp.array([1.0, -2.0, 3.0]), jnp.array([0.5, 1.5])
    expected = 1.0 - 2.0 / 3.0 + 0.001 * 14.0 / 3.0
    np.testing.assert_allclose(
        losses.wasserstein_drift_discriminator_loss(real, fake), expected, rtol=1e-6
    )
    np.testing.assert_allclose(
        losses.wasserstein_drift_discriminator_loss(real, fake, epsilon=0.0),
        losses.wasserstein_discriminator_loss(real, fake),
    )


# ------------------------------------------------------ TF-GAN's conditional and multi-task

ACGAN_FAKE = np.array(
    [[10.0, 4.4, -5.5, 3.6], [-4.0, 4.4, 5.2, 4.6], [1.1, 2.4, -3.5, 5.6], [1.1, 2.4, -3.5, 5.6]]
)
ACGAN_REAL = np.array(
    [[-2.0, 0.4, 12.5, 2.7], [-1.2, 1.9, 12.3, 2.6], [-2.4, -1.7, 2.5, 2.7], [1.1, 2.4, -3.5, 5.6]]
)
ACGAN_LABELS = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0]], np.float32)


class TestTFGANConditionalGoldenValues:
    """The values of TF-GAN's ``losses_impl_test`` for the same inputs."""

    def test_acgan(self):
        g = losses.acgan_generator_loss(ACGAN_FAKE, ACGAN_LABELS)
        d = losses.acgan_discriminator_loss(ACGAN_FAKE, ACGAN_REAL, ACGAN_LABELS)
        assert float(g) == pytest.approx(3.84974, abs=1e-5)
        assert float(d) == pytest.approx(9.43950, abs=1e-5)

    def test_cycle_consistency(self):
        loss = losses.cycle_consistency_loss(
            jnp.array([[1.0, 2, 3], [4, 5, 6]]),
            jnp.array([[7.0, 8, 9], [10, 11, 12]]),
            jnp.array([1.0, 9]),
            jnp.array([-2.0, 3]),
        )
        assert float(loss) == pytest.approx(5.25, abs=1e-6)

    def test_mutual_information_penalty(self):
        """Categorical(logits [1, 2]) at code 1 and N(0, 1) at 2: TF-GAN's 1.61610."""
        penalty = losses.mutual_information_penalty(
            [jnp.array(1.0), jnp.array(2.0)],
            [
                losses.CategoricalCode(jnp.array([1.0, 2.0])),
                losses.GaussianCode(jnp.array([0.0]), jnp.array([1.0])),
            ],
        )
        assert float(penalty) == pytest.approx(1.61610, abs=1e-5)

    def test_combine_adversarial_loss(self):
        """main = 2v, adversarial = 3v at v = 1: weight factor 2 gives 8; gradient ratio 0.5
        gives 2 + 3·2/(1.5 + 1e-6), and the coefficient is constant under jax.grad."""

        def main(v):
            return 2.0 * v

        def adversarial(v):
            return 3.0 * v

        v = jnp.array(1.0)
        weighted = losses.combine_adversarial_loss(main, adversarial, v, weight_factor=2.0)
        assert float(weighted) == pytest.approx(8.0, abs=1e-6)
        coefficient = 2.0 / (3.0 * 0.5 + 1e-6)
        ratio = losses.combine_adversarial_loss(main, adversarial, v, gradient_ratio=0.5)
        assert float(ratio) == pytest.approx(2.0 + 3.0 * coefficient, abs=1e-5)
        grad = jax.grad(
            lambda p: losses.combine_adversarial_loss(main, adversarial, p, gradient_ratio=0.5)
        )(v)
        assert float(grad) == pytest.approx(2.0 + 3.0 * coefficient, abs=1e-5)
        zero = losses.combine_adversarial_loss(main, adversarial, v, gradient_ratio=0.0)
        assert float(zero) == 2.0
        with pytest.raises(ValueError, match="exactly one"):
            losses.combine_adversarial_loss(main, adversarial, v)


def test_relativistic_average_losses_by_hand():
    """C(x) = [1, 3], C(x̃) = [0, -2]: mean C(x) = 2, mean C(x̃) = -1, so D̃(x) = [2, 4] and
    D̃(x̃) = [-2, -4]; the paper's L_D = −mean log σ(D̃(x)) − mean log(1 − σ(D̃(x̃))), and L_G
    the same with the roles swapped."""
    real, fake = jnp.array([1.0, 3.0]), jnp.array([0.0, -2.0])
    rel_real, rel_fake = np.array([2.0, 4.0]), np.array([-2.0, -4.0])
    d = -np.mean(np.log(sigmoid_np(rel_real))) - np.mean(np.log(1.0 - sigmoid_np(rel_fake)))
    g = -np.mean(np.log(sigmoid_np(rel_fake))) - np.mean(np.log(1.0 - sigmoid_np(rel_real)))
    assert float(losses.relativistic_discriminator_loss(real, fake)) == pytest.approx(d, rel=1e-6)
    assert float(losses.relativistic_generator_loss(real, fake)) == pytest.approx(g, rel=1e-6)


def test_relativistic_pairing_losses_by_hand():
    """RpGAN (arXiv:2501.05441, eq. 2), float64: D(x) = [1, 3], D(x̃) = [0, −2] pair up as
    (1, 0) and (3, −2), so L_D = mean log(1 + e^{D(x̃)−D(x)}) = (log(1 + e^{−1}) +
    log(1 + e^{−5}))/2 and L_G the same with the roles swapped.  Unlike RaSGAN's batch
    averages, the pairing matters: swapping the fakes changes the value."""
    with jax.enable_x64(True):
        real, fake = np.array([1.0, 3.0]), np.array([0.0, -2.0])
        d = float(losses.relativistic_paired_discriminator_loss(real, fake))
        g = float(losses.relativistic_paired_generator_loss(real, fake))
        swapped = float(losses.relativistic_paired_discriminator_loss(real, fake[::-1]))
        average = float(losses.relativistic_discriminator_loss(real, fake[::-1]))
        assert average == pytest.approx(float(losses.relativistic_discriminator_loss(real, fake)))
    assert d == pytest.approx((math.log1p(math.exp(-1)) + math.log1p(math.exp(-5))) / 2, rel=1e-14)
    assert g == pytest.approx((math.log1p(math.exp(1)) + math.log1p(math.exp(5))) / 2, rel=1e-14)
    # swapped pairs (1, −2) and (3, 0): both fakes trail their partner by 3
    assert swapped == pytest.approx(math.log1p(math.exp(-3)), rel=1e-14)
    # both relativistic G losses are marked for gan_game; the others are not
    assert losses.relativistic_paired_generator_loss.uses_real_logits
    assert losses.relativistic_generator_loss.uses_real_logits
    assert not hasattr(losses.modified_generator_loss, "uses_real_logits")
