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
import jax.numpy as jnp
import numpy as np

from gan_jax import cli, data, training
from gan_jax.metrics import (
    diversity_by_region,
    lr_consistency,
    per_pixel_std,
    psnr,
    sharpness_ratio,
)
from gan_jax.models.lag import LAGConfig, bicubic_upsample, build_lag, train_l2_baseline
from gan_jax.nets.progressive import area_downsample, resize_to
from gan_jax.photographs import load_photograph_patches
from gan_jax.runner.image_runs import add_fit_flags, fit_without_evaluation, plan_run
from gan_jax.viz.plotting import plot_curves, plot_image_rows

FIGURE_PATCHES = 6
# the flags that define a LAG run; --resume refuses to change them
RUN_DEFINING = (
    "dataset",
    "batch_size",
    "noise_dim",
    "filters",
    "filters_min",
    "blocks",
    "center_weight",
    "lr",
    "scheme",
    "seed",
)
DIVERSITY_SAMPLES = 16


def build_parser() -> cli.ArgumentParser:
    defaults = LAGConfig()
    parser = cli.ArgumentParser(
        prog="python -m experiments.super_resolution", description=__doc__.split("\n\n")[0]
    )
    add = parser.add_argument
    add("--dataset", default="photos", help=f"photos, or one of {', '.join(data.DATASETS)}")
    add("--steps", type=cli.positive_int, default=3000, help="LAG (and L2) training steps")
    add("--batch-size", type=cli.positive_int, default=defaults.batch_size)
    add("--noise-dim", type=cli.positive_int, default=defaults.noise_dim)
    add("--filters", type=cli.positive_int, default=defaults.filters)
    add("--filters-min", type=cli.positive_int, default=defaults.filters_min)
    add("--blocks", type=cli.positive_int, default=defaults.blocks)
    add(
        "--center-weight",
        type=cli.non_negative_float,
        default=defaults.center_weight,
        help="μ of the centre loss",
    )
    add("--eval-patches", type=cli.positive_int, default=256, help="held-out patches measured")
    add_fit_flags(
        parser,
        lr=defaults.lr,
        scheme=defaults.scheme,
        workdir=None,
        workdir_help="LAG checkpoints (default runs/lag_<dataset>)",
        run="the LAG run",
    )
    return parser


def load(dataset: str, split: str, data_dir: str | None) -> jax.Array:
    if dataset == "photos":
        return load_photograph_patches(split).images
    data.check_dataset_name(dataset)
    return data.load_dataset(dataset, 32, split, data_dir).images


def fixed_subset(images: jax.Array, count: int, key: jax.Array) -> jax.Array:
    """``count`` images drawn without replacement by a fixed key (all if fewer)."""
    size = min(count, images.shape[0])
    return images[jax.random.choice(key, images.shape[0], (size,), replace=False)]


