"""Stacked MNIST: how many of the 1,000 modes each GAN recipe reaches (Metz et al. 2017,
arXiv:1611.02163; VEEGAN, arXiv:1705.07761; PacGAN, arXiv:1712.04086; R3GAN,
arXiv:2501.05441).

Each real image stacks three embedded-MNIST training digits as its colour channels; a
generated sample's mode is the triple of classes the MNIST evaluation classifier gives its
channels, and a run is scored by the modes reached and ``KL(p̂ ‖ uniform)`` over 26,000
samples (the study: :mod:`gan_jax.studies.stacked_mnist`).  Every architecture × method
trains ``--seeds`` seeds; the table reports mean ± standard deviation over seeds, beside
the control: 26,000 stacks of *held-out* real digits scored the same way.

    python -m experiments.stacked_mnist                 # the full table (docs/results/stacked_mnist.md: its time)
    python -m experiments.stacked_mnist --quick         # a preview, under 3 minutes
    python -m experiments.stacked_mnist --architectures quarter --methods gan rpgan_r1_r2
    python -m experiments.stacked_mnist --resume        # continue an interrupted study

Outputs in ``--out``: ``metrics.json`` (every run's modes, KL and seconds, the summary
and the real control), ``table.md``, ``samples_<architecture>.png`` (16 samples of
seed 0 per method, each channel a digit) and ``mode_counts_<architecture>.png`` (samples
per mode, modes sorted by count, seed 0 of each method and the real control).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence

from gan_jax import cli, configs, data
from gan_jax.runner.image_runs import get_classifier
from gan_jax.runner.settings import ClassifierSettings
from gan_jax.studies import stacked_mnist as study
from gan_jax.viz.studies import draw_all

# the full table's; dcgan_tf (the papers' own networks, 4× slower a step) is asked for by name
DEFAULT_ARCHITECTURES = ("dcgan", "quarter")
DEFAULT_METHODS = ("gan", "pacgan2", "pacgan4", "gan_r1_r2", "rpgan_r1_r2")
DEFAULT_STEPS = 3000
QUICK = os.path.join(os.path.dirname(__file__), "presets", "stacked_mnist_quick.yaml")


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = configs.ConfigParser(
        prog="python -m experiments.stacked_mnist", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--architectures",
        nargs="+",
        type=cli.choice("architecture", tuple(study.ARCHITECTURES)),
        default=list(DEFAULT_ARCHITECTURES),
        help=f"any of {', '.join(study.ARCHITECTURES)}",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        type=cli.choice("method", tuple(study.METHODS)),
        default=list(DEFAULT_METHODS),
        help=f"any of {', '.join(study.METHODS)}",
    )
    parser.add_argument("--seeds", type=cli.positive_int, default=3, help="seeds per row")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument(
        "--steps",
        type=cli.positive_int,
        default=DEFAULT_STEPS,
        help="training steps per run",
    )
    parser.add_argument(
        "--batch-size",
        type=cli.positive_int,
        default=64,
        help="real images (PacGAN: packs) per step",
    )
    parser.add_argument(
        "--samples",
        type=cli.positive_int,
        default=study.NUM_SAMPLES,
        help="generated samples per evaluation (PacGAN's 26,000)",
    )
    parser.add_argument(
        "--ema-half-life",
        type=cli.non_negative_float,
        default=0.0,
        help="score G's moving average with this half-life in real images (and the trained "
        "G beside it); 0: the trained G alone",
    )
    parser.add_preset("quick", QUICK, "a preview in under 3 minutes")
    parser.add_config(ClassifierSettings)
    parser.add_argument(
        "--workdir",
        type=cli.output_directory,
        default="runs/stacked_mnist",
        help="one folder per run: checkpoints, result.json",
    )
    parser.add_argument(
        "--out", type=cli.output_directory, default=None, help="default <workdir>/figures"
    )
    parser.add_argument(
        "--resume", action="store_true", help="reuse finished runs and continue unfinished ones"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    args.out = args.out or os.path.join(args.workdir, "figures")
    cli.check_writable_directory(args.workdir, "--workdir")
    cli.check_writable_directory(args.out, "--out")
    if not args.resume and os.path.isdir(args.workdir) and os.listdir(args.workdir):
        parser.error(
            f"--workdir {args.workdir} already holds a study: pass --resume to continue it, "
            "or choose a new --workdir"
        )
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    plan = study.StudyPlan(
        args.architectures, args.methods, range(args.seed, args.seed + args.seeds),
        args.steps, args.samples, args.batch_size, args.workdir, args.ema_half_life,
    )  # fmt: skip
    plan.check_resumable()  # a refused study changes nothing on disk
    start = time.time()
    model, params, meta = get_classifier(args, 32, dataset="mnist")
    classify = study.classifier(model, params)
    pool = data.load_dataset("mnist", 32, "train").images
    real = study.real_reference(data.load_dataset("mnist", 32, "test"), classify, args.samples)
    results, interrupted = study.run_study(
        plan, pool, classify, resume=args.resume, progress=not args.no_progress,
        report=lambda line: print(line, flush=True),
    )  # fmt: skip
    if interrupted:
        cli.fail(f"interrupted in {interrupted} (saved): rerun with --resume to continue")
    metrics = study.study_metrics(plan, results, real, meta.get("test_accuracy"))
    metrics["seconds"] = round(time.time() - start, 1)
    cli.write_metrics(args.out, metrics)
    table = study.markdown_table(metrics["summary"], args.steps)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table + "\n")
    draw_all(study.study_figures(plan, results, real), args.out)
    print(table)
    print(json.dumps(metrics["real_test_stacks"]))
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
