"""The latent space: interpolation identities, attribute directions, projection (fixed
point, restarts, batching) and the encoder.  Projection compares two numerical forms of
one computation, so it runs in float64 (module fixture) on a small DCGAN generator."""

from __future__ import annotations

import functools
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from random_inputs import normal, uniform

from gan_jax import gan, latent
from gan_jax.nets.dcgan import DCGANGenerator
from gan_jax.nets.variables import init_variables

D = 8  # latent dimension of the test generator


@pytest.fixture(scope="module", autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module")
def generate():
    generator = DCGANGenerator(resolution=8, channels=1, width=4)
    variables = init_variables(generator, jax.random.key(0), np.zeros((1, D)))  # as train=False
    variables = jax.jit(lambda v: jax.tree.map(lambda x: x.astype(jnp.float64), v))(variables)
    return jax.jit(functools.partial(gan.generate, generator, variables))


def test_lerp_is_exact_and_broadcasts():
    a, b = jnp.array([1.0, -2.0, 3.0]), jnp.array([0.5, 4.0, -1.0])
    t = jnp.array([0.0, 0.25, 1.0])
    path = latent.lerp(a, b, t)
    assert path.shape == (3, 3)
    np.testing.assert_array_equal(path[0], a)
    np.testing.assert_array_equal(path[-1], b)
    np.testing.assert_array_equal(path[1], 0.75 * a + 0.25 * b)


def test_slerp_endpoints_norm_and_angle():
    # the references are NumPy (an independent implementation that compiles nothing)
    a, b = np.asarray(normal(1, (2, 16)))
    b = b * np.linalg.norm(a) / np.linalg.norm(b)  # equal norms
    t = np.linspace(0.0, 1.0, 11)
    path = np.asarray(latent.slerp(a, b, t))
    np.testing.assert_array_equal(path[0], a)
    np.testing.assert_allclose(path[-1], b, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), np.linalg.norm(a), rtol=1e-13)

    def angle(u, v):
        return np.arccos(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))

    omega = angle(a, b)
    np.testing.assert_allclose([angle(a, p) for p in path[1:]], t[1:] * omega, rtol=1e-10)
    # (anti)parallel endpoints fall back to the chord
    np.testing.assert_allclose(latent.slerp(a, 2 * a, 0.5), 1.5 * a, rtol=1e-12)


def test_interpolate_returns_the_images_along_the_path(generate):
    z0, z1 = np.asarray(normal(2, (2, D)))
    images = latent.interpolate(generate, z0, z1, 5, method="lerp")
    assert images.shape == (5, 8, 8, 1)
    np.testing.assert_allclose(images[2], generate((0.5 * z0 + 0.5 * z1)[None])[0], atol=1e-14)


def test_attribute_direction_recovers_the_scoring_coordinate():
    z = np.asarray(normal(3, (2000, 16)))
    noise = 0.3 * np.asarray(normal(4, (2000,)))
    direction = np.asarray(latent.attribute_direction(z, 3.0 * z[:, 5] + noise))
    np.testing.assert_allclose(np.linalg.norm(direction), 1.0, rtol=1e-12)
    assert direction[5] > 0.98  # cosine with e₅; the other 15 coordinates are sampling noise
    moved = latent.apply_direction(z[:2], direction, jnp.array([0.0, 2.0]))
    np.testing.assert_allclose(moved[1] - z[1], 2.0 * direction, atol=1e-14)
    np.testing.assert_array_equal(moved[0], z[0])
    groups = z[:6].reshape(2, 3, 16)
    np.testing.assert_allclose(latent.concept_mean(groups), groups.mean(1), atol=1e-15)


@pytest.mark.integration  # an optimisation run (tests/README.md, tiers)
def test_projection_started_at_the_truth_stays_there(generate):
    truth = jax.random.normal(jax.random.key(5), (3, D))  # the input this bound was set on
    result = latent.project(generate, generate(truth), jax.random.key(6), init=truth, steps=20)
    # Rounding-level residuals (the batch is generated twice) give gradients far below
    # Adam's ε = 1e-8, so z moves by rounding only.
    assert float(jnp.max(result.best_losses)) < 1e-15
    np.testing.assert_allclose(result.best_latents, truth, rtol=0, atol=1e-6)


