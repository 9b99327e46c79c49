"""Discretisation drift (Rosca, Wu, Dherin and Barrett 2021, arXiv:2105.13922): the modified
flows that simultaneous and alternating gradient descent follow, on the bilinear game and
Dirac-GAN.

    python -m experiments.discretisation_drift --out figures/discretisation_drift

The iterates against the game's own flow ``ż = F`` and against the modified flow
``ż = F + C`` of :mod:`gan_jax.dynamics.drift` (both integrated with an adaptive
Dormand–Prince solver in float64): ``trajectories.png`` (the iterates on the modified
flow: simultaneous GD spirals out with it, alternating GD cycles with it),
``errors.png`` (the distance to each flow over the steps) and ``orders.png`` (the
distance at a fixed horizon against the step h: the fitted orders, 1 for the game's
flow and 2 for the modified flow); numbers in ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

from gan_jax import cli
from gan_jax.studies import discretisation_drift as study
from gan_jax.viz import dynamics as plots


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="python -m experiments.discretisation_drift", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out", type=cli.output_directory, default="runs/discretisation_drift",
        help="output folder",
    )  # fmt: skip
    parser.add_argument("--h", type=cli.positive_float, default=0.1, help="step of the figures")
    parser.add_argument("--steps", type=cli.positive_int, default=400, help="steps of the figures")
    parser.add_argument(
        "--order-h", type=cli.positive_float, nargs="+", default=[0.2, 0.1, 0.05, 0.025],
        help="steps whose errors at the horizon give the orders",
    )  # fmt: skip
    parser.add_argument(
        "--horizon", type=cli.positive_float, default=2.0, help="T of the order fit (n = T/h)"
    )
    cli.add_toy_device_flag(parser)
    return parser.parse_args(argv)


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
    cli.write_metrics(args.out, metrics)
    for name, row in metrics["runs"].items():
        print(
            f"{name:28s} orders: game's flow {row['order_original']:.2f}, modified "
            f"{row['order_modified']:.2f}; max distance over {args.steps} steps: "
            f"{row['max_error_original']:.3g} vs {row['max_error_modified']:.3g}"
        )
    print(f"wrote {args.out}/trajectories.png, errors.png, orders.png, metrics.json")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
