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

import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from gan_jax import cli
from gan_jax.models.optimal_discriminator import (
    fit_discriminator,
    gan_value,
    gaussian_log_density,
    gaussian_shift_jsd,
    gaussian_shift_optimal_discriminator,
    optimal_value,
)
from gan_jax.nets.mlp import ACTIVATIONS, MLPDiscriminator
from gan_jax.training.steps import chunk_lengths
from gan_jax.viz import plotting

MAX_ABS_ERROR_TARGET = 0.05
VALUE_ERROR_TARGET = 0.02


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


def sample_real(mu: jax.Array, key: jax.Array, n: int) -> jax.Array:
    del mu  # p_data does not depend on the generator
    return jax.random.normal(key, (n, 1))


def sample_fake(mu: jax.Array, key: jax.Array, n: int) -> jax.Array:
    return mu + jax.random.normal(key, (n, 1))


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    mus = jnp.asarray(args.mus, dtype=jnp.float32)
    discriminator = MLPDiscriminator(width=args.width, depth=args.depth, activation=args.activation)
    optimizer = optax.adam(optax.cosine_decay_schedule(args.lr, args.steps))
    init, run = fit_discriminator(
        discriminator, optimizer, sample_real, sample_fake, args.batch_size
    )

    key_init, key_eval = jax.random.split(jax.random.key(args.seed))
    fits = jax.vmap(init)(jax.random.split(key_init, len(args.mus)), mus)
    lengths = chunk_lengths(0, args.steps, args.log_every)  # the last one may be shorter
    run_chunk = {n: jax.jit(jax.vmap(lambda fit, mu, n=n: run(fit, mu, n))) for n in set(lengths)}

    start = time.perf_counter()
    losses = []
    for length in tqdm(lengths, desc="fitting D", unit="chunk"):
        fits, chunk_losses = run_chunk[length](fits, mus)
        losses.append(np.asarray(chunk_losses))
    losses = np.concatenate(losses, axis=1)  # (num_mu, steps)
    train_seconds = time.perf_counter() - start

    x = jnp.linspace(-3.0, 3.0, 601)
    apply = jax.vmap(discriminator.apply, in_axes=(0, None))
    d_learned = jax.nn.sigmoid(apply(fits.params, x[:, None]))  # (num_mu, 601)
    d_star = jax.vmap(gaussian_shift_optimal_discriminator, in_axes=(None, 0))(x, mus)
    max_abs_error = jnp.max(jnp.abs(d_learned - d_star), axis=1)

    def monte_carlo_value(params: dict, mu: jax.Array, key: jax.Array) -> jax.Array:
        key_real, key_fake = jax.random.split(key)
        real = sample_real(mu, key_real, args.eval_samples)
        fake = sample_fake(mu, key_fake, args.eval_samples)
        return gan_value(discriminator.apply(params, real), discriminator.apply(params, fake))

    value_mc = jax.jit(jax.vmap(monte_carlo_value))(
        fits.params, mus, jax.random.split(key_eval, len(args.mus))
    )
    jsd = jax.vmap(gaussian_shift_jsd)(mus)
    value_theory = optimal_value(jsd)

    per_mu = {}
    panels = []
    for i, mu in enumerate(args.mus):
        row = {
            "max_abs_error": float(max_abs_error[i]),
            "value_mc": float(value_mc[i]),
            "value_theory": float(value_theory[i]),
            "value_abs_error": float(abs(value_mc[i] - value_theory[i])),
            "jsd": float(jsd[i]),
            "final_loss": float(losses[i, -1]),
        }
        per_mu[f"{mu:g}"] = row
        panels.append(
            {
                "mu": mu,
                "p_data": np.exp(np.asarray(gaussian_log_density(x))),
                "p_g": np.exp(np.asarray(gaussian_log_density(x, mu))),
                "d_learned": np.asarray(d_learned[i]),
                "d_star": np.asarray(d_star[i]),
                **row,
            }
        )
    metrics = {
        "per_mu": per_mu,
        "max_abs_error_overall": float(jnp.max(max_abs_error)),
        "max_value_abs_error_overall": max(r["value_abs_error"] for r in per_mu.values()),
        "targets": {"max_abs_error": MAX_ABS_ERROR_TARGET, "value_abs_error": VALUE_ERROR_TARGET},
        "passes": bool(
            max(r["max_abs_error"] for r in per_mu.values()) <= MAX_ABS_ERROR_TARGET
            and max(r["value_abs_error"] for r in per_mu.values()) <= VALUE_ERROR_TARGET
        ),
        "train_seconds": train_seconds,
        "config": vars(args),
    }

    plotting.plot_optimal_discriminator(
        np.asarray(x), panels, f"{args.out}/optimal_discriminator.png"
    )
    steps = np.arange(1, args.steps + 1)
    plotting.plot_curves(
        {f"μ = {mu:g}": (steps, losses[i]) for i, mu in enumerate(args.mus)},
        f"{args.out}/training_loss.png",
        ylabel="discriminator loss  −V(D, G)",
        title="D trained against a frozen G: loss → log 4 − 2·JSD",
        hlines={"log 4 (μ = 0 optimum)": float(np.log(4.0))},
    )
    cli.write_metrics(args.out, metrics)
    for mu, row in per_mu.items():
        print(
            f"μ={mu:>4}: max|D−D*|={row['max_abs_error']:.4f}  "
            f"V̂={row['value_mc']:.5f}  V*={row['value_theory']:.5f}  "
            f"|V̂−V*|={row['value_abs_error']:.5f}"
        )
    print(f"wrote {args.out}/optimal_discriminator.png, training_loss.png, metrics.json")
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
