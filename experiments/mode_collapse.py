"""Mode collapse on 2-D Gaussian mixtures, measured, and the remedies side by side.

Every method trains the same MLP generator and discriminator on the 8-Gaussian ring and
the 25-Gaussian grid (σ = 0.02) through the same :mod:`gan_jax.dynamics` schemes, for
several seeds at once (``vmap``).  Coverage follows the VEEGAN/PacGAN protocol
(:func:`gan_jax.metrics.mode_coverage`, 2,500 samples): modes covered, the fraction of
high-quality samples (within 3σ of a mode) and the reverse KL of the mode histogram from
uniform, reported as mean ± standard error over seeds.

Methods: the non-saturating GAN under alternating and simultaneous updates; and, under
alternating updates, unrolled GAN (k = 5, arXiv:1611.02163), PacGAN2/PacGAN4
(arXiv:1712.04086), minibatch standard deviation (arXiv:1710.10196), R1 (arXiv:1801.04406)
and WGAN-GP (arXiv:1704.00028).

Decisions (defaults; every one is a flag): MLPs with 2 hidden layers of 128 units, a
256-d latent (Metz et al.'s size: with a 2-d latent the vanilla GAN did not collapse on the
ring in our runs), Adam(1e-3, β₁ = 0.5) for both players, 128 real samples per step, 5,000
steps.  Unrolled D steps use SGD (the paper's eq. 4; a fresh Adam inside the unroll went
NaN).  PacGAN keeps the number of D decisions per step, so it sees m× the samples, as in
the paper.  R1 γ = 0.1; WGAN-GP λ = 0.1 as in Gulrajani et al.'s toy code.

    python -m experiments.mode_collapse            # full study (both mixtures, 5 seeds)
    python -m experiments.mode_collapse --quick    # a preview: the ring, < 2 minutes
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import optax
from tqdm import tqdm

from gan_jax import cli, data, gan, losses, mixture_gan
from gan_jax import dynamics as dy
from gan_jax.metrics import mean_and_standard_error
from gan_jax.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.plotting import plot_mean_with_band, plot_sample_snapshots


@dataclasses.dataclass(frozen=True)
class Method:
    """One training recipe: the scheme, and the remedies switched on (all off: vanilla)."""

    label: str
    scheme: str = "alternating"  # or "simultaneous"
    unroll_steps: int = 0
    pack: int = 1
    minibatch_std_group: int = 0
    r1_gamma: float = 0.0
    wgan_gp_weight: float = 0.0


METHODS: dict[str, Method] = {
    "vanilla_alt": Method("vanilla (alt.)"),
    "vanilla_sim": Method("vanilla (sim.)", scheme="simultaneous"),
    "unrolled5": Method("unrolled k=5", unroll_steps=5),
    "pacgan2": Method("PacGAN2", pack=2),
    "pacgan4": Method("PacGAN4", pack=4),
    "mbstd": Method("minibatch stddev", minibatch_std_group=4),
    "r1": Method("R1", r1_gamma=0.1),
    "wgan_gp": Method("WGAN-GP", wgan_gp_weight=0.1),
}

FULL = {"steps": 5000, "seeds": 5, "mixtures": list(data.MIXTURE_KINDS)}
# The preview: 16 runs would spend ~2 min compiling alone on 2 cores, so --quick is the
# ring (where collapse shows first) with every method; --mixtures ring grid adds the grid.
QUICK = {"steps": 1000, "seeds": 2, "mixtures": ["ring"]}


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="python -m experiments.mode_collapse", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", default="figures/mode_collapse", help="output folder")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"preview preset: {QUICK['steps']} steps, {QUICK['seeds']} seeds, the "
        f"{' and '.join(QUICK['mixtures'])} only (under 2 minutes on 2 cores)",
    )
    parser.add_argument(
        "--mixtures",
        nargs="+",
        choices=data.MIXTURE_KINDS,
        default=None,
        help=f"default {' '.join(FULL['mixtures'])}; --quick {' '.join(QUICK['mixtures'])}",
    )
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument(
        "--steps",
        type=cli.positive_int,
        default=None,
        help=f"training steps (default {FULL['steps']}; --quick {QUICK['steps']})",
    )
    parser.add_argument(
        "--seeds",
        type=cli.positive_int,
        default=None,
        help=f"seeds per method (default {FULL['seeds']}; --quick {QUICK['seeds']})",
    )
    parser.add_argument("--seed", type=int, default=0, help="base PRNG seed")
    parser.add_argument(
        "--batch-size",
        type=cli.positive_int,
        default=128,
        help="real samples per step (PacGAN m: m× as many, as the paper)",
    )
    parser.add_argument("--lr", type=cli.positive_float, default=1e-3, help="Adam step size")
    parser.add_argument(
        "--unroll-lr",
        type=cli.positive_float,
        default=1e-3,
        help="SGD step size of the unrolled D steps",
    )
    parser.add_argument("--beta1", type=float, default=0.5, help="Adam β₁")
    parser.add_argument("--width", type=cli.positive_int, default=128, help="hidden units")
    parser.add_argument(
        "--depth", type=cli.positive_int, default=2, help="hidden layers of G and of D"
    )
    parser.add_argument(
        "--latent-dim", type=cli.positive_int, default=256, help="z dimension (256, as Metz et al.)"
    )
    parser.add_argument(
        "--snapshots",
        type=cli.positive_int,
        default=20,
        help="coverage is measured this many times over training",
    )
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    args.steps = args.steps or preset["steps"]
    args.seeds = args.seeds or preset["seeds"]
    args.mixtures = args.mixtures or preset["mixtures"]
    # snapshots every steps // snapshots steps (at least 1), plus the final step
    args.every = max(1, args.steps // args.snapshots)
    return args


def build(method: Method, args: cli.argparse.Namespace):
    """``(game, scheme, generator, discriminator)`` of a method."""
    generator = MLPGenerator(2, width=args.width, depth=args.depth)
    discriminator = MLPDiscriminator(
        width=args.width, depth=args.depth, minibatch_std_group=method.minibatch_std_group
    )
    optimizer = optax.adam(args.lr, b1=args.beta1)
    if method.wgan_gp_weight:
        game = gan.gan_game(
            generator,
            discriminator,
            g_loss=losses.wasserstein_generator_loss,
            d_loss=losses.wasserstein_discriminator_loss,
            penalties=[gan.wgan_gp(method.wgan_gp_weight)],
            latent_dim=args.latent_dim,
            pack=method.pack,
        )
    else:
        penalties = [gan.r1(method.r1_gamma)] if method.r1_gamma else []
        game = gan.gan_game(
            generator,
            discriminator,
            penalties=penalties,
            latent_dim=args.latent_dim,
            pack=method.pack,
        )
    # Inner (unrolled) D steps are plain SGD: the paper's update (arXiv:1611.02163, eq. 4).
    game = gan.unrolled(game, optax.sgd(args.unroll_lr), method.unroll_steps)
    if method.scheme == "simultaneous":
        scheme = dy.simultaneous(optimizer)
    else:
        scheme = dy.alternating(optimizer)
    return game, scheme, generator, discriminator


def compile_method(
    mixture: data.GaussianMixture, method: Method, args: cli.argparse.Namespace
) -> Callable[[], dict[str, np.ndarray]]:
    """Compile one vmapped program that trains ``args.seeds`` seeds of ``method`` and scores
    every snapshot; returns a function that runs it."""
    game, scheme, generator, discriminator = build(method, args)

    def one_seed(key: jax.Array) -> dict[str, jax.Array]:
        key_train, key_eval = jax.random.split(key)
        run = mixture_gan.train_on_mixture(
            game,
            scheme,
            generator,
            discriminator,
            mixture,
            key_train,
            num_steps=args.steps,
            batch_size=args.batch_size * method.pack,
            latent_dim=args.latent_dim,
            every=args.every,
            pack=method.pack,
        )
        coverage = mixture_gan.coverage_over_training(
            generator, run.g, mixture, key_eval, latent_dim=args.latent_dim
        )
        return {**coverage, "loss_g": run.metrics["loss_g"], "loss_d": run.metrics["loss_d"]}

    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    compiled = jax.jit(jax.vmap(one_seed)).lower(keys).compile()

    def run() -> dict[str, np.ndarray]:
        return {name: np.asarray(value) for name, value in compiled(keys).items()}

    return run


def summarise(result: dict[str, np.ndarray]) -> dict[str, float | list]:
    """Final-snapshot mean ± s.e. over seeds, and the per-seed values."""
    row: dict[str, float | list] = {}
    for name in ("modes", "high_quality", "reverse_kl"):
        final = result[name][:, -1]
        mean, se = mean_and_standard_error(final)
        row[name] = float(mean)
        row[f"{name}_se"] = float(se)
        row[f"{name}_per_seed"] = final.tolist()
    finite = np.isfinite(result["loss_d"]).all(axis=1) & np.isfinite(result["loss_g"]).all(axis=1)
    row["diverged_seeds"] = int(np.sum(~finite))
    return row


def markdown_table(summary: dict[str, dict[str, dict]], num_modes: dict[str, int]) -> str:
    lines = ["| mixture | method | modes | high quality % | reverse KL |", "|---|---|---|---|---|"]
    for kind, rows in summary.items():
        for name, row in rows.items():
            lines.append(
                f"| {kind} | {METHODS[name].label} | {row['modes']:.1f} ± {row['modes_se']:.1f}"
                f" / {num_modes[kind]} | {100 * row['high_quality']:.1f} ± "
                f"{100 * row['high_quality_se']:.1f} | {row['reverse_kl']:.2f} ± "
                f"{row['reverse_kl_se']:.2f} |"
                + (f" {row['diverged_seeds']} seed(s) diverged |" if row["diverged_seeds"] else "")
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    start = time.time()
    steps = dy.kept_steps(args.steps, args.every)
    metrics: dict = {"config": vars(args), "steps": steps, "results": {}, "seconds": {}}
    mixtures = {kind: data.mixture_of_gaussians(kind) for kind in args.mixtures}
    num_modes = {kind: mixture.num_modes for kind, mixture in mixtures.items()}
    jobs = [(kind, name) for kind in args.mixtures for name in args.methods]
    curves: dict[str, dict] = {kind: {} for kind in args.mixtures}
    snapshots: dict[str, dict] = {kind: {} for kind in args.mixtures}
    # XLA compiles on one core while a compiled program trains on the others, so the next
    # program is compiled in the background while the current one runs (--quick: about
    # 40 % of the time is compilation).
    with ThreadPoolExecutor(max_workers=1) as compiler:
        programs = [
            compiler.submit(compile_method, mixtures[kind], METHODS[name], args)
            for kind, name in jobs
        ]
        results = {}
        for (kind, name), program in zip(tqdm(jobs, desc="mixture × method", unit="run"), programs):
            run = program.result()
            tic = time.time()
            results[kind, name] = run()
            metrics["seconds"][f"{kind}/{name}"] = round(time.time() - tic, 1)  # training only
    for (kind, name), result in results.items():
        metrics["results"].setdefault(kind, {})[name] = {
            **summarise(result),
            "modes_over_steps": result["modes"].mean(axis=0),
            "high_quality_over_steps": result["high_quality"].mean(axis=0),
        }
        curves[kind][METHODS[name].label] = result["modes"]
        snapshots[kind][METHODS[name].label] = result["samples"][0]  # seed 0
    for kind, mixture in mixtures.items():
        limit = 3.0 if kind == "ring" else 5.5
        plot_sample_snapshots(
            snapshots[kind],
            steps,
            np.asarray(mixture.centers),
            f"{args.out}/snapshots_{kind}.png",
            limit=limit,
            columns=6,
            title=f"{kind}: 2,500 samples of seed 0 over training (red ×: mode centres)",
        )
        plot_mean_with_band(
            curves[kind],
            steps,
            f"{args.out}/modes_{kind}.png",
            ylabel="modes covered",
            title=f"{kind}: modes covered (mean ± s.e. over {args.seeds} seeds)",
            hlines={f"all {mixture.num_modes} modes": mixture.num_modes},
        )
    metrics["total_seconds"] = round(time.time() - start, 1)
    cli.write_metrics(args.out, metrics)
    print(markdown_table(metrics["results"], num_modes))
    print(
        f"{metrics['total_seconds']:.0f} s; wrote {args.out}/snapshots_*.png, modes_*.png, "
        "metrics.json"
    )
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
