"""Experiment CLIs as a user runs them: --help, one-line user errors, outputs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from gan_jax import cli


def run_module(module, args, env, cwd, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
    )


def test_help(repo_root, subprocess_env):
    result = run_module("experiments.optimal_discriminator", ["--help"], subprocess_env, repo_root)
    assert result.returncode == 0
    assert "--steps" in result.stdout and "--out" in result.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--steps", "-3"], "must be a positive integer"),
        (["--steps", "150", "--log-every", "100"], "multiple of --log-every"),
    ],
)
def test_user_errors_are_one_line(repo_root, subprocess_env, args, needle):
    result = run_module("experiments.optimal_discriminator", args, subprocess_env, repo_root)
    assert result.returncode == cli.USER_ERROR_EXIT_CODE
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in result.stderr


def test_small_run_writes_figures_and_metrics(repo_root, subprocess_env, tmp_path):
    out = tmp_path / "od"
    result = run_module(
        "experiments.optimal_discriminator",
        [
            "--out",
            str(out),
            "--steps",
            "200",
            "--log-every",
            "100",
            "--batch-size",
            "256",
            "--eval-samples",
            "20000",
            "--mus",
            "0",
            "1.5",
        ],
        subprocess_env,
        repo_root,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["per_mu"]) == {"0", "1.5"}
    # The theory column is the closed form, whatever the training did.
    assert metrics["per_mu"]["0"]["value_theory"] == pytest.approx(-math.log(4.0), abs=1e-6)
    assert metrics["per_mu"]["1.5"]["value_theory"] > -math.log(4.0)
    for name in ("optimal_discriminator.png", "training_loss.png"):
        assert (out / name).stat().st_size > 10_000


@pytest.mark.slow
def test_full_study_meets_the_acceptance_bounds(repo_root, subprocess_env, tmp_path):
    """The default study: max|D - D*| ≤ 0.05 and |V̂ - V*| ≤ 0.02 for every μ, under 3 min."""
    import time

    start = time.perf_counter()
    result = run_module(
        "experiments.optimal_discriminator", ["--out", str(tmp_path)], subprocess_env, repo_root
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["per_mu"]) == {"0", "0.5", "1", "2"}
    for row in metrics["per_mu"].values():
        assert row["max_abs_error"] <= 0.05
        assert row["value_abs_error"] <= 0.02
    assert metrics["passes"]
    assert elapsed < 180
