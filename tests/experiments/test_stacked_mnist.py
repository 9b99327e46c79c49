"""Stacked MNIST: the study's pieces against their definitions, and one tiny run end to
end (the metric itself: tests/metrics/test_metrics.py; the sampler: tests/data)."""

from __future__ import annotations

import functools
import json
import math

import jax.numpy as jnp
import numpy as np
import pytest
from cli_checks import assert_one_line_user_error, run_main_in_process

from gan_jax import data
from gan_jax.dynamics.schemes import Alternating
from gan_jax.errors import UserError
from gan_jax.models.image_gan import ImageGANConfig
from gan_jax.studies import stacked_mnist as study


def level_classifier(images):
    """A stand-in classifier: the class of a constant image of value ``v`` is
    ``round((v + 1)·4.5)`` (0 for −1, 9 for +1)."""
    return np.rint((np.asarray(images).mean(axis=(1, 2, 3)) + 1.0) * 4.5).astype(int)


def test_channel_labels_classify_each_channel_in_order():
    levels = np.array([[0, 3, 9], [7, 7, 1]])  # the classes each channel should get
    values = levels / 4.5 - 1.0
    images = jnp.broadcast_to(jnp.asarray(values)[:, None, None, :], (2, 4, 4, 3))
    np.testing.assert_array_equal(study.channel_labels(level_classifier, images), levels)


def test_real_reference_true_labels_and_a_one_class_classifier():
    test_set = data.load_dataset("mnist", 32, "test")
    reference = study.real_reference(test_set, lambda x: np.zeros(len(x), int), 26_000)
    # a classifier that always says 0 sees one mode: KL = log 1000
    assert reference["classified"]["modes"] == 1
    np.testing.assert_allclose(reference["classified"]["kl"], math.log(1000), rtol=1e-6)
    # the true triples of 26,000 uniform draws: every mode, and the multinomial noise
    # E[KL] ≈ (1000 − 1) / (2 · 26,000) = 0.0192 (its std is ≈ 0.0009)
    assert reference["true"]["modes"] == 1000
    assert 0.0192 - 0.004 < reference["true"]["kl"] < 0.0192 + 0.004
    assert sum(reference["true"]["sorted_counts"]) == 26_000


def test_configs_pack_scales_the_batch_penalties_drop_batch_norm_quarter_widths():
    pac = study.config_for("dcgan", study.METHODS["pacgan4"])
    assert pac.pack == 4 and pac.batch_size == 256 and pac.d_batch_norm  # D sees 64 packs
    r3 = study.config_for("quarter", study.METHODS["rpgan_r1_r2"])
    assert r3.loss == "rpgan" and r3.r1_gamma == r3.r2_gamma == study.GAMMA
    assert not r3.d_batch_norm and len(r3.penalties) == 2
    control = study.config_for("quarter", study.METHODS["gan_no_bn"])  # that D, no penalty
    assert not control.d_batch_norm and control.penalties == () and control.loss == "ns"
    # D = ¼ G: each D stage has a quarter of the channels of G's stage at that size
    pool = jnp.zeros((8, 32, 32, 1))
    model = study.build("quarter", study.METHODS["gan"], pool, seed=0, batch_size=8)
    g, d = model.state.g["params"], model.state.d["params"]
    g_widths = [g[f"ConvTranspose4x4_{i}"]["kernel"].shape[-1] for i in range(2)]  # 16², 8²→
    d_widths = [d[f"Conv_{i}"]["kernel"].shape[-1] for i in range(3)]
    assert g["Dense_0"]["kernel"].shape == (100, 4 * 4 * 64) and g_widths == [32, 16]
    assert d_widths == [4, 8, 16]  # G's 64 → 32 → 16 over 4² → 16², a quarter each


def test_gan_g2_steps_g_twice_per_d_step_as_dcgan_tensorflow():
    config = study.config_for("quarter", study.METHODS["gan_g2"])
    assert (config.scheme, config.d_steps, config.g_steps) == ("alternating", 1, 2)
    pool = jnp.zeros((8, 32, 32, 1))
    model = study.build("quarter", study.METHODS["gan_g2"], pool, seed=0, batch_size=8)
    # the model trains with that scheme (whose updates tests/dynamics pin to their maps)
    assert isinstance(model.scheme, Alternating)
    assert (model.scheme.d_steps, model.scheme.g_steps, model.scheme.d_first) == (1, 2, True)


