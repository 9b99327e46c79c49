"""The game-Jacobian spectrum of a trained DCGAN (Berard et al. 2020, arXiv:1906.04848):
rotation vs. potential, measured with :mod:`gan_jax.dynamics.spectrum`.

    python -m experiments.game_spectrum                    # the train_dcgan run
    python -m experiments.game_spectrum --workdirs runs/dcgan_mnist runs/other_scheme

For every run directory (a ``train_dcgan`` workdir; the default one is trained first when
it has no checkpoint) and for its initial parameters and every kept checkpoint:

* the ``--k`` eigenvalues of largest modulus of the game Jacobian ``J = ∂(∇_g L_g,
  ∇_d L_d)`` (matrix-free Arnoldi), with the largest ``|Im λ| / |λ|`` among them (1: a pure
  rotation, 0: a pure potential);
* at the initial and the last step, the extreme eigenvalues of G's and D's own Hessians
  (Lanczos): a negative smallest eigenvalue of G's Hessian means the point is not a local
  Nash equilibrium for G;
* the path angle from the initial parameters to the last checkpoint, the field's norm at
  every point, and whether the last point is near-stationary (the field's norm dips
  there along the path by an order of magnitude: ``gan_jax.dynamics.end_dip``); the
  words "locally stable stationary point" and "local Nash equilibrium" apply only then.

All on one fixed batch (64 of the run's training images and one noise key), BatchNorm statistics of
that batch (training mode) and frozen running averages.  The Dirac-GAN, whose spectrum is
known in closed form, is measured the same way as a calibration.  Outputs in ``--out``:
``eigenvalues.png``, ``path_angle.png``, ``hessians.png`` and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence

import numpy as np

from gan_jax import cli, data
from gan_jax.runner import dcgan
from gan_jax.studies import game_spectrum as study
from gan_jax.training.checkpoint import Checkpointer
from gan_jax.training.loop import CHECKPOINT_DIR
from gan_jax.viz.dynamics import plot_game_spectra, plot_hessian_extremes, plot_path_angles

DEFAULT_WORKDIR = os.path.join("runs", "dcgan_mnist")


def build_parser() -> cli.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m experiments.game_spectrum", description=__doc__.split("\n\n")[0]
    )
    add = parser.add_argument
    add("--workdirs", nargs="+", default=[DEFAULT_WORKDIR], help="train_dcgan run directories")
    add("--k", type=cli.positive_int, default=8, help="eigenvalues per point (largest |λ|)")
    add("--tol", type=cli.positive_float, default=1e-3, help="ARPACK's relative accuracy")
    add("--lanczos-steps", type=cli.positive_int, default=40, help="Hessian-vector products")
    add("--path-points", type=cli.positive_int, default=21, help="α values on [−0.5, 1.5]")
    add("--seed", type=int, default=0, help="--seed of the default run when it is trained here")
    add("--out", type=cli.output_directory, default=os.path.join("runs", "game_spectrum"))
    add("--no-progress", action="store_true", help="no progress bar")
    add("--replot", action="store_true", help="redraw the figures from --out's metrics.json")
    return parser


def plot_all(runs: dict, calibration: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    plot_game_spectra(runs, calibration, os.path.join(out, "eigenvalues.png"))
    plot_path_angles(runs, calibration, os.path.join(out, "path_angle.png"))
    plot_hessian_extremes(runs, os.path.join(out, "hessians.png"))


def checkpoints_of(workdir: str, seed: int, progress: bool) -> list[int]:
    """The steps kept in ``workdir``; trains the default run first when there is none."""
    directory = os.path.join(workdir, CHECKPOINT_DIR)
    steps = Checkpointer(directory).all_steps() if os.path.isdir(directory) else []
    if steps:
        return steps
    if os.path.abspath(workdir) != os.path.abspath(DEFAULT_WORKDIR):
        raise cli.UserError(
            f"{workdir} holds no checkpoint: train it with python -m experiments.train_dcgan "
            f"--workdir {workdir}"
        )
    print(f"no checkpoint in {workdir}: training python -m experiments.train_dcgan first")
    args = ["--workdir", workdir, "--seed", str(seed)] + (["--no-progress"] if not progress else [])
    dcgan.train(args)
    return Checkpointer(directory).all_steps()


def analyse(workdir: str, args, settings) -> dict:
    """The study of one run, rebuilt from its own ``config.json``, on a batch of the
    training images it was trained on (its dataset and resolution)."""
    steps = checkpoints_of(workdir, args.seed, not args.no_progress)
    saved = dcgan.read_run_config(workdir)
    train_set = data.load_dataset(saved["dataset"], saved["resolution"], "train")
    config = dcgan.config_of(saved, train_set.image_shape[-1])
    result = study.analyse_run(workdir, steps, config, saved["seed"], settings, train_set)
    return {"dataset": saved["dataset"], **result}


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.replot:
        path = os.path.join(args.out, "metrics.json")
        if not os.path.exists(path):
            raise cli.UserError(f"{path} does not exist: run without --replot first")
        with open(path) as f:
            metrics = json.load(f)
        plot_all(metrics["runs"], metrics["dirac"], args.out)
        print(f"figures redrawn in {args.out}")
        return metrics
    start = time.perf_counter()
    settings = argparse.Namespace(**vars(args), progress=not args.no_progress)
    runs = {
        os.path.basename(os.path.normpath(w)): analyse(w, args, settings) for w in args.workdirs
    }
    calibration = study.dirac_calibration(args.path_points)
    plot_all(runs, calibration, args.out)
    metrics = {
        "k": args.k,
        "tol": args.tol,
        "runs": runs,
        "dirac": calibration,
        "seconds": round(time.perf_counter() - start, 1),
    }
    cli.write_metrics(args.out, metrics)
    for name, run in runs.items():
        for step, row in run["steps"].items():
            top = row["eigenvalues"][0]
            print(
                f"{name} step {step}: top |λ| {np.hypot(*top):.3g} ({top[0]:.3g}{top[1]:+.3g}i), "
                f"rotation share {row['rotation_share']:.2f}"
                + (
                    f", G Hessian [{row['hessian_g']['smallest']:.3g}, "
                    f"{row['hessian_g']['largest']:.3g}]"
                    if "hessian_g" in row
                    else ""
                )
            )
        verdict = "near-stationary" if run["near_stationary"] else "not stationary"
        print(
            f"{name} path step {run['path_from_to'][0]} → {run['path_from_to'][1]}: "
            f"end dip ‖v(end)‖/median ‖v‖ = {run['end_dip']:.3g} ({verdict})"
        )
    print(f"outputs in {args.out}")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
