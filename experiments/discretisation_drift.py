"""Discretisation drift (Rosca, Wu, Dherin and Barrett 2021, arXiv:2105.13922): the modified
flows that simultaneous and alternating gradient descent follow, on the bilinear game and
Dirac-GAN, the explicit regulariser that cancels their harmful terms on DCGAN, and the
drift's size along DCGAN runs.

    python -m experiments.discretisation_drift --out figures/discretisation_drift
    python -m experiments.discretisation_drift --quick      # a preview (presets/…_quick.yaml)

**Toy games.** The iterates against the game's own flow ``ż = F`` and against the modified
flow ``ż = F + C`` of :mod:`gan_jax.dynamics.drift` (both integrated with an adaptive
Dormand–Prince solver in float64): ``trajectories.png``, ``errors.png`` (the distance to
each flow over the steps) and ``orders.png`` (the distance at a fixed horizon against
the step h: fitted orders 1 and 2).

**DCGAN** (the paper's headline comparison): ``train_dcgan`` runs with plain SGD
(``--optimizer sgd``) on the embedded MNIST at ``--resolution``, for every learning rate of
``--lrs``, ``--seeds`` seeds and four variants: simultaneous and alternating updates, each
with and without the explicit drift regulariser (``--drift-regularizer 1``).
``dcgan_fcd.png``: every seed's FCD over images seen, one panel per learning rate; the
table (mean ± standard error, median, runs that trained) and the share of the
simultaneous–alternating gap the regulariser closes in ``metrics.json``.  Finished runs in ``--workdir`` are reused (the study resumes).

**Drift along runs** (the extragradient question): DCGAN-32 with plain SGD from one start
under simultaneous, alternating and extragradient updates, and extragradient with its
self drift cancelled (``--self-drift-regularizer 1``); every 25 steps (``fit``'s
evaluation) the drift terms' norms, D's mean logits now and at the lookahead
``z + F(z)`` (where extragradient takes its gradient), and D's sharpness:
``drift_along_runs.png``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence

from gan_jax import cli, configs, data
from gan_jax.runner import dcgan
from gan_jax.runner.settings import ClassifierSettings
from gan_jax.studies import discretisation_drift as study
from gan_jax.training.loop import NonFiniteLossError
from gan_jax.viz import dynamics as plots
from gan_jax.viz.plotting import plot_seed_curves

QUICK = os.path.join(os.path.dirname(__file__), "presets", "discretisation_drift_quick.yaml")


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = configs.ConfigParser(
        prog="python -m experiments.discretisation_drift", description=__doc__.split("\n\n")[0]
    )
    add = parser.add_argument
    add("--out", type=cli.output_directory, default="runs/discretisation_drift/figures")
    add("--workdir", type=cli.output_directory, default="runs/discretisation_drift",
        help="the DCGAN runs, one folder each (finished ones are reused)")  # fmt: skip
    add("--h", type=cli.positive_float, default=0.1, help="step of the toy figures")
    add("--steps", type=cli.positive_int, default=400, help="steps of the toy figures")
    add("--order-h", type=cli.positive_float, nargs="+", default=[0.2, 0.1, 0.05, 0.025],
        help="steps whose errors at the horizon give the orders")  # fmt: skip
    add("--horizon", type=cli.positive_float, default=2.0, help="T of the order fit (n = T/h)")
    add("--lrs", type=cli.positive_float, nargs="+", default=[0.05, 0.1, 0.2],
        help="SGD learning rates of the DCGAN comparison (both players)")  # fmt: skip
    add("--seeds", type=cli.non_negative_int, default=3, help="DCGAN seeds (0: no DCGAN part)")
    add("--dcgan-steps", type=cli.positive_int, default=2000, help="steps of each DCGAN run")
    add("--eval-every", type=cli.positive_int, default=500, help="DCGAN steps per evaluation")
    add("--eval-samples", type=cli.positive_int, default=1000)
    add("--dataset", default="mnist", help="the DCGAN runs' dataset")
    add("--resolution", type=int, choices=[8, 16, 32], default=16, help="DCGAN image size")
    add("--width", type=cli.positive_int, default=32, help="DCGAN width")
    parser.add_config(ClassifierSettings)
    add("--no-progress", action="store_true", help="no progress bars")
    add("--diagnose-steps", type=cli.non_negative_int, default=200,
        help="SGD steps of the drift-along-runs diagnosis (DCGAN-32; 0: none)")  # fmt: skip
    add("--diagnose-lr", type=cli.positive_float, default=0.05, help="its SGD learning rate")
    add("--diagnose-width", type=cli.positive_int, default=16, help="its DCGAN width")
    add("--diagnose-resolution", type=int, choices=[8, 16, 32], default=32,
        help="its DCGAN image size")  # fmt: skip
    add("--diagnose-seed", type=int, default=0, help="its networks' and data's seed")
    parser.add_preset("quick", QUICK, "a preview in about 3 minutes")
    cli.add_toy_device_flag(parser)
    return parser.parse_args(argv)


def dcgan_flags(args, variant: str, lr: float, seed: int, workdir: str) -> list[str]:
    scheme, strength = study.DCGAN_VARIANTS[variant]
    every = str(args.eval_every)
    flags = [
        "--dataset", args.dataset, "--optimizer", "sgd", "--scheme", scheme, "--drift-regularizer", str(strength),
        "--lr-g", str(lr), "--lr-d", str(lr), "--seed", str(seed),
        "--resolution", str(args.resolution), "--width", str(args.width),
        "--steps", str(args.dcgan_steps), "--eval-every", every, "--log-every", every,
        "--sample-every", every, "--checkpoint-every", every,
        "--eval-samples", str(args.eval_samples), "--workdir", workdir,
    ]  # fmt: skip
    flags += ["--classifier", args.classifier] if args.classifier else []
    flags += ["--classifier-steps", str(args.classifier_steps)]
    return flags + (["--no-progress"] if args.no_progress else [])


def dcgan_run(args, variant: str, lr: float, seed: int) -> dict:
    """One run's numbers (``metrics.json`` of a finished run is reused)."""
    slug = variant.replace(" + drift reg.", "_regularized")
    workdir = os.path.join(args.workdir, f"lr{lr:g}", slug, f"seed{seed}")
    finished = os.path.join(workdir, "figures", "metrics.json")
    if os.path.isfile(finished):
        with open(finished) as f:
            metrics = json.load(f)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            metrics = dcgan.train(dcgan_flags(args, variant, lr, seed, workdir))
        except NonFiniteLossError as err:
            return {"diverged": str(err)}
    history = [(e["images"], e["fcd"]) for e in metrics["history"]]
    return {"fcd": metrics["fcd"], "kid": metrics["kid"], "history": history,
            "floor": metrics["fcd_real_test"]}  # fmt: skip


