"""Mode collapse on 2-D Gaussian mixtures, measured, and the remedies side by side.

Every method trains the same MLP generator and discriminator on the 8-Gaussian ring and
the 25-Gaussian grid through the same :mod:`gan_jax.dynamics` schemes, for several seeds
at once (``vmap``).  Coverage follows the VEEGAN/PacGAN protocol
(:func:`gan_jax.metrics.mode_coverage`, 2,500 samples): modes covered, the fraction of
high-quality samples (within 3σ of a mode) and the reverse KL of the mode histogram from
uniform, reported as mean ± standard error over seeds, for the trained generator and for
its exponential moving average (Yazıcı et al. 2019, arXiv:1806.04498; the average is
evaluated only, it never feeds back into training).

Methods: the non-saturating GAN under alternating and simultaneous updates; and, under
alternating updates, unrolled GAN (k = 5, arXiv:1611.02163), PacGAN2/3/4
(arXiv:1712.04086), minibatch standard deviation (arXiv:1710.10196), R1 (arXiv:1801.04406)
and WGAN-GP (arXiv:1704.00028).  Two methods (not in a setup's default list; name them
with ``--methods``) aim at the bridges a continuous generator draws between disconnected
modes, which are what keeps PacGAN4 under 96 % high quality on the ring:

* ``pacgan4_codes``: PacGAN4 with a generator that is a mixture of 8 weight-shared
  generators (:class:`~gan_jax.nets.mlp.MLPGenerator`'s ``discrete_codes``).  Measured, it
  does not thin them: nothing pushes the codes apart, and G does not use them (docs/results/mode_collapse.md).
* ``pacgan4_info``: the same, plus InfoGAN's code term (arXiv:1606.03657; MGAN's
  classifier term, arXiv:1708.02556): D's recognition head predicts each packed fake's
  code, and G and D both minimise its cross-entropy (λ = 1;
  :func:`gan_jax.gan.gan_game`'s ``latent_codes``).  Each code then takes a mode of its
  own, and no sample lies on a bridge (docs/results/mode_collapse.md).

``--setup`` picks the networks, mixtures, optimiser and length (:data:`SETUPS`):

* ``default``: our study.  MLPs with 2 hidden layers of 128 units, a 256-d latent,
  Adam(1e-3, β₁ = 0.5), 128 real samples per step, 5,000 steps, σ = 0.02 mixtures;
  unrolled D steps are SGD(1e-3) (the paper's eq. 4).
* ``pacgan``: PacGAN's public code (fjxmlzn/PacGAN, synthetic experiments): ring of
  radius 1 with σ = 0.01, grid −4…4 with σ = 0.05; G 4 × 400 ReLU with BatchNorm, D 3 ×
  200 maxout units of 5 pieces, weights N(0, 0.02²), z ~ N(0, I₂), Adam(1e-4, β₁ = 0.8),
  100 packs per step, 400 epochs of 100,000 samples = 400,000 steps.  (Their code draws
  from a fixed set of 100,000 samples; we sample fresh ones.)
* ``unrolled``: Metz et al.'s public code (poolio/unrolled_gan): G and D with 2 tanh
  layers of 128 units, orthogonal weights with gain 1.4, z ~ N(0, I₂₅₆), Adam with
  β₁ = 0.5, step 1e-4 for D and 1e-3 for G, batch 512, 25,000 steps, and inner steps that
  are D's own Adam steps continuing its moments (:func:`gan_jax.gan.unrolled`); the
  paper's σ = 0.02 ring of radius 2 (the notebook's ``linspace`` puts two of its 8 modes
  on the same point).

``--lr-schedule`` decays both players' step sizes (linear or cosine, to 0 by default) and
``--ema-beta`` sets the generator average; every other setting is a flag that overrides
the setup.

    python -m experiments.mode_collapse                  # full study (both mixtures, 5 seeds)
    python -m experiments.mode_collapse --quick          # a preview: the ring, < 2 minutes
    python -m experiments.mode_collapse --setup pacgan --steps 20000 --lr-schedule cosine
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from gan_jax import cli, configs, data, training
from gan_jax import dynamics as dy
from gan_jax.studies.mode_collapse import (  # noqa: F401  (the study's names, as before)
    FULL_SEEDS,
    METHODS,
    SETUPS,
    build,
    collect,
    compile_method,
    markdown_table,
    method_for,
    mixture_for,
    resolve,
    train_methods,
)
from gan_jax.viz.plotting import plot_mean_with_band, plot_sample_snapshots

FIGURE_NAMES = {"modes": "modes", "high_quality": "quality"}
QUICK = os.path.join(os.path.dirname(__file__), "presets", "mode_collapse_quick.yaml")


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = configs.ConfigParser(
        prog="python -m experiments.mode_collapse", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out", type=cli.output_directory, default="runs/mode_collapse", help="output folder"
    )
    parser.add_argument(
        "--setup",
        choices=list(SETUPS),
        default="default",
        help="networks, mixtures, optimiser and length: ours, or a paper's public code",
    )
    parser.add_preset("quick", QUICK, "a preview (the default setup: under 2 minutes on 2 cores)")
    parser.add_argument(
        "--mixtures",
        nargs="+",
        choices=data.MIXTURE_KINDS,
        default=None,
        help=f"default {' '.join(data.MIXTURE_KINDS)}",
    )
    parser.add_argument(
        "--methods", nargs="+", choices=list(METHODS), default=None, help="default: the setup's"
    )
    parser.add_argument(
        "--steps", type=cli.positive_int, default=None, help="training steps (default: the setup's)"
    )
    parser.add_argument(
        "--seeds",
        type=cli.positive_int,
        default=None,
        help=f"seeds per method (default {FULL_SEEDS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="base PRNG seed")
    parser.add_argument(
        "--batch-size",
        type=cli.positive_int,
        default=None,
        help="real samples (PacGAN: packs) per step (default: the setup's)",
    )
    parser.add_argument(
        "--lr", type=cli.positive_float, default=None, help="Adam step size of both players"
    )
    parser.add_argument(
        "--lr-schedule",
        choices=training.LR_SCHEDULES,
        default="constant",
        help="step-size decay of both players over --steps (to --lr-final × the step size)",
    )
    parser.add_argument(
        "--lr-final",
        type=cli.probability,
        default=0.0,
        help="final step size / initial (decays only)",
    )
    parser.add_argument(
        "--ema-beta",
        type=cli.decay_rate,
        default=0.999,
        help="per-step decay of the evaluated generator average (0: no average)",
    )
    parser.add_argument(
        "--unroll-lr",
        type=cli.positive_float,
        default=None,
        help="SGD step size of the unrolled D steps (setups with SGD inner steps)",
    )
    parser.add_argument(
        "--beta1", type=cli.decay_rate, default=None, help="Adam β₁ (default: the setup's)"
    )
    parser.add_argument(
        "--snapshots",
        type=cli.positive_int,
        default=20,
        help="coverage is measured this many times over training",
    )
    overrides = (  # unset: the setup's (or the method's) value
        ("--width", cli.positive_int, "hidden units of G and of D"),
        ("--depth", cli.positive_int, "hidden layers of G and of D"),
        ("--latent-dim", cli.positive_int, "z dimension (default: the setup's)"),
        ("--std", cli.positive_float, "σ of every mixture component (default: the setup's)"),
        ("--codes", cli.positive_int, "discrete codes of pacgan4_codes, pacgan4_info (default 8)"),
    )
    for flag, kind, help_text in overrides:
        parser.add_argument(flag, type=kind, default=None, help=help_text)
    args = parser.parse_args(argv)
    args = resolve(args)
    codes = max(method_for(name, args).latent_codes for name in args.methods)
    if codes >= args.latent_dim:
        parser.error(f"{codes} latent codes need --latent-dim > {codes}, got {args.latent_dim}")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    start = time.time()
    steps = dy.kept_steps(args.steps, args.every)
    setup = SETUPS[args.setup]
    mixtures = {kind: mixture_for(kind, setup, args.std) for kind in args.mixtures}
    results, seconds = train_methods(mixtures, args)
    rows, curves, snapshots = collect(results, args)
    which = f"G's average (β = {args.ema_beta})" if args.ema_beta else "G"
    for kind, mixture in mixtures.items():
        spread = float(np.abs(np.asarray(mixture.centers)).max())
        where = f"{args.setup} setup, {kind} (σ = {mixture.std:g})"
        plot_sample_snapshots(
            snapshots[kind],
            steps,
            np.asarray(mixture.centers),
            f"{args.out}/snapshots_{kind}.png",
            limit=1.4 * spread + 0.2,
            columns=6,
            title=f"{where}: 2,500 samples of {which}, seed 0 (red ×: mode centres)",
        )
        for quantity, ylabel, hline in (
            ("modes", "modes covered", {f"all {mixture.num_modes} modes": mixture.num_modes}),
            ("high_quality", "samples within 3σ of a mode (%)", {"100 %": 100.0}),
        ):
            plot_mean_with_band(
                curves[kind][quantity],
                steps,
                f"{args.out}/{FIGURE_NAMES[quantity]}_{kind}.png",
                ylabel=ylabel,
                title=f"{where}: {ylabel}, {which}\n(mean ± s.e. over {args.seeds} seeds)",
                hlines=hline,
            )
    metrics = {"config": vars(args), "steps": steps, "results": rows, "seconds": seconds}
    metrics["total_seconds"] = round(time.time() - start, 1)
    cli.write_metrics(args.out, metrics)
    print(markdown_table(rows, {kind: m.num_modes for kind, m in mixtures.items()}))
    print(
        f"{metrics['total_seconds']:.0f} s; wrote {args.out}/snapshots_*.png, modes_*.png, "
        "quality_*.png, metrics.json"
    )
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
