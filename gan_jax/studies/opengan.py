"""OpenGAN (Ditria, Meyer and Drummond 2020, arXiv:2003.08074): a GAN conditioned on a
metric-learning embedding, evaluated on classes it never saw; the study of
``python -m experiments.opengan`` (its module doc describes the method and choices).

* :func:`embedding_conditions`: the condition ``e`` of a real batch (the embedding
  network's output or penultimate features, unit-norm), with StackGAN's conditioning
  augmentation ``e ← (e + σ·n/√d)/‖·‖`` (Zhang et al. 2017, arXiv:1612.03242), and the
  feature loss ``‖e(G(z, e)) − e‖²``;
* :func:`per_class_evaluation`: per class, conditioning on ``k`` = 1 and 5 exemplars of the
  test split (the normalised mean of their embeddings): fidelity (the share of samples the
  evaluation classifier assigns to the exemplars' class) and the FCD of the k = 5 samples
  against the class's real digits, with its real-vs-real floor;
* :func:`few_shot_augmentation`: the paper's use, a classifier of the unseen classes
  trained on a few real exemplars per class, alone and with generated digits conditioned
  on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import data
from gan_jax.data import map_in_batches
from gan_jax.metrics import (
    frechet_feature_distance,
    kernel_distance,
    mean_and_standard_error,
    precision_recall,
)
from gan_jax.models.feature_classifier import (
    PR_NEIGHBOURS,
    accuracy,
    normalized_embedding,
    train_classifier,
    train_embedding,
    unit_norm,
)
from gan_jax.models.feature_gan import FeatureGAN

__all__ = [
    "EMBEDDING_DIM",
    "EmbeddingConditions",
    "checks",
    "class_subset",
    "embedding_conditions",
    "embedding_network",
    "few_shot_augmentation",
    "generator_of",
    "per_class_evaluation",
    "relabelled",
    "report_line",
    "summary",
]

Array = jax.Array
EMBEDDING_DIM = 32
Generate = Callable[[Array, int, Array], Array]  # (conditions, samples per row, key) -> images


def class_subset(dataset: data.ImageDataset, classes: list[int]) -> data.ImageDataset:
    """The images of ``dataset`` whose label is in ``classes`` (labels kept)."""
    index = np.flatnonzero(np.isin(np.asarray(dataset.labels), classes))
    return data.ImageDataset(
        dataset.name, dataset.images[index], dataset.labels[index], dataset.num_classes
    )


def embedding_network(
    train_set: data.ImageDataset,
    key: Array,
    steps: int,
    progress: bool = True,
    mining: str = "all",
) -> tuple[Any, Any, dict]:
    """The metric network on ``train_set`` (the triplet loss over every triplet of a batch,
    or its hardest ones, ``mining="hard"``; a unit-norm ``EMBEDDING_DIM``-d output):
    ``(model, params, meta)`` as :func:`gan_jax.models.feature_classifier.load_classifier`
    restores them."""
    model, params, _ = train_embedding(
        train_set, key, EMBEDDING_DIM, steps=steps, progress=progress, mining=mining
    )
    return model, params, {"num_classes": EMBEDDING_DIM, "image_shape": list(train_set.image_shape)}


@dataclasses.dataclass(frozen=True)
class EmbeddingConditions:
    """``embed(images)``: the unit-norm condition of images; ``conditions(real, key)``: a
    training batch's conditions (augmented); ``feature_loss(fake, batch)``: G's
    ``mean ‖e(G(z, e)) − e‖²``."""

    embed: Callable[[Array], Array]
    conditions: Callable[[Array, Array], dict]
    feature_loss: Callable[[Array, dict], Array]


def embedding_conditions(
    embedder: Any, params: Any, layer: str = "penultimate", noise: float = 0.5
) -> EmbeddingConditions:
    """Conditions from the metric network ``embedder`` (``layer``: ``"embedding"``, its
    output, or ``"penultimate"``, its features) with augmentation σ = ``noise``."""

    def embed(images: Array) -> Array:
        if layer == "embedding":
            return normalized_embedding(embedder, params, images)
        return unit_norm(embedder.apply(params, images, method=embedder.embed))

    def conditions(real: Array, key: Array) -> dict:
        e = embed(real)
        if noise:
            e = unit_norm(e + noise * jax.random.normal(key, e.shape) / e.shape[-1] ** 0.5)
        return {"condition": e, "maps": (), "d_condition": e}

    def feature_loss(fake: Array, batch: dict) -> Array:
        return jnp.mean(jnp.sum(jnp.square(embed(fake) - batch["condition"]), axis=-1))

    return EmbeddingConditions(embed, conditions, feature_loss)


def generator_of(model: FeatureGAN, g: Any) -> Generate:
    """``generate(condition, count, key)``: ``count`` samples of G (variables ``g``) for
    every condition row, ``(rows·count, H, W, C)``."""

    def generate(condition: Array, count: int, key: Array) -> Array:
        repeated = jnp.repeat(condition, count, axis=0)
        z = jax.random.normal(key, (repeated.shape[0], model.config.latent_dim))
        return model.generate(g, z, repeated)

    return generate


def per_class_evaluation(
    generate: Generate,
    embed: Callable[[Array], Array],
    evaluator: Any,
    evaluator_params: Any,
    train_set: data.ImageDataset,
    test_set: data.ImageDataset,
    seen: list[int],
    sets: int,
    per_set: int,
    seed: int,
) -> tuple[dict[str, dict], dict[int, Array]]:
    """``(per_class, samples_k5)``: every class's fidelity at k = 1 and 5 (``sets``
    exemplar sets of ``per_set`` samples each), FCD, KID and precision/recall (k = 3) of the
    k = 5 samples against the class's real digits, FCD's real-vs-real floor (module doc);
    and the k = 5 samples of each class.

    Beside each fidelity, its **empirical null** ``null_k{k}``: how often the samples
    conditioned on the *other* classes' exemplars are called this class (the mean of the
    confusion matrix's column without its diagonal entry), so that a class G draws
    whatever the condition (a frequent shape) is not credited with following its
    condition; ``fidelity_over_null_k{k}`` is their ratio (``inf`` for a null of 0)."""
    embed_jit, classify = jax.jit(embed), jax.jit(evaluator.apply)
    features = jax.jit(lambda x: evaluator.apply(evaluator_params, x, method=evaluator.embed))

    def exemplar_conditions(images: np.ndarray, k: int, key: Array) -> Array:
        picks = np.asarray(jax.random.randint(key, (sets, k), 0, images.shape[0]))
        return unit_norm(embed_jit(images[picks.reshape(-1)]).reshape(sets, k, -1).mean(axis=1))

    # Classes are picked out on the host: indexing a device array by a class's rows
    # compiles a gather for every class's count.
    train_images, test_images = np.asarray(train_set.images), np.asarray(test_set.images)
    train_labels, test_labels = np.asarray(train_set.labels), np.asarray(test_set.labels)
    per_class, samples_k5 = {}, {}
    num_classes = train_set.num_classes
    # called[k][c, c']: the share of samples conditioned on class c's exemplars that the
    # evaluator calls c' (the confusion matrix of the conditioning)
    called = {k: np.zeros((num_classes, num_classes)) for k in (1, 5)}
    for c in range(num_classes):
        exemplars = test_images[np.flatnonzero(test_labels == c)]
        row: dict[str, Any] = {"seen": c in seen}
        for k in (1, 5):
            eval_key = jax.random.fold_in(jax.random.key(seed + 1000), 10 * c + k)
            condition = exemplar_conditions(exemplars, k, eval_key)
            samples = generate(condition, per_set, jax.random.fold_in(eval_key, 1))
            predicted = np.argmax(np.asarray(classify(evaluator_params, samples)), axis=-1)
            row[f"fidelity_k{k}"] = float(np.mean(predicted == c))
            called[k][c] = np.bincount(predicted, minlength=num_classes)[:num_classes] / len(
                predicted
            )
            if k == 5:
                samples_k5[c] = samples
        train_features = np.asarray(map_in_batches(features, train_images[train_labels == c]))
        test_features = np.asarray(map_in_batches(features, exemplars))
        real_features = np.concatenate([train_features, test_features])
        fake_features = np.asarray(map_in_batches(features, samples_k5[c]))
        row["fcd_k5"] = frechet_feature_distance(real_features, fake_features)
        row["kid_k5"] = kernel_distance(real_features, fake_features).value
        quality = precision_recall(real_features, fake_features, PR_NEIGHBOURS)
        row["precision_k5"], row["recall_k5"] = quality["precision"], quality["recall"]
        row["fcd_real_train_vs_test"] = frechet_feature_distance(train_features, test_features)
        per_class[str(c)] = row
    for c in range(num_classes):
        for k in (1, 5):
            others = np.delete(called[k][:, c], c)
            null = float(np.mean(others))
            per_class[str(c)][f"null_k{k}"] = null
            per_class[str(c)][f"fidelity_over_null_k{k}"] = (
                per_class[str(c)][f"fidelity_k{k}"] / null if null > 0 else float("inf")
            )
    return per_class, samples_k5


def summary(per_class: dict[str, dict], seen: list[int], unseen: list[int]) -> dict[str, float]:
    """Each per-class number averaged over the seen and over the unseen classes."""
    return {
        f"{group_name}_{name}": float(np.mean([per_class[str(c)][name] for c in group]))
        for group_name, group in (("seen", seen), ("unseen", unseen))
        for name in (
            "fidelity_k1",
            "fidelity_k5",
            "fcd_k5",
            "kid_k5",
            "precision_k5",
            "recall_k5",
            "fcd_real_train_vs_test",
        )
    }


def checks(
    summary: dict[str, float],
    chance: float,
    per_class: dict[str, dict] | None = None,
    unseen: list[int] | None = None,
) -> dict[str, bool]:
    """The results page's claims: unseen classes' fidelity at least twice chance, at k = 1 and 5;
    and, given ``per_class`` and ``unseen``, each unseen class's fidelity at k = 5 at least
    twice its empirical null (:func:`per_class_evaluation`)."""
    result = {
        f"unseen_fidelity_k{k}_at_least_twice_chance": summary[f"unseen_fidelity_k{k}"]
        >= 2 * chance
        for k in (1, 5)
    }
    for c in unseen or []:
        row = (per_class or {})[str(c)]
        result[f"class_{c}_fidelity_k5_at_least_twice_its_null"] = (
            row["fidelity_k5"] >= 2 * row["null_k5"]
        )
    return result


def report_line(metrics: dict[str, Any]) -> str:
    """The study's numbers in one line: fidelity at k = 1 and 5 for the seen and unseen
    classes, each unseen class's k = 5 fidelity against its empirical null, and the
    few-shot accuracies (``metrics``: what ``experiments.opengan`` writes)."""
    per_class, few_shot = metrics["per_class"], metrics["few_shot"]
    nulls = ", ".join(
        f"{c} {per_class[str(c)]['fidelity_k5']:.1%} / {per_class[str(c)]['null_k5']:.1%}"
        for c in metrics["unseen_classes"]
    )
    return (
        f"fidelity k=1 / k=5: seen {metrics['seen_fidelity_k1']:.1%} / "
        f"{metrics['seen_fidelity_k5']:.1%}, unseen {metrics['unseen_fidelity_k1']:.1%} / "
        f"{metrics['unseen_fidelity_k5']:.1%} (chance {metrics['chance']:.0%}); unseen k=5 "
        f"against the class's empirical null: {nulls}; few-shot accuracy "
        f"{few_shot['real_only_mean']:.1%} real only, {few_shot['augmented_mean']:.1%} augmented"
    )


def relabelled(images: Any, labels: Any, classes: list[int]) -> data.ImageDataset:
    """``images`` with labels ``classes[i]`` renamed ``i``."""
    index = {c: i for i, c in enumerate(classes)}
    new = np.array([index[int(c)] for c in labels], np.int32)
    return data.ImageDataset("few-shot", jax.device_put(images), jax.device_put(new), len(classes))


def few_shot_augmentation(
    train_set: data.ImageDataset,
    test_set: data.ImageDataset,
    unseen: list[int],
    embed: Callable[[Array], Array],
    generate: Generate,
    key: Array,
    *,
    shots: int,
    augment: int,
    trials: int,
    classifier_steps: int,
    seed: int,
) -> dict[str, Any]:
    """The paper's use case: accuracy of a ``len(unseen)``-way classifier on held-out real
    digits, trained on ``shots`` real exemplars per class alone and with ``augment``
    generated digits per class conditioned on each of them (k = 1), over ``trials`` draws."""
    train_images, test_images = np.asarray(train_set.images), np.asarray(test_set.images)
    train_labels, test_labels = np.asarray(train_set.labels), np.asarray(test_set.labels)
    real_only, augmented = [], []
    per_exemplar = -(-augment // shots)
    for trial in range(trials):
        trial_key = jax.random.fold_in(key, trial)
        rng = np.random.default_rng(seed * 1000 + trial)
        picked = np.concatenate(
            [rng.choice(np.flatnonzero(train_labels == c), shots, replace=False) for c in unseen]
        )
        held_out = np.isin(train_labels, unseen) & ~np.isin(np.arange(len(train_labels)), picked)
        in_test = np.isin(test_labels, unseen)
        evaluation = relabelled(
            np.concatenate([train_images[held_out], test_images[in_test]]),
            np.concatenate([train_labels[held_out], test_labels[in_test]]),
            unseen,
        )  # fmt: skip
        real = relabelled(train_images[picked], train_labels[picked], unseen)
        fake = generate(embed(train_images[picked]), per_exemplar, trial_key)
        mixed = relabelled(
            np.concatenate([np.asarray(real.images), np.asarray(fake)]),
            np.concatenate([train_labels[picked], np.repeat(train_labels[picked], per_exemplar)]),
            unseen,
        )
        for examples, sink in ((real, real_only), (mixed, augmented)):
            model, params, _ = train_classifier(
                examples, jax.random.fold_in(trial_key, 1), classifier_steps,
                batch_size=64, progress=False,
            )  # fmt: skip
            sink.append(accuracy(model, params, evaluation))
    real_mean, real_se = mean_and_standard_error(np.asarray(real_only))
    mixed_mean, mixed_se = mean_and_standard_error(np.asarray(augmented))
    return {
        "shots_per_class": shots,
        "generated_per_class": per_exemplar * shots,
        "trials": trials,
        "evaluation_digits": len(evaluation),
        "real_only": real_only,
        "augmented": augmented,
        "real_only_mean": float(real_mean),
        "real_only_se": float(real_se),
        "augmented_mean": float(mixed_mean),
        "augmented_se": float(mixed_se),
    }
