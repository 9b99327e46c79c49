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
    "SAVED_DEFAULTS",
    "build",
    "build_parser",
    "config_of",
    "read_run_config",
    "train",
]

PROG = "python -m experiments.train_dcgan"
DESCRIPTION = "Train a DCGAN (Radford et al. 2016, arXiv:1511.06434) on real images."
RUN_DEFINING = (
    "resolution",
    "width",
    "d_width",
    "no_d_batch_norm",
    "pack",
    "r1_gamma",
    "r2_gamma",
    "ema_half_life",
)  # besides the runner's
# what runs saved before D's options and G's average existed were trained with
SAVED_DEFAULTS = {
    "d_width": None,
    "no_d_batch_norm": False,
    "pack": 1,
    "r1_gamma": 0.0,
    "r2_gamma": 0.0,
    "ema_half_life": 0.0,
}


def build_parser(description: str = DESCRIPTION) -> cli.ArgumentParser:
    """The command's flags: the runner's (DCGAN-32 defaults) plus the networks' sizes and
    D's options (``--pack``, R1/R2 and a D without BatchNorm, which the penalties need) and
    G's moving average (``--ema-half-life``)."""
    parser = image_runs.build_parser(
        PROG,
        description,
        steps=2500,
        losses=tuple(LOSSES),
        loss="ns",
        lr=2e-4,
        beta1=0.5,
        dataset="mnist",
    )
    parser.add_argument(
        "--resolution", type=resolution_flag, default=32, help="4·2^k: 8, 16, 32, 64, …"
    )
    parser.add_argument(
        "--width", type=cli.positive_int, default=64, help="G's last and D's first width"
    )
    parser.add_argument(
        "--d-width", type=cli.positive_int, default=None, help="D's first width (default --width)"
    )
    parser.add_argument(
        "--no-d-batch-norm",
        action="store_true",
        help="D without BatchNorm (needed by --r1-gamma and --r2-gamma)",
    )
    parser.add_argument(
        "--pack", type=cli.positive_int, default=1, help="PacGAN: D scores packs of N samples"
    )
    parser.add_argument(
        "--r1-gamma", type=cli.non_negative_float, default=0.0, help="γ of (γ/2)·R1 on reals"
    )
    parser.add_argument(
        "--r2-gamma", type=cli.non_negative_float, default=0.0, help="γ of (γ/2)·R2 on fakes"
    )
    parser.add_argument(
        "--ema-half-life",
        type=cli.non_negative_float,
        default=0.0,
        help="evaluate G's moving average with this half-life in real images (StyleGAN: "
        "10000; 0: the trained G alone); the trained G is scored too, as *_raw",
    )
    return parser


def config_of(args: argparse.Namespace | dict[str, Any], channels: int) -> ImageGANConfig:
    """The :class:`ImageGANConfig` of the flags ``args`` (or a run's ``config.json``, which
    holds the same names) for images with ``channels`` channels."""
    saved = args if isinstance(args, dict) else vars(args)

    def get(name: str) -> Any:
        return saved[name] if name in saved else SAVED_DEFAULTS[name]

    return ImageGANConfig(
        resolution=get("resolution"),
        channels=channels,
        width=get("width"),
        d_width=get("d_width"),
        d_batch_norm=not get("no_d_batch_norm"),
        pack=get("pack"),
        r1_gamma=get("r1_gamma"),
        r2_gamma=get("r2_gamma"),
        ema_half_life=get("ema_half_life"),
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
    return image_runs.run(
        args,
        "DCGAN",
        build,
        RUN_DEFINING,
        resolution=args.resolution,
        saved_defaults=SAVED_DEFAULTS,
    )


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
