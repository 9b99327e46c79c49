"""Experiment CLIs as a user runs them: --help, one-line user errors, outputs."""

from __future__ import annotations

import importlib
import json
import math
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_checks import (
    assert_one_line_user_error,
    run_main_in_process,
    run_module,
)

from gan_jax import cli, gan, losses


def test_help(repo_root, subprocess_env):
    result = run_module("experiments.optimal_discriminator", ["--help"], subprocess_env, repo_root)
    assert result.returncode == 0
    assert "--steps" in result.stdout and "--out" in result.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--steps", "-3"], "must be a positive integer"),
        (["--batch-size", "many"], "invalid positive_int value: 'many'"),
    ],
)
def test_user_errors_are_one_line(args, needle):
    result = run_main_in_process("experiments.optimal_discriminator", args)
    assert_one_line_user_error(result, needle)


def test_small_run_writes_figures_and_metrics(tmp_path):
    from experiments import optimal_discriminator

    out = tmp_path / "od"
    optimal_discriminator.main([  # in-process: a subprocess would spend seconds importing jax
        "--out", str(out), "--steps", "230", "--log-every", "100", "--batch-size", "256",
        "--eval-samples", "20000", "--mus", "0", "1.5",
    ])  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["per_mu"]) == {"0", "1.5"}
    # The theory column is the closed form, whatever the training did.
    assert metrics["per_mu"]["0"]["value_theory"] == pytest.approx(-math.log(4.0), abs=1e-6)
    assert metrics["per_mu"]["1.5"]["value_theory"] > -math.log(4.0)
    for name in ("optimal_discriminator.png", "training_loss.png"):
        assert (out / name).stat().st_size > 10_000


