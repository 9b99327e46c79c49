"""The fit loop never loses work: exact resume, the NaN guard, Ctrl-C saves, clear errors,
data-parallel sharding equal to one device, and tfds datasets end to end (mock data)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from cli_checks import (
    assert_one_line_user_error,
    assert_refused_without_a_trace,
    bad_commands,
    run_main_in_process,
    run_module,
)
from random_inputs import uniform
from run_checks import assert_same_state, loss_rows

from gan_jax import training
from gan_jax.data import random_batch
from gan_jax.errors import UserError
from gan_jax.models.image_gan import ImageGANConfig, build_image_gan
from gan_jax.training.checkpoint import Checkpointer, CheckpointError

TINY = ImageGANConfig(resolution=8, channels=1, latent_dim=4, width=4, batch_size=8)


def tiny_images(n: int = 32) -> jax.Array:
    return uniform(7, (n, 8, 8, 1), minval=-1.0, maxval=1.0)


@pytest.mark.integration
def test_resume_and_resume_from_equal_one_run_for_any_step_count(tmp_path):
    """74 straight steps == 37 + 37 resumed == 37, newest step damaged, --resume-from 20,
    with --log-every 10: neither 37 nor 74 is a multiple of it."""
    model = build_image_gan(TINY, tiny_images(), jax.random.key(0))
    config = training.FitConfig(74, log_every=10, checkpoint_every=20, eval_every=0, sample_every=0)
    straight = training.fit(model.step, model.state, tmp_path / "a", config, progress=False)
    first = dataclasses.replace(config, steps=37)
    half = training.fit(model.step, model.state, tmp_path / "b", first, progress=False)
    assert half.step == 37
    assert Checkpointer(tmp_path / "b" / "checkpoints").all_steps() == [0, 20, 37]
    shutil.copytree(tmp_path / "b", tmp_path / "c")
    resumed = training.fit(
        model.step, model.state, tmp_path / "b", config, resume=True, progress=False
    )
    rows_a = loss_rows(tmp_path / "a")
    assert [r[0] for r in rows_a] == list(range(1, 75))
    assert loss_rows(tmp_path / "b") == rows_a  # bit-identical loss sequence
    assert_same_state(straight.state, resumed.state)

    # The newest step (37) rots: --resume refuses it and names the intact steps; resuming
    # from step 20 gives the uninterrupted run again and keeps the damaged step aside.
    for root, _, names in os.walk(tmp_path / "c" / "checkpoints" / "37"):
        for name in names:
            if f"{os.sep}d" in root:
                with open(os.path.join(root, name), "r+b") as f:
                    f.write(b"\xff\xff\xff")
    with pytest.raises(CheckpointError, match=r"step 37 .*intact earlier steps: \[0, 20\]"):
        training.fit(model.step, model.state, tmp_path / "c", config, resume=True, progress=False)
    fallback = training.fit(
        model.step, model.state, tmp_path / "c", config, resume_from=20, progress=False
    )
    assert loss_rows(tmp_path / "c") == rows_a
    assert_same_state(straight.state, fallback.state)
    assert os.listdir(tmp_path / "c" / "checkpoints.abandoned")[0].startswith("37-")


@pytest.mark.integration
def test_nan_guard_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    model = build_image_gan(TINY, tiny_images(), jax.random.key(0))
    images = tiny_images()

    def poisoned_batch(key, state):
        key_data, key_noise = jax.random.split(key)
        real = random_batch(key_data, images, TINY.batch_size)
        real = jnp.where(state.step >= 35, jnp.nan, real)  # the 36th step sees a NaN
        return {"real": real, "key": key_noise}

    step = training.make_train_step(model.game, model.scheme, poisoned_batch)
    with pytest.raises(training.NonFiniteLossError, match="at step 36") as err:
        training.fit(step, model.state, tmp_path, training.FitConfig(60, 10, 20, 0, 0))
    assert "last good checkpoint (step 20)" in str(err.value)
    bar = capsys.readouterr().err  # the progress bar was closed before the error: the
    assert "30/60" in bar and bar.endswith("\n")  # CLI's error line starts a line of its own
    checkpointer = Checkpointer(tmp_path / "checkpoints", create=False)
    assert checkpointer.all_steps()[-1] == 20
    restored = checkpointer.restore(template=model.state)
    assert int(restored.step) == 20
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves((restored.g, restored.d)))
    # Nothing past the last finished chunk was logged; nothing from the bad chunk at all.
    assert max(r[0] for r in loss_rows(tmp_path)) == 30


@pytest.mark.integration
def test_fit_refuses_to_overwrite_a_run_and_to_resume_nothing(tmp_path):
    model = build_image_gan(TINY, tiny_images(), jax.random.key(0))
    config = training.FitConfig(10, 10, 10, 0, 0)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        training.fit(model.step, model.state, tmp_path / "x", config, resume=True, progress=False)
    training.fit(model.step, model.state, tmp_path / "y", config, progress=False)
    with pytest.raises(UserError, match="--resume"):
        training.fit(model.step, model.state, tmp_path / "y", config, progress=False)


@pytest.mark.parametrize("kind", training.LR_SCHEDULES)
def test_learning_rate_schedules_are_their_closed_forms(kind):
    eta, steps, final = 0.01, 100, 0.1
    schedule = training.learning_rate_schedule(kind, eta, steps, final)
    for t in (0, 25, 50, 100, 150):
        s = min(t, steps) / steps
        expected = {
            "constant": eta,
            "linear": eta * (1 - s) + final * eta * s,
            "cosine": eta * (final + (1 - final) * 0.5 * (1 + np.cos(np.pi * s))),
        }[kind]
        value = schedule if kind == "constant" else schedule(t)
        np.testing.assert_allclose(value, expected, rtol=1e-6)
    # through optax: Adam's first step is −η·sign(∇), its 51st −η(50)·m̂/(√v̂ + ε)
    import optax

    optimizer = optax.adam(schedule, eps=0.0)
    state = optimizer.init(jnp.zeros(()))
    for _ in range(51):
        update, state = optimizer.update(jnp.float32(2.0), state)
    expected = schedule if kind == "constant" else schedule(50)
    np.testing.assert_allclose(update, -expected, rtol=1e-5)
    with pytest.raises(ValueError, match="constant, linear, cosine"):
        training.learning_rate_schedule("step", eta, steps)


def test_fit_config_intervals_must_divide():
    with pytest.raises(UserError, match="--checkpoint-every 45 must be a multiple"):
        training.FitConfig(steps=100, log_every=30, checkpoint_every=45)
    assert training.FitConfig(steps=7, log_every=10).steps == 7  # any step count


# --------------------------------------------------------------------------- the CLI


DCGAN_CLI = pytest.mark.xdist_group("dcgan_cli")  # one worker: shared classifier and cache


def dcgan_args(workdir, out, classifier, steps=40):
    """A tiny DCGAN-8 run: the shapes the multi-process and latent-space CLI tests use, so
    the session's compilation cache serves their programs to each other."""
    return [
        "--dataset",
        "digits",
        "--steps",
        str(steps),
        "--resolution",
        "8",
        "--batch-size",
        "16",
        "--width",
        "8",
        "--log-every",
        "10",
        "--eval-every",
        "20",
        "--sample-every",
        "20",
        "--checkpoint-every",
        "20",
        "--eval-samples",
        "50",
        "--workdir",
        str(workdir),
        "--out",
        str(out),
        "--classifier",
        classifier,
        "--no-progress",
    ]


