"""Dirac-GAN (Mescheder, Geiger & Nowozin 2018, arXiv:1801.04406): which training methods
converge, on the paper's 2-parameter counterexample.

Each variant (GAN, NS-GAN, clipped WGAN, WGAN-GP, R1, instance noise, consensus) is run
with the paper's settings, ``optax.sgd(h = 0.2)`` from (θ, ψ) = (1, 1) for 500 steps,
under simultaneous updates and alternating updates with 1 and 5 discriminator steps.  The
eigenvalues of the gradient field's Jacobian at the equilibrium are computed by autodiff
through the library's schemes and set beside the paper's closed forms.

    python -m experiments.dirac_gan --out figures/dirac_gan
"""

from __future__ import annotations

from collections.abc import Sequence

from gan_jax import cli
from gan_jax.studies import dirac_gan as study
from gan_jax.viz import dynamics as plots


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="python -m experiments.dirac_gan", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out", type=cli.output_directory, default="runs/dirac_gan", help="output folder"
    )
    parser.add_argument("--h", type=cli.positive_float, default=0.2, help="step size")
    parser.add_argument("--steps", type=cli.positive_int, default=500)
    parser.add_argument(
        "--start", type=float, nargs=2, default=[1.0, 1.0], metavar=("THETA", "PSI")
    )
    parser.add_argument("--r1-gamma", type=cli.positive_float, default=0.3)
    parser.add_argument(
        "--gp-gamma",
        type=cli.positive_float,
        default=0.3,
        help="WGAN-GP weight γ (penalty (γ/2)(|ψ| − 1)²)",
    )
    parser.add_argument(
        "--noise-std", type=cli.positive_float, default=0.7, help="instance noise σ"
    )
    parser.add_argument(
        "--clip", type=cli.positive_float, default=1.0, help="WGAN weight clipping |ψ| ≤ c"
    )
    parser.add_argument("--consensus-gamma", type=cli.positive_float, default=1.0)
    parser.add_argument(
        "--grid", type=cli.positive_int, default=17, help="vector-field arrows per axis"
    )
    cli.add_toy_device_flag(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    with cli.toy_device(args.device):
        results = study.measure(args)
    metrics = {"config": vars(args), "runs": results.runs, "eigenvalues": results.eigenvalues}
    for rule_name, panels in results.panels.items():
        slug = rule_name.replace(" ", "_").replace("(", "").replace(")", "")
        plots.plot_vector_fields(
            panels,
            f"{args.out}/dirac_{slug}.png",
            suptitle=f"Dirac-GAN, {rule_name} updates: sgd(h = {args.h:g}), {args.steps} steps "
            f"from ({args.start[0]:g}, {args.start[1]:g}); ★ = equilibrium",
        )
    plots.plot_eigenvalues(
        results.measured,
        results.closed,
        f"{args.out}/eigenvalues.png",
        title="Dirac-GAN: eigenvalues of the gradient-field Jacobian at (0, 0)\n"
        "filled: autodiff through the schemes; rings: closed forms (arXiv:1801.04406)",
    )
    cli.write_metrics(args.out, metrics)
    for run, row in metrics["runs"].items():
        print(
            f"{run:58s} ‖z_T‖ = {row['final_distance']:.3g}"
            f"{'  converged' if row['converged'] else ''}"
        )
    for name, row in metrics["eigenvalues"].items():
        print(
            f"{name:28s} λ = {row.get('measured', row.get('note'))}  "
            f"Δ closed form = {row.get('max_abs_difference')}"
        )
    print(f"wrote {args.out}/dirac_*.png, eigenvalues.png, metrics.json")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
