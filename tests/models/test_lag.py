"""LAG (issue 16, in progress): the conditional networks, the losses and the bicubic
baseline, pinned to their definitions; the study end to end is a slow test."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_checks import assert_refused_without_a_trace, bad_commands
from random_inputs import normal, uniform

from gan_jax import losses
from gan_jax.metrics import lr_consistency
from gan_jax.models.lag import lag_game, straight_through_round
from gan_jax.nets.progressive import area_downsample
from gan_jax.nets.superres import ConditionalDiscriminator, SuperResGenerator, space_to_depth
from gan_jax.nets.variables import init_variables

TINY = {"stages": 2, "filters": 16, "filters_min": 8, "blocks": 2}


def players():
    generator, discriminator = SuperResGenerator(**TINY), ConditionalDiscriminator(**TINY)
    low, noise = jnp.zeros((2, 8, 8, 3)), jnp.zeros((2, 8, 8, 4))
    g = init_variables(generator, jax.random.key(0), low, noise)
    d = init_variables(discriminator, jax.random.key(1), jnp.zeros((2, 32, 32, 3)), low)
    return generator, discriminator, g, d


def test_the_conditional_discriminator_sees_the_low_resolution_condition():
    _, discriminator, _, d = players()
    high = uniform(2, (2, 32, 32, 3), minval=-1, maxval=1)
    delta = jnp.abs(area_downsample(high, 4) - uniform(3, (2, 8, 8, 3)))
    apply = jax.jit(discriminator.apply)
    latent = apply(d, high, delta)
    assert latent.shape == (2, 8, 8, 16)
    assert float(jnp.max(jnp.abs(apply(d, high, jnp.zeros_like(delta)) - latent))) > 1e-3
    assert float(jnp.max(jnp.abs(apply(d, -high, delta) - latent))) > 1e-3


def test_generator_shapes_and_its_latent():
    generator, _, g, _ = players()
    low = uniform(4, (2, 8, 8, 3), minval=-1, maxval=1)
    apply = jax.jit(generator.apply)
    noise = normal(5, (2, 8, 8, 4))
    out = apply(g, low, noise)
    assert out.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(apply(g, low, noise), out)  # a function of (y, ε)
    assert float(jnp.max(jnp.abs(apply(g, low, jnp.zeros_like(noise)) - out))) > 1e-4


def test_space_to_depth_moves_each_block_into_channels():
    x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
    y = space_to_depth(x)
    assert y.shape == (2, 2, 2, 12)
    np.testing.assert_array_equal(
        y[1, 1, 0], jnp.concatenate([x[1, 2, 0], x[1, 2, 1], x[1, 3, 0], x[1, 3, 1]])
    )


def test_straight_through_round_rounds_forward_and_passes_gradients():
    x = jnp.array([0.0, 0.01, 0.05, 0.5])
    np.testing.assert_allclose(straight_through_round(x, 10.0), [0.0, 0.0, 0.0, 0.5], atol=1e-7)
    np.testing.assert_allclose(jax.grad(lambda v: jnp.sum(straight_through_round(v, 10.0)))(x), 1.0)


def test_lag_penalty_is_the_rms_gradient_penalty_of_the_paper_code():
    """For a linear critic the gradient is its weights w: the code's (rms(w) − t)²/t² equals
    wasserstein_gradient_penalty with target t·√(entries)."""
    w = normal(6, (4, 4, 3))
    real = jnp.zeros((5, 4, 4, 3))

    def critic(x):
        return jnp.sum(x * w, axis=(1, 2, 3))

    rms = math.sqrt(float(jnp.mean(w**2)))
    value = losses.wasserstein_gradient_penalty(
        critic, real, real + 1.0, jax.random.key(7), target=0.5 * math.sqrt(48)
    )
    np.testing.assert_allclose(float(value), (rms - 0.5) ** 2 / 0.25, rtol=1e-5)


def test_lag_generator_loss_adds_the_weighted_latent_center_loss():
    generator, discriminator, g, d = players()
    batch = {
        "real": uniform(8, (2, 32, 32, 3), minval=-1, maxval=1),
        "key": jax.random.key(9),
    }
    with_center = lag_game(generator, discriminator, noise_dim=4, center_weight=10.0)
    without = lag_game(generator, discriminator, noise_dim=4, center_weight=0.0)
    low = area_downsample(batch["real"], 4)

    def critic(x):
        delta = straight_through_round(jnp.abs(low - area_downsample(x, 4)))
        return discriminator.apply(d, x, delta)

    @jax.jit  # each side one program, not one per op
    def expected_term(real):
        center = generator.apply(g, low, jnp.zeros((2, 8, 8, 4)))
        return 10.0 * jnp.mean((critic(real) - critic(center)) ** 2)

    expected = float(expected_term(batch["real"]))
    loss_g = jax.jit(lambda game_loss: game_loss(g, d, batch), static_argnums=0)
    difference = float(loss_g(with_center.loss_g) - loss_g(without.loss_g))
    assert difference == pytest.approx(expected, rel=1e-4)
    assert expected > 0
    np.testing.assert_allclose(float(losses.latent_center_loss(jnp.ones(4), jnp.zeros(4))), 1.0)


def test_bicubic_baseline_keeps_constants_and_is_lr_consistent_on_smooth_input():
    from gan_jax.models.lag import bicubic_upsample

    flat = jnp.full((1, 8, 8, 3), 0.25)
    np.testing.assert_allclose(bicubic_upsample(flat, 4), 0.25, atol=1e-6)
    ramp = jnp.broadcast_to(jnp.linspace(-1, 1, 8)[None, None, :, None], (1, 8, 8, 3))
    assert float(lr_consistency(bicubic_upsample(ramp, 4), ramp)[0]) > 30


@pytest.mark.slow
def test_super_resolution_cli_tiny_run(tmp_path):
    """The study end to end for a few steps: every output, and checks that are the
    comparisons of the numbers reported."""
    import json

    from experiments import super_resolution

    out, run = tmp_path / "out", tmp_path / "run"
    command = [
        "--steps", "4", "--log-every", "2", "--checkpoint-every", "4", "--filters", "16",
        "--blocks", "1", "--eval-patches", "16", "--workdir", str(run),
        "--out", str(out), "--no-progress",
    ]  # fmt: skip
    metrics = super_resolution.main(command)
    assert json.loads((out / "metrics.json").read_text())["steps"] == 4
    bad = bad_commands(run, tmp_path / "scratch", "--lr")
    assert_refused_without_a_trace("experiments.super_resolution", command, run, bad)
    methods, checks = metrics["methods"], metrics["checks"]
    assert checks["l2_sharpness_below_lag"] == (
        methods["l2"]["sharpness"] < methods["lag_sample"]["sharpness"]
    )
    assert methods["bicubic"]["lr_consistency"] > 25  # bicubic nearly explains its seed
    for name in ("comparison.png", "diversity.png", "curves.png", "l2_mse.png"):
        assert (out / name).stat().st_size > 1000


LAG_COMMAND = ["--steps", "4", "--log-every", "2", "--checkpoint-every", "4", "--no-progress"]


def test_super_resolution_refuses_bad_commands_against_its_run(tmp_path):
    """The table of refused commands against a LAG run directory as the CLI lays it out
    (its config.json, written by the CLI's own plan, and a finished checkpoint): what the
    checks read.  The slow end-to-end test runs the same table against a trained run."""
    from experiments import super_resolution
    from gan_jax.runner import image_runs as runner
    from gan_jax.training.checkpoint import Checkpointer

    run, out, scratch = tmp_path / "run", tmp_path / "out", tmp_path / "scratch"
    command = [*LAG_COMMAND, "--workdir", str(run), "--out", str(out)]
    parser = super_resolution.build_parser()
    args = parser.parse_args(command)
    runner.plan_run(args, str(run), None, parser, ("photos",)).start()
    Checkpointer(run / "checkpoints").save(4, {"w": np.zeros(3, np.float32)})
    assert json.loads((run / "config.json").read_text())["seed"] == 0
    bad = bad_commands(run, scratch, "--lr") + [
        (["--resume", "--filters", "8"], "--resume with different settings (--filters 32 → 8)"),
        (["--center-weight", "-1"], "must be a finite number ≥ 0"),
    ]
    assert_refused_without_a_trace("experiments.super_resolution", command, run, bad)


def test_residual_generator_with_silent_rgb_layers_is_bicubic():
    """The L2 baseline's starting point (:func:`starting_at_bicubic`) is bicubic
    interpolation exactly, whatever the noise, and leaves the other layers alone."""
    from gan_jax.models.lag import bicubic_upsample, starting_at_bicubic

    generator, _, g, _ = players()
    silent_g = starting_at_bicubic(g)
    assert sorted(n for n in g["params"] if n.startswith("to_rgb")) == ["to_rgb_1", "to_rgb_2"]
    for name, layer in silent_g["params"].items():
        for value, original in zip(jax.tree.leaves(layer), jax.tree.leaves(g["params"][name])):
            expected = np.zeros_like(original) if name.startswith("to_rgb") else original
            np.testing.assert_array_equal(value, expected)

    @jax.jit  # one program (op by op, each op compiles on its own)
    def silent_output_and_bicubic(silent, low, noise):
        return generator.apply(silent, low, noise), bicubic_upsample(low, 4)

    low = uniform(10, (2, 8, 8, 3), minval=-1, maxval=1)
    out, bicubic = silent_output_and_bicubic(silent_g, low, normal(11, (2, 8, 8, 4)))
    np.testing.assert_allclose(out, bicubic, atol=1e-6)