def dcgan_part(args) -> dict:
    rows = {f"{lr:g}": {v: [] for v in study.DCGAN_VARIANTS} for lr in args.lrs}
    for lr in args.lrs:
        for variant in study.DCGAN_VARIANTS:
            for seed in range(args.seeds):
                rows[f"{lr:g}"][variant].append(dcgan_run(args, variant, lr, seed))
    panels = {
        f"SGD η = {lr}": {
            name: [tuple(zip(*r["history"])) for r in runs if "fcd" in r]
            for name, runs in variants.items()
        }
        for lr, variants in rows.items()
    }
    floor = next(
        r["floor"] for v in rows.values() for runs in v.values() for r in runs if "floor" in r
    )
    plot_seed_curves(
        panels, f"{args.out}/dcgan_fcd.png", xlabel="real images seen", ylabel="FCD ↓ (log)",
        logy=True, hlines={"real held-out digits": floor},
        suptitle=f"DCGAN-{args.resolution} on {args.dataset}, plain SGD: every seed's FCD",
    )  # fmt: skip
    return {"summary": study.dcgan_summary(rows), "runs": rows}


DIAGNOSED_RULES = {  # name -> (scheme, self-drift regulariser)
    "simultaneous": ("simultaneous", 0.0),
    "alternating": ("alternating", 0.0),
    "extragradient": ("extragradient", 0.0),
    "extragradient + self reg.": ("extragradient", 1.0),
}


def drift_along_runs(args) -> dict:
    """The drift along DCGAN SGD runs of each update rule, and of extragradient with its
    self drift cancelled (the extragradient question):
    :func:`gan_jax.studies.discretisation_drift.drift_along_run` per rule."""
    images = data.load_dataset(args.dataset, args.diagnose_resolution, "train").images
    rows = {
        name: study.drift_along_run(
            scheme,
            images,
            args.diagnose_lr,
            args.diagnose_steps,
            os.path.join(args.workdir, "along_runs", name.replace(" + ", "_").replace(" ", "_")),
            resolution=args.diagnose_resolution,
            width=args.diagnose_width,
            seed=args.diagnose_seed,
            self_regularizer=own,
            progress=not args.no_progress,
        )
        for name, (scheme, own) in DIAGNOSED_RULES.items()
    }
    plots.plot_drift_along_runs(rows, f"{args.out}/drift_along_runs.png", args.diagnose_lr)
    return rows


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if len(set(args.order_h)) < 2:
        cli.fail("--order-h needs at least two different steps to fit an order")
    with cli.toy_device(args.device):
        toys = study.measure_toys(args.h, args.steps, args.order_h, args.horizon)
    plots.plot_drift_trajectories(toys.runs, f"{args.out}/trajectories.png", args.h)
    plots.plot_drift_errors(toys.runs, f"{args.out}/errors.png", args.h)
    plots.plot_drift_orders(toys.orders, f"{args.out}/orders.png")
    metrics = {"config": vars(args), **toys.numbers()}
    for name, row in metrics["runs"].items():
        print(
            f"{name:28s} orders: game's flow {row['order_original']:.2f}, modified "
            f"{row['order_modified']:.2f}; max distance over {args.steps} steps: "
            f"{row['max_error_original']:.3g} vs {row['max_error_modified']:.3g}"
        )
    if args.seeds:
        metrics["dcgan"] = dcgan_part(args)
        for lr, row in metrics["dcgan"]["summary"].items():
            fcds = {k: v["fcd"] for k, v in row["variants"].items()}
            print(f"η = {lr}: final FCD {fcds}; gap closed {row['gap_closed_by_regulariser']}")
    if args.diagnose_steps:
        metrics["drift_along_runs"] = drift_along_runs(args)
        for scheme, evals in metrics["drift_along_runs"].items():
            ratios = ", ".join(f"{e['self_ratio_d']:.2f}" for e in evals)
            print(f"{scheme:14s} ‖C_self,D‖/‖F_D‖ every 25 steps: {ratios}")
    cli.write_metrics(args.out, metrics)
    print(f"outputs in {args.out}")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
