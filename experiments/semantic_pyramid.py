"""Semantic Pyramid (Shocher et al. 2020, arXiv:2003.06221): generate from a frozen
classifier's features at one level of its hierarchy, and watch what each level keeps.

    python -m experiments.semantic_pyramid          # digits, seven levels

1. **Features.**  A deeper digit classifier than the evaluation one
   (:class:`~gan_jax.nets.classifier.PyramidClassifier`: maps at strides 2, 4, 8, 16 and 32,
   fc and logits) trains on the training digits and is frozen.
2. **GAN.**  A feature-conditioned GAN (:mod:`gan_jax.models.feature_gan`) with hierarchical masking
   (:mod:`gan_jax.models.semantic_pyramid`): each training example feeds G one random level of its
   own features; G's loss is adversarial plus the feature reconstruction at that level,
   plus the mode-seeking term (:func:`gan_jax.losses.mode_seeking_loss`, weight 1): without
   it G ignored ``z`` (README).
3. **Evaluation** on ``--sources`` held-out (test) digits, ``--samples`` latent codes each,
   at every level: pixel similarity to the source (PSNR, expected to fall with the level),
   class agreement with the source's label under our all-class evaluation classifier
   (expected to stay high) and diversity across ``z`` (the mean per-pixel standard
   deviation, expected to rise).

Outputs in ``--out``: ``pyramid.png`` (the seed's figure: a source column, then one column
per level, two ``z`` per source), ``trends.png`` (the three measures per level),
``curves.png`` and ``metrics.json``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import cli, data
from gan_jax.metrics import per_pixel_std, psnr
from gan_jax.models import semantic_pyramid as sp
from gan_jax.models.feature_classifier import accuracy, train_classifier, unit_norm
from gan_jax.models.feature_gan import build_feature_gan
from gan_jax.nets.classifier import PYRAMID_LEVELS, PyramidClassifier
from gan_jax.runner import feature_runs as feature_common
from gan_jax.runner.image_runs import fit_without_evaluation, get_classifier
from gan_jax.viz.plotting import plot_image_rows

FIGURE_SOURCES = 4
FIGURE_SAMPLES = 2


def build_parser() -> cli.ArgumentParser:
    parser = feature_common.build_parser(
        "python -m experiments.semantic_pyramid",
        __doc__.split("\n\n")[0],
        steps=3000,
        name="semantic_pyramid",
        feature_steps=400,
        diversity_weight=0.1,
    )
    add = parser.add_argument
    add("--sources", type=cli.positive_int, default=64, help="held-out source digits")
    add("--samples", type=cli.positive_int, default=8, help="latent codes per source and level")
    return parser


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    run = feature_common.plan(args)
    train_set = data.load_dataset(args.dataset, 32, "train", args.data_dir)
    test_set = data.load_dataset(args.dataset, 32, "test", args.data_dir)
    key = jax.random.key(args.seed)
    evaluator, evaluator_params, _ = get_classifier(args, 32)

    def train_frozen():
        model, params, _ = train_classifier(
            train_set, jax.random.fold_in(key, 1), args.feature_steps,
            progress=not args.no_progress, model=PyramidClassifier(train_set.num_classes),
        )  # fmt: skip
        meta = {
            "architecture": "pyramid",
            "num_classes": train_set.num_classes,
            "image_shape": list(train_set.image_shape),
            "test_accuracy": accuracy(model, params, test_set),
        }
        return model, params, meta

    pyramid, pyramid_params, pyramid_meta = feature_common.frozen_network(run, train_frozen)

    def levels(images: jax.Array) -> list[jax.Array]:
        return pyramid.apply(pyramid_params, images, method=pyramid.levels)

    scales = jax.jit(lambda x: sp.level_scales(levels(x)))(train_set.images[:512])

    def normalized(images: jax.Array) -> list[jax.Array]:
        return sp.normalize_levels(levels(images), scales)

    def conditions(real: jax.Array, key: jax.Array) -> dict:
        targets = normalized(real)
        mask = sp.level_mask(jax.random.randint(key, (real.shape[0],), 0, sp.NUM_LEVELS))
        condition, maps = sp.masked_inputs(targets, mask)
        return {
            "condition": condition,
            "maps": maps,
            "d_condition": unit_norm(targets[sp.FC_LEVEL]),
            "targets": tuple(targets),
            "mask": mask,
        }

    def reconstruction(fake: jax.Array, batch: dict) -> jax.Array:
        return sp.level_reconstruction_loss(normalized(fake), batch["targets"], batch["mask"])

    config = feature_common.gan_config(args, train_set.image_shape[-1])
    model = build_feature_gan(config, train_set.images, conditions, key, reconstruction)
    result, seconds = fit_without_evaluation(
        model.step, model.state, run, args, f"Semantic Pyramid {args.dataset}"
    )
    g = result.state.extra["g_ema"]

    count = min(args.sources, len(test_set))
    pick = np.random.default_rng(args.seed).choice(len(test_set), count, replace=False)
    sources, labels = test_set.images[pick], np.asarray(test_set.labels)[pick]
    source_levels = jax.jit(normalized)(sources)
    z = jax.random.normal(jax.random.key(args.seed + 5), (args.samples, count, config.latent_dim))

    @jax.jit
    def generate_at(level: int) -> jax.Array:
        mask = sp.level_mask(jnp.full((count,), level))
        condition, maps = sp.masked_inputs(source_levels, mask)
        return jax.vmap(lambda zs: model.generate(g, zs, condition, maps))(z)

    classify = jax.jit(evaluator.apply)
    per_level, figure_columns = {}, []
    for level, name in enumerate(PYRAMID_LEVELS):
        samples = generate_at(level)  # (samples, count, H, W, C)
        flat = samples.reshape((-1,) + samples.shape[2:])
        predicted = np.argmax(np.asarray(classify(evaluator_params, flat)), axis=-1)
        per_level[name] = {
            "psnr_to_source": float(
                np.mean(np.asarray(psnr(flat, jnp.tile(sources, (args.samples, 1, 1, 1)))))
            ),
            "class_agreement": float(np.mean(predicted == np.tile(labels, args.samples))),
            "diversity": float(np.mean(np.asarray(per_pixel_std(samples)))),
        }
        figure_columns.append(np.asarray(samples[:FIGURE_SAMPLES, :FIGURE_SOURCES]))

    os.makedirs(args.out, exist_ok=True)
    plot_pyramid(args, np.asarray(sources[:FIGURE_SOURCES]), figure_columns)
    plot_trends(args, per_level)
    feature_common.plot_losses(
        args,
        "Semantic Pyramid: D (projection on fc), G (adversarial + reconstruction + mode seeking)",
    )
    trend = {k: [per_level[n][k] for n in PYRAMID_LEVELS] for k in next(iter(per_level.values()))}
    metrics = {
        "dataset": args.dataset,
        "levels": list(PYRAMID_LEVELS),
        "steps": result.step,
        "gan_seconds": round(seconds, 1),
        "pyramid_classifier_test_accuracy": pyramid_meta.get("test_accuracy"),
        "sources": count,
        "samples_per_source": args.samples,
        "per_level": per_level,
        "trends": {
            "psnr_falls": trend["psnr_to_source"][0] > trend["psnr_to_source"][-1],
            "class_agreement_min": min(trend["class_agreement"]),
            "diversity_rises": trend["diversity"][-1] > trend["diversity"][0],
            "spearman_psnr_vs_level": spearman(trend["psnr_to_source"]),
            "spearman_diversity_vs_level": spearman(trend["diversity"]),
        },
    }
    cli.write_metrics(args.out, metrics)
    for name, row in per_level.items():
        print(
            f"{name:>9}: PSNR to source {row['psnr_to_source']:.2f} dB, class agreement "
            f"{row['class_agreement']:.1%}, diversity {row['diversity']:.4f}"
        )
    print(f"outputs in {args.out}")
    return metrics


def spearman(values: Sequence[float]) -> float:
    """Spearman's rank correlation of ``values`` with their index (the level)."""
    ranks = np.argsort(np.argsort(np.asarray(values)))
    return float(np.corrcoef(ranks, np.arange(len(values)))[0, 1])


def plot_pyramid(args, sources: np.ndarray, columns: list[np.ndarray]) -> None:
    rows, names = [], []
    for i in range(sources.shape[0]):
        for s in range(columns[0].shape[0]):
            rows.append(np.stack([sources[i]] + [column[s, i] for column in columns]))
            names.append(f"source {i + 1}, z{s + 1}")
    plot_image_rows(
        rows,
        os.path.join(args.out, "pyramid.png"),
        row_labels=names,
        col_labels=["source"] + list(PYRAMID_LEVELS),
        title="Semantic Pyramid: generation from one level of a frozen classifier",
    )


def plot_trends(args, per_level: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(per_level)
    x = np.arange(len(names))
    panels = (
        ("psnr_to_source", "PSNR to the source (dB)", "pixel similarity"),
        ("class_agreement", "fraction with the source's class", "class agreement"),
        ("diversity", "mean per-pixel std over z", "diversity across z"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (key, ylabel, title) in zip(axes, panels):
        ax.plot(x, [per_level[n][key] for n in names], "o-")
        ax.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if key == "class_agreement":
            ax.set_ylim(0, 1.05)
    fig.suptitle("Semantic Pyramid on held-out digits, by conditioning level")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "trends.png"), dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    cli.run_main(main)
