"""OpenGAN (Ditria, Meyer and Drummond 2020, arXiv:2003.08074): generate more of a class never
seen in training from a few exemplars, by conditioning a GAN on a metric-learning embedding.

    python -m experiments.opengan                 # digits: seen 0–6, unseen 7, 8, 9

1. **Embedding.**  A metric-learning network (:func:`gan_jax.models.feature_classifier.
   train_embedding`: batch-hard triplet loss, unit-norm 32-d output) trains on the seen
   classes' training digits only.
2. **GAN.**  A feature-conditioned GAN (:mod:`gan_jax.models.feature_gan`) on the same seen-class
   digits: G and the projection discriminator are conditioned on the real image's features
   ``e``, and G's loss adds ``λ·‖e(G(z, e)) − e‖²`` (the sample's features near its
   condition: our choice of feature loss, λ = 1).  ``e`` is, by default, the metric
   network's *penultimate* features (unit-norm, 128-d), not its 32-d output
   (``--condition-layer embedding``), with StackGAN's conditioning augmentation
   ``e ← (e + σ·n/√d)/‖·‖``, ``n ~ N(0, I)``, σ = 0.5 (Zhang et al. 2017,
   arXiv:1612.03242).  Measured (README): the triplet-trained output collapses each seen
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

import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import cli, data
from gan_jax.data import map_in_batches
from gan_jax.metrics import frechet_feature_distance, mean_and_standard_error
from gan_jax.models.feature_classifier import (
    accuracy,
    normalized_embedding,
    train_classifier,
    train_embedding,
    unit_norm,
)
from gan_jax.models.feature_gan import build_feature_gan
from gan_jax.runner import feature_runs as feature_common
from gan_jax.runner.image_runs import fit_without_evaluation, get_classifier
from gan_jax.viz.plotting import plot_image_rows

EMBEDDING_DIM = 32
RUN_DEFINING = ("condition_layer", "condition_noise", "unseen")  # besides feature_common's
FIGURE_SAMPLES = 8


def build_parser() -> cli.ArgumentParser:
    parser = feature_common.build_parser(
        "python -m experiments.opengan", __doc__.split("\n\n")[0], steps=3000, name="opengan"
    )
    add = parser.add_argument
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
    add("--unseen", type=int, nargs="+", default=[7, 8, 9], help="classes held out of training")
    add("--sets", type=cli.positive_int, default=40, help="exemplar sets per class and k")
    add("--per-set", type=cli.positive_int, default=5, help="samples per exemplar set")
    add("--shots", type=cli.positive_int, default=5, help="real exemplars per unseen class")
    add("--augment", type=cli.positive_int, default=200, help="generated digits per class")
    add("--trials", type=cli.positive_int, default=3, help="few-shot draws of exemplars")
    add("--classifier-steps", type=cli.positive_int, default=400, help="few-shot classifier")
    return parser


def subset(dataset: data.ImageDataset, mask: np.ndarray) -> data.ImageDataset:
    index = np.flatnonzero(mask)
    return data.ImageDataset(
        dataset.name, dataset.images[index], dataset.labels[index], dataset.num_classes
    )


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    run = feature_common.plan(args, RUN_DEFINING)
    train_set = data.load_dataset(args.dataset, 32, "train", args.data_dir)
    test_set = data.load_dataset(args.dataset, 32, "test", args.data_dir)
    classes = train_set.num_classes
    unseen = sorted(set(args.unseen))
    if not unseen or any(not 0 <= c < classes for c in unseen) or len(unseen) >= classes:
        raise cli.UserError(f"--unseen must name some but not all classes 0…{classes - 1}")
    seen = [c for c in range(classes) if c not in unseen]
    train_labels = np.asarray(train_set.labels)
    seen_train = subset(train_set, np.isin(train_labels, seen))
    key = jax.random.key(args.seed)
    evaluator, evaluator_params, _ = get_classifier(args, 32)

    def train_frozen():
        model, params, _ = train_embedding(
            seen_train, jax.random.fold_in(key, 1), EMBEDDING_DIM, steps=args.feature_steps,
            progress=not args.no_progress,
        )  # fmt: skip
        return model, params, {"num_classes": EMBEDDING_DIM, "image_shape": [32, 32, 1]}

    embedder, embedder_params, _ = feature_common.frozen_network(run, train_frozen)

    def embed(images: jax.Array) -> jax.Array:
        if args.condition_layer == "embedding":
            return normalized_embedding(embedder, embedder_params, images)
        return unit_norm(embedder.apply(embedder_params, images, method=embedder.embed))

    def conditions(real: jax.Array, key: jax.Array) -> dict:
        e = embed(real)
        if args.condition_noise:
            e = unit_norm(
                e + args.condition_noise * jax.random.normal(key, e.shape) / e.shape[-1] ** 0.5
            )
        return {"condition": e, "maps": (), "d_condition": e}

    def embedding_loss(fake: jax.Array, batch: dict) -> jax.Array:
        return jnp.mean(jnp.sum(jnp.square(embed(fake) - batch["condition"]), axis=-1))

    config = feature_common.gan_config(args, train_set.image_shape[-1])
    model = build_feature_gan(config, seen_train.images, conditions, key, embedding_loss)
    result, seconds = fit_without_evaluation(
        model.step, model.state, run, args, f"OpenGAN {args.dataset}"
    )
    g = result.state.extra["g_ema"]
    embed_jit, classify = jax.jit(embed), jax.jit(evaluator.apply)
    features_jit = jax.jit(lambda x: evaluator.apply(evaluator_params, x, method=evaluator.embed))

    def generate(condition: jax.Array, count: int, key: jax.Array) -> jax.Array:
        """``count`` samples for every condition row: ``(rows·count, H, W, C)``."""
        repeated = jnp.repeat(condition, count, axis=0)
        z = jax.random.normal(key, (repeated.shape[0], config.latent_dim))
        return model.generate(g, z, repeated)

    def exemplar_conditions(images: jax.Array, k: int, sets: int, key: jax.Array) -> jax.Array:
        picks = jax.random.randint(key, (sets, k), 0, images.shape[0])
        e = embed_jit(images[picks.reshape(-1)]).reshape(sets, k, -1).mean(axis=1)
        return unit_norm(e)

    test_labels = np.asarray(test_set.labels)
    per_class, samples_k5 = {}, {}
    for c in range(classes):
        exemplars = test_set.images[np.flatnonzero(test_labels == c)]
        row = {"seen": c in seen}
        for k in (1, 5):
            eval_key = jax.random.fold_in(jax.random.key(args.seed + 1000), 10 * c + k)
            condition = exemplar_conditions(exemplars, k, args.sets, eval_key)
            samples = generate(condition, args.per_set, jax.random.fold_in(eval_key, 1))
            predicted = np.argmax(np.asarray(classify(evaluator_params, samples)), axis=-1)
            row[f"fidelity_k{k}"] = float(np.mean(predicted == c))
            if k == 5:
                samples_k5[c] = samples
        train_features = np.asarray(
            map_in_batches(features_jit, train_set.images[train_labels == c])
        )
        test_features = np.asarray(map_in_batches(features_jit, exemplars))
        row["fcd_k5"] = frechet_feature_distance(
            np.concatenate([train_features, test_features]),
            map_in_batches(features_jit, samples_k5[c]),
        )
        row["fcd_real_train_vs_test"] = frechet_feature_distance(train_features, test_features)
        per_class[str(c)] = row

    def mean_over(group: list[int], name: str) -> float:
        return float(np.mean([per_class[str(c)][name] for c in group]))

    summary = {
        f"{group_name}_{name}": mean_over(group, name)
        for group_name, group in (("seen", seen), ("unseen", unseen))
        for name in ("fidelity_k1", "fidelity_k5", "fcd_k5", "fcd_real_train_vs_test")
    }
    few_shot = few_shot_augmentation(
        args, train_set, test_set, unseen, embed_jit, generate, jax.random.fold_in(key, 3)
    )

    os.makedirs(args.out, exist_ok=True)
    plot_generations(args, test_set, unseen, embed_jit, generate)
    plot_generations_k5(args, test_set, unseen, samples_k5)
    plot_fidelity(args, per_class, unseen)
    feature_common.plot_losses(
        args, "OpenGAN: D (projection) and G (adversarial + λ·embedding distance) losses"
    )
    chance = 1.0 / classes
    metrics = {
        "dataset": args.dataset,
        "seen_classes": seen,
        "unseen_classes": unseen,
        "steps": result.step,
        "gan_seconds": round(seconds, 1),
        "samples_per_class_and_k": args.sets * args.per_set,
        "chance": chance,
        "per_class": per_class,
        **summary,
        "few_shot": few_shot,
        "checks": {
            f"unseen_fidelity_k{k}_at_least_twice_chance": summary[f"unseen_fidelity_k{k}"]
            >= 2 * chance
            for k in (1, 5)
        },
    }
    cli.write_metrics(args.out, metrics)
    print(
        f"fidelity k=1 / k=5: seen {summary['seen_fidelity_k1']:.1%} / "
        f"{summary['seen_fidelity_k5']:.1%}, unseen {summary['unseen_fidelity_k1']:.1%} / "
        f"{summary['unseen_fidelity_k5']:.1%} (chance {chance:.0%}); few-shot accuracy "
        f"{few_shot['real_only_mean']:.1%} real only, {few_shot['augmented_mean']:.1%} "
        f"augmented; outputs in {args.out}"
    )
    return metrics


def relabelled(images, labels, classes: list[int]) -> data.ImageDataset:
    """``images`` with labels ``classes[i]`` renamed ``i``."""
    index = {c: i for i, c in enumerate(classes)}
    new = np.array([index[int(c)] for c in labels], np.int32)
    return data.ImageDataset("few-shot", jnp.asarray(images), jnp.asarray(new), len(classes))


def few_shot_augmentation(args, train_set, test_set, unseen, embed, generate, key) -> dict:
    """The paper's use case (module doc): accuracy of a ``len(unseen)``-way classifier on
    held-out real digits, trained on ``--shots`` real exemplars per class alone and with
    ``--augment`` generated digits per class conditioned on each of them (k = 1)."""
    train_labels, test_labels = np.asarray(train_set.labels), np.asarray(test_set.labels)
    real_only, augmented = [], []
    for trial in range(args.trials):
        trial_key = jax.random.fold_in(key, trial)
        rng = np.random.default_rng(args.seed * 1000 + trial)
        shots = np.concatenate(
            [rng.choice(np.flatnonzero(train_labels == c), args.shots, replace=False)
             for c in unseen]
        )  # fmt: skip
        held_out = np.isin(train_labels, unseen) & ~np.isin(np.arange(len(train_labels)), shots)
        evaluation = relabelled(
            np.concatenate(
                [np.asarray(train_set.images[held_out]),
                 np.asarray(test_set.images[np.isin(test_labels, unseen)])]
            ),
            np.concatenate([train_labels[held_out], test_labels[np.isin(test_labels, unseen)]]),
            unseen,
        )  # fmt: skip
        real = relabelled(np.asarray(train_set.images[shots]), train_labels[shots], unseen)
        per_exemplar = -(-args.augment // args.shots)
        fake = generate(embed(train_set.images[shots]), per_exemplar, trial_key)
        fake_labels = np.repeat(train_labels[shots], per_exemplar)
        mixed = relabelled(
            np.concatenate([np.asarray(real.images), np.asarray(fake)]),
            np.concatenate([train_labels[shots], fake_labels]),
            unseen,
        )
        for training, sink in ((real, real_only), (mixed, augmented)):
            model, params, _ = train_classifier(
                training, jax.random.fold_in(trial_key, 1), args.classifier_steps,
                batch_size=64, progress=False,
            )  # fmt: skip
            sink.append(accuracy(model, params, evaluation))
    real_mean, real_se = mean_and_standard_error(np.asarray(real_only))
    mixed_mean, mixed_se = mean_and_standard_error(np.asarray(augmented))
    return {
        "shots_per_class": args.shots,
        "generated_per_class": per_exemplar * args.shots,
        "trials": args.trials,
        "evaluation_digits": len(evaluation),
        "real_only": real_only,
        "augmented": augmented,
        "real_only_mean": float(real_mean),
        "real_only_se": float(real_se),
        "augmented_mean": float(mixed_mean),
        "augmented_se": float(mixed_se),
    }


def plot_generations(args, test_set, unseen, embed, generate) -> None:
    labels = np.asarray(test_set.labels)
    rows, names = [], []
    for c in range(test_set.num_classes):
        exemplar = test_set.images[np.flatnonzero(labels == c)[:1]]
        samples = generate(embed(exemplar), FIGURE_SAMPLES, jax.random.key(args.seed + 77 + c))
        rows.append(np.concatenate([np.asarray(exemplar), np.asarray(samples)]))
        names.append(f"{c} ({'unseen' if c in unseen else 'seen'})")
    plot_image_rows(
        rows,
        os.path.join(args.out, "generations.png"),
        row_labels=names,
        col_labels=["exemplar"] + [f"G {i + 1}" for i in range(FIGURE_SAMPLES)],
        title=f"OpenGAN, one exemplar (test split); classes {unseen} never trained on",
    )


def plot_generations_k5(args, test_set, unseen, samples_k5) -> None:
    rows = [np.asarray(samples_k5[c][:FIGURE_SAMPLES]) for c in range(test_set.num_classes)]
    plot_image_rows(
        rows,
        os.path.join(args.out, "generations_k5.png"),
        row_labels=[f"{c} ({'unseen' if c in unseen else 'seen'})" for c in range(len(rows))],
        title="OpenGAN, five exemplars per condition (the first eight samples)",
    )


def plot_fidelity(args, per_class: dict, unseen) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = np.arange(len(per_class))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for offset, k in ((-0.2, 1), (0.2, 5)):
        values = [per_class[str(c)][f"fidelity_k{k}"] for c in classes]
        ax.bar(classes + offset, values, width=0.4, label=f"k = {k} exemplars")
    ax.axhline(0.1, color="black", linestyle="--", linewidth=1, label="chance (1/10)")
    ax.axhline(0.2, color="gray", linestyle=":", linewidth=1, label="2 × chance")
    ax.set_xticks(classes, [f"{c}\n{'unseen' if c in unseen else 'seen'}" for c in classes])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("samples classified as the exemplar's class")
    ax.set_title("OpenGAN fidelity per class (our all-class digit classifier)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "fidelity.png"), dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    cli.run_main(main)