@pytest.mark.integration  # an optimisation run (tests/README.md, tiers)
def test_restarts_are_one_batch_equal_to_a_loop_and_best_of_r_never_increases(generate):
    targets = generate(normal(7, (2, D)))
    run = functools.partial(
        latent.project, generate, targets, jax.random.key(8), steps=30, latent_dim=D
    )
    batched = run(restarts=4)
    assert batched.final_losses.shape == (2, 4) and batched.curves.shape == (2, 4, 30)
    for r in range(4):  # each restart alone, from the same start
        alone = run(restarts=1, init=batched.starts[:, r])
        np.testing.assert_allclose(alone.latents[:, 0], batched.latents[:, r], atol=1e-10)
        np.testing.assert_allclose(alone.final_losses[:, 0], batched.final_losses[:, r], atol=1e-12)
    best = {r: run(restarts=r).best_losses for r in (1, 2, 4)}
    for r in (1, 2, 4):  # the first R restarts do not depend on R
        np.testing.assert_allclose(best[r], latent.best_of(batched.final_losses, r), atol=1e-12)
    assert np.all(np.asarray(best[2]) <= np.asarray(best[1]) + 1e-12)
    assert np.all(np.asarray(best[4]) <= np.asarray(best[2]) + 1e-12)
    # the loss curves go down on average: the optimiser is doing its job
    assert float(jnp.mean(batched.curves[..., -1])) < float(jnp.mean(batched.curves[..., 0]))


def test_losses_prior_and_weighting():
    images = np.asarray(uniform(9, (4, 8, 8, 1), minval=-1.0))
    other = np.flip(images, axis=0)
    np.testing.assert_allclose(
        latent.pixel_mse(images, other), ((images - other) ** 2).mean((1, 2, 3))
    )

    def maps(x):
        return [x, jax.nn.relu(x[:, ::2, ::2] * jnp.arange(1.0, 3.0))]

    features = jax.jit(latent.feature_distance(maps))
    np.testing.assert_array_equal(features(images, images), 0.0)
    assert bool(jnp.all(features(images, other) > 0))
    both = jax.jit(latent.weighted_loss((2.0, latent.pixel_mse), (0.5, features)))
    np.testing.assert_allclose(
        both(images, other),
        2.0 * latent.pixel_mse(images, other) + 0.5 * features(images, other),
        rtol=1e-14,
    )
    z = np.stack([np.full(16, 1.0), np.zeros(16)])  # on the shell ‖z‖ = √d, and at 0
    np.testing.assert_allclose(latent.latent_prior(z), [0.0, 1.0], atol=1e-15)


@pytest.mark.integration  # a training run (tests/README.md, tiers)
def test_encoder_learns_to_invert_a_generator():
    """A linear generator (8×8 images from 8 latents) is invertible, so E(G(z)) → z.
    A learning outcome, not a comparison of two forms: float32."""
    with jax.enable_x64(False):
        weights = normal(10, (D, 64)) / 4

        def linear(z):
            return (z @ weights).reshape(-1, 8, 8, 1)

        model, params, history = latent.train_encoder(
            linear, D, (8, 8, 1), jax.random.key(11), steps=300, width=8, batch_size=64,
            progress=False,
        )  # fmt: skip
        z = normal(12, (256, D))
        error = float(jnp.mean(jnp.square(model.apply(params, linear(z)) - z)))
    assert history[0] > 0.5  # E starts far from the inverse (the latent variance is 1) …
    assert error < 0.05  # … and ends close to it on latents it never saw


