"""Simultaneous vs alternating (and extragradient, optimistic) updates on a full image GAN.

The question the bilinear game ``f(x, y) = x·y`` raises (``experiments.bilinear_game``), asked of DCGAN: does it
matter whether D and G step from the same point (simultaneous) or one after the other
(alternating)?  Every scheme trains the DCGAN-32 reference on MNIST with the same seed,
the same initial networks, the same Adam(2e-4, β₁ = 0.5) and the same number of steps
(extragradient evaluates the game twice per step, so it costs about twice the time); each
run is the ``train_dcgan`` command (:mod:`gan_jax.runner.dcgan`) with ``--scheme`` changed.  A run whose loss turns
non-finite is reported as diverged at that step.

    python -m experiments.compare_schemes                  # 4 schemes × 1,500 steps

Outputs in ``--out``: ``curves.png`` (FCD and classes covered over steps, one line per
scheme), ``samples_<scheme>.png`` and ``metrics.json`` (the table of docs/results/compare_schemes.md).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence

from gan_jax import cli
from gan_jax.models.image_gan import SCHEMES
from gan_jax.runner import dcgan
from gan_jax.runner.image_runs import FEATURE_SET_METRICS
from gan_jax.training.loop import NonFiniteLossError
from gan_jax.viz.plotting import plot_classifier_metrics

DEFAULT_SCHEMES = ("simultaneous", "alternating", "extragradient", "optimistic")


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="python -m experiments.compare_schemes", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--schemes",
        nargs="+",
        type=cli.choice("scheme", tuple(SCHEMES)),
        default=list(DEFAULT_SCHEMES),
        help=f"any of {', '.join(SCHEMES)}",
    )
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--steps", type=cli.positive_int, default=1500)
    parser.add_argument("--eval-every", type=cli.positive_int, default=250)
    parser.add_argument("--batch-size", type=cli.positive_int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-samples", type=cli.positive_int, default=1000)
    parser.add_argument("--workdir", type=cli.output_directory, default="runs/compare_schemes")
    parser.add_argument(
        "--out", type=cli.output_directory, default=None, help="default <workdir>/figures"
    )
    parser.add_argument("--classifier", default=None, help="classifier checkpoint folder")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def run_command(args: cli.argparse.Namespace, scheme: str, workdir: str, out: str) -> list[str]:
    """``train_dcgan``'s flags for ``scheme``: one chunk per evaluation, so any ``--steps``
    and ``--eval-every`` fit together."""
    every = str(args.eval_every)
    command = [
        "--scheme", scheme, "--dataset", args.dataset, "--steps", str(args.steps),
        "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--eval-every", every,
        "--log-every", every, "--sample-every", every, "--checkpoint-every", every,
        "--eval-samples", str(args.eval_samples), "--workdir", workdir, "--out", out,
    ]  # fmt: skip
    command += ["--classifier", args.classifier] if args.classifier else []
    return command + (["--no-progress"] if args.no_progress else [])


def scheme_row(metrics: dict) -> dict:
    """A run's final and best numbers, as the results page's table shows them: every feature-set
    metric the run logged (:data:`~gan_jax.runner.image_runs.FEATURE_SET_METRICS`)."""
    best = min(metrics["history"], key=lambda e: float(e["fcd"]))
    return {
        "fcd": metrics["fcd"],
        **{k: metrics[k] for k in ("kid_se", *FEATURE_SET_METRICS) if k in metrics},
        "classes": metrics["classes"],
        "class_kl": metrics["class_kl"],
        "best_fcd": float(best["fcd"]),
        "best_fcd_step": best["step"],
        "seconds": metrics["seconds_this_invocation"],
        "loss_d_mean_last_100_steps": metrics["loss_d_mean_last_100_steps"],
        "loss_g_mean_last_100_steps": metrics["loss_g_mean_last_100_steps"],
    }


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    args.out = args.out or os.path.join(args.workdir, "figures")
    os.makedirs(args.out, exist_ok=True)  # the summary's folder, before the first run
    results, histories, floor = {}, {}, None
    for scheme in args.schemes:
        workdir = os.path.join(args.workdir, scheme)
        out = os.path.join(workdir, "outputs")  # the run's own figures; the summary goes to --out
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            metrics = dcgan.train(run_command(args, scheme, workdir, out))
        except NonFiniteLossError as err:
            results[scheme] = {"diverged": str(err)}
            continue
        floor = metrics["fcd_real_test"]
        histories[scheme] = metrics["history"]
        results[scheme] = scheme_row(metrics)
        shutil.copyfile(
            os.path.join(out, "samples.png"), os.path.join(args.out, f"samples_{scheme}.png")
        )
    summary = {
        "dataset": args.dataset,
        "steps": args.steps,
        "seed": args.seed,
        "fcd_real_test": floor,
        "schemes": results,
    }
    cli.write_metrics(args.out, summary)
    if histories:
        plot_classifier_metrics(histories, os.path.join(args.out, "curves.png"), floor)
    print(json.dumps(results, indent=1))
    return summary


if __name__ == "__main__":
    cli.run_main(main)
