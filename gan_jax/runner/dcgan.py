"""The DCGAN command (``python -m experiments.train_dcgan``, the project's main job) and
what studies of DCGAN runs share: train one, and rebuild a run's model from its
``config.json``.

Flags, evaluation and outputs are the shared runner's (:mod:`gan_jax.runner.image_runs`);
the model is :func:`gan_jax.models.image_gan.build_image_gan` with the flags' config.  The
command lives here rather than in ``experiments/`` because three studies (the scheme
comparison, the game spectrum and the latent space) train or read DCGAN runs, and no
experiment imports another.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

import jax

from gan_jax import cli, data
from gan_jax.errors import CheckpointError
from gan_jax.models.image_gan import (
    LOSSES,
    ImageGAN,
    ImageGANConfig,
    build_image_gan,
    resolution_flag,
)
from gan_jax.runner import image_runs

__all__ = [
    "DESCRIPTION",
    "PROG",
    "RUN_DEFINING",
    "build",
    "build_parser",
    "config_of",
    "read_run_config",
    "train",
]

PROG = "python -m experiments.train_dcgan"
DESCRIPTION = "Train a DCGAN (Radford et al. 2016, arXiv:1511.06434) on real images."
RUN_DEFINING = ("resolution", "width")  # besides the runner's


def build_parser(description: str = DESCRIPTION) -> cli.ArgumentParser:
    """The command's flags: the runner's (DCGAN-32 defaults) plus ``--resolution`` and
    ``--width``."""
    parser = image_runs.build_parser(
        PROG, description, steps=2500, losses=tuple(LOSSES), loss="ns", lr=2e-4, beta1=0.5
    )
    parser.add_argument(
        "--resolution", type=resolution_flag, default=32, help="4·2^k: 8, 16, 32, 64, …"
    )
    parser.add_argument("--width", type=cli.positive_int, default=64, help="D's first width")
    return parser


def config_of(args: argparse.Namespace | dict[str, Any], channels: int) -> ImageGANConfig:
    """The :class:`ImageGANConfig` of the flags ``args`` (or a run's ``config.json``, which
    holds the same names) for images with ``channels`` channels."""
    get = args.get if isinstance(args, dict) else lambda name: getattr(args, name)
    return ImageGANConfig(
        resolution=get("resolution"),
        channels=channels,
        width=get("width"),
        loss=get("loss"),
        scheme=get("scheme"),
        lr_g=get("lr_g"),
        lr_d=get("lr_d"),
        beta1=get("beta1"),
        batch_size=get("batch_size"),
    )


def build(args: argparse.Namespace, train_set: data.ImageDataset, mesh: Any) -> ImageGAN:
    config = config_of(args, train_set.image_shape[-1])
    return build_image_gan(config, train_set.images, jax.random.key(args.seed), mesh)


def train(argv: Sequence[str] | None = None, description: str = DESCRIPTION) -> dict:
    """Run the command with the flags ``argv``; returns its ``metrics.json``."""
    args = build_parser(description).parse_args(argv)
    return image_runs.run(args, "DCGAN", build, RUN_DEFINING, resolution=args.resolution)


def read_run_config(workdir: str) -> dict[str, Any]:
    """The run-defining flags a DCGAN run saved in ``workdir/config.json``."""
    path = os.path.join(workdir, image_runs.CONFIG_FILE)
    if not os.path.isfile(path):
        raise CheckpointError(
            f"{workdir} is not a train_dcgan run (no {image_runs.CONFIG_FILE}): pass the "
            "run's --workdir, or train one with python -m experiments.train_dcgan"
        )
    with open(path) as f:
        return json.load(f)