def test_dcgan_tf_architecture_trains_on_the_pools_28_by_28_and_is_scored_at_32():
    config = study.config_for("dcgan_tf", study.METHODS["gan_g2"])
    assert (config.nets, config.resolution, config.g_steps) == ("dcgan_tf", 28, 2)
    pool = data.load_dataset("mnist", 32, "test").images[:16]
    # the embedded 32×32 digits are the 28×28 ones padded with background: crop and pad
    # are inverses on them, and the crop is the native digits
    cropped = data.center_crop(pool, 28)
    np.testing.assert_array_equal(cropped, data.load_dataset("mnist", 28, "test").images[:16])
    np.testing.assert_array_equal(data.pad_with_background(cropped, 32), pool)
    model = study.build("dcgan_tf", study.METHODS["gan_g2"], pool, seed=0, batch_size=8)
    images = model.generate(model.state, jnp.zeros((2, 100)))
    assert images.shape == (2, 28, 28, 3)
    assert model.state.d["params"]["Dense_0"]["kernel"].shape == (2 * 2 * 512, 1)


def test_image_gan_config_refuses_penalties_with_batch_norm_and_uneven_packs():
    with pytest.raises(UserError, match="--no-d-batch-norm"):
        ImageGANConfig(r1_gamma=1.0)
    with pytest.raises(UserError, match="--pack 3"):
        ImageGANConfig(batch_size=64, pack=3)
    assert ImageGANConfig(r2_gamma=1.0, d_batch_norm=False).penalties


def test_generator_average_is_what_generate_scores_and_the_trained_g_is_raw():
    import jax

    from gan_jax.runner import dcgan

    pool = jnp.zeros((8, 32, 32, 1))
    plain = study.build("quarter", study.METHODS["gan"], pool, seed=0, batch_size=8)
    assert plain.ema is None and plain.generate_raw is None
    model = study.build(
        "quarter", study.METHODS["gan"], pool, seed=0, batch_size=8, ema_half_life=640.0
    )
    assert model.ema.half_life_images == 640.0
    state = model.state
    assert jax.tree.all(jax.tree.map(jnp.array_equal, state.extra["g_ema"], state.g))
    # an average that differs from G: generate reads the average, generate_raw G
    shifted = jax.tree.map(lambda x: x + 0.1, state.g)
    averaged = state.replace(extra={**state.extra, "g_ema": shifted})
    z = jnp.ones((2, 100))
    swapped = state.replace(g=shifted)
    np.testing.assert_array_equal(model.generate(averaged, z), model.generate_raw(swapped, z))
    assert not np.array_equal(model.generate(averaged, z), model.generate_raw(averaged, z))
    # the flag's name in a DCGAN run's config.json; runs saved before it had none
    saved = {
        "resolution": 32, "width": 64, "loss": "ns", "scheme": "alternating", "lr_g": 2e-4,
        "lr_d": 2e-4, "beta1": 0.5, "batch_size": 64,
    }  # fmt: skip
    assert dcgan.config_of(saved, 1).ema_half_life == 0.0
    assert dcgan.config_of({**saved, "ema_half_life": 1e4}, 1).ema_half_life == 1e4


def test_a_dcgan_run_saved_before_the_new_options_resumes_with_their_defaults(tmp_path):
    """A setting an older config.json lacks (saved before it was a flag) reads as its
    declared default, the value that run was trained with; ``saved_defaults`` names the
    value where the default has changed since."""
    from gan_jax.errors import CheckpointError
    from gan_jax.runner import dcgan, image_runs

    workdir = tmp_path / "run"
    workdir.mkdir()
    parser = dcgan.build_parser()
    args = parser.parse_args(["--dataset", "digits", "--workdir", str(workdir)])
    new_options = ("d_width", "no_d_batch_norm", "pack", "r1_gamma", "r2_gamma", "ema_half_life")
    old = {k: v for k, v in vars(args).items() if k not in new_options}
    (workdir / image_runs.CONFIG_FILE).write_text(json.dumps(old))
    args.resume = True
    plan = functools.partial(image_runs.plan_run, args, str(workdir), None, parser)
    # the settings agree (absent = the default): the next check, a checkpoint, refuses
    with pytest.raises(CheckpointError, match="no checkpoint"):
        plan()
    with pytest.raises(UserError, match="--ema-half-life 5.0 → 0.0"):
        plan(saved_defaults={"ema_half_life": 5.0})  # a default that changed since
    args.ema_half_life = 1e4
    with pytest.raises(UserError, match="--ema-half-life 0.0 → 10000.0"):
        plan()