def test_digit_attributes_on_drawn_strokes():
    """Slant is the ink-weighted slope of column on row (rows counted upwards): a '/' line
    has slope 1, '|' 0, '\\' −1; ink is the mean of (x + 1)/2."""
    from gan_jax.metrics import ink_mass, slant

    images = -np.ones((4, 9, 9, 1))
    for i in range(9):
        images[0, 8 - i, i] = 1.0  # /
        images[1, i, 4] = 1.0  # |
        images[2, i, i] = 1.0  # \
        images[3, i, 3:6] = 1.0  # a thicker |
    np.testing.assert_allclose(slant(jnp.asarray(images)), [1.0, 0.0, -1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(ink_mass(jnp.asarray(images)), [1 / 9, 1 / 9, 1 / 9, 3 / 9])


@pytest.mark.expensive
def test_latent_space_cli_on_a_tiny_dcgan(tmp_path, classifier8):
    """The experiment end to end on an 8², width-8 DCGAN trained for a few steps: every
    figure, and metrics that obey their invariants (whatever a 4-step generator does)."""
    from experiments import latent_space, train_dcgan

    with jax.enable_x64(False):
        train_dcgan.main([
            "--dataset", "digits", "--steps", "4", "--resolution", "8", "--width", "8",
            "--batch-size", "16",
            "--log-every", "2", "--eval-every", "0", "--sample-every", "0", "--eval-samples",
            "50", "--classifier", classifier8, "--workdir", str(tmp_path / "run"),
            "--out", str(tmp_path / "dcgan"), "--no-progress",
        ])  # fmt: skip
        out = tmp_path / "out"
        latent_space.main([
            "--workdir", str(tmp_path / "run"), "--classifier", classifier8,
            "--out", str(out), "--pool", "256", "--triples", "8", "--targets", "2",
            "--restarts", "4", "--proj-steps", "8", "--real-targets", "4", "--real-restarts",
            "2", "--encoder-steps", "10", "--encoder-pairs", "64", "--no-progress",
            "--eval-samples", "50",
        ])  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["checkpoint_step"] == 4
    # the analysed generator's quality: its run's own final evaluation, number for number
    run_final = json.loads((tmp_path / "dcgan" / "metrics.json").read_text())
    for name in ("fcd", "kid", "precision", "recall", "density", "coverage", "classes"):
        assert metrics["generator"][name] == pytest.approx(run_final[name], rel=1e-3, abs=1e-3)
    midpoint = metrics["interpolation"]["midpoint_norm_over_sqrt_d"]
    # ‖(a + b)/2‖ ≈ √(d/2) for independent Gaussian latents; slerp stays on the shell
    assert abs(midpoint["lerp"] - math.sqrt(0.5)) < 0.05 and abs(midpoint["slerp"] - 1) < 0.05
    projection = metrics["projection_generated"]
    success = [projection["success_vs_restarts"][str(r)] for r in (1, 4)]
    assert 0 <= success[0] <= success[1] <= 1  # best of 4 includes the first restart
    for start in ("random_restarts", "encoder", "encoder_then_optimise"):
        assert metrics["projection_real"][start]["pixel_mse"] > 0
    for name in ("interpolation", "attribute_sweep", "projection_losses", "reconstructions",
                 "projection_restarts"):  # fmt: skip
        assert (out / f"{name}.png").stat().st_size > 5000


def test_arithmetic_controls_on_a_linear_generator():
    """The arithmetic study's two controls on a generator whose class is the sign of the
    latent's first coordinate (images: the first 16 coordinates).  The mean of ``k``
    latents drawn from N(0, I_d) has norm ≈ √(d/k) and ``A − B + C`` ≈ √(3d/k); C's
    concept mean keeps C's class (every member has that sign); and rescaling the result
    to C's norm is a positive scaling, which keeps the sign, so the class rates match."""
    import argparse

    from gan_jax.studies import latent_space as study

    d = 64

    def generate(z):
        return jnp.tanh(z[:, :16]).reshape(-1, 4, 4, 1)

    def classify(images):
        first = jnp.arctanh(jnp.clip(images[:, 0, 0, 0], -0.999999, 0.999999))
        return jax.nn.softmax(jnp.stack([20.0 * first, -20.0 * first], axis=-1))

    pool_z = np.asarray(normal(d, (4096, d)))  # on the host, as the study draws it
    pool = study.describe(generate, classify, jax.device_put(pool_z))
    settings = argparse.Namespace(triples=200, seed=0)
    results, _ = study.arithmetic_study(
        generate, classify, pool_z, pool, 2, settings, np.random.default_rng(0)
    )
    for attribute in study.ATTRIBUTES:
        for k in study.GROUP_SIZES:
            row = results[attribute][k]
            assert row["c_norm_over_sqrt_d"] == pytest.approx(1 / math.sqrt(k), rel=0.15)
            assert row["result_norm_over_sqrt_d"] == pytest.approx(math.sqrt(3 / k), rel=0.15)
            assert row["c_alone_class_ok"] == 1.0
            assert row["class_ok_rescaled"] == row["class_ok"]
            assert 0.0 <= row["success_rescaled"] <= row["class_ok_rescaled"]
