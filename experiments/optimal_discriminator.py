"""Goodfellow et al. 2014 (arXiv:1406.2661) Proposition 1 and Theorem 1, measured.

p_data = N(0, 1) and the generator is frozen at p_g = N(μ, 1) for each μ.  An MLP
discriminator is trained with the minimax discriminator loss on fresh samples (all μ at
once under ``vmap``, each step a ``lax.scan``), then compared with the closed form
``D*(x) = σ(μ²/2 − μx)`` on [−3, 3]; its Monte-Carlo value ``V̂(D, G)`` is compared with
``V* = −log 4 + 2·JSD(p_data‖p_g)``, the JSD integrated numerically.

    python -m experiments.optimal_discriminator --out figures/optimal_discriminator

Writes ``optimal_discriminator.png``, ``training_loss.png`` and ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optax

from gan_jax import cli
from gan_jax.nets.mlp import ACTIVATIONS, MLPDiscriminator
from gan_jax.studies import optimal_discriminator as study
from gan_jax.viz import plotting


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="python -m experiments.optimal_discriminator", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out",
        type=cli.output_directory,
        default="runs/optimal_discriminator",
        help="output folder",
    )
    parser.add_argument(
        "--mus",
        type=float,
        nargs="+",
        default=[0.0, 0.5, 1.0, 2.0],
        help="generator means μ (p_g = N(μ, 1))",
    )
    parser.add_argument("--steps", type=cli.positive_int, default=4000, help="optimizer steps")
    parser.add_argument(
        "--batch-size",
        type=cli.positive_int,
        default=2048,
        help="real and fake samples per step (each)",
    )
    parser.add_argument(
        "--lr",
        type=cli.positive_float,
        default=3e-3,
        help="peak Adam learning rate (cosine decay to 0)",
    )
    parser.add_argument("--width", type=cli.positive_int, default=64, help="MLP width")
    parser.add_argument("--depth", type=cli.positive_int, default=2, help="hidden layers")
    parser.add_argument("--activation", default="leaky_relu", choices=sorted(ACTIVATIONS))
    parser.add_argument(
        "--eval-samples",
        type=cli.positive_int,
        default=1_000_000,
        help="Monte-Carlo samples per term of V(D, G)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--log-every",
        type=cli.positive_int,
        default=100,
        help="steps per jitted chunk (progress bar granularity)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    results = study.measure(
        MLPDiscriminator(width=args.width, depth=args.depth, activation=args.activation),
        optax.adam(optax.cosine_decay_schedule(args.lr, args.steps)),
        args.mus,
        steps=args.steps,
        batch_size=args.batch_size,
        eval_samples=args.eval_samples,
        seed=args.seed,
        log_every=args.log_every,
    )
    metrics = {**results.metrics(), "config": vars(args)}
    plotting.plot_optimal_discriminator(
        results.x, results.panels(), f"{args.out}/optimal_discriminator.png"
    )
    steps = np.arange(1, args.steps + 1)
    plotting.plot_curves(
        {f"μ = {mu:g}": (steps, results.losses[i]) for i, mu in enumerate(args.mus)},
        f"{args.out}/training_loss.png",
        ylabel="discriminator loss  −V(D, G)",
        title="D trained against a frozen G: loss → log 4 − 2·JSD",
        hlines={"log 4 (μ = 0 optimum)": float(np.log(4.0))},
    )
    cli.write_metrics(args.out, metrics)
    for mu, row in results.per_mu.items():
        print(
            f"μ={mu:>4}: max|D−D*|={row['max_abs_error']:.4f}  "
            f"V̂={row['value_mc']:.5f}  V*={row['value_theory']:.5f}  "
            f"|V̂−V*|={row['value_abs_error']:.5f}"
        )
    print(f"wrote {args.out}/optimal_discriminator.png, training_loss.png, metrics.json")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
