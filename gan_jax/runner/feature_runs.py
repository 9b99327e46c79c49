"""What the feature-conditioned experiments (``opengan``, ``semantic_pyramid``) share: their
common flags, the frozen feature network trained once per work directory and reused on
``--resume``, and the loss-curve figure (training:
:func:`gan_jax.runner.image_runs.fit_without_evaluation`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gan_jax import cli, configs, training
from gan_jax.models.feature_classifier import load_classifier, save_classifier
from gan_jax.models.feature_gan import FeatureGANConfig
from gan_jax.runner.image_runs import RunPlan, feature_run_parser, plan_run
from gan_jax.viz.plotting import plot_curves

FROZEN_DIR = "feature_network"


def build_parser(
    prog: str,
    description: str,
    steps: int,
    name: str,
    feature_steps: int = 1500,
    diversity_weight: float = 0.0,
    dataset: str = "mnist",
) -> configs.ConfigParser:
    """The flags both experiments take (``dataset`` the default ``--dataset``; ``name`` the
    study, whose default run folder is ``runs/<name>_<dataset>``): the runner's
    (:func:`~gan_jax.runner.image_runs.feature_run_parser`), one per
    :class:`FeatureGANConfig` field, and the frozen feature network's training steps."""
    parser = feature_run_parser(
        prog,
        description,
        FeatureGANConfig,
        {"diversity_weight": diversity_weight},
        steps=steps,
        dataset=dataset,
    )
    parser.add_argument(
        "--feature-steps",
        type=cli.positive_int,
        default=feature_steps,
        help="feature-network steps",
        role=configs.DEFINING,
    )
    parser.set_defaults(study_name=name)  # the default --workdir follows --dataset (plan)
    return parser


def plan(
    args: Any, parser: configs.ConfigParser, saved_defaults: dict[str, Any] | None = None
) -> RunPlan:
    """:func:`gan_jax.runner.image_runs.plan_run` of the command (``saved_defaults``: a
    setting's value in runs saved before it existed); ``args.workdir`` (default
    ``runs/<study>_<dataset>``) and ``args.out`` become the checked absolute paths."""
    args.workdir = args.workdir or os.path.join("runs", f"{args.study_name}_{args.dataset}")
    checked = plan_run(args, args.workdir, args.out, parser, saved_defaults=saved_defaults)
    args.workdir, args.out = checked.workdir, checked.out
    return checked


def gan_config(args: Any, channels: int) -> FeatureGANConfig:
    """The :class:`FeatureGANConfig` of the parsed flags, for images of ``channels``."""
    return configs.from_flags(FeatureGANConfig, args, channels=channels)


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
    """``curves.png`` in ``--out``: the run's per-step losses from its ``metrics.jsonl``."""
    plot_curves(
        training.loss_curves(training.read_metrics(args.workdir)),
        os.path.join(args.out, "curves.png"),
        ylabel="loss",
        title=title,
    )
