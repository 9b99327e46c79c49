"""Train the small CNN whose features define the Fréchet classifier distance and whose
predictions define class coverage (:mod:`gan_jax.models.feature_classifier`), and checkpoint it.

    python -m experiments.train_classifier --dataset mnist     # ≈ 2 minutes on 2 CPU cores

Writes the checkpoint (``--out``, default ``runs/classifier_<dataset>``), ``metrics.json``
(held-out accuracy) and ``curves.png`` (training loss).  ``experiments.train_dcgan`` trains
this classifier itself the first time it needs one and reuses the checkpoint after.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from gan_jax import cli, data
from gan_jax.models.feature_classifier import (
    DEFAULT_CLASSIFIER_STEPS,
    classifier_cache_dir,
    train_and_save_classifier,
)
from gan_jax.viz.plotting import plot_curves

DEFAULT_STEPS = DEFAULT_CLASSIFIER_STEPS


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="python -m experiments.train_classifier", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dataset", default="mnist", help=f"one of {', '.join(data.DATASETS)}")
    parser.add_argument("--resolution", type=cli.positive_int, default=32)
    parser.add_argument("--steps", type=cli.positive_int, default=DEFAULT_STEPS)
    parser.add_argument("--batch-size", type=cli.positive_int, default=128)
    parser.add_argument("--lr", type=cli.positive_float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir", type=cli.existing_directory, default=None, help="tfds data directory"
    )
    parser.add_argument(
        "--out",
        type=cli.output_directory,
        default=None,
        help="checkpoint folder (default runs/classifier_<dataset>_<resolution>)",
    )
    return parser.parse_args(argv)


def train_and_save(
    dataset: str,
    resolution: int,
    out: str,
    steps: int = DEFAULT_STEPS,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    data_dir: str | None = None,
) -> dict:
    """:func:`gan_jax.models.feature_classifier.train_and_save_classifier`, plus ``metrics.json``
    and ``curves.png`` in ``out``; returns the measurements."""
    metrics, losses = train_and_save_classifier(
        dataset, resolution, out, steps, batch_size, lr, seed, data_dir
    )
    cli.write_metrics(out, metrics)
    plot_curves(
        {"cross-entropy": (np.arange(1, len(losses) + 1), losses)},
        os.path.join(out, "curves.png"),
        ylabel="training loss",
        title=f"classifier on {dataset}: {metrics['test_accuracy']:.1%} held-out accuracy",
        logy=True,
    )
    return metrics


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    data.check_dataset_name(args.dataset)
    out = args.out or classifier_cache_dir(args.dataset, args.resolution, args.steps)
    metrics = train_and_save(
        args.dataset,
        args.resolution,
        out,
        args.steps,
        args.batch_size,
        args.lr,
        args.seed,
        args.data_dir,
    )
    print(
        f"held-out accuracy {metrics['test_accuracy']:.2%} on {metrics['test_examples']} "
        f"{args.dataset} images; checkpoint in {out}"
    )


if __name__ == "__main__":
    cli.run_main(main)
