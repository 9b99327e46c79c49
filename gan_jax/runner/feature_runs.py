"""What the feature-conditioned experiments (``opengan``, ``semantic_pyramid``) share: their
common flags, the frozen feature network trained once per work directory and reused on
``--resume``, and the loss-curve figure (training: :func:`gan_jax.runner.image_runs.
fit_without_evaluation`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gan_jax import cli, data, training
from gan_jax.models.feature_classifier import load_classifier, save_classifier
from gan_jax.models.feature_gan import FeatureGANConfig
from gan_jax.runner.image_runs import RunPlan, add_classifier_flags, add_fit_flags, plan_run
from gan_jax.viz.plotting import plot_curves

FROZEN_DIR = "feature_network"
# the flags that define a run of either experiment; --resume refuses to change them
RUN_DEFINING = (
    "dataset",
    "feature_steps",
    "width",
    "latent_dim",
    "feature_weight",
    "diversity_weight",
    "batch_size",
    "lr",
    "scheme",
    "seed",
)


def build_parser(
    prog: str,
    description: str,
    steps: int,
    name: str,
    feature_steps: int = 1500,
    diversity_weight: float = 0.0,
    dataset: str = "mnist",
) -> cli.ArgumentParser:
    """The flags both experiments take (``dataset`` the default ``--dataset``; ``name`` the
    study, whose default run folder is ``runs/<name>_<dataset>``)."""
    defaults = FeatureGANConfig()
    parser = cli.ArgumentParser(prog=prog, description=description)
    add = parser.add_argument
    add("--dataset", default=dataset, help=f"one of {', '.join(data.DATASETS)}")
    add("--steps", type=cli.positive_int, default=steps, help="GAN training steps")
    add(
        "--feature-steps",
        type=cli.positive_int,
        default=feature_steps,
        help="feature-network steps",
    )
    add("--width", type=cli.positive_int, default=defaults.width, help="G's and D's width")
    add("--latent-dim", type=cli.positive_int, default=defaults.latent_dim)
    add("--feature-weight", type=cli.non_negative_float, default=defaults.feature_weight, help="λ")
    add(
        "--diversity-weight",
        type=cli.non_negative_float,
        default=diversity_weight,
        help="weight of the mode-seeking term (arXiv:1903.05628)",
    )
    add("--batch-size", type=cli.positive_int, default=defaults.batch_size)
    add_classifier_flags(parser)
    add_fit_flags(
        parser,
        lr=defaults.lr,
        scheme=defaults.scheme,
        workdir=None,
        workdir_help=f"checkpoints (default runs/{name}_<dataset>)",
    )
    parser.set_defaults(study_name=name)  # the default --workdir follows --dataset (plan)
    return parser


def plan(
    args: Any, run_defining: tuple[str, ...] = (), saved_defaults: dict[str, Any] | None = None
) -> RunPlan:
    """:func:`gan_jax.runner.image_runs.plan_run` of the command (its ``RUN_DEFINING`` plus the
    experiment's ``run_defining``; ``saved_defaults``: a setting's value in runs saved before
    it existed); ``args.workdir`` (default ``runs/<study>_<dataset>``) and ``args.out`` become
    the checked absolute paths."""
    args.workdir = args.workdir or os.path.join("runs", f"{args.study_name}_{args.dataset}")
    checked = plan_run(
        args, args.workdir, args.out, (*RUN_DEFINING, *run_defining), saved_defaults=saved_defaults
    )
    args.workdir, args.out = checked.workdir, checked.out
    return checked


def gan_config(args: Any, channels: int) -> FeatureGANConfig:
    return FeatureGANConfig(
        channels=channels,
        latent_dim=args.latent_dim,
        width=args.width,
        feature_weight=args.feature_weight,
        diversity_weight=args.diversity_weight,
        scheme=args.scheme,
        lr=args.lr,
        batch_size=args.batch_size,
    )


def frozen_network(
    run: RunPlan, train_fn: Callable[[], tuple[Any, dict, dict]]
) -> tuple[Any, dict, dict]:
    """The run's frozen feature network: ``(model, params, meta)`` restored from
    ``<workdir>/feature_network`` on ``--resume``, else ``train_fn()`` (its ``meta`` must hold
    what :func:`gan_jax.models.feature_classifier.load_classifier` needs) saved there first (the
    run's first write: :meth:`~gan_jax.runner.image_runs.RunPlan.start`)."""
    directory = os.path.join(run.workdir, FROZEN_DIR)
    if run.resume:
        return load_classifier(directory)
    model, params, meta = train_fn()
    run.start()
    save_classifier(directory, params, meta)
    return model, params, meta


def plot_losses(args: Any, title: str) -> None:
    plot_curves(
        training.loss_curves(training.read_metrics(args.workdir)),
        os.path.join(args.out, "curves.png"),
        ylabel="loss",
        title=title,
    )
