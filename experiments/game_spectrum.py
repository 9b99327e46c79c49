"""The game-Jacobian spectrum of a trained DCGAN (Berard et al. 2020, arXiv:1906.04848):
rotation vs. potential, measured with :mod:`gan_jax.dynamics.spectrum`.

    python -m experiments.game_spectrum                    # the train_dcgan run
    python -m experiments.game_spectrum --workdirs runs/dcgan_digits runs/other_scheme

For every run directory (a ``train_dcgan`` workdir; the default one is trained first when
it has no checkpoint) and for its initial parameters and every kept checkpoint:

* the ``--k`` eigenvalues of largest modulus of the game Jacobian ``J = ∂(∇_g L_g,
  ∇_d L_d)`` (matrix-free Arnoldi), with the largest ``|Im λ| / |λ|`` among them (1: a pure
  rotation, 0: a pure potential);
* at the initial and the last step, the extreme eigenvalues of G's and D's own Hessians
  (Lanczos): a negative smallest eigenvalue of G's Hessian means the point is not a local
  Nash equilibrium for G;
* the path angle from the initial parameters to the last checkpoint.

All on one fixed batch (64 training digits and one noise key), BatchNorm statistics of
that batch (training mode) and frozen running averages.  The Dirac-GAN, whose spectrum is
known in closed form, is measured the same way as a calibration.  Outputs in ``--out``:
``eigenvalues.png``, ``path_angle.png``, ``hessians.png`` and ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from gan_jax import cli, data
from gan_jax.dynamics import dirac_gan, spectrum, theory
from gan_jax.models.image_gan import build_image_gan
from gan_jax.nets.dcgan import SECOND_ORDER_METHODS
from gan_jax.runner import dcgan
from gan_jax.training.checkpoint import Checkpointer
from gan_jax.training.loop import CHECKPOINT_DIR
from gan_jax.viz.dynamics import plot_game_spectra, plot_hessian_extremes, plot_path_angles

DEFAULT_WORKDIR = os.path.join("runs", "dcgan_digits")


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


def rotation_share(values: np.ndarray) -> float:
    """``max |Im λ| / |λ|`` over the eigenvalues: 1 for a rotation, 0 for a potential."""
    return float(np.max(np.abs(values.imag) / np.maximum(np.abs(values), 1e-30)))


def as_pairs(values: np.ndarray) -> list[list[float]]:
    return [[float(v.real), float(v.imag)] for v in values]


def analyse_run(workdir: str, args, train_set: data.ImageDataset) -> dict:
    steps = checkpoints_of(workdir, args.seed, not args.no_progress)
    saved = dcgan.read_run_config(workdir)  # the run's own flags (config.json)
    images = train_set.images[:64]
    # the run's model with layers computed for second derivatives (same parameters and
    # function, products ≈ 3× faster: gan_jax.nets.dcgan.SECOND_ORDER_METHODS)
    config = dcgan.config_of(saved, train_set.image_shape[-1])
    config = dataclasses.replace(config, **SECOND_ORDER_METHODS)
    trainer = build_image_gan(config, train_set.images, jax.random.key(saved["seed"]))
    initial = trainer.state
    checkpointer = Checkpointer(os.path.join(workdir, CHECKPOINT_DIR))
    batch = {"real": images, "key": jax.random.key(args.seed + 100)}
    game = trainer.game
    points, states = {}, {0: initial}
    for step in steps:
        states[step] = checkpointer.restore(step, template=initial)
    order = sorted(states)
    for step in tqdm(order, desc=f"spectrum {os.path.basename(workdir)}", disable=args.no_progress):
        state = states[step]
        info: dict = {}
        start = time.perf_counter()
        values = spectrum.game_eigenvalues(
            game, state.g, state.d, batch, k=args.k, tol=args.tol, info=info
        )
        row = {
            "eigenvalues": as_pairs(values),
            "rotation_share": rotation_share(values),
            "products": info.get("products"),
            "seconds": round(time.perf_counter() - start, 1),
        }
        if step in (order[0], order[-1]):
            for player in ("g", "d"):
                extremes = spectrum.hessian_eigenvalues(
                    game, state.g, state.d, batch, player, steps=args.lanczos_steps
                )
                row[f"hessian_{player}"] = {
                    name: float(extremes[name][0])
                    for name in ("largest", "smallest", "residual_largest", "residual_smallest")
                }
        points[step] = row
    angle = spectrum.path_angle(
        game,
        (initial.g, initial.d),
        (states[order[-1]].g, states[order[-1]].d),
        batch,
        num=args.path_points,
    )
    return {
        "parameters": info["parameters"],
        "steps": {str(s): points[s] for s in order},
        "path_angle": {k: v.tolist() for k, v in angle.items()},
        "path_from_to": [order[0], order[-1]],
    }


def dirac_calibration(path_points: int) -> dict:
    """Dirac-GAN at its equilibrium: measured eigenvalues next to the closed forms, and the
    path angle from (θ, ψ) = (1, 1) to the equilibrium."""
    result = {}
    with jax.enable_x64():
        zero = jnp.float64(0.0)
        for name, regularizer, gamma in (("gan", None, 0.0), ("gan_r1", "r1", 0.3)):
            game = dirac_gan("gan", regularizer, gamma)
            measured = spectrum.game_eigenvalues(game, zero, zero, k=2)
            closed = -theory.dirac_eigenvalues("gan", regularizer, gamma)
            angle = spectrum.path_angle(
                game, (jnp.float64(1.0), jnp.float64(1.0)), (zero, zero), num=path_points
            )
            result[name] = {
                "eigenvalues": as_pairs(np.sort_complex(measured)),
                "closed_form": as_pairs(np.sort_complex(closed)),
                "max_error": float(
                    np.max(np.abs(np.sort_complex(measured) - np.sort_complex(closed)))
                ),
                "path_angle": {k: v.tolist() for k, v in angle.items()},
            }
    return result


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
    train_set = data.load_dataset("digits", 32, "train")
    runs = {
        os.path.basename(os.path.normpath(w)): analyse_run(w, args, train_set)
        for w in args.workdirs
    }
    calibration = dirac_calibration(args.path_points)
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
    print(f"outputs in {args.out}")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
