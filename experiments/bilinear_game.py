"""The seed lecture's non-convergence of min_x max_y xy, measured for every update rule.

Simultaneous GDA spirals out, alternating GDA cycles forever through the sign pattern
(+,+) → (−,+) → (−,−) → (+,−), and extragradient, optimistic, consensus and alternating
with negative momentum converge.  All runs are ``lax.scan`` rollouts of the library's
schemes under ``optax.sgd``; step-size sweeps are ``vmap``-ped.

    python -m experiments.bilinear_game --out figures/bilinear_game

Figures: ``trajectories.png`` (a), ``distance.png`` (b), ``spectral_radius.png`` (c),
``sign_cycle.png`` (d); numbers in ``metrics.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from gan_jax import cli
from gan_jax import dynamics as dy
from gan_jax.dynamics import theory
from gan_jax.dynamics.analysis import log_growth_rate, sign_change_steps, steps_per_revolution
from gan_jax.viz import dynamics as plots


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="python -m experiments.bilinear_game", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out", type=cli.output_directory, default="runs/bilinear_game", help="output folder"
    )
    parser.add_argument(
        "--eta", type=cli.positive_float, default=0.1, help="step size of the trajectory figures"
    )
    parser.add_argument(
        "--steps", type=cli.positive_int, default=400, help="steps of the trajectory figures"
    )
    parser.add_argument(
        "--momentum", type=cli.momentum, default=-0.5, help="β of alternating + negative momentum"
    )
    parser.add_argument(
        "--sim-momentum", type=cli.momentum, default=0.5, help="β of simultaneous + momentum"
    )
    parser.add_argument("--consensus-gamma", type=cli.positive_float, default=1.0)
    parser.add_argument(
        "--sweep-points",
        type=cli.positive_int,
        default=256,
        help="step sizes in the spectral-radius sweep",
    )
    parser.add_argument("--sweep-max-eta", type=cli.positive_float, default=2.5)
    parser.add_argument(
        "--sweep-steps",
        type=cli.positive_int,
        default=300,
        help="rollout length per step size (growth rate over the second half)",
    )
    parser.add_argument(
        "--cycle-eta",
        type=cli.positive_float,
        default=0.1,
        help="step size of the sign-cycle figure",
    )
    cli.add_toy_device_flag(parser)
    return parser.parse_args(argv)


def schemes(args: cli.argparse.Namespace) -> dict[str, Callable[[float], object]]:
    """Scheme factories of the step size, in figure order."""
    return {
        "simultaneous": lambda eta: dy.simultaneous(optax.sgd(eta)),
        "alternating": lambda eta: dy.alternating(optax.sgd(eta)),
        "extragradient": lambda eta: dy.extragradient(optax.sgd(eta)),
        "optimistic": lambda eta: dy.optimistic(optax.sgd(eta)),
        "consensus": lambda eta: dy.consensus(optax.sgd(eta), gamma=args.consensus_gamma),
        "alternating + negative momentum": lambda eta: dy.alternating(
            optax.sgd(eta, momentum=args.momentum)
        ),
        "simultaneous + momentum": lambda eta: dy.simultaneous(
            optax.sgd(eta, momentum=args.sim_momentum)
        ),
    }


def closed_forms(args: cli.argparse.Namespace) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return {
        "simultaneous": theory.simultaneous_radius,
        "alternating": theory.alternating_radius,
        "extragradient": theory.extragradient_radius,
        "optimistic": theory.optimistic_radius,
        "consensus": lambda e: theory.consensus_radius(e, args.consensus_gamma),
        "alternating + negative momentum": lambda e: theory.alternating_momentum_radius(
            e, args.momentum
        ),
        "simultaneous + momentum": lambda e: theory.simultaneous_momentum_radius(
            e, args.sim_momentum
        ),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    with cli.toy_device(args.device):
        return run(args)


def run(args: cli.argparse.Namespace) -> dict:
    game = dy.bilinear()
    factories = schemes(args)
    forms = closed_forms(args)
    metrics: dict = {"config": vars(args), "schemes": {}}

    with jax.enable_x64(True):  # the sweep spans ρ^300 from 1e-45 to 1e229
        one = jnp.float64(1.0)
        # (a), (b): trajectories from (1, 1).
        trajectories = {}
        for name, make in tqdm(factories.items(), desc="trajectories", unit="scheme"):
            traj = jax.jit(
                lambda make=make: dy.rollout(game, make(args.eta), one, one, args.steps)
            )()
            trajectories[name] = (np.asarray(traj.g), np.asarray(traj.d))

        # (c): vmap over step sizes, growth rate over the second half of each rollout.
        etas = np.linspace(
            args.sweep_max_eta / args.sweep_points, args.sweep_max_eta, args.sweep_points
        )
        start = time.perf_counter()
        measured = {}
        for name, make in tqdm(factories.items(), desc="ρ(η) sweep", unit="scheme"):

            def growth(eta, make=make):
                traj = dy.rollout(game, make(eta), one, one, args.sweep_steps)
                return log_growth_rate(jnp.hypot(traj.g, traj.d), args.sweep_steps // 2)

            measured[name] = np.asarray(jax.jit(jax.vmap(growth))(jnp.asarray(etas)))
        sweep_seconds = time.perf_counter() - start

        # (d): the sign cycle of alternating GDA, and its period over a range of η.
        cycle_steps = int(1.1 * theory.alternating_period(args.cycle_eta)) + 1
        cycle = dy.rollout(game, dy.alternating(optax.sgd(args.cycle_eta)), one, one, cycle_steps)
        period_etas = np.geomspace(0.02, 1.0, 12)

        def alternating_xs(eta):
            return dy.rollout(game, dy.alternating(optax.sgd(eta)), one, one, 20_000).g

        xs_by_eta = np.asarray(jax.jit(jax.vmap(alternating_xs))(jnp.asarray(period_etas)))

    measured_periods = np.array([steps_per_revolution(xs) for xs in xs_by_eta])
    cx, cy = np.asarray(cycle.g), np.asarray(cycle.d)
    changes = sorted(
        [(int(t), "x → " + ("−" if cx[t] < 0 else "+")) for t in sign_change_steps(cx)]
        + [(int(t), "y → " + ("−" if cy[t] < 0 else "+")) for t in sign_change_steps(cy)]
    )
    signs = [(int(np.sign(cx[t])), int(np.sign(cy[t]))) for t, _ in changes]

    for name in factories:
        xs, ys = trajectories[name]
        rho_theory = float(forms[name](args.eta))
        finite = np.isfinite(measured[name])
        metrics["schemes"][name] = {
            "rho_theory_at_eta": rho_theory,
            "converges": rho_theory < 1.0,
            "final_distance": float(np.hypot(xs[-1], ys[-1])),
            "initial_distance": float(np.hypot(xs[0], ys[0])),
            "sweep_max_abs_error_rho": float(
                np.max(np.abs(measured[name][finite] - forms[name](etas[finite])))
            ),
        }
    metrics["sweep"] = {
        "num_step_sizes": len(etas),
        "steps": args.sweep_steps,
        "seconds_including_compile": sweep_seconds,
    }
    metrics["sign_cycle"] = {
        "eta": args.cycle_eta,
        "sign_changes": [
            {"step": t, "change": c, "signs_after": s} for (t, c), s in zip(changes, signs)
        ],
        "sign_sequence": [[1, 1]] + [list(s) for s in signs],
        "period": {
            "eta": period_etas.tolist(),
            "measured_steps_per_revolution": measured_periods.tolist(),
            "two_pi_over_eta": (2 * np.pi / period_etas).tolist(),
            "exact": theory.alternating_period(period_etas).tolist(),
        },
    }

    plots.plot_phase_portraits(
        [
            (f"{name}\n‖z_T‖ = {np.hypot(*trajectories[name])[-1]:.3g}", *trajectories[name])
            for name in factories
        ],
        f"{args.out}/trajectories.png",
        flow_radius=float(np.sqrt(2.0)),
        suptitle=f"min_x max_y xy from (1, 1): η = {args.eta:g}, {args.steps} steps "
        f"(momentum β = {args.momentum:g} / {args.sim_momentum:g}, "
        f"consensus γ = {args.consensus_gamma:g})",
    )
    steps = np.arange(args.steps + 1)
    distance_curves = {name: (steps, np.hypot(*trajectories[name])) for name in factories}
    plots.plot_distances(
        distance_curves,
        f"{args.out}/distance.png",
        title=f"Distance to the equilibrium (0, 0) from (1, 1), η = {args.eta:g}",
    )
    subsample = slice(None, None, max(1, len(etas) // 24))
    plots.plot_spectral_radius(
        etas,
        {name: forms[name](etas) for name in factories},
        {name: (etas[subsample], measured[name][subsample]) for name in factories},
        f"{args.out}/spectral_radius.png",
    )
    plots.plot_sign_cycle(
        cx, cy, args.cycle_eta, changes, period_etas, measured_periods, f"{args.out}/sign_cycle.png"
    )
    cli.write_metrics(args.out, metrics)
    for name, row in metrics["schemes"].items():
        print(
            f"{name:32s} ρ(η={args.eta:g}) = {row['rho_theory_at_eta']:.5f}  "
            f"‖z_T‖ = {row['final_distance']:.3g}  max|ρ̂ − ρ| over sweep = "
            f"{row['sweep_max_abs_error_rho']:.2e}"
        )
    print(
        f"wrote {args.out}/trajectories.png, distance.png, spectral_radius.png, "
        "sign_cycle.png, metrics.json"
    )
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
