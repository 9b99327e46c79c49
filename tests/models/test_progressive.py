"""Progressive growing (arXiv:1710.10196): the fade-in endpoints of G and D, growing only
adds parameters, α lives in the state (one compilation per resolution), and a run resumed
in the middle of a fade equals the straight one bit for bit.  Network comparisons run in
float64; training runs in float32."""

from __future__ import annotations

import functools
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_checks import assert_refused_without_a_trace, bad_commands
from random_inputs import normal, uniform
from run_checks import assert_same_state, loss_rows

from gan_jax import training
from gan_jax.models.progressive_gan import ProgressiveConfig, ProgressiveGAN, images_seen, phases
from gan_jax.nets.progressive import (
    ProgressiveDiscriminator,
    ProgressiveGenerator,
    downsample,
    grow_parameters,
    resize_to,
    stage_resolutions,
    upsample,
)
from gan_jax.nets.variables import init_variables
from gan_jax.training.checkpoint import Checkpointer

F64 = jnp.float64
WIDTHS = {"fmap_base": 64, "fmap_max": 8}


@pytest.fixture
def float64():
    with jax.enable_x64(True):
        yield


def _jitted(module):
    """``(init, apply)`` of ``module`` as one compiled program each (eager flax compiles
    every operation separately)."""
    return functools.partial(init_variables, module), jax.jit(module.apply)


def _perturbed(variables: dict, name: str) -> dict:
    """``variables`` with every parameter of submodule ``name`` shifted by 1."""
    params = dict(variables["params"])
    params[name] = jax.tree.map(lambda p: p + 1.0, params[name])
    return {"params": params}


def test_resampling_operators():
    x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
    up = upsample(x)
    assert up.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(up[:, 2:4, 4:6], jnp.broadcast_to(x[:, 1:2, 2:3], (2, 2, 2, 3)))
    np.testing.assert_array_equal(downsample(up), x)  # the average of a constant 2×2 block
    np.testing.assert_allclose(downsample(x)[0, 0, 0], x[0, :2, :2].mean(axis=(0, 1)))
    assert resize_to(x, 16).shape == (2, 16, 16, 3) and resize_to(x, 1).shape == (2, 1, 1, 3)
    assert stage_resolutions(32) == (4, 8, 16, 32)
    with pytest.raises(ValueError, match="4·2"):
        stage_resolutions(24)