@DCGAN_CLI
@pytest.mark.expensive
def test_cli_outputs_partial_window_and_damaged_checkpoint_fallback(tmp_path, classifier8):
    """25 steps with --log-every 10: the last, partial window is logged, evaluated, sampled
    and checkpointed, in metrics.jsonl and in TensorBoard's event files alike.  Then the
    newest checkpoint rots: --resume refuses it in one line naming the intact steps, and
    --resume-from 20 reproduces the uninterrupted run (and its events past step 20 are
    purged, as its metrics.jsonl rows are)."""
    from experiments import train_dcgan

    workdir, out = tmp_path / "run", tmp_path / "out"
    writers = ["--writers", "jsonl,tensorboard"]
    train_dcgan.main(dcgan_args(workdir, out, classifier8, steps=25) + writers)  # in-process
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 25 and 0 <= metrics["classes"] <= 10
    assert metrics["fcd"] > 0 and metrics["fcd_real_test"] > 0
    # the real floor at the generated set's size (50 of the 360 held-out digits)
    assert metrics["eval_samples"] == metrics["real_test_samples"] == 50
    assert [e["step"] for e in metrics["history"]] == [20, 25]
    assert [r[0] for r in loss_rows(workdir)] == list(range(1, 26))
    for name in ("samples.png", "curves.png", "eval_curves.png"):
        assert (out / name).stat().st_size > 1000
    assert (workdir / "samples" / "step_0000025.png").exists()
    assert Checkpointer(workdir / "checkpoints").all_steps() == [0, 20, 25]
    assert_tensorboard_matches_metrics(workdir, sample_steps=[20, 25])

    # Commands the CLI refuses leave the run as it was: the --resume-from 20 below then
    # reproduces the uninterrupted run.
    scratch = tmp_path / "scratch"
    bad = bad_commands(workdir, scratch, "--lr-g") + [
        (["--loss", "foo"], "unknown --loss 'foo'; choose one of: ns"),
        (["--beta1", "1.5"], "must be in [0, 1)"),
        (["--lr-g", "0.001"], "already holds checkpoints (steps [0, 20, 25]): pass --resume"),
        (["--resume", "--width", "16"], "--resume with different settings (--width 8 → 16)"),
        (["--tpu", "--resume"], "--tpu needs TPU devices"),
    ]
    command = dcgan_args(workdir, out, classifier8, steps=25) + writers
    assert_refused_without_a_trace("experiments.train_dcgan", command, workdir, bad)

    # Damage every file of the newest checkpoint: --resume fails with one clear line.
    for root, _, files in os.walk(workdir / "checkpoints" / "25"):
        for name in files:
            with open(os.path.join(root, name), "wb") as f:
                f.write(b"not a checkpoint")
    result = run_main_in_process(
        "experiments.train_dcgan",
        dcgan_args(workdir, out, classifier8, steps=25) + ["--resume"],
    )
    assert_one_line_user_error(result, "intact earlier steps: [0, 20]")
    assert "--resume-from STEP" in result.stderr

    train_dcgan.main(command + ["--resume-from", "20"])
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["steps"] == 25
    assert resumed["fcd"] == metrics["fcd"]  # the same state as the uninterrupted run
    assert resumed["loss_d_mean_last_100_steps"] == metrics["loss_d_mean_last_100_steps"]
    assert os.listdir(workdir / "checkpoints.abandoned")[0].startswith("25-")
    assert_tensorboard_matches_metrics(workdir, sample_steps=[20, 25])


