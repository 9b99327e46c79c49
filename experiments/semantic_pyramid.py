"""Semantic Pyramid (Shocher et al. 2020, arXiv:2003.06221): generate from a frozen
classifier's features at one level of its hierarchy, and watch what each level keeps.

    python -m experiments.semantic_pyramid          # MNIST, seven levels

1. **Features.**  A deeper digit classifier than the evaluation one
   (:class:`~gan_jax.nets.classifier.PyramidClassifier`: maps at strides 2, 4, 8, 16 and 32,
   fc and logits) trains on the training digits and is frozen.
2. **GAN.**  A feature-conditioned GAN (:mod:`gan_jax.models.feature_gan`) with hierarchical masking
   (:mod:`gan_jax.models.semantic_pyramid`): each training example feeds G one random level of its
   own features; G's loss is adversarial plus the feature reconstruction at that level,
   plus the mode-seeking term (:func:`gan_jax.losses.mode_seeking_loss`, weight 0.03, chosen
   on a validation split as item 4 says; docs/results/semantic_pyramid.md): without it G ignored ``z``.
3. **Evaluation** on ``--sources`` held-out (test) digits, ``--samples`` latent codes each,
   at every level: pixel similarity to the source (PSNR, expected to fall with the level),
   class agreement with the source's label under our all-class evaluation classifier
   (expected to stay high) and diversity across ``z`` (the mean per-pixel standard
   deviation, expected to rise); and each level's sample quality against the real
   training digits on the evaluation classifier's features (FCD, KID, precision/recall,
   density/coverage: :class:`~gan_jax.models.feature_classifier.ClassifierMetrics`).
4. **Choosing the mode-seeking weight.**  ``--validation N`` holds out ``N`` training
   digits (class-balanced, :func:`gan_jax.data.split_off`) that neither network trains on,
   and evaluates on them too (``metrics.json``'s ``validation``, with
   :func:`gan_jax.studies.semantic_pyramid.selection_score`).  A sweep of
   ``--diversity-weight`` with the same ``--validation`` picks its weight by the
   validation score alone; the test numbers of the picked run are the ones to report.

Outputs in ``--out``: ``pyramid.png`` (the paper's figure layout: a source column, then one column
per level, two ``z`` per source), ``trends.png`` (the three measures per level),
``curves.png`` and ``metrics.json``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import numpy as np

from gan_jax import cli, configs, data
from gan_jax.models.feature_classifier import ClassifierMetrics
from gan_jax.models.feature_gan import build_feature_gan
from gan_jax.nets.classifier import PYRAMID_LEVELS
from gan_jax.runner import feature_runs as feature_common
from gan_jax.runner.image_runs import fit_without_evaluation, get_classifier
from gan_jax.studies import semantic_pyramid as study
from gan_jax.viz.feature_gans import plot_pyramid, plot_pyramid_trends

FIGURE_SOURCES = 4
FIGURE_SAMPLES = 2


def build_parser() -> configs.ConfigParser:
    parser = feature_common.build_parser(
        "python -m experiments.semantic_pyramid",
        __doc__.split("\n\n")[0],
        steps=3000,
        name="semantic_pyramid",
        feature_steps=400,
        diversity_weight=0.03,
    )
    add = parser.add_argument
    add("--sources", type=cli.positive_int, default=64, help="held-out source digits")
    add("--samples", type=cli.positive_int, default=8, help="latent codes per source and level")
    add(
        "--validation",
        type=cli.non_negative_int,
        default=0,
        help="training digits held out to choose --diversity-weight on (0: none)",
        role=configs.DEFINING,
    )
    return parser


def evaluate(model, g, cond, measure, images, args) -> study.LevelEvaluation:
    return study.per_level_evaluation(
        model, g, cond.normalized, measure.model, measure.params, images, args.sources,
        args.samples, args.seed, keep=FIGURE_SOURCES, measure=measure,
    )  # fmt: skip


def summary(per_level: dict) -> dict:
    """A split's numbers: per level, the trends and the weight-selection score."""
    return {
        "per_level": per_level,
        "trends": study.trends(per_level),
        "selection_score": study.selection_score(per_level),
    }


def draw(args, evaluation: study.LevelEvaluation) -> None:
    os.makedirs(args.out, exist_ok=True)
    plot_pyramid(
        os.path.join(args.out, "pyramid.png"),
        np.asarray(evaluation.sources[:FIGURE_SOURCES]),
        [column[:FIGURE_SAMPLES] for column in evaluation.samples],
        list(PYRAMID_LEVELS),
    )
    plot_pyramid_trends(os.path.join(args.out, "trends.png"), evaluation.per_level)
    feature_common.plot_losses(
        args,
        "Semantic Pyramid: D (projection on fc), G (adversarial + reconstruction + mode seeking)",
    )


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = feature_common.plan(args, parser)
    train_set = data.load_dataset(args.dataset, 32, "train", args.data_dir)
    if args.validation:
        train_set, validation_set = data.split_off(train_set, args.validation)
    test_set = data.load_dataset(args.dataset, 32, "test", args.data_dir)
    key = jax.random.key(args.seed)
    evaluator, evaluator_params, _ = get_classifier(args, 32)
    pyramid, pyramid_params, pyramid_meta = feature_common.frozen_network(
        run,
        lambda: study.pyramid_network(
            train_set, test_set, jax.random.fold_in(key, 1), args.feature_steps,
            not args.no_progress,
        ),
    )  # fmt: skip
    cond = study.pyramid_conditions(pyramid, pyramid_params, train_set.images)
    config = feature_common.gan_config(args, train_set.image_shape[-1])
    model = build_feature_gan(config, train_set.images, cond.conditions, key, cond.reconstruction)
    result, seconds = fit_without_evaluation(
        model.step, model.state, run, args, f"Semantic Pyramid {args.dataset}"
    )
    g = result.state.extra["g_ema"]
    measure = ClassifierMetrics(evaluator, evaluator_params, train_set.images)
    evaluation = evaluate(model, g, cond, measure, test_set, args)
    draw(args, evaluation)
    metrics = {
        "dataset": args.dataset,
        "levels": list(PYRAMID_LEVELS),
        "steps": result.step,
        "gan_seconds": round(seconds, 1),
        "pyramid_classifier_test_accuracy": pyramid_meta.get("test_accuracy"),
        "sources": int(evaluation.sources.shape[0]),
        "samples_per_source": args.samples,
        **summary(evaluation.per_level),
    }
    if args.validation:
        held = evaluate(model, g, cond, measure, validation_set, args)
        metrics["validation"] = {"images": len(validation_set), **summary(held.per_level)}
    cli.write_metrics(args.out, metrics)
    for name, row in evaluation.per_level.items():
        print(
            f"{name:>9}: PSNR to source {row['psnr_to_source']:.2f} dB, class agreement "
            f"{row['class_agreement']:.1%}, diversity {row['diversity']:.4f}"
        )
    print(f"outputs in {args.out}")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