@pytest.mark.parametrize("resolution", [8, 16])
def test_generator_fade_in_endpoints(float64, resolution):
    """α = 0: the previous stage's output (its toRGB) up-sampled by the same operator.
    α = 1: the new block's toRGB alone (the old toRGB has no influence).  In between, the
    output is the linear blend of the two."""
    z = normal(0, (4, 16), F64)
    init, apply = _jitted(ProgressiveGenerator(resolution, 1, **WIDTHS, param_dtype=F64))
    init_small, apply_small = _jitted(
        ProgressiveGenerator(resolution // 2, 1, **WIDTHS, param_dtype=F64)
    )
    small = init_small(jax.random.key(1), z)
    variables = grow_parameters(init(jax.random.key(2), z), small)

    at_0 = apply(variables, z, 0.0)
    np.testing.assert_array_equal(at_0, upsample(apply_small(small, z, 1.0)))
    at_1 = apply(variables, z, 1.0)
    old_rgb = _perturbed(variables, f"to_rgb_{resolution // 2}")
    np.testing.assert_array_equal(apply(old_rgb, z, 1.0), at_1)
    params = dict(variables["params"])
    new_rgb = dict(params[f"to_rgb_{resolution}"])
    new_rgb["bias"] = new_rgb["bias"] + 1.0
    shifted = apply({"params": {**params, f"to_rgb_{resolution}": new_rgb}}, z, 1.0)
    np.testing.assert_allclose(shifted - at_1, 1.0, atol=1e-12)  # the new toRGB is the output
    np.testing.assert_allclose(apply(variables, z, 0.3), 0.7 * at_0 + 0.3 * at_1, atol=1e-12)


@pytest.mark.parametrize("resolution", [8, 16])
def test_discriminator_fade_in_endpoints(float64, resolution):
    """α = 0: the previous stage's D on the 2×2-average-pooled image; α = 1: the new
    fromRGB and block alone."""
    x = normal(3, (4, resolution, resolution, 1), F64)
    init, apply = _jitted(ProgressiveDiscriminator(resolution, **WIDTHS, param_dtype=F64))
    init_small, apply_small = _jitted(
        ProgressiveDiscriminator(resolution // 2, **WIDTHS, param_dtype=F64)
    )
    small = init_small(jax.random.key(4), downsample(x))
    variables = grow_parameters(init(jax.random.key(5), x), small)

    np.testing.assert_array_equal(apply(variables, x, 0.0), apply_small(small, downsample(x), 1.0))
    at_1 = apply(variables, x, 1.0)
    old_rgb = _perturbed(variables, f"from_rgb_{resolution // 2}")
    np.testing.assert_array_equal(apply(old_rgb, x, 1.0), at_1)
    new_block = _perturbed(variables, f"block_{resolution}")
    assert float(jnp.abs(apply(new_block, x, 1.0) - at_1).max()) > 1e-3


def _shapes(module, x):
    """The variables ``module.init`` would create, as shapes (nothing is computed)."""
    return jax.eval_shape(module.init, jax.random.key(0), x)


def test_every_resolution_creates_every_smaller_resolutions_layers():
    z = jnp.zeros((4, 8))
    for r in (8, 16, 32):
        names = set(_shapes(ProgressiveGenerator(r, 3, **WIDTHS), z)["params"])
        assert names == {
            f"{kind}_{s}" for s in stage_resolutions(r) for kind in ("block", "to_rgb")
        }
        x = jnp.zeros((4, r, r, 3))
        names = set(_shapes(ProgressiveDiscriminator(r, **WIDTHS), x)["params"])
        assert names == {
            f"{kind}_{s}" for s in stage_resolutions(r) for kind in ("block", "from_rgb")
        }
    small = _shapes(ProgressiveGenerator(8, 1, **WIDTHS), z)
    other = _shapes(ProgressiveGenerator(16, 1, fmap_base=64, fmap_max=16), z)
    with pytest.raises(ValueError, match="shape"):
        grow_parameters(other, small)


TINY = ProgressiveConfig(
    resolution=8,
    latent_dim=8,
    fmap_base=32,
    fmap_max=8,
    batch_sizes=(8,),
    phase_images=32,  # 4 steps per phase: 4×4 [0, 4), 8×8 fade [4, 8), stable [8, 12)
    total_images=96,
)


def tiny_images() -> jax.Array:
    return uniform(7, (32, 8, 8, 1), minval=-1.0, maxval=1.0)


def test_schedule_counts_images_and_cuts_at_any_step():
    config = ProgressiveConfig(batch_sizes=(128, 128, 64), phase_images=20_000)
    run = phases(config)
    assert [p.name for p in run] == [
        "4x4_stable", "8x8_fade", "8x8_stable", "16x16_fade", "16x16_stable",
        "32x32_fade", "32x32_stable",
    ]  # fmt: skip
    assert [p.end - p.start for p in run[:6]] == [157, 157, 157, 313, 313, 313]
    assert images_seen(run, run[-1].end) >= 160_000 > images_seen(run, run[-1].end - 1)
    cut = phases(config, steps=400)
    assert [p.name for p in cut] == ["4x4_stable", "8x8_fade", "8x8_stable"]
    assert cut[-1].end == 400 and cut[-1].fade_steps == 157  # the stage's fade, kept
    assert float(cut[1].alpha(157)) == 0.0 and float(cut[1].alpha(314)) == 1.0
    assert float(cut[2].alpha(320)) == 1.0 and float(run[0].alpha(3)) == 1.0
    assert float(run[3].alpha(471 + 313 // 2)) == pytest.approx(156 / 313)


def test_growing_keeps_every_old_parameter_bit_identical():
    model = ProgressiveGAN(TINY, tiny_images(), jax.random.key(0))
    first = model.build(model.phases[0])
    state = training.step_runner(first.step)(first.state, 3)[0]  # a trained 4×4 state
    grown = model.build(model.phases[1], state)
    for old, new in ((state.g, grown.state.g), (state.d, grown.state.d)):
        flat_old = jax.tree_util.tree_flatten_with_path(old)[0]
        flat_new = dict(jax.tree_util.tree_flatten_with_path(new)[0])
        for path, leaf in flat_old:
            np.testing.assert_array_equal(flat_new[path], leaf)
        assert len(flat_new) > len(flat_old)  # block_8 and to/from_rgb_8 were added
    old_ema = jax.tree_util.tree_flatten_with_path(state.extra["g_ema"])[0]
    new_ema = dict(jax.tree_util.tree_flatten_with_path(grown.state.extra["g_ema"])[0])
    for path, leaf in old_ema:  # the average grows the same way
        np.testing.assert_array_equal(new_ema[path], leaf)
    # the grown state starts at the fade's first step with α = 0
    assert int(grown.state.step) == model.phases[1].start == 4
    assert float(grown.state.extra["alpha"]) == 0.0
    assert int(grown.state.extra["resolution"]) == 8
    # the optimizers start afresh at a new resolution (the paper's reset)
    assert int(grown.state.opt_state_g[0].count) == 0


@pytest.mark.integration
@pytest.mark.expensive
def test_resume_mid_fade_equals_the_straight_run(tmp_path, monkeypatch):
    """6 steps, then 6 more from the step-6 checkpoint (halfway through the 8×8 fade-in,
    α = 0.5 in it) equal 12 straight steps: same losses, same final state, and the newer
    checkpoints and phases are set aside, not deleted.  Each resolution's step is traced
    (so compiled) once although α changes every step."""
    traced = []
    make_step = training.make_train_step

    def counting_make_train_step(*args, **kwargs):
        step = make_step(*args, **kwargs)

        def counted(state):
            traced.append(len(state.g["params"]))
            return step(state)

        return counted

    monkeypatch.setattr(training.steps, "make_train_step", counting_make_train_step)
    # checkpoints at 6 and where phases end: saving is most of a tiny step's time
    config = training.FitConfig(12, log_every=2, checkpoint_every=6, eval_every=0, sample_every=0)
    images = tiny_images()
    straight = ProgressiveGAN(TINY, images, jax.random.key(0)).fit(
        str(tmp_path / "a"), config, progress=False
    )
    assert straight.step == 12
    assert traced == [2, 4]  # one trace at 4×4 (2 layers), one at 8×8 (4 layers)
    saved = Checkpointer(tmp_path / "a" / "8x8_fade" / "checkpoints", create=False)
    assert saved.all_steps() == [6, 8]
    at_6 = saved.restore(6)
    assert float(at_6["extra"]["alpha"]) == 0.5 and int(at_6["extra"]["resolution"]) == 8

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    resumed = ProgressiveGAN(TINY, images, jax.random.key(0)).fit(
        str(tmp_path / "b"), config, resume_from=6, progress=False
    )
    assert resumed.step == 12
    assert_same_state(resumed.state, straight.state)
    for name in ("8x8_fade", "8x8_stable"):
        assert loss_rows(tmp_path / "b" / name) == loss_rows(tmp_path / "a" / name)
    assert any(p.name.startswith("8x8_stable.abandoned") for p in (tmp_path / "b").iterdir())


@pytest.mark.expensive
def test_train_pggan_cli_outputs_stages_and_schedule(tmp_path, classifier8):
    """A tiny 4×4 → 8×8 run: the schedule, the per-stage numbers and figures, evaluation
    rows with images seen, resolution and α (mid-fade at step 8).  Resuming is the shared
    fit loop's, pinned mid-fade above."""
    from experiments import train_pggan

    workdir, out = tmp_path / "run", tmp_path / "out"
    common = [
        "--resolution", "8", "--batch-sizes", "16,8", "--phase-images", "64",
        "--latent-dim", "8", "--fmap-base", "32", "--fmap-max", "8", "--log-every", "2",
        "--eval-every", "4", "--sample-every", "20", "--checkpoint-every", "20",
        "--eval-samples", "64", "--classifier", classifier8, "--dataset", "digits",
        "--workdir", str(workdir), "--out", str(out), "--no-progress",
    ]  # fmt: skip
    returned = train_pggan.main([*common, "--steps", "20", "--writers", "tensorboard"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert returned["fcd"] == metrics["fcd"] and metrics["classes"] == returned["classes"]
    # 4×4: 4 steps of 16; 8×8: fade 8 steps of 8, then stable to step 20
    assert [(p["phase"], p["start"], p["end"]) for p in metrics["schedule"]] == [
        ("4x4_stable", 0, 4), ("8x8_fade", 4, 12), ("8x8_stable", 12, 20),
    ]  # fmt: skip
    assert metrics["images"] == 4 * 16 + 16 * 8
    assert [(s["resolution"], s["images"]) for s in metrics["stages"]] == [(4, 64), (8, 192)]
    history = metrics["history"]
    assert [(e["step"], e["resolution"], e["alpha"]) for e in history] == [
        (4, 4, 1.0), (8, 8, 0.5), (12, 8, 1.0), (16, 8, 1.0), (20, 8, 1.0),
    ]  # fmt: skip
    assert [e["images"] for e in history] == [64, 96, 128, 160, 192]
    steps = [
        r[0] for name in ("4x4_stable", "8x8_fade", "8x8_stable") for r in loss_rows(workdir / name)
    ]
    assert steps == list(range(1, 21))
    # one TensorBoard run across the phases: every evaluation at its step
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(workdir), size_guidance={"scalars": 0})
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("eval/fcd")] == [
        (e["step"], float(np.float32(e["fcd"]))) for e in history
    ]
    assert [e.step for e in events.Scalars("train/loss_d")] == list(range(1, 21))
    for name in ("samples.png", "curves.png", "eval_curves.png", "stages.png", "fade_in.png"):
        assert (out / name).stat().st_size > 1000

    scratch = tmp_path / "scratch"
    batch = ("--batch-sizes", "'many' is not a comma-separated list of positive batch sizes")
    bad = bad_commands(workdir, scratch, "--lr-g", batch) + [
        (["--loss", "foo"], "unknown --loss 'foo'"),
        (["--beta2", "1"], "must be in [0, 1)"),
        (["--drift", "-0.1"], "must be a finite number ≥ 0"),
        (["--resume", "--phase-images", "32"], "--resume with different settings"),
    ]
    command = [*common, "--steps", "20"]
    assert_refused_without_a_trace("experiments.train_pggan", command, workdir, bad)
