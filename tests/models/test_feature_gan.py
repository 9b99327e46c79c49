"""Generating from features (OpenGAN, Semantic Pyramid): the batch-hard triplet loss against
a hand computation, the conditioning blocks against their formulas, and hierarchical
masking as an exact absence of dependence (a gradient check)."""

from __future__ import annotations

import argparse
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_checks import assert_refused_without_a_trace, bad_commands
from random_inputs import normal

from gan_jax import losses
from gan_jax.models import semantic_pyramid as sp
from gan_jax.nets.conditional import (
    ConditionalBatchNorm,
    ConditionalGenerator,
    ProjectionDiscriminator,
)
from gan_jax.nets.variables import init_variables

batch_hard_triplet_loss = jax.jit(losses.batch_hard_triplet_loss)
pairwise_distances = jax.jit(losses.pairwise_distances)


def test_batch_hard_triplet_loss_equals_the_hand_computation():
    # classes {p0, p1} and {p2, p3}; p4 is alone in its class (no positive: left out of the
    # mean, but a negative for the others — too far to be the hardest one).
    points = jnp.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [1.0, 0.0], [10.0, 10.0]])
    labels = jnp.array([0, 0, 1, 1, 2])
    # anchor 0: 0.5 + d01 − d03 = 0.5 + 3 − 1;  anchor 1: 0.5 + 3 − d13 = 0.5 + 3 − 2
    # anchor 2: 0.5 + d23 − d20 = 0.5 + √17 − 4;  anchor 3: 0.5 + √17 − d30 = 0.5 + √17 − 1
    expected = (2.5 + 1.5 + (math.sqrt(17) - 3.5) + (math.sqrt(17) - 0.5)) / 4
    loss = batch_hard_triplet_loss(points, labels, margin=0.5)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
    assert math.isclose(expected, math.sqrt(17) / 2)
    # without a margin anchors 2 and 3 stay active (their hardest positive is farther
    # than their hardest negative); well-separated classes give exactly 0
    np.testing.assert_allclose(
        float(batch_hard_triplet_loss(points, labels, margin=0.0)),
        (math.sqrt(17) - 4 + math.sqrt(17) - 1 + 2.0 + 1.0) / 4,
        rtol=1e-6,
    )
    separated = jnp.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.1, 0.0]])
    assert float(batch_hard_triplet_loss(separated, jnp.array([0, 0, 1, 1]), 0.2)) == 0.0


def test_batch_all_triplet_loss_equals_a_loop_over_triplets():
    points = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [1.0, 0.0], [10.0, 10.0]])
    labels = np.array([0, 0, 1, 1, 2])
    for margin in (0.0, 0.5, 3.0):
        terms = [
            max(0.0, margin + np.linalg.norm(points[a] - points[p]) - np.linalg.norm(points[a] - points[n]))
            for a in range(5) for p in range(5) for n in range(5)
            if p != a and labels[p] == labels[a] and labels[n] != labels[a]
        ]  # fmt: skip
        active = [t for t in terms if t > 0]
        expected = sum(active) / len(active)
        loss = jax.jit(losses.batch_all_triplet_loss)(jnp.asarray(points), labels, margin)
        np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
    separated = jnp.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.1, 0.0]])
    assert float(losses.batch_all_triplet_loss(separated, jnp.array([0, 0, 1, 1]), 0.2)) == 0.0


def test_pairwise_distances_have_finite_gradients_at_coincident_points():
    points = jnp.array([[1.0, 2.0], [1.0, 2.0], [4.0, 6.0]])
    np.testing.assert_allclose(pairwise_distances(points)[0, 2], 5.0, rtol=1e-6)
    grad = jax.grad(lambda e: batch_hard_triplet_loss(e, jnp.array([0, 0, 1]), 1.0))(points)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_conditional_batch_norm_is_bn_times_one_plus_gamma_plus_beta():
    x = normal(0, (6, 3, 3, 4))
    c = normal(1, (6, 5))
    layer = ConditionalBatchNorm()
    variables = init_variables(layer, jax.random.key(2), x, c)
    # zero-initialised γ and β: plain BN at initialisation
    params = jax.tree.map(lambda a: a, variables["params"])
    for i, name in enumerate(("gamma", "beta")):
        params[name] = {"kernel": normal(3 + 2 * i, (5, 4)), "bias": normal(4 + 2 * i, (4,))}
    apply = jax.jit(lambda v, x, c: layer.apply(v, x, c, mutable=["batch_stats"])[0])
    y = apply({**variables, "params": params}, x, c)
    # the formula on the host, in float64
    x, c = np.asarray(x, np.float64), np.asarray(c, np.float64)
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    normalized = (x - mean) / np.sqrt(var + 1e-5)
    gamma = c @ p["gamma"]["kernel"] + p["gamma"]["bias"]
    beta = c @ p["beta"]["kernel"] + p["beta"]["bias"]
    expected = normalized * (1 + gamma[:, None, None, :]) + beta[:, None, None, :]
    np.testing.assert_allclose(y, expected, atol=1e-4)


