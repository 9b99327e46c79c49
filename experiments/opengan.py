"""OpenGAN (Ditria, Meyer and Drummond 2020, arXiv:2003.08074): generate more of a class never
seen in training from a few exemplars, by conditioning a GAN on a metric-learning embedding.

    python -m experiments.opengan                 # MNIST: seen 0–6, unseen 7, 8, 9

1. **Embedding.**  A metric-learning network (:func:`gan_jax.models.feature_classifier.
   train_embedding`: the triplet loss over every triplet of a batch, unit-norm 32-d
   output) trains on the seen classes' training digits only.  Batch-hard mining
   (``--mining hard``) collapses on MNIST from a random initialisation (every embedding on
   one point, the loss stuck at the margin), so the default is batch-all.
2. **GAN.**  A feature-conditioned GAN (:mod:`gan_jax.models.feature_gan`) on the same seen-class
   digits: G and the projection discriminator are conditioned on the real image's features
   ``e``, and G's loss adds ``λ·‖e(G(z, e)) − e‖²`` (the sample's features near its
   condition: our choice of feature loss, λ = 1).  ``e`` is, by default, the metric
   network's *penultimate* features (unit-norm, 128-d), not its 32-d output
   (``--condition-layer embedding``), with StackGAN's conditioning augmentation
   ``e ← (e + σ·n/√d)/‖·‖``, ``n ~ N(0, I)``, σ = 0.5 (Zhang et al. 2017,
   arXiv:1612.03242).  Measured (docs/results/opengan.md): the triplet-trained output collapses each seen
   class to a tight cluster (squared distance 0.05 to its class mean, against 0.36–0.56
   for unseen digits), so G only ever sees seven points and renders an unseen exemplar as
   the nearest seen class; the penultimate features keep within-class variation, and the
   augmentation spreads the conditions between the clusters.
3. **Evaluation**, conditioning on ``k`` exemplars from the *test* split (the normalised mean
   of their embeddings; ``k`` = 1 and 5), for every class:
   - *fidelity*: the fraction of samples our all-class digit classifier (the evaluation
     classifier of ``train_dcgan``) assigns to the exemplars' class, against chance (1/10)
     and against the seen classes;
   - *FCD per class*: samples (k = 5) against all real digits of the class, with the
     real-vs-real floor (the class's training digits against its test digits);
   - *few-shot augmentation*, the paper's use: a 3-way classifier for the unseen classes
     trained on 5 real exemplars per class, and one trained on the same exemplars plus
     ``--augment`` generated digits per class conditioned on them, both measured on every
     other real digit of those classes, over ``--trials`` draws of exemplars.

Outputs in ``--out``: ``generations.png`` (k = 1: exemplar and samples per class),
``generations_k5.png``, ``fidelity.png``, ``curves.png`` and ``metrics.json``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import jax

from gan_jax import cli, configs, data
from gan_jax.models.feature_gan import build_feature_gan
from gan_jax.runner import feature_runs as feature_common
from gan_jax.runner.image_runs import fit_without_evaluation, get_classifier
from gan_jax.studies import opengan as study
from gan_jax.viz.feature_gans import plot_opengan

SAVED_DEFAULTS = {"mining": "hard"}  # runs saved before --mining existed mined the hardest


def build_parser() -> configs.ConfigParser:
    parser = feature_common.build_parser(
        "python -m experiments.opengan",
        __doc__.split("\n\n")[0],
        steps=3000,
        name="opengan",
        dataset="mnist",
    )
    add = functools.partial(parser.add_argument, role=configs.DEFINING)  # the run's own
    add(
        "--condition-layer",
        choices=["embedding", "penultimate"],
        default="penultimate",
        help="the metric network's output, or its penultimate features (both unit-norm)",
    )
    add(
        "--condition-noise",
        type=cli.non_negative_float,
        default=0.5,
        help="σ of the condition augmentation",
    )
    add(
        "--mining",
        choices=["all", "hard"],
        default="all",
        help="the metric network's triplets: every one of a batch, or its hardest",
    )
    add("--unseen", type=int, nargs="+", default=[7, 8, 9], help="classes held out of training")
    add = parser.add_argument  # the evaluation's
    add("--sets", type=cli.positive_int, default=40, help="exemplar sets per class and k")
    add("--per-set", type=cli.positive_int, default=5, help="samples per exemplar set")
    add("--shots", type=cli.positive_int, default=5, help="real exemplars per unseen class")
    add("--augment", type=cli.positive_int, default=200, help="generated digits per class")
    add("--trials", type=cli.positive_int, default=3, help="few-shot draws of exemplars")
    add(
        "--few-shot-steps",
        type=cli.positive_int,
        default=400,
        help="training steps of the few-shot 3-way classifiers",
    )
    return parser


def seen_and_unseen(unseen_flag: list[int], classes: int) -> tuple[list[int], list[int]]:
    """``(seen, unseen)`` classes of ``--unseen``, which must name some but not all."""
    unseen = sorted(set(unseen_flag))
    if not unseen or any(not 0 <= c < classes for c in unseen) or len(unseen) >= classes:
        raise cli.UserError(f"--unseen must name some but not all classes 0…{classes - 1}")
    return [c for c in range(classes) if c not in unseen], unseen


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = feature_common.plan(args, parser, SAVED_DEFAULTS)
    train_set = data.load_dataset(args.dataset, 32, "train", args.data_dir)
    test_set = data.load_dataset(args.dataset, 32, "test", args.data_dir)
    seen, unseen = seen_and_unseen(args.unseen, train_set.num_classes)
    seen_train = study.class_subset(train_set, seen)
    key = jax.random.key(args.seed)
    evaluator, evaluator_params, _ = get_classifier(args, 32)
    embedder, embedder_params, _ = feature_common.frozen_network(
        run,
        lambda: study.embedding_network(
            seen_train,
            jax.random.fold_in(key, 1),
            args.feature_steps,
            not args.no_progress,
            args.mining,
        ),
    )
    cond = study.embedding_conditions(
        embedder, embedder_params, args.condition_layer, args.condition_noise
    )
    config = feature_common.gan_config(args, train_set.image_shape[-1])
    model = build_feature_gan(config, seen_train.images, cond.conditions, key, cond.feature_loss)
    result, seconds = fit_without_evaluation(
        model.step, model.state, run, args, f"OpenGAN {args.dataset}"
    )
    generate = study.generator_of(model, result.state.extra["g_ema"])
    per_class, samples_k5 = study.per_class_evaluation(
        generate, cond.embed, evaluator, evaluator_params, train_set, test_set, seen,
        args.sets, args.per_set, args.seed,
    )  # fmt: skip
    summary = study.summary(per_class, seen, unseen)
    embed = jax.jit(cond.embed)
    few_shot = study.few_shot_augmentation(
        train_set, test_set, unseen, embed, generate, jax.random.fold_in(key, 3),
        shots=args.shots, augment=args.augment, trials=args.trials,
        classifier_steps=args.few_shot_steps, seed=args.seed,
    )  # fmt: skip

    os.makedirs(args.out, exist_ok=True)
    plot_opengan(args.out, test_set, unseen, embed, generate, args.seed, samples_k5, per_class)
    feature_common.plot_losses(
        args, "OpenGAN: D (projection) and G (adversarial + λ·embedding distance) losses"
    )
    chance = 1.0 / train_set.num_classes
    metrics = {
        "dataset": args.dataset, "seen_classes": seen, "unseen_classes": unseen,
        "steps": result.step, "gan_seconds": round(seconds, 1),
        "samples_per_class_and_k": args.sets * args.per_set, "chance": chance,
        "per_class": per_class, **summary, "few_shot": few_shot,
        "checks": study.checks(summary, chance, per_class, unseen),
    }  # fmt: skip
    cli.write_metrics(args.out, metrics)
    print(f"{study.report_line(metrics)}; outputs in {args.out}")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