def assert_tensorboard_matches_metrics(workdir, sample_steps):
    """TensorBoard's own reader finds every number of ``metrics.jsonl`` in the run's event
    files, at its step, with its value as float32 (TensorBoard's scalar type), nothing
    else, and the sample grid at ``sample_steps`` (10 columns of 8×8 digits, 1-pixel gaps)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(workdir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    expected = {}
    for row in training.read_metrics(workdir):
        prefix = "eval" if row.get("eval") else "train"
        for name, value in row.items():
            if name not in ("step", "eval"):
                expected.setdefault(f"{prefix}/{name}", []).append(
                    (row["step"], float(np.float32(value)))
                )
    assert "eval/fcd" in expected and "train/loss_d" in expected
    assert sorted(events.Tags()["scalars"]) == sorted(expected)
    for tag, points in expected.items():
        assert [(e.step, e.value) for e in events.Scalars(tag)] == points, tag
    images = events.Images("samples")
    assert [image.step for image in images] == sample_steps
    assert (images[-1].width, images[-1].height) == (10 * 9 + 1, 10 * 9 + 1)


@DCGAN_CLI
@pytest.mark.expensive
def test_sigint_saves_a_checkpoint_and_resume_finishes(
    repo_root, subprocess_env, tmp_path, classifier8
):
    workdir, out = tmp_path / "run", tmp_path / "out"
    args = dcgan_args(workdir, out, classifier8, steps=100000)
    args[args.index("--checkpoint-every") + 1] = "100000"  # only the Ctrl-C save
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments.train_dcgan", *args],
        cwd=repo_root,
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics_file = workdir / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        if metrics_file.exists() and len(metrics_file.read_text().splitlines()) >= 30:
            break
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "interrupted at step" in stdout and "--resume" in stdout
    steps = Checkpointer(workdir / "checkpoints", create=False).all_steps()
    saved = steps[-1]
    assert saved >= 30 and saved % 10 == 0
    logged = [r for r in training.read_metrics(workdir) if "loss_d" in r]
    assert logged[-1]["step"] == saved

    from experiments import train_dcgan

    # --steps is not run-defining, so a longer run can continue the interrupted one; and
    # --no-eval may finish a run whose log already holds evaluations.
    args = dcgan_args(workdir, out, classifier8, steps=saved + 20) + ["--resume", "--no-eval"]
    train_dcgan.main(args)
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["steps"] == saved + 20 and "fcd" not in resumed


def test_tpu_flag_without_tpu_is_one_line(repo_root, subprocess_env, tmp_path):
    start = time.time()
    result = run_module(
        "experiments.train_dcgan",
        ["--tpu", "--workdir", str(tmp_path)],
        subprocess_env,
        repo_root,
    )
    assert_one_line_user_error(result, "--tpu needs TPU devices")
    assert "cpu" in result.stderr
    assert time.time() - start < 60  # fails at once, before data or compilation


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--scheme", "sideways"], "unknown --scheme"),
        (["--loss", "nope"], "unknown --loss"),
        (["--dataset", "imagenet"], "unknown dataset"),
        (["--devices", "64"], "--devices 64"),
        (["--steps", "0"], "must be a positive integer"),
        (["--resolution", "48"], "resolution must be 4·2^k"),
        (["--r1-gamma", "1", "--no-eval"], "--no-d-batch-norm"),
        (["--pack", "3", "--no-eval"], "--pack 3"),
        (["--g-steps", "2", "--scheme", "simultaneous", "--no-eval"], "--scheme alternating"),
        (["--d-steps", "2", "--drift-regularizer", "1", "--no-eval"], "one update of each"),
        (["--nets", "dcgan_tf", "--upsample", "subpixel", "--no-eval"], "not --nets dcgan_tf"),
        (["--nets", "dcgan32"], "unknown --nets"),
    ],
)
def test_cli_user_errors(tmp_path, args, needle):
    result = run_main_in_process("experiments.train_dcgan", [*args, "--workdir", str(tmp_path)])
    assert_one_line_user_error(result, needle)


def test_sharded_step_equals_unsharded_on_four_host_devices(repo_root, subprocess_env):
    env = dict(
        subprocess_env,
        XLA_FLAGS=f"{subprocess_env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4",
        JAX_ENABLE_X64="1",  # the step in float64: see sharding_check.py
    )
    result = subprocess.run(
        [sys.executable, os.path.join("tests", "training", "sharding_check.py")],
        cwd=repo_root,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["devices"] == 4
    assert report["state_devices"] == 4  # replicated on every device
    assert report["all_reduces"] > 0  # the batch was split: XLA inserted the collectives
    assert report["dtype"] == "float64"  # see sharding_check.py for the bound
    assert report["max_abs_difference"] < 1e-11
    assert report["params_changed"] > 1e-4  # the step moved the parameters


@DCGAN_CLI
@pytest.mark.parametrize(  # cifar10's loader and the RGB DCGAN are pinned in the default suite
    "name", ["mnist_tfds", pytest.param("cifar10", marks=pytest.mark.slow)]
)
@pytest.mark.integration
def test_tfds_datasets_train_under_mock_data(tmp_path, name):
    from experiments import train_dcgan
    from experiments.train_classifier import train_and_save

    with tfds.testing.mock_data(num_examples=64):
        train_and_save(name, 8, str(tmp_path / "cls"), steps=5)
        args = dcgan_args(tmp_path / "run", tmp_path / "out", str(tmp_path / "cls"), steps=20)
        # the CLI tests' DCGAN-8, so mnist_tfds' programs come from the compilation cache
        metrics = train_dcgan.main([*args, "--dataset", name])
    assert metrics["steps"] == 20 and metrics["dataset"] == name
    assert np.isfinite(metrics["fcd"]) and np.isfinite(metrics["loss_d_mean_last_100_steps"])
    channels = 3 if name == "cifar10" else 1
    ckpt = Checkpointer(tmp_path / "run" / "checkpoints", create=False)
    restored = ckpt.restore()
    assert ckpt.all_steps()[-1] == 20
    first = restored["g"]["params"]["Dense_0"]["kernel"]
    assert first.shape[0] == 100
    last_conv = restored["g"]["params"]["ConvTranspose4x4_0"]["kernel"]  # 4² → 8²
    assert last_conv.shape[-1] == channels


def test_device_selection_errors_and_distributed_opt_in():
    from gan_jax.training import parallel

    with pytest.raises(UserError, match="--tpu needs TPU devices"):
        parallel.select_devices(tpu=True)
    count = len(jax.devices())
    with pytest.raises(UserError, match=f"--devices {count + 1}"):
        parallel.select_devices(num_devices=count + 1)
    assert parallel.select_devices(num_devices=1) == jax.devices()[:1]
    assert parallel.initialize_distributed({}) is False  # nothing asks for multi-host


def test_eval_curves_of_the_trained_g_use_its_own_measures():
    from gan_jax.runner.image_runs import evaluation_runs

    rows = [{"images": 64, "fcd": 1.0, "precision": 0.5, "classes": 9,
             "fcd_raw": 2.0, "precision_raw": 0.25, "classes_raw": 8}]  # fmt: skip
    runs = evaluation_runs("alternating", rows)
    average, trained = runs["alternating, G's average"], runs["alternating, trained G"]
    assert (average[0]["fcd"], average[0]["precision"], average[0]["classes"]) == (1.0, 0.5, 9)
    assert (trained[0]["fcd"], trained[0]["precision"], trained[0]["classes"]) == (2.0, 0.25, 8)
    assert evaluation_runs("alternating", [{"fcd": 1.0}]) == {"alternating": [{"fcd": 1.0}]}
