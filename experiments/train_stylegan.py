"""Train a StyleGAN (Karras et al. 2019, arXiv:1812.04948; StyleGAN2, arXiv:1912.04958) on
real images and measure its claims.

    python -m experiments.train_stylegan                     # MNIST, 32×32
    python -m experiments.train_stylegan --resume            # continue the run
    python -m experiments.train_stylegan --style adain       # StyleGAN's AdaIN instead

Defaults (:class:`gan_jax.models.stylegan.StyleGANConfig`): z and w of 128, an 8-layer mapping
network with learning-rate multiplier 0.01, the modulated/demodulated synthesis network
with noise inputs and skip outputs, the residual discriminator, widths
``min(64, 256/r)`` (64, 32, 16, 8 channels at 4, 8, 16, 32: sized for scikit-learn's 8×8
digits up-sampled, whose fine layers need few), style mixing at probability 0.9, the
non-saturating loss with (γ/2)·R1 (γ = 50) every 16 steps, noise inputs from 16×16 up (γ
and the noise set for MNIST: :mod:`gan_jax.models.stylegan`), Adam(2e-3, β₁ = 0, β₂ = 0.99),
batch 64 for 2,500 steps (160,000 images, as ``train_dcgan``), G's moving average (β =
0.999 with a 10 % ramp-up) evaluated.  Flags, evaluation and outputs are the shared
runner's (:mod:`gan_jax.runner.image_runs`).

Besides the runner's outputs (``samples.png`` is the uncurated grid), ``--out`` gets
``style_mixing.png`` (StyleGAN's Fig. 3: B's coarse, middle or fine styles copied into
A), ``truncation.png`` (ψ = 1, 0.7, 0.5, 0), ``noise.png`` (Fig. 4: one w under different
noise, and the per-pixel standard deviation), ``truncation_tradeoff.png`` (FCD and
diversity against ψ); ``metrics.json`` gains the perceptual path lengths in Z and W, the
locality of style mixing, the truncation trade-off and the claims checked on them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import jax

from gan_jax import cli, configs
from gan_jax.models.image_gan import ImageGAN
from gan_jax.models.stylegan import StyleGANConfig, build_stylegan
from gan_jax.runner import image_runs as runner
from gan_jax.studies import stylegan as study
from gan_jax.viz.plotting import plot_truncation_tradeoff
from gan_jax.viz.studies import draw_all

# what runs saved before the noise options existed were trained with
SAVED_DEFAULTS = {"noise_min_resolution": 4, "noise_lr": 1.0}


def build_parser() -> configs.ConfigParser:
    """The runner's flags, one per :class:`StyleGANConfig` field, and the analysis' size."""
    parser = runner.build_parser(
        "python -m experiments.train_stylegan",
        __doc__.split("\n\n")[0],
        StyleGANConfig,
        steps=2500,
    )
    parser.add_argument(
        "--analysis-samples",
        type=cli.positive_int,
        default=1000,
        help="samples of the path-length, mixing and truncation measurements",
    )
    return parser


def build(args: cli.argparse.Namespace, train_set, mesh) -> ImageGAN:
    config = configs.from_flags(StyleGANConfig, args, channels=train_set.image_shape[-1])
    return build_stylegan(config, train_set.images, jax.random.key(args.seed), mesh)


def figures(
    model: ImageGAN,
    state,
    workdir: str,
    out: str,
    metrics: dict,
    measure,
    analysis_samples: int = 1000,
) -> None:
    """The StyleGAN figures and measurements (:mod:`gan_jax.studies.stylegan`), on G's
    moving average."""
    analysis = study.analyse(model, state, measure, analysis_samples)
    draw_all(analysis.figures, out)
    plot_truncation_tradeoff(
        analysis.numbers["truncation"], os.path.join(out, "truncation_tradeoff.png")
    )
    metrics.update(analysis.numbers)
    ppl, locality = analysis.numbers["ppl"], analysis.numbers["mixing_locality"]
    diversity = [row["diversity"] for row in analysis.numbers["truncation"]]
    print(
        f"PPL: Z {ppl['z']['ppl']:.1f}, W {ppl['w']['ppl']:.1f}; class changes: coarse "
        f"{locality['coarse']['class_change']:.3f}, fine {locality['fine']['class_change']:.3f}; "
        f"diversity ψ=1 {diversity[0]:.2f} → ψ=0 {diversity[-1]:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    return runner.run(
        args,
        parser,
        "StyleGAN",
        build,
        resolution=args.resolution,
        figures=functools.partial(figures, analysis_samples=args.analysis_samples),
        saved_defaults=SAVED_DEFAULTS,
    )


if __name__ == "__main__":
    cli.run_main(main)
