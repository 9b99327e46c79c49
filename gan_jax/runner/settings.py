"""The runners' own settings, declared once (:mod:`gan_jax.configs`): what every training
CLI adds to its model's config (run folder, seed, data, writers), the evaluation
classifier, and what the image-GAN CLIs add (devices, evaluation).  A CLI's flags are these
sections, :class:`gan_jax.training.FitConfig` and its model's config."""

from __future__ import annotations

import dataclasses

from gan_jax import cli, data
from gan_jax.configs import DEFINING, INVOCATION, SETTING, option
from gan_jax.models.feature_classifier import DEFAULT_CLASSIFIER_STEPS
from gan_jax.training.writers import WRITERS, writers_flag

__all__ = ["ClassifierSettings", "ImageRunSettings", "RunSettings"]


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Where a training run lives and what defines it besides its model."""

    dataset: str = option("mnist", f"one of {', '.join(data.DATASETS)}")
    seed: int = option(0, "PRNG seed")
    workdir: str | None = option(
        None,
        "checkpoints, metrics.jsonl, config.json (default runs/<model>_<dataset>)",
        type=cli.output_directory,
        role=INVOCATION,
    )
    out: str | None = option(
        None,
        "figures + metrics.json (default <workdir>/figures)",
        type=cli.output_directory,
        role=INVOCATION,
    )
    resume: bool = option(False, "continue the run in --workdir", role=INVOCATION)
    resume_from: int | None = option(
        None,
        "continue from this earlier checkpoint (when the newest is damaged); newer "
        "checkpoints are moved aside, not deleted",
        type=cli.non_negative_int,
        metavar="STEP",
        role=INVOCATION,
    )
    data_dir: str | None = option(
        None, "tfds data directory", type=cli.existing_directory, role=INVOCATION
    )
    writers: str = option(
        "jsonl",
        f"where the metrics go, comma-separated: {', '.join(WRITERS)} (jsonl, the run's "
        "metrics.jsonl, is always written)",
        type=writers_flag,
        role=SETTING,
    )
    no_progress: bool = option(False, "no progress bar", role=INVOCATION)


@dataclasses.dataclass(frozen=True)
class ClassifierSettings:
    """The classifier that scores generated images (trained on the dataset, cached)."""

    classifier: str | None = option(None, "classifier checkpoint folder", role=SETTING)
    classifier_steps: int = option(
        DEFAULT_CLASSIFIER_STEPS,
        "training steps of the evaluation classifier when none is cached (another count "
        "caches it apart, in runs/classifier_<dataset>_<resolution>_steps<N>)",
        type=cli.positive_int,
        role=SETTING,
    )


@dataclasses.dataclass(frozen=True)
class ImageRunSettings:
    """What the image-GAN CLIs add: the training subset, devices and evaluation."""

    max_examples: int | None = option(
        None, "use the first N images", type=cli.positive_int, role=DEFINING
    )
    tpu: bool = option(False, "shard the batch over every TPU", role=INVOCATION)
    devices: int | None = option(None, "use N devices", type=cli.positive_int, role=INVOCATION)
    eval_samples: int = option(
        1000, "generated images per evaluation", type=cli.positive_int, role=SETTING
    )
    no_eval: bool = option(
        False,
        "no evaluation and no classifier (smoke runs): metrics.json without FCD & co.",
        role=SETTING,
    )