def method_metrics(outputs: jax.Array, high: jax.Array, low: jax.Array) -> dict[str, float]:
    consistency = np.asarray(lr_consistency(outputs, low))
    return {
        "psnr": float(np.mean(np.asarray(psnr(outputs, high)))),
        "lr_consistency": float(np.mean(np.minimum(consistency, 100.0))),  # inf: exact
        "sharpness": sharpness_ratio(outputs, high),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    workdir = args.workdir or os.path.join("runs", f"lag_{args.dataset}")
    run = plan_run(args, workdir, args.out, RUN_DEFINING, other_datasets=("photos",))
    args.out = run.out
    train_images = load(args.dataset, "train", args.data_dir)
    test_images = load(args.dataset, "test", args.data_dir)
    channels = int(train_images.shape[-1])
    config = LAGConfig(
        channels=channels,
        noise_dim=args.noise_dim,
        filters=args.filters,
        filters_min=args.filters_min,
        blocks=args.blocks,
        center_weight=args.center_weight,
        lr=args.lr,
        scheme=args.scheme,
        batch_size=args.batch_size,
    )
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

    high = fixed_subset(test_images, args.eval_patches, jax.random.key(11))  # held out
    low = area_downsample(high, config.scale)
    g_ema = result.state.extra["g_ema"]
    noise_keys = jax.random.split(jax.random.key(12), DIVERSITY_SAMPLES)
    noise_shape = low.shape[:-1] + (config.noise_dim,)
    samples = jnp.stack(
        [model.super_resolve(g_ema, low, jax.random.normal(k, noise_shape)) for k in noise_keys]
    )
    outputs = {
        "bicubic": bicubic_upsample(low, config.scale),
        "l2": model.super_resolve(l2_params, low),
        "lag_center": model.super_resolve(g_ema, low),
        "lag_sample": samples[0],
    }
    numbers = {name: method_metrics(x, high, low) for name, x in outputs.items()}
    diversity = diversity_by_region(samples, high)
    # The same measures on training patches: how much of a gap to bicubic on held-out
    # photographs is generalisation (four training photographs) rather than fitting.
    seen = fixed_subset(train_images, args.eval_patches, jax.random.key(13))
    seen_low = area_downsample(seen, config.scale)
    on_training = {
        "bicubic": bicubic_upsample(seen_low, config.scale),
        "l2": model.super_resolve(l2_params, seen_low),
        "lag_center": model.super_resolve(g_ema, seen_low),
    }
    numbers_on_training = {
        name: method_metrics(x, seen, seen_low) for name, x in on_training.items()
    }

    os.makedirs(args.out, exist_ok=True)
    shown = slice(0, FIGURE_PATCHES)
    columns = [
        ("LR (8×8)", resize_to(low, 32)),
        ("bicubic", outputs["bicubic"]),
        ("L2", outputs["l2"]),
        ("LAG ε = 0", outputs["lag_center"]),
        ("LAG ε₁", samples[1]),
        ("LAG ε₂", samples[2]),
        ("LAG ε₃", samples[3]),
        ("HR", high),
    ]
    rows = [np.stack([np.asarray(x[i]) for _, x in columns]) for i in range(FIGURE_PATCHES)]
    plot_image_rows(
        [np.clip(r, -1, 1) for r in rows],
        os.path.join(args.out, "comparison.png"),
        col_labels=[name for name, _ in columns],
        title="Held-out photographs: ×4 super-resolution from 8×8 seeds",
    )
    std = np.asarray(per_pixel_std(samples))[shown]
    top = max(float(std.max()), 1e-12)
    std_images = np.repeat((2 * std / top - 1)[..., None], channels, axis=-1)
    diversity_rows = [
        np.stack(
            [
                np.asarray(high[i]),
                np.asarray(samples[0, i]),
                np.asarray(samples[1, i]),
                std_images[i],
            ]
        )
        for i in range(FIGURE_PATCHES)
    ]
    plot_image_rows(
        [np.clip(r, -1, 1) for r in diversity_rows],
        os.path.join(args.out, "diversity.png"),
        col_labels=["HR", "LAG ε₀", "LAG ε₁", f"std over {DIVERSITY_SAMPLES} ε"],
        title=f"Where LAG's samples differ (white = std {top:.3f})",
    )
    plot_curves(
        training.loss_curves(training.read_metrics(run.workdir)),
        os.path.join(args.out, "curves.png"),
        ylabel="loss",
        title="LAG: critic (WGAN-GP) and generator (adversarial + μ·centre) losses",
    )
    plot_curves(
        {"L2 network": (np.arange(1, len(l2_losses) + 1), np.asarray(l2_losses))},
        os.path.join(args.out, "l2_mse.png"),
        ylabel="pixel MSE (images in [-1, 1])",
        title="L2 baseline: training loss",
        logy=True,
    )
    metrics = {
        "dataset": args.dataset,
        "steps": result.step,
        "batch_size": config.batch_size,
        "eval_patches": int(high.shape[0]),
        "lag_seconds": round(lag_seconds, 1),
        "l2_seconds": round(l2_seconds, 1),
        "methods": numbers,
        "methods_on_training_patches": numbers_on_training,
        "diversity": diversity,
        "diversity_samples": DIVERSITY_SAMPLES,
        "checks": {
            "lag_sharpness_in_0.7_1.3": 0.7 <= numbers["lag_sample"]["sharpness"] <= 1.3,
            "l2_sharpness_below_lag": numbers["l2"]["sharpness"]
            < numbers["lag_sample"]["sharpness"],
            "lag_lr_consistency_at_least_30_db": numbers["lag_sample"]["lr_consistency"] >= 30.0,
            "diversity_positive_and_higher_on_edges": diversity["mean"] > 0
            and diversity["edges"] > diversity["flat"],
        },
    }
    cli.write_metrics(args.out, metrics)
    for name, row in numbers.items():
        print(
            f"{name:>10}: PSNR {row['psnr']:.2f} dB, LR consistency {row['lr_consistency']:.2f} dB, "
            f"sharpness {row['sharpness']:.3f}"
        )
    print(
        "on training patches, PSNR: "
        + ", ".join(f"{name} {row['psnr']:.2f} dB" for name, row in numbers_on_training.items())
    )
    print(f"LAG diversity: {diversity}; outputs in {args.out}")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
