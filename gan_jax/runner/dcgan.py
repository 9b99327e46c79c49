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

from gan_jax import configs, data
from gan_jax.errors import CheckpointError
from gan_jax.models.image_gan import ImageGAN, ImageGANConfig, build_image_gan
from gan_jax.runner import image_runs

__all__ = [
    "DESCRIPTION",
    "PROG",
    "build",
    "build_parser",
    "config_of",
    "read_run_config",
    "train",
]

PROG = "python -m experiments.train_dcgan"
DESCRIPTION = "Train a DCGAN (Radford et al. 2016, arXiv:1511.06434) on real images."


def build_parser(description: str = DESCRIPTION) -> configs.ConfigParser:
    """The command's flags: the runner's and one per field of
    :class:`~gan_jax.models.image_gan.ImageGANConfig` (the DCGAN-32 reference's defaults;
    :mod:`gan_jax.configs`)."""
    return image_runs.build_parser(PROG, description, ImageGANConfig, steps=2500)


def config_of(args: argparse.Namespace | dict[str, Any], channels: int) -> ImageGANConfig:
    """The :class:`ImageGANConfig` of the flags ``args`` (or a run's ``config.json``, which
    holds the same names; what an older one lacks, saved before it was a flag, reads as the
    config's default, which it was trained with) for images with ``channels`` channels."""
    return configs.from_flags(ImageGANConfig, args, channels=channels)


def build(args: argparse.Namespace, train_set: data.ImageDataset, mesh: Any) -> ImageGAN:
    """The DCGAN of the parsed flags on ``train_set``, seeded by ``--seed``."""
    config = config_of(args, train_set.image_shape[-1])
    return build_image_gan(config, train_set.images, jax.random.key(args.seed), mesh)


def train(argv: Sequence[str] | None = None, description: str = DESCRIPTION) -> dict:
    """Run the command with the flags ``argv``; returns its ``metrics.json``."""
    parser = build_parser(description)
    args = parser.parse_args(argv)
    return image_runs.run(args, parser, "DCGAN", build, resolution=args.resolution)


def read_run_config(workdir: str) -> dict[str, Any]:
    """The settings a DCGAN run saved in ``workdir/config.json``."""
    path = os.path.join(workdir, image_runs.CONFIG_FILE)
    if not os.path.isfile(path):
        raise CheckpointError(
            f"{workdir} is not a train_dcgan run (no {image_runs.CONFIG_FILE}): pass the "
            "run's --workdir, or train one with python -m experiments.train_dcgan"
        )
    with open(path) as f:
        return json.load(f)
