"""fit's callbacks (:mod:`gan_jax.training.callbacks`) and metric writers: a user's callback
sees every step and evaluation that metrics.jsonl holds, can stop a run early (saved), and
one that raises stops it with the last good checkpoint intact."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from random_inputs import uniform
from run_checks import assert_same_state, loss_rows

from gan_jax import training
from gan_jax.models.image_gan import ImageGANConfig, build_image_gan
from gan_jax.training.checkpoint import Checkpointer

TINY = ImageGANConfig(resolution=8, channels=1, latent_dim=4, width=4, batch_size=8)
CONFIG = training.FitConfig(30, log_every=10, checkpoint_every=10, eval_every=10, sample_every=10)


def tiny_model():
    return build_image_gan(
        TINY, uniform(7, (32, 8, 8, 1), minval=-1.0, maxval=1.0), jax.random.key(0)
    )


def evaluate(state):
    """A number that changes with the state: the mean of G's first leaf."""
    return {"g_mean": float(np.mean(jax.tree.leaves(state.g)[0])), "step_seen": int(state.step)}


class Recorder(training.Callback):
    def __init__(self, stop_at=None, raise_at=None):
        self.started, self.rows, self.evaluations, self.samples = [], [], [], []
        self.stop_at, self.raise_at, self.closed = stop_at, raise_at, 0

    def on_start(self, workdir, step, resumed):
        self.started.append((step, resumed))

    def on_steps(self, rows):
        self.rows += [dict(r) for r in rows]

    def on_evaluation(self, step, numbers, state):
        if step == self.raise_at:
            raise RuntimeError(f"callback failed at {step}")
        self.evaluations.append((step, dict(numbers), int(state.step)))
        return step == self.stop_at

    def on_samples(self, step, images):
        self.samples.append((step, images.shape))

    def close(self):
        self.closed += 1


@pytest.mark.integration
def test_a_callback_sees_every_step_evaluation_and_sample_grid_of_metrics_jsonl(tmp_path):
    model, recorder = tiny_model(), Recorder()
    result = training.fit(
        model.step, model.state, tmp_path, CONFIG, evaluate=evaluate, progress=False,
        sample_fn=lambda state: np.zeros((4, 8, 8, 1)), callbacks=[recorder],
    )  # fmt: skip
    rows = training.read_metrics(tmp_path)
    assert recorder.rows == [r for r in rows if not r.get("eval")]
    assert [r["step"] for r in recorder.rows] == list(range(1, 31))
    evaluations = [r for r in rows if r.get("eval")]
    assert [(s, {"step": s, "eval": True, **n}) for s, n, _ in recorder.evaluations] == [
        (r["step"], r) for r in evaluations
    ]
    assert [s for s, _, state_step in recorder.evaluations] == [10, 20, 30]
    assert all(s == state_step for s, _, state_step in recorder.evaluations)  # its state
    assert recorder.samples == [(10, (4, 8, 8, 1)), (20, (4, 8, 8, 1)), (30, (4, 8, 8, 1))]
    assert recorder.started == [(0, False)] and recorder.closed == 1
    assert not result.stopped_early and not result.interrupted and result.step == 30


@pytest.mark.integration
def test_a_callback_stops_early_saved_and_one_that_raises_leaves_the_last_good_checkpoint(
    tmp_path,
):
    model = tiny_model()
    straight = training.fit(model.step, model.state, tmp_path / "a", CONFIG, progress=False)

    stopper = Recorder(stop_at=20)
    early = training.fit(
        model.step, model.state, tmp_path / "b", CONFIG, evaluate=evaluate, progress=False,
        callbacks=[stopper],
    )  # fmt: skip
    assert early.stopped_early and not early.interrupted and early.step == 20
    assert Checkpointer(tmp_path / "b" / "checkpoints").all_steps() == [0, 10, 20]
    assert stopper.closed == 1

    failing = Recorder(raise_at=20)
    with pytest.raises(RuntimeError, match="callback failed at 20"):
        training.fit(
            model.step, model.state, tmp_path / "c", CONFIG, evaluate=evaluate,
            progress=False, callbacks=[failing],
        )  # fmt: skip
    assert failing.closed == 1  # closed however the run ended
    # step 20 was not saved: the checkpoint before it is what is on disk, intact, and the
    # run resumes from it to the uninterrupted run's state and losses
    assert Checkpointer(tmp_path / "c" / "checkpoints").all_steps() == [0, 10]
    resumed = training.fit(
        model.step, model.state, tmp_path / "c", CONFIG, resume=True, progress=False
    )
    assert_same_state(straight.state, resumed.state)
    assert loss_rows(tmp_path / "c") == loss_rows(tmp_path / "a")


def test_writers_flag_names_the_writers_and_their_packages():
    assert training.writers_flag("tensorboard") == "jsonl,tensorboard"
    assert training.writers_flag("jsonl, tensorboard,jsonl") == "jsonl,tensorboard"
    with pytest.raises(
        argparse.ArgumentTypeError, match="unknown writer 'csv'; choose from: jsonl"
    ):
        training.writers_flag("jsonl,csv")
    if importlib.util.find_spec("wandb") is None:
        with pytest.raises(
            argparse.ArgumentTypeError, match="needs the wandb package: pip install wandb"
        ):
            training.writers_flag("wandb")


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is not installed")
def test_wandb_offline_run_holds_the_same_scalars(tmp_path, monkeypatch):
    """W&B in offline mode: its run's transaction log, read back by W&B's own CLI (``wandb
    leet inspect --json``), holds every number of metrics.jsonl at its step with its value,
    the sample grid at the sample steps, and the run's settings as its config."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    model = tiny_model()
    writer = training.WandbWriter(str(tmp_path), {"seed": 0, "loss": "ns"})
    training.fit(
        model.step, model.state, tmp_path, CONFIG, evaluate=evaluate, progress=False,
        sample_fn=lambda state: np.zeros((4, 8, 8, 1)), callbacks=[writer],
    )  # fmt: skip
    (log,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    inspect = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(log)]
    records = [
        json.loads(line)
        for line in subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.splitlines()
        if line.startswith("{")
    ]  # fmt: skip
    history = {
        r["history"]["item"]["_step"]: r["history"]["item"] for r in records if r["type"] == "history"
    }  # fmt: skip
    rows = training.read_metrics(tmp_path)
    assert sorted(history) == list(range(1, 31))
    for row in rows:
        prefix = "eval" if row.get("eval") else "train"
        for name, value in row.items():
            if name not in ("step", "eval"):
                assert history[row["step"]][f"{prefix}/{name}"] == value, (row["step"], name)
    assert [s for s in sorted(history) if "samples.path" in history[s]] == [10, 20, 30]
    (run,) = [r["run"] for r in records if r["type"] == "run"]
    assert {k: run["config"]["update"][k] for k in ("seed", "loss")} == {"seed": 0, "loss": "ns"}
