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

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from gan_jax import cli
from gan_jax import dynamics as dy
from gan_jax.dynamics import theory
from gan_jax.viz import dynamics as plots

CONVERGED_RADIUS = 1e-2


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


def variants(args: cli.argparse.Namespace) -> dict[str, dict]:
    """Each variant: its game, D's optimizer transform, the flow scheme and closed form."""
    plain = {"opt_d": lambda opt: opt, "scheme": None}
    return {
        "GAN": {
            "game": dy.dirac_gan("gan"),
            **plain,
            "closed_form": theory.dirac_eigenvalues("gan"),
        },
        "NS-GAN": {
            "game": dy.dirac_gan("nsgan"),
            **plain,
            "closed_form": theory.dirac_eigenvalues("nsgan"),
        },
        f"WGAN (clip {args.clip:g})": {
            "game": dy.dirac_gan("wgan"),
            "opt_d": lambda opt: optax.chain(opt, dy.clip_parameters(args.clip)),
            "scheme": None,
            "closed_form": theory.dirac_eigenvalues("wgan"),
        },
        f"WGAN-GP (γ={args.gp_gamma:g})": {
            "game": dy.dirac_gan("wgan", "wgan_gp", args.gp_gamma),
            **plain,
            "closed_form": None,
        },
        f"R1 (γ={args.r1_gamma:g})": {
            "game": dy.dirac_gan("gan", "r1", args.r1_gamma),
            **plain,
            "closed_form": theory.dirac_eigenvalues("gan", "r1", args.r1_gamma),
        },
        f"instance noise (σ={args.noise_std:g})": {
            "game": dy.dirac_gan("gan", "instance_noise", noise_std=args.noise_std),
            **plain,
            "closed_form": theory.dirac_eigenvalues(
                "gan", "instance_noise", noise_std=args.noise_std
            ),
        },
        f"consensus (γ={args.consensus_gamma:g})": {
            "game": dy.dirac_gan("gan"),
            "opt_d": lambda opt: opt,
            "scheme": lambda opt, opt_d=None: dy.consensus(opt, opt_d, gamma=args.consensus_gamma),
            "closed_form": theory.dirac_eigenvalues(consensus_gamma=args.consensus_gamma),
        },
    }


def update_rules(variant: dict) -> dict[str, Callable]:
    """The three update rules; consensus replaces the simultaneous/alternating base rule."""
    if variant["scheme"] is not None:
        return {"simultaneous": variant["scheme"]}
    return {
        "simultaneous": lambda opt, opt_d: dy.simultaneous(opt, opt_d),
        "alternating (1 D step)": lambda opt, opt_d: dy.alternating(opt, opt_d, d_steps=1),
        "alternating (5 D steps)": lambda opt, opt_d: dy.alternating(opt, opt_d, d_steps=5),
    }


def vector_field(game: dy.Game, scheme: Callable, limit: float, n: int) -> dict:
    """The continuous flow ``ż = step_{sgd(1)}(z) − z`` of a first-order scheme on a grid."""
    ticks = jnp.linspace(-limit, limit, n)
    grid_x, grid_y = jnp.meshgrid(ticks, ticks)
    rule = scheme(optax.sgd(1.0), None)

    def flow(theta, psi):
        new, _ = rule.step(game, rule.init(game, theta, psi))
        return new.g - theta, new.d - psi

    u, v = jax.vmap(jax.vmap(flow))(grid_x, grid_y)
    return {
        "grid_x": np.asarray(grid_x),
        "grid_y": np.asarray(grid_y),
        "u": np.asarray(u),
        "v": np.asarray(v),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    with cli.toy_device(args.device):
        return run(args)


def run(args: cli.argparse.Namespace) -> dict:
    theta0, psi0 = (jnp.float32(v) for v in args.start)
    opt = optax.sgd(args.h)
    metrics: dict = {"config": vars(args), "runs": {}, "eigenvalues": {}}
    panels_by_rule: dict[str, list] = {}
    measured_eigs, closed_eigs = {}, {}

    for name, variant in tqdm(variants(args).items(), desc="variants", unit="variant"):
        game = variant["game"]
        base_rule = variant["scheme"] or dy.simultaneous  # the flow drawn under the arrows
        field = vector_field(game, base_rule, 2.0, args.grid)
        for rule_name, make in update_rules(variant).items():
            scheme = make(opt, variant["opt_d"](opt))
            traj = jax.jit(
                lambda scheme=scheme, game=game: dy.rollout(game, scheme, theta0, psi0, args.steps)
            )()
            thetas, psis = np.asarray(traj.g), np.asarray(traj.d)
            distance = np.hypot(thetas, psis)
            metrics["runs"][f"{name} | {rule_name}"] = {
                "final_theta": float(thetas[-1]),
                "final_psi": float(psis[-1]),
                "final_distance": float(distance[-1]),
                "min_distance_last_100": float(np.min(distance[-100:])),
                "converged": bool(distance[-1] < CONVERGED_RADIUS),
            }
            title = f"{name}\n{rule_name}: ‖z_T‖ = {distance[-1]:.2g}"
            panels_by_rule.setdefault(rule_name, []).append(
                {**field, "xs": thetas, "ys": psis, "title": title}
            )

        if variant["closed_form"] is None:
            metrics["eigenvalues"][name] = {
                "note": "(γ/2)(|ψ| − 1)² is not differentiable at the equilibrium ψ = 0: no "
                "Jacobian there, so no eigenvalues"
            }
            continue
        jacobian = dy.flow_jacobian(
            game, jnp.float32(0.0), jnp.float32(0.0), scheme=lambda o, rule=base_rule: rule(o, None)
        )
        eigs = dy.eigenvalues(jacobian)
        closed = np.asarray(variant["closed_form"])
        row = {
            "measured": [[float(e.real), float(e.imag)] for e in eigs],
            "closed_form": [[float(e.real), float(e.imag)] for e in closed],
            "max_abs_difference": float(
                np.max(np.abs(np.sort_complex(eigs) - np.sort_complex(closed)))
            ),
        }
        measured_eigs[name] = eigs
        closed_eigs[name] = closed
        metrics["eigenvalues"][name] = row

    for rule_name, panels in panels_by_rule.items():
        slug = rule_name.replace(" ", "_").replace("(", "").replace(")", "")
        plots.plot_vector_fields(
            panels,
            f"{args.out}/dirac_{slug}.png",
            suptitle=f"Dirac-GAN, {rule_name} updates: sgd(h = {args.h:g}), {args.steps} steps "
            f"from ({args.start[0]:g}, {args.start[1]:g}); ★ = equilibrium",
        )
    plots.plot_eigenvalues(
        measured_eigs,
        closed_eigs,
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