def test_conditional_generator_output_depends_on_its_condition_and_maps():
    generator = ConditionalGenerator(resolution=16, channels=1, width=8)
    z = normal(0, (4, 6))
    c = normal(1, (4, 3))
    maps = (normal(2, (4, 8, 8, 2)),)
    variables = init_variables(generator, jax.random.key(3), z, c, maps)

    @jax.jit
    def run(c, maps):
        return generator.apply(variables, z, c, maps, train=False)

    base = run(c, maps)
    assert base.shape == (4, 16, 16, 1)
    assert float(jnp.abs(run(c + 1.0, maps) - base).max()) > 1e-4
    assert float(jnp.abs(run(c, (maps[0] + 1.0,)) - base).max()) > 1e-4
    with pytest.raises(ValueError, match="no hidden layer"):
        init_variables(generator, jax.random.key(3), z, c, (jnp.zeros((4, 16, 16, 1)),))


def test_projection_discriminator_is_psi_plus_the_inner_product_with_the_embedded_condition():
    with jax.enable_x64(True):
        x = normal(0, (4, 16, 16, 1), jnp.float64)
        c = normal(1, (4, 3), jnp.float64)
        d = ProjectionDiscriminator(width=4)
        variables = init_variables(d, jax.random.key(2), x, c)  # one program, not one per op
        variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), variables)
        apply = jax.jit(d.apply, static_argnames=("features_only", "mutable"))
        logits, _ = apply(variables, x, c, mutable="batch_stats")
        phi, _ = apply(variables, x, c, features_only=True, mutable="batch_stats")
        p = variables["params"]
        assert phi.shape == (4, 4 * 4 * 8)
        unconditional = phi @ p["psi"]["kernel"][:, 0] + p["psi"]["bias"][0]
        inner = np.einsum("nf,nf->n", np.asarray(c @ p["embed"]["kernel"]), np.asarray(phi))
        np.testing.assert_allclose(logits, unconditional + inner, rtol=1e-12, atol=1e-12)
        assert np.abs(inner).max() > 0


def pyramid_levels(seed: int, n: int) -> list[jax.Array]:
    """Random levels with the PyramidClassifier's shapes on 32×32 digits."""
    shapes = [(16, 16, 32), (8, 8, 64), (4, 4, 128), (2, 2, 256), (1, 1, 256), (128,), (10,)]
    return [normal(seed + i, (n,) + s) for i, s in enumerate(shapes)]


def test_masking_removes_every_dependence_on_the_other_levels():
    n = 7
    levels = pyramid_levels(0, n)
    chosen = jnp.arange(n) % sp.NUM_LEVELS  # every level chosen by one example
    mask = sp.level_mask(chosen)
    generator = ConditionalGenerator(resolution=32, channels=1, width=4)
    z = normal(1, (n, 5))
    condition, maps = sp.masked_inputs(levels, mask)
    variables = init_variables(generator, jax.random.key(2), z, condition, maps)

    def total(levels):
        condition, maps = sp.masked_inputs(levels, mask)
        out, _ = generator.apply(variables, z, condition, maps, mutable=["batch_stats"])
        return jnp.sum(out * jnp.arange(1, n + 1)[:, None, None, None])

    grads = jax.jit(jax.grad(total))(levels)
    for j, grad in enumerate(grads):
        per_example = np.abs(np.asarray(grad)).reshape(n, -1).max(axis=1)
        for i in range(n):
            if int(chosen[i]) == j:
                assert per_example[i] > 0, (i, j)
            else:
                assert per_example[i] == 0.0, (i, j)


def test_level_reconstruction_loss_counts_only_the_chosen_level():
    n = 3
    targets = pyramid_levels(0, n)
    # level j off by 2(j + 1), built on the host (each eager add is a program of its own)
    fakes = [jax.device_put(np.asarray(t) + 2.0 * (j + 1)) for j, t in enumerate(targets)]
    chosen = jnp.array([0, 4, 6])
    loss = jax.jit(sp.level_reconstruction_loss)(fakes, targets, sp.level_mask(chosen))
    expected = np.mean([(2.0 * (int(j) + 1)) ** 2 for j in chosen])
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


TINY = ["--steps", "10", "--feature-steps", "5", "--width", "8", "--latent-dim", "4",
        "--batch-size", "16", "--log-every", "5", "--checkpoint-every", "5", "--no-progress",
        "--dataset", "digits"]  # fmt: skip