@pytest.mark.slow
def test_full_study_meets_the_acceptance_bounds(repo_root, timed_subprocess_env, tmp_path):
    """The default study: max|D - D*| ≤ 0.05 and |V̂ - V*| ≤ 0.02 for every μ, under 3 min."""

    start = time.perf_counter()
    result = run_module(
        "experiments.optimal_discriminator",
        ["--out", str(tmp_path)],
        timed_subprocess_env,
        repo_root,
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


@pytest.mark.parametrize("module", ["experiments.bilinear_game", "experiments.dirac_gan"])
def test_dynamics_experiments_help_and_bad_flags(module):
    result = run_main_in_process(module, ["--help"])
    assert result.returncode == 0 and "--out" in result.stdout
    result = run_main_in_process(module, ["--steps", "zero"])
    assert result.returncode == cli.USER_ERROR_EXIT_CODE
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_momentum_flags_take_negative_momentum_but_not_beta_one():
    assert_one_line_user_error(
        run_main_in_process("experiments.bilinear_game", ["--momentum", "-1"]),
        "argument --momentum: must be in (-1, 1), got -1",
    )
    assert cli.momentum("-0.5") == -0.5 and cli.momentum("0.9") == 0.9


def test_bilinear_game_study(tmp_path):
    result = run_main_in_process(
        "experiments.bilinear_game",
        ["--out", str(tmp_path), "--steps", "200", "--sweep-points", "32"],
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # The lecture's sign cycle of alternating GDA, in order.
    assert metrics["sign_cycle"]["sign_sequence"][:5] == [
        [1, 1],
        [-1, 1],
        [-1, -1],
        [1, -1],
        [1, 1],
    ]
    period = metrics["sign_cycle"]["period"]
    for measured, exact in zip(period["measured_steps_per_revolution"], period["exact"]):
        assert measured == pytest.approx(exact, rel=0.02)
    schemes = metrics["schemes"]
    assert schemes["simultaneous"]["final_distance"] > schemes["simultaneous"]["initial_distance"]
    for name in ("extragradient", "optimistic", "consensus", "alternating + negative momentum"):
        assert schemes[name]["converges"]
        assert schemes[name]["final_distance"] < schemes[name]["initial_distance"]
    for name in ("simultaneous", "extragradient", "optimistic", "consensus"):
        assert schemes[name]["sweep_max_abs_error_rho"] < 1e-6  # rollouts match closed forms
    for name in ("trajectories", "distance", "spectral_radius", "sign_cycle"):
        assert (tmp_path / f"{name}.png").stat().st_size > 20_000


def test_dirac_gan_study(tmp_path):
    from experiments import dirac_gan

    dirac_gan.main(["--out", str(tmp_path)])  # in-process (its toy device is a context)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    runs = metrics["runs"]
    for rule in ("simultaneous", "alternating (1 D step)", "alternating (5 D steps)"):
        assert not runs[f"GAN | {rule}"]["converged"]
        assert runs[f"R1 (γ=0.3) | {rule}"]["final_distance"] < 1e-3
    for name, row in metrics["eigenvalues"].items():
        if "closed_form" in row:
            assert row["max_abs_difference"] < 1e-6, name
    for name in (
        "dirac_simultaneous",
        "dirac_alternating_1_D_step",
        "dirac_alternating_5_D_steps",
        "eigenvalues",
    ):
        assert (tmp_path / f"{name}.png").stat().st_size > 20_000


def test_discretisation_drift_study(tmp_path):
    """The iterates follow the modified flow to second order and the game's own flow to
    first (fitted from two steps), and simultaneous GD spirals out with the modified flow:
    the drift explains all but a sliver of its distance from the game's flow."""
    from experiments import discretisation_drift

    args = ["--out", str(tmp_path), "--steps", "100", "--order-h", "0.2", "0.1", "--horizon", "1"]
    args += ["--seeds", "0", "--diagnose-steps", "0"]  # the toy games alone
    metrics = discretisation_drift.main(args)
    assert json.loads((tmp_path / "metrics.json").read_text())["runs"] == metrics["runs"]
    assert set(metrics["runs"]) == {
        f"{game}/{scheme}"
        for game in ("bilinear", "dirac_gan")
        for scheme in ("simultaneous", "alternating", "extragradient")
    }
    for name, row in metrics["runs"].items():
        assert row["order_original"] == pytest.approx(1.0, abs=0.15), name
        assert row["order_modified"] == pytest.approx(2.0, abs=0.2), name
    spiral = metrics["runs"]["bilinear/simultaneous"]
    # ‖z‖ grows as √(1 + h²)ⁿ: 2^{1/2}·1.01^{50} from (1, 1) at h = 0.1
    assert spiral["final_norm"]["discrete"] == pytest.approx(2**0.5 * 1.01**50, rel=1e-9)
    assert spiral["final_norm"]["original"] == pytest.approx(2**0.5, rel=1e-8)
    assert spiral["max_error_modified"] < 0.1 * spiral["max_error_original"]
    for name in ("trajectories", "errors", "orders"):
        assert (tmp_path / f"{name}.png").stat().st_size > 20_000


def test_discretisation_drift_dcgan_part_runs_four_variants_and_reuses_them(tmp_path, classifier8):
    """The DCGAN comparison's plumbing on a tiny run: four variants (SGD, with and without
    the drift regulariser), the summary's arithmetic, the figure, and finished runs reused
    when the study runs again."""
    from experiments import discretisation_drift

    args = [
        "--out", str(tmp_path / "out"), "--workdir", str(tmp_path / "runs"), "--seeds", "1",
        "--lrs", "0.05",
        "--dcgan-steps", "20", "--eval-every", "10", "--eval-samples", "50", "--dataset",
        "digits", "--resolution", "8", "--width", "8", "--classifier", classifier8,
        "--no-progress",
    ]  # fmt: skip
    parsed = discretisation_drift.parse_args(args)
    metrics = {"dcgan": discretisation_drift.dcgan_part(parsed)}  # the toys: the test above
    summary = metrics["dcgan"]["summary"]["0.05"]
    fcd = {name: row["fcd"] for name, row in summary["variants"].items()}
    assert set(fcd) == {"simultaneous", "simultaneous + drift reg.", "alternating",
                        "alternating + drift reg."}  # fmt: skip
    assert all(np.isfinite(v) and v > 0 for v in fcd.values())
    gap = fcd["simultaneous"] - fcd["alternating"]
    assert summary["fcd_gap_simultaneous_minus_alternating"] == pytest.approx(gap)
    closed = summary["gap_closed_by_regulariser"]
    if gap > 0:
        assert closed == pytest.approx(
            (fcd["simultaneous"] - fcd["simultaneous + drift reg."]) / gap
        )
    else:
        assert closed is None
    runs = sorted((tmp_path / "runs").glob("lr0.05/*/seed0/figures/metrics.json"))
    assert [p.parent.parent.parent.name for p in runs] == [
        "alternating", "alternating_regularized", "simultaneous", "simultaneous_regularized",
    ]  # fmt: skip
    stamps = [p.stat().st_mtime_ns for p in runs]
    assert (tmp_path / "out" / "dcgan_fcd.png").stat().st_size > 20_000
    again = discretisation_drift.dcgan_part(parsed)  # every run finished: reused
    assert [p.stat().st_mtime_ns for p in runs] == stamps
    assert again["summary"] == metrics["dcgan"]["summary"]


def test_drift_along_runs_measures_every_rule_from_one_start(tmp_path):
    """The extragradient diagnosis' plumbing on a tiny DCGAN: each rule's drift norms, D's
    logits (now and at the lookahead ``z + F(z)``) and D's sharpness at step 0 and every 25
    steps through ``fit``'s evaluation.  At step 0 the rules share the state and are
    measured on the unregularised game, and their drifts differ only in sign
    (simultaneous, alternating with one step each, extragradient: ``|½η²|`` and
    ``|½η_gη_d|`` alike), so every norm, logit and the sharpness agree; the pushes of the
    self drift on the logits flip sign between gradient descent and extragradient."""
    from experiments import discretisation_drift

    args = discretisation_drift.parse_args([
        "--out", str(tmp_path), "--workdir", str(tmp_path / "runs"), "--dataset", "digits",
        "--diagnose-steps", "25", "--diagnose-width", "4", "--diagnose-resolution", "8",
        "--no-progress",
    ])  # fmt: skip
    rows = discretisation_drift.drift_along_runs(args)
    assert list(rows) == list(discretisation_drift.DIAGNOSED_RULES)
    names = ("field_d", "self_d", "interaction_d", "field_g", "self_g", "interaction_g",
             "sharpness_d")  # fmt: skip
    for evals in rows.values():
        assert [e["step"] for e in evals] == [0, 25]
        assert all(np.isfinite(e[n]) and e[n] >= 0 for e in evals for n in names)
    plain = rows["extragradient"]
    assert plain[1]["self_ratio_d"] == pytest.approx(plain[1]["self_d"] / plain[1]["field_d"])
    starts = [evals[0] for evals in rows.values()]
    shared = (*names, "logit_real", "logit_fake", "lookahead_logit_real", "lookahead_logit_fake",
              "push_field_fake")  # fmt: skip
    for start in starts[1:]:
        for name in shared:
            assert start[name] == pytest.approx(starts[0][name], rel=1e-4), name
    for kind in ("real", "fake"):
        simultaneous, extragradient = starts[0][f"push_self_{kind}"], starts[2][f"push_self_{kind}"]
        assert extragradient == pytest.approx(-simultaneous, rel=1e-4) and simultaneous != 0
    assert rows["extragradient"][1]["field_d"] != rows["simultaneous"][1]["field_d"]
    assert (tmp_path / "drift_along_runs.png").stat().st_size > 20_000


def check_mode_collapse_metrics(metrics, mixtures, methods):
    """Invariants of every mode-collapse result row."""
    bounds = {"ring": 8, "grid": 25}
    assert set(metrics["results"]) == set(mixtures)
    for kind in mixtures:
        assert set(metrics["results"][kind]) == set(methods)
        for row in metrics["results"][kind].values():
            num_modes = bounds[kind]
            for modes in row["modes_per_seed"]:
                assert modes == int(modes) and 0 <= modes <= num_modes
            assert all(0.0 <= q <= 1.0 for q in row["high_quality_per_seed"])
            assert all(
                -1e-6 <= kl <= math.log(num_modes) + 1e-5 for kl in row["reverse_kl_per_seed"]
            )
            assert row["modes"] == pytest.approx(
                sum(row["modes_per_seed"]) / len(row["modes_per_seed"])
            )
            # off the modes (> 6σ) and high quality (≤ 3σ) are disjoint
            for off, good in zip(row["off_mode_per_seed"], row["high_quality_per_seed"]):
                assert 0.0 <= off <= 1.0 - good + 1e-6
            assert all(s >= 0.0 for s in row["spread_per_seed"])
            assert len(row["modes_over_steps"]) == len(metrics["steps"])


@pytest.mark.expensive
def test_mode_collapse_small_run(tmp_path, capsys):
    from experiments import mode_collapse

    # minibatch stddev and R1 are wired like PacGAN and WGAN-GP; test_gan pins all of them
    methods = ["vanilla_sim", "unrolled5", "pacgan2", "wgan_gp"]
    # in-process: a subprocess would spend seconds importing jax
    mode_collapse.main([
        "--out", str(tmp_path), "--mixtures", "ring", "--methods", *methods, "--steps", "6",
        "--snapshots", "2", "--seeds", "2", "--batch-size", "16", "--width", "16", "--depth",
        "1", "--latent-dim", "4",
    ])  # fmt: skip
    stdout = capsys.readouterr().out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    check_mode_collapse_metrics(metrics, ["ring"], methods)
    assert metrics["steps"] == [0, 3, 6]  # two chunks of 6 // 2 steps
    assert "| ring | PacGAN2 |" in stdout and "EMA high quality %" in stdout
    assert "off the modes %" in stdout and "spread (σ)" in stdout
    for row in metrics["results"]["ring"].values():
        assert len(row["ema_high_quality_over_steps"]) == 3
        # step 0: G's average is G itself
        assert row["ema_high_quality_over_steps"][0] == row["high_quality_over_steps"][0]
    for name in ("snapshots_ring.png", "modes_ring.png", "quality_ring.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_mode_collapse_pacgan_setup_builds_the_papers_networks_and_settings():
    # PacGAN's code (fjxmlzn/PacGAN, synthetic experiments): ring radius 1, σ = 0.01; grid
    # −4…4, σ = 0.05; G 4 × 400 ReLU + BatchNorm, D 3 × 200 maxout (5 pieces), N(0, 0.02²)
    # weights, z ∈ R², Adam(1e-4, β₁ = 0.8), 100 packs per step, 400 epochs × 1,000 steps.
    from experiments import mode_collapse

    args = mode_collapse.parse_args(["--setup", "pacgan"])
    assert (args.steps, args.batch_size, args.latent_dim) == (400_000, 100, 2)
    assert args.methods == ["vanilla_alt", "pacgan2", "pacgan3", "pacgan4"]
    setup = mode_collapse.SETUPS["pacgan"]
    ring, grid = (mode_collapse.mixture_for(kind, setup) for kind in ("ring", "grid"))
    np.testing.assert_allclose(np.linalg.norm(ring.centers, axis=1), 1.0, rtol=1e-6)
    assert (ring.num_modes, ring.std, grid.num_modes, grid.std) == (8, 0.01, 25, 0.05)
    np.testing.assert_allclose(np.unique(grid.centers), [-4, -2, 0, 2, 4])
    _, scheme, G, D = mode_collapse.build(mode_collapse.METHODS["pacgan4"], args)
    g, d = gan.init_players(G, D, jax.random.key(0), ring.sample(jax.random.key(1), 400), 2, 4)
    shapes = jax.tree.map(jnp.shape, (g, d))
    g_mlp = shapes[0]["params"]["mlp"]
    assert g_mlp["hidden_0"] == {"kernel": (2, 400)}  # no bias: BatchNorm's β
    assert [g_mlp[f"hidden_{i}"]["kernel"] for i in (1, 2, 3)] == [(400, 400)] * 3
    assert g_mlp["head"]["kernel"] == (400, 2)
    assert set(shapes[0]["batch_stats"]["mlp"]) == {f"norm_{i}" for i in range(4)}
    d_mlp = shapes[1]["params"]["mlp"]
    assert d_mlp["hidden_0"]["linear"]["kernel"] == (8, 1000)  # 4 packed 2-D samples
    assert [d_mlp[f"hidden_{i}"]["linear"]["kernel"] for i in (1, 2)] == [(200, 1000)] * 2
    assert d_mlp["head"]["kernel"] == (200, 1)
    kernel = np.asarray(g["params"]["mlp"]["hidden_1"]["kernel"])
    assert abs(kernel.std() - 0.02) < 0.001 and abs(kernel.mean()) < 0.001
    # Adam(1e-4, β₁ = 0.8, β₂ = 0.999) for both players: two steps by the formula
    grads = [jnp.array([1.0, -3.0]), jnp.array([0.5, 2.0])]
    for optimizer in (scheme.opt_g, scheme.optimizer_d):
        state = optimizer.init(jnp.zeros(2))
        for grad in grads:
            update, state = optimizer.update(grad, state)
        m = 0.8 * 0.2 * grads[0] + 0.2 * grads[1]
        v = 0.999 * 0.001 * grads[0] ** 2 + 0.001 * grads[1] ** 2
        expected = -1e-4 * (m / (1 - 0.8**2)) / (jnp.sqrt(v / (1 - 0.999**2)) + 1e-8)
        np.testing.assert_allclose(update, expected, rtol=1e-5)


def test_mode_collapse_infogan_method_builds_the_code_head_and_adds_the_code_term():
    """``pacgan4_info``: G reads 8 codes, D has 1 + 4 × 8 outputs (a code per packed sample)
    and G's loss is the non-saturating loss plus InfoGAN's cross-entropy of each fake's
    code (λ = 1), computed here by hand from the networks the method builds."""
    from experiments import mode_collapse

    method = mode_collapse.METHODS["pacgan4_info"]
    args = mode_collapse.parse_args(["--methods", "pacgan4_info", "--width", "16"])
    game, _, G, D = mode_collapse.build(method, args)
    assert (G.discrete_codes, D.code_outputs) == (8, 32)
    real = mode_collapse.mixture_for("ring", mode_collapse.SETUPS["default"])
    batch = {"real": real.sample(jax.random.key(0), 16), "key": jax.random.key(1)}
    g, d = gan.init_players(G, D, jax.random.key(2), batch["real"], args.latent_dim, 4)
    assert d["params"]["mlp"]["head"]["kernel"].shape == (16, 33)
    more = mode_collapse.parse_args(["--methods", "pacgan4_info", "vanilla_alt", "--codes", "25"])
    assert mode_collapse.method_for("pacgan4_info", more).latent_codes == 25
    assert mode_collapse.method_for("pacgan4_info", more).label == "PacGAN4 + 25 InfoGAN codes"
    assert mode_collapse.method_for("vanilla_alt", more).latent_codes == 0
    # --std replaces the setup's σ (PacGAN's grid: 0.05) and keeps the modes' centres
    grid = mode_collapse.mixture_for("grid", mode_collapse.SETUPS["default"])
    wider = mode_collapse.mixture_for("grid", mode_collapse.SETUPS["default"], std=0.05)
    assert (grid.std, wider.std) == (0.02, 0.05)
    np.testing.assert_array_equal(wider.centers, grid.centers)

    @jax.jit
    def by_hand(g, d):
        z = jax.random.normal(jax.random.fold_in(batch["key"], 0), (16, args.latent_dim))
        logits, code_logits = D.apply(d, gan.pack_samples(G.apply(g, z), 4))
        log_q = jax.nn.log_softmax(code_logits.reshape(16, 8))
        code = jnp.argmax(z[:, :8], axis=-1)
        return losses.modified_generator_loss(logits) - jnp.mean(log_q[jnp.arange(16), code])

    loss_g = jax.jit(lambda g, d: game.loss_g(g, d, batch)[0])(g, d)
    np.testing.assert_allclose(loss_g, by_hand(g, d), rtol=1e-6)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--snapshots", "0"], "must be a positive integer"),
        (["--methods", "vanilla"], "invalid choice: 'vanilla'"),
        (["--mixtures", "spiral"], "invalid choice: 'spiral'"),
        (["--setup", "veegan"], "invalid choice: 'veegan'"),
        (["--ema-beta", "1"], "argument --ema-beta: must be in [0, 1), got 1"),
        (["--lr-final", "1.5"], "argument --lr-final: must be in [0, 1], got 1.5"),
        (["--beta1", "1.5"], "argument --beta1: must be in [0, 1), got 1.5"),
        (["--methods", "pacgan4_codes", "--latent-dim", "8"], "codes need --latent-dim > 8"),
        (["--methods", "pacgan4_info", "--codes", "25", "--latent-dim", "16"], "> 25, got 16"),
    ],
)
def test_mode_collapse_user_errors(args, needle):
    result = run_main_in_process("experiments.mode_collapse", args)
    assert_one_line_user_error(result, needle)


@pytest.mark.slow
def test_mode_collapse_quick_preset_runs_under_two_minutes(
    repo_root, timed_subprocess_env, tmp_path
):

    start = time.perf_counter()
    result = run_module(
        "experiments.mode_collapse",
        ["--quick", "--out", str(tmp_path)],
        timed_subprocess_env,
        repo_root,
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    from experiments import mode_collapse

    methods = list(mode_collapse.SETUPS["default"].methods)
    check_mode_collapse_metrics(metrics, ["ring"], methods)  # --quick is the ring
    for kind in ("ring",):
        for row in metrics["results"][kind].values():
            assert row["diverged_seeds"] == 0
        for name in (f"snapshots_{kind}.png", f"modes_{kind}.png"):
            assert (tmp_path / name).stat().st_size > 20_000
    assert elapsed < 120


def test_toy_games_run_on_the_cpu_unless_asked_otherwise():
    import jax
    import jax.numpy as jnp

    with cli.toy_device("cpu"):
        assert jnp.ones(3).devices() == {jax.devices("cpu")[0]}
    with cli.toy_device("default"):
        assert jnp.ones(3).devices() == {jax.devices()[0]}
    parser = cli.ArgumentParser()
    cli.add_toy_device_flag(parser)
    assert parser.parse_args([]).device == "cpu"
    assert parser.parse_args(["--device", "default"]).device == "default"


EXPERIMENTS = (
    "bilinear_game", "compare_schemes", "dirac_gan", "discretisation_drift", "game_spectrum",
    "latent_space",
    "mode_collapse", "opengan", "optimal_discriminator", "semantic_pyramid", "stacked_mnist",
    "super_resolution", "train_classifier", "train_dcgan", "train_pggan", "train_stylegan",
)  # fmt: skip


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_default_outputs_stay_under_the_ignored_runs_folder(name, repo_root):
    """With its defaults an experiment writes under ``runs/`` (git-ignored), never into the
    tracked ``figures/``: ``--out`` and ``--workdir`` default there, or to nothing (a
    training CLI then puts its outputs in ``<workdir>/figures``)."""
    module = importlib.import_module(f"experiments.{name}")
    parse = module.build_parser().parse_args if hasattr(module, "build_parser") else None
    args = parse([]) if parse else module.parse_args([])
    paths = [getattr(args, "out", None), getattr(args, "workdir", None)]
    paths += list(getattr(args, "workdirs", None) or [])
    for path in filter(None, paths):
        assert pathlib.PurePath(path).parts[0] == "runs", (name, path)
    assert "runs/" in (repo_root / ".gitignore").read_text().split()


class _Captured(Exception):
    """Raised by the patched ``parse_args`` with the parser the CLI built."""


BENCHMARKS = (
    "checkpoint_io", "dcgan_step", "dcgan_step_torch", "dynamics_rollout", "feature_metrics",
    "game_spectrum", "lag_step", "mode_collapse_step", "pggan_step", "projection",
    "stylegan_step",
)  # fmt: skip


def _parser_of(module: str, monkeypatch):
    """The parser a CLI builds, taken from its first ``parse_args`` call."""
    import argparse

    def capture(parser, *args, **kwargs):
        raise _Captured(parser)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setattr(sys, "argv", [module])
    main = importlib.import_module(module).main
    with pytest.raises(_Captured) as captured:
        main() if "argv" not in main.__code__.co_varnames else main([])
    return captured.value.args[0]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_classifier_flags_mean_the_evaluation_classifier_everywhere(name, monkeypatch):
    """``--classifier`` and ``--classifier-steps`` are the evaluation classifier's
    (:class:`~gan_jax.runner.settings.ClassifierSettings`, read by ``get_classifier``) in
    every CLI that has them: an OpenGAN whose ``--classifier-steps`` also meant its few-shot
    classifiers' 400 steps scored its samples with a 400-step evaluation classifier."""
    from gan_jax.configs import ConfigParser
    from gan_jax.runner.image_runs import DEFAULT_CLASSIFIER_STEPS
    from gan_jax.runner.settings import ClassifierSettings

    reference = ConfigParser()
    reference.add_config(ClassifierSettings)
    expected = {a.dest: (a.default, a.help) for a in reference._actions if a.option_strings}
    parser = _parser_of(f"experiments.{name}", monkeypatch)
    for action in parser._actions:
        if action.dest in expected and action.dest != "help":
            assert (action.default, action.help) == expected[action.dest], (name, action.dest)
    assert expected["classifier_steps"][0] == DEFAULT_CLASSIFIER_STEPS


@pytest.mark.parametrize(
    "module", [f"experiments.{n}" for n in EXPERIMENTS] + [f"benchmarks.{n}" for n in BENCHMARKS]
)
def test_help_shows_every_default(module, monkeypatch):
    """Every flag of every CLI and benchmark that has a default shows it in ``--help``
    (argparse prints no line at all for a flag without help text, and no default without
    a defaults formatter).  The parser is taken from the CLI's first ``parse_args`` call."""
    import argparse

    parser = _parser_of(module, monkeypatch)
    formatter = parser._get_formatter()
    hidden = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if action.default in (None, argparse.SUPPRESS) or isinstance(action, argparse._HelpAction):
            continue
        text = formatter._get_help_string(action)
        if not (action.help and action.help.strip() and "%(default)" in text):
            hidden.append(action.option_strings[0])
    assert hidden == [], f"{module}: --help hides the default of {hidden}"


@pytest.mark.parametrize("name", ["opengan", "semantic_pyramid"])
def test_feature_studies_default_run_folder_follows_the_dataset(name, tmp_path, monkeypatch):
    from gan_jax.runner import feature_runs

    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(f"experiments.{name}")
    parser = module.build_parser()
    args = parser.parse_args(["--dataset", "digits"])
    run = feature_runs.plan(args, parser)
    assert run.workdir == str(tmp_path / "runs" / f"{name}_digits")
    assert run.out == str(tmp_path / "runs" / f"{name}_digits" / "figures")
    assert not (tmp_path / "runs").exists()  # planned, nothing written