def test_settings_name_the_average_only_when_kept_and_summaries_report_both_gs():
    plain = study.run_settings("dcgan", "gan", 0, 3000, 26_000, 64)
    assert "ema_half_life" not in plain  # settings saved before the option read the same
    kept = study.run_settings("dcgan", "gan", 0, 3000, 26_000, 64, ema_half_life=1e4)
    assert kept == {**plain, "ema_half_life": 1e4}
    runs = [
        {"modes": 990, "kl": 0.2, "train_seconds": 10, "raw": {"modes": 980, "kl": 0.3}},
        {"modes": 1000, "kl": 0.1, "train_seconds": 20, "raw": {"modes": 970, "kl": 0.5}},
    ]
    summary = study.summarise(runs)
    assert summary["modes_mean"] == 995 and summary["train_seconds_mean"] == 15
    np.testing.assert_allclose(summary["modes_std"], math.sqrt(50))  # ddof = 1
    assert summary["raw"]["modes_mean"] == 975 and summary["raw"]["kl"] == [0.3, 0.5]
    np.testing.assert_allclose(summary["raw"]["kl_mean"], 0.4)
    table = study.markdown_table({"dcgan": {"gan": summary}}, 3000).splitlines()
    assert table[2].startswith("| dcgan | gan, G's average | 2 | 3000 | 995.0 ± 7.1 | 0.150")
    assert table[3].startswith("| dcgan | gan, trained G | 2 | 3000 | 975.0 ± 7.1 | 0.400")
    assert "raw" not in study.summarise(
        [{k: r[k] for k in ("modes", "kl", "train_seconds")} for r in runs]
    )


@pytest.mark.integration
@pytest.mark.expensive
def test_tiny_study_end_to_end_then_resume_reuses_it(tmp_path, classifier32):
    from experiments import stacked_mnist

    workdir, out = tmp_path / "study", tmp_path / "figures"
    args = [
        "--architectures", "quarter", "--methods", "gan", "--seeds", "1", "--steps", "4",
        "--batch-size", "8", "--samples", "300", "--classifier", classifier32,
        "--workdir", str(workdir), "--out", str(out), "--no-progress",
    ]  # fmt: skip
    metrics = stacked_mnist.main(args)
    row = metrics["summary"]["quarter"]["gan"]
    assert row["seeds"] == 1 and row["modes_std"] == 0.0
    assert 1 <= row["modes_mean"] <= 300  # no more modes than samples
    # KL(p̂ ‖ U) of 300 samples on k modes lies in [log(1000/300), log 1000]
    assert math.log(1000 / 300) - 1e-6 <= row["kl_mean"] <= math.log(1000) + 1e-6
    real = metrics["real_test_stacks"]
    assert real["true"]["modes"] <= 300 and real["classified"]["modes"] <= 300
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["summary"] == metrics["summary"]
    assert "| quarter | gan | 1 | 4 |" in (out / "table.md").read_text()
    for name in ("samples_quarter.png", "mode_counts_quarter.png"):
        assert (out / name).stat().st_size > 10_000
    result = workdir / "quarter_gan_seed0" / study.RESULT_FILE
    stamp = result.stat().st_mtime_ns
    # a second call without --resume is refused in one line; with it, the run is reused
    refused = run_main_in_process("experiments.stacked_mnist", args)
    assert_one_line_user_error(refused, "--resume")
    again = stacked_mnist.main([*args, "--resume"])
    assert again["summary"] == metrics["summary"] and result.stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--methods", "nope"], "unknown --method"),
        (["--architectures", "wide"], "unknown --architecture"),
        (["--steps", "0"], "must be a positive integer"),
    ],
)
def test_user_errors(tmp_path, args, needle):
    result = run_main_in_process(
        "experiments.stacked_mnist", [*args, "--workdir", str(tmp_path / "w")]
    )
    assert_one_line_user_error(result, needle)
    assert not (tmp_path / "w").exists()