@pytest.mark.expensive
def test_opengan_cli_tiny_run(tmp_path, classifier32):
    """The study end to end for a few steps: every output, numbers within their ranges, a
    user error in one line.  (The two feature-conditioned CLIs are two tests, so that the
    two xdist workers run them side by side.)"""
    import json

    from experiments import opengan
    from gan_jax.cli import UserError

    with pytest.raises(UserError, match="--unseen"):
        opengan.main(
            ["--unseen", *map(str, range(10)), "--classifier", classifier32, "--dataset", "digits",
             "--workdir", str(tmp_path / "refused")]
        )  # fmt: skip
    out, og_run = tmp_path / "opengan", tmp_path / "og_run"
    og_command = [
        *TINY, "--sets", "2", "--per-set", "2", "--augment", "6", "--trials", "1",
        "--few-shot-steps", "5", "--classifier", classifier32,
        "--workdir", str(og_run), "--out", str(out),
    ]  # fmt: skip
    metrics = opengan.main(og_command)
    assert json.loads((out / "metrics.json").read_text())["steps"] == 10
    assert metrics["unseen_classes"] == [7, 8, 9] and len(metrics["per_class"]) == 10
    for row in metrics["per_class"].values():
        assert 0 <= row["fidelity_k1"] <= 1 and 0 <= row["fidelity_k5"] <= 1
        assert 0 <= row["precision_k5"] <= 1 and 0 <= row["recall_k5"] <= 1
    for group, classes in (("seen", range(7)), ("unseen", (7, 8, 9))):
        for name in ("kid_k5", "precision_k5", "recall_k5"):
            mean = np.mean([metrics["per_class"][str(c)][name] for c in classes])
            assert metrics[f"{group}_{name}"] == pytest.approx(mean)
    for k in (1, 5):  # each condition's samples are called something: rows of the confusion
        # sum to 1, so Σ_c (its diagonal + the 9 other entries of its column) = 10
        total = sum(
            r[f"fidelity_k{k}"] + 9 * r[f"null_k{k}"] for r in metrics["per_class"].values()
        )
        assert total == pytest.approx(10.0, abs=1e-9)
    for c in (7, 8, 9):
        row = metrics["per_class"][str(c)]
        assert metrics["checks"][f"class_{c}_fidelity_k5_at_least_twice_its_null"] == (
            row["fidelity_k5"] >= 2 * row["null_k5"]
        )
    few_shot = metrics["few_shot"]
    assert len(few_shot["real_only"]) == len(few_shot["augmented"]) == 1
    assert 0 <= few_shot["real_only"][0] <= 1 and 0 <= few_shot["augmented"][0] <= 1
    assert few_shot["generated_per_class"] == 10  # ⌈6 / 5⌉ per exemplar × 5 exemplars
    for name in ("generations.png", "generations_k5.png", "fidelity.png", "curves.png"):
        assert (out / name).stat().st_size > 1000
    bad = bad_commands(og_run, tmp_path / "scratch", "--lr") + [
        (["--resume", "--unseen", "1", "2"], "--resume with different settings (--unseen"),
        (["--condition-noise", "-1"], "must be a finite number ≥ 0"),
    ]
    assert_refused_without_a_trace("experiments.opengan", og_command, og_run, bad)


@pytest.mark.expensive
def test_semantic_pyramid_cli_tiny_run(tmp_path, classifier32):
    """The study end to end for a few steps: every output, numbers within their ranges."""
    from experiments import semantic_pyramid
    from gan_jax.studies import semantic_pyramid as study

    out, run = tmp_path / "pyramid", tmp_path / "sp_run"
    args = [*TINY, "--sources", "4", "--samples", "2", "--classifier", classifier32,
            "--workdir", str(run), "--out", str(out), "--validation", "20"]  # fmt: skip
    metrics = semantic_pyramid.main(args)
    assert metrics["steps"] == 10 and (run / "feature_network" / "classifier.json").exists()
    assert metrics["levels"] == list(sp.PYRAMID_LEVELS)
    validation = metrics["validation"]
    assert validation["images"] == 20 and list(validation["per_level"]) == metrics["levels"]
    for split in (metrics, validation):
        for row in split["per_level"].values():
            assert 0 <= row["class_agreement"] <= 1 and row["diversity"] >= 0
            assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1 and "kid" in row
        assert split["selection_score"] == study.selection_score(split["per_level"])
    for name in ("pyramid.png", "trends.png", "curves.png"):
        assert (out / name).stat().st_size > 1000

    bad = bad_commands(run, tmp_path / "scratch", "--lr") + [
        (["--resume", "--feature-steps", "6"], "--resume with different settings"),
        (["--resume", "--validation", "30"], "--resume with different settings (--validation"),
    ]
    assert_refused_without_a_trace("experiments.semantic_pyramid", args, run, bad)


