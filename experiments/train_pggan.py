"""Train a progressively grown GAN (Karras et al. 2018, arXiv:1710.10196) on real images.

    python -m experiments.train_pggan                       # MNIST, 4×4 → 32×32
    python -m experiments.train_pggan --resume              # continue, mid-fade included
    python -m experiments.train_pggan --loss ns-r1          # non-saturating loss + R1

Defaults are the paper's loss and optimiser: WGAN-GP (λ = 10) with the drift term
ε·E[D(x)²] (ε = 0.001), Adam(1e-3, β₁ = 0, β₂ = 0.99), one D step per G step; the
networks of :mod:`gan_jax.nets.progressive` with widths ``min(64, 512/r)`` and z = 128.
Each stage fades in over ``--phase-images`` images and stabilises over as many (batch
128 at 4×4 and 8×8, 64 above); the last stage runs until the run has seen ``--images``
(160,000, as many as the default ``train_dcgan`` run) unless ``--steps`` says otherwise.
The training loop, checkpoints and resume are :mod:`gan_jax.models.progressive_gan` on
:func:`gan_jax.training.fit`; flags, evaluation (FCD and class coverage over images seen, on
G's output up-sampled to the full resolution) and outputs are the shared runner's
(:mod:`gan_jax.runner.image_runs`).

Besides the runner's outputs, ``--out`` gets ``stages.png`` (the same z at the end of every
stage), ``fade_in.png`` (the same z at α = 0, ½, 1 at the end of every fade) and
``eval_curves.png`` with the stage boundaries marked; ``metrics.json`` gains the per-stage
numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax

from gan_jax import cli, configs
from gan_jax.gan import latents
from gan_jax.models.progressive_gan import ProgressiveConfig, ProgressiveGAN
from gan_jax.runner import image_runs as runner
from gan_jax.studies import progressive as study
from gan_jax.viz.plotting import plot_classifier_metrics
from gan_jax.viz.studies import draw_all

DEFAULTS = ProgressiveConfig(fmap_base=512, fmap_max=64)
FIGURE_SAMPLES = 10


def build_parser() -> configs.ConfigParser:
    """The runner's flags and one per :class:`ProgressiveConfig` field (:data:`DEFAULTS`);
    no default ``--steps``: the schedule's."""
    return runner.build_parser(
        "python -m experiments.train_pggan",
        __doc__.split("\n\n")[0],
        ProgressiveConfig,
        DEFAULTS,
        steps=None,
    )


def build(args: cli.argparse.Namespace, train_set, mesh) -> ProgressiveGAN:
    config = configs.from_flags(ProgressiveConfig, args, channels=train_set.image_shape[-1])
    return ProgressiveGAN(config, train_set.images, jax.random.key(args.seed), mesh, args.steps)


def figures(
    model: ProgressiveGAN, state, workdir: str, out: str, metrics: dict, measure=None
) -> None:
    """``stages.png``, ``fade_in.png``, ``eval_curves.png`` with the stages marked, and
    ``metrics["stages"]`` (module doc; :mod:`gan_jax.studies.progressive`)."""
    z = latents(jax.random.key(12345), FIGURE_SAMPLES, model.latent_dim)
    stages = study.stages(model, workdir, z, metrics["history"])
    metrics["stages"] = stages.numbers
    metrics["schedule"] = study.schedule(model)
    draw_all(stages.figures, out)
    if metrics["history"]:
        plot_classifier_metrics(
            runner.evaluation_runs(metrics["scheme"], metrics["history"]),
            os.path.join(out, "eval_curves.png"),
            metrics["fcd_real_test"],
            study.growth_marks(model),
        )


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    return runner.run(args, parser, "PGGAN", build, resolution=args.resolution, figures=figures)


if __name__ == "__main__":
    cli.run_main(main)
