"""Train a DCGAN (Radford et al. 2016, arXiv:1511.06434) on real images: the project's main job.

    python -m experiments.train_dcgan                        # digits, 32×32, ≈ 10 min on 2 cores
    python -m experiments.train_dcgan --resume               # continue the run in --workdir
    python -m experiments.train_dcgan --resume-from 1500     # or from an earlier checkpoint
    python -m experiments.train_dcgan --tpu --dataset cifar10   # every TPU core, data-parallel

Defaults are the DCGAN-32 reference (:mod:`gan_jax.nets.dcgan`): z = 100, Adam(2e-4,
β₁ = 0.5), batch 64, non-saturating loss, alternating updates with one D step first, on
the embedded ``digits`` (1,437 training images upsampled to 32×32).  Flags, evaluation
(FCD and class coverage every ``--eval-every`` steps) and outputs are the shared runner's
(:mod:`experiments.runner`); checkpoints go to ``runs/dcgan_<dataset>`` and the figures and
``metrics.json`` to its ``figures/`` by default (the committed ``figures/train_dcgan`` is
regenerated with ``--out figures/train_dcgan``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax

from experiments import runner
from gan_jax import cli
from gan_jax.image_gan import LOSSES, ImageGANConfig, build_image_gan, resolution_flag

RUN_DEFINING = ("resolution", "width")


def build_parser() -> cli.ArgumentParser:
    parser = runner.build_parser(
        "python -m experiments.train_dcgan",
        __doc__.split("\n\n")[0],
        steps=2500,
        losses=tuple(LOSSES),
        loss="ns",
        lr=2e-4,
        beta1=0.5,
    )
    parser.add_argument(
        "--resolution", type=resolution_flag, default=32, help="4·2^k: 8, 16, 32, 64, …"
    )
    parser.add_argument("--width", type=cli.positive_int, default=64, help="D's first width")
    return parser


def config_of(args: cli.argparse.Namespace, train_set) -> ImageGANConfig:
    """The :class:`ImageGANConfig` the flags ``args`` define for ``train_set``."""
    return ImageGANConfig(
        resolution=args.resolution,
        channels=train_set.image_shape[-1],
        width=args.width,
        loss=args.loss,
        scheme=args.scheme,
        lr_g=args.lr_g,
        lr_d=args.lr_d,
        beta1=args.beta1,
        batch_size=args.batch_size,
    )


def build(args: cli.argparse.Namespace, train_set, mesh):
    config = config_of(args, train_set)
    return build_image_gan(config, train_set.images, jax.random.key(args.seed), mesh)


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    return runner.run(args, "DCGAN", build, RUN_DEFINING, resolution=args.resolution)


if __name__ == "__main__":
    cli.run_main(main)
