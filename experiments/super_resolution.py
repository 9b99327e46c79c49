"""LAG super-resolution (Berthelot, Milanfar and Goodfellow 2020, arXiv:2003.02365): a GAN
loss as the loss of a conditional image task, against bicubic interpolation and an L2
regression network, on held-out photographs.

    python -m experiments.super_resolution                   # 8×8 → 32×32 photo patches
    python -m experiments.super_resolution --dataset cifar10 # where tfds has it

The data are 32×32 patches of the photographs bundled in scikit-learn and scikit-image
(:mod:`gan_jax.photographs`; ``flower`` and ``chelsea`` held out whole), the seeds their
×4 area down-sampling.  LAG (:mod:`gan_jax.models.lag`) trains on the library's game, schemes
and fit loop (checkpoints, ``--resume``); the L2 network is the same generator trained on
the pixel MSE alone for as many steps (:func:`gan_jax.models.lag.train_l2_baseline`).

Outputs in ``--out``: ``comparison.png`` (LR | bicubic | L2 | LAG ε = 0 | LAG, three ε |
HR on held-out patches), ``diversity.png`` (the per-pixel standard deviation over 16 ε),
``curves.png`` (LAG's losses), ``l2_mse.png`` (the L2 network's) and ``metrics.json``: per method the HR PSNR, the LR consistency
(PSNR of the down-sampled output against the seed) and the sharpness ratio (energy above
the seed's Nyquist frequency, output over truth), and LAG's diversity overall, on the
truth's edges and on its flat regions; the same measures for bicubic, L2 and LAG ε = 0
on as many training patches (``methods_on_training_patches``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import jax
import numpy as np

from gan_jax import cli, configs, data, training
from gan_jax.models.lag import LAGConfig, build_lag, train_l2_baseline
from gan_jax.photographs import load_photograph_patches
from gan_jax.runner.image_runs import feature_run_parser, fit_without_evaluation, plan_run
from gan_jax.studies.super_resolution import compare_methods
from gan_jax.viz.plotting import plot_curves
from gan_jax.viz.restoration import plot_super_resolution

FIGURE_PATCHES = 6


def build_parser() -> configs.ConfigParser:
    """The runner's flags (:func:`~gan_jax.runner.image_runs.feature_run_parser`), one per
    :class:`LAGConfig` field, and the held-out patches measured."""
    parser = feature_run_parser(
        "python -m experiments.super_resolution",
        __doc__.split("\n\n")[0],
        LAGConfig,
        steps=3000,
        dataset="photos",
        classifier=False,
        helps={
            "dataset": f"photos, or one of {', '.join(data.DATASETS)}",
            "workdir": "LAG checkpoints (default runs/lag_<dataset>)",
        },
    )
    parser.add_argument(
        "--eval-patches", type=cli.positive_int, default=256, help="held-out patches measured"
    )
    return parser


def load(dataset: str, split: str, data_dir: str | None) -> jax.Array:
    if dataset == "photos":
        return load_photograph_patches(split).images
    data.check_dataset_name(dataset)
    return data.load_dataset(dataset, 32, split, data_dir).images


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    workdir = args.workdir or os.path.join("runs", f"lag_{args.dataset}")
    run = plan_run(args, workdir, args.out, parser, other_datasets=("photos",))
    train_images = load(args.dataset, "train", args.data_dir)
    test_images = load(args.dataset, "test", args.data_dir)
    config = configs.from_flags(LAGConfig, args, channels=int(train_images.shape[-1]))
    key = jax.random.key(args.seed)
    model = build_lag(config, train_images, key)
    result, lag_seconds = fit_without_evaluation(
        model.step, model.state, run, args, f"LAG {args.dataset}"
    )
    start = time.perf_counter()
    l2_params, l2_losses = train_l2_baseline(
        config, train_images, jax.random.fold_in(key, 7), args.steps, not args.no_progress
    )
    l2_seconds = time.perf_counter() - start
    results = compare_methods(
        model, result.state.extra["g_ema"], l2_params, train_images, test_images, args.eval_patches
    )

    os.makedirs(run.out, exist_ok=True)
    plot_super_resolution(results, run.out, FIGURE_PATCHES)
    plot_curves(
        training.loss_curves(training.read_metrics(run.workdir)),
        os.path.join(run.out, "curves.png"),
        ylabel="loss",
        title="LAG: critic (WGAN-GP) and generator (adversarial + μ·centre) losses",
    )
    plot_curves(
        {"L2 network": (np.arange(1, len(l2_losses) + 1), np.asarray(l2_losses))},
        os.path.join(run.out, "l2_mse.png"),
        ylabel="pixel MSE (images in [-1, 1])",
        title="L2 baseline: training loss",
        logy=True,
    )
    metrics = {
        "dataset": args.dataset, "steps": result.step, "batch_size": config.batch_size,
        "lag_seconds": round(lag_seconds, 1), "l2_seconds": round(l2_seconds, 1),
        **results.numbers(),
    }  # fmt: skip
    cli.write_metrics(run.out, metrics)
    for name, row in results.methods.items():
        print(
            f"{name:>10}: PSNR {row['psnr']:.2f} dB, LR consistency {row['lr_consistency']:.2f} dB, "
            f"sharpness {row['sharpness']:.3f}"
        )
    on_training = results.methods_on_training_patches.items()
    print(
        "on training patches, PSNR: " + ", ".join(f"{n} {r['psnr']:.2f} dB" for n, r in on_training)
    )
    print(f"LAG diversity: {results.diversity}; outputs in {run.out}")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