def test_mode_seeking_loss_is_the_reciprocal_of_the_image_to_latent_distance_ratio():
    fake_1, fake_2 = jnp.zeros((2, 3)), jnp.full((2, 3), 0.5)
    z_1, z_2 = jnp.zeros((2, 4)), jnp.full((2, 4), 2.0)
    # mean|Δx| / mean|Δz| = 0.5 / 2 = 0.25
    value = losses.mode_seeking_loss(fake_1, fake_2, z_1, z_2, epsilon=0.0)
    np.testing.assert_allclose(float(value), 4.0, rtol=1e-6)
    collapsed = losses.mode_seeking_loss(fake_1, fake_1, z_1, z_2)  # G ignores z: 1/ε
    np.testing.assert_allclose(float(collapsed), 1e5, rtol=1e-6)


def test_the_frozen_feature_network_is_saved_once_and_restored_on_resume(tmp_path):
    """``--resume`` conditions on the very network the run started with, bit for bit."""
    from gan_jax.nets.classifier import PyramidClassifier
    from gan_jax.runner.feature_runs import frozen_network
    from gan_jax.runner.image_runs import RunPlan, fit_config

    model = PyramidClassifier(num_classes=3)
    params = init_variables(model, jax.random.key(0), jnp.zeros((1, 32, 32, 1)))
    meta = {"architecture": "pyramid", "num_classes": 3, "image_shape": [32, 32, 1]}
    fit = fit_config(argparse.Namespace(steps=1, log_every=1, checkpoint_every=1))
    new_run = RunPlan(str(tmp_path), str(tmp_path / "out"), {"seed": 0}, False, None, fit)
    assert frozen_network(new_run, lambda: (model, params, meta))[1] is params
    assert new_run.started  # the save was the run's first write: config.json came first
    assert json.loads((tmp_path / "config.json").read_text()) == {"seed": 0}

    def must_not_train():
        raise AssertionError("--resume trained a new feature network")

    resumed = RunPlan(str(tmp_path), str(tmp_path / "out"), {"seed": 0}, True, None, fit)
    restored_model, restored, restored_meta = frozen_network(resumed, must_not_train)
    assert isinstance(restored_model, PyramidClassifier) and restored_meta == meta
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_trend_p_values_are_exact_permutation_tests():
    from itertools import permutations

    from scipy.stats import spearmanr

    from gan_jax.studies import semantic_pyramid as study

    assert study.spearman_p_value(list(range(7))) == pytest.approx(1 / 5040)
    assert study.spearman_p_value(list(range(7))[::-1], increasing=False) == pytest.approx(1 / 5040)
    # the digits run's diversity by level: last above first, but ρ = 0.29 is no trend
    diversity = [0.048, 0.074, 0.085, 0.082, 0.045, 0.070, 0.143]
    rho = spearmanr(diversity, range(7)).statistic
    assert study.spearman(diversity) == pytest.approx(rho) == pytest.approx(2 / 7)
    null = [spearmanr(order, range(7)).statistic for order in permutations(range(7))]
    expected = np.mean(np.asarray(null) >= rho - 1e-12)
    assert study.spearman_p_value(diversity) == pytest.approx(expected)
    per_level = {str(i): {"psnr_to_source": 30.0 - i, "class_agreement": 1.0, "diversity": d}
                 for i, d in enumerate(diversity)}  # fmt: skip
    trends = study.trends(per_level)
    assert trends["psnr_falls"] and not trends["diversity_rises"]
    assert trends["spearman_diversity_p_value"] > 0.2
    # the weight-selection rule: mean diversity, unless a level loses the class
    assert study.selection_score(per_level) == pytest.approx(np.mean(diversity))
    per_level["3"]["class_agreement"] = 0.89
    assert study.selection_score(per_level) is None
    assert study.selection_score(per_level, min_agreement=0.85) == pytest.approx(np.mean(diversity))
    low = {lvl: {**row, "diversity": row["diversity"] / 2} for lvl, row in per_level.items()}
    fine = {lvl: {**row, "class_agreement": 0.95} for lvl, row in low.items()}
    assert study.choose_weight({0.1: fine, 1.0: per_level}) == 0.1  # 1.0 loses a class
    assert study.choose_weight({0.1: fine, 0.3: {**fine}, 1.0: per_level}) == 0.1  # ties: first
    assert study.choose_weight({0.1: per_level, 1.0: low}) == 0.1  # none qualifies: 0.89 each
    worse = {lvl: {**row, "class_agreement": 0.5} for lvl, row in low.items()}
    assert study.choose_weight({0.1: worse, 1.0: per_level}) == 1.0  # best worst level
