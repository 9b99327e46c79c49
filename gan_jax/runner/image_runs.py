"""What every image-GAN training CLI shares: flags, devices, data, the evaluation classifier,
the fit, and the outputs.  A model's CLI (``train_dcgan``, ``train_pggan``) adds its own
flags and a ``build(args, train_set, mesh)`` that returns a :class:`Trainer`.

Evaluation: every ``--eval-every`` steps (and at the end) the Fréchet classifier distance
(FCD), KID (± its standard error), precision and recall, density and coverage, and the
classifier score of ``--eval-samples`` generated images against the training images, and
the class coverage, all
measured with our own classifier for the dataset (trained on first use and cached:
:func:`gan_jax.models.feature_classifier.cached_classifier`); ``fcd_real_test`` (and ``kid_real_test``,
``precision_real_test``, … for every metric of :data:`FEATURE_SET_METRICS`) in
``metrics.json`` measure
``min(--eval-samples, test set)`` held-out real images (``real_test_samples``), the values a
perfect generator would reach: at the generated set's size when the test set holds enough
images (FCD's small-sample bias makes a floor on fewer samples too high; the embedded
``mnist`` holds 1,000, ``digits`` only 360).
Each evaluation row also records the images seen so far (and what the trainer's
``progress`` adds, e.g. PGGAN's resolution and α).  A trainer that evaluates an average
of G's weights (``generate``) and also offers ``generate_raw`` gets the trained weights
measured too, as ``fcd_raw``, ``classes_raw`` and ``class_kl_raw``.

Outputs: checkpoints and ``metrics.jsonl`` in ``--workdir``; ``metrics.json``,
``samples.png`` (100 samples from a fixed z), ``curves.png`` (losses) and
``eval_curves.png`` (FCD and classes covered over images seen) in ``--out``, plus the
trainer's own figures.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from gan_jax import cli, data, training
from gan_jax.dynamics.game import GameState
from gan_jax.gan import latents
from gan_jax.models.assembly import SCHEMES as SCHEME_BUILDERS
from gan_jax.models.assembly import Trainer
from gan_jax.models.feature_classifier import (
    DEFAULT_CLASSIFIER_STEPS,
    ClassifierMetrics,
    cached_classifier,
    load_classifier,
)
from gan_jax.nets.progressive import stage_resolutions
from gan_jax.training import parallel
from gan_jax.training.checkpoint import CheckpointError, saved_steps
from gan_jax.viz.plotting import RunFigures, plot_classifier_metrics, plot_curves, save_image_grid

# the feature-set metrics every evaluation records beside FCD and the class coverage
FEATURE_SET_METRICS = (
    "kid", "precision", "recall", "density", "coverage", "classifier_score",
)  # fmt: skip

# Flags that define every model's run; --resume refuses to change them.
RUN_DEFINING = (
    "dataset",
    "batch_size",
    "scheme",
    "seed",
    "loss",
    "lr_g",
    "lr_d",
    "beta1",
    "max_examples",
)
NUM_SAMPLES = 100
SCHEMES = tuple(SCHEME_BUILDERS)
CONFIG_FILE = "config.json"
LOSS_WINDOW = 100  # metrics.json's loss_*_mean_last_100_steps: the steps averaged


def build_parser(
    prog: str,
    description: str,
    *,
    steps: int | None,
    losses: Sequence[str],
    loss: str,
    lr: float,
    beta1: float,
    batch_size: int | None = 64,
    dataset: str = "mnist",
) -> cli.ArgumentParser:
    """The flags every training CLI takes, with the model's defaults."""
    parser = cli.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--dataset", default=dataset, help=f"one of {', '.join(data.DATASETS)}")
    parser.add_argument(
        "--steps",
        type=cli.positive_int,
        default=steps,
        help="training steps" if steps else "training steps (default: the schedule's)",
    )
    parser.add_argument("--batch-size", type=cli.positive_int, default=batch_size)
    parser.add_argument(
        "--scheme",
        type=cli.choice("scheme", SCHEMES),
        default="alternating",
        help=f"one of {', '.join(SCHEMES)}",
    )
    parser.add_argument(
        "--loss", type=cli.choice("loss", losses), default=loss, help=f"one of {', '.join(losses)}"
    )
    parser.add_argument("--lr-g", type=cli.positive_float, default=lr, help="G's Adam rate")
    parser.add_argument("--lr-d", type=cli.positive_float, default=lr, help="D's Adam rate")
    parser.add_argument("--beta1", type=cli.decay_rate, default=beta1, help="Adam β₁ of both")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")
    parser.add_argument(
        "--workdir",
        type=cli.output_directory,
        default=None,
        help="checkpoints, metrics.jsonl, config.json (default runs/<model>_<dataset>)",
    )
    parser.add_argument(
        "--out",
        type=cli.output_directory,
        default=None,
        help="figures + metrics.json (default <workdir>/figures)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --workdir")
    parser.add_argument(
        "--resume-from",
        type=cli.non_negative_int,
        default=None,
        metavar="STEP",
        help="continue from this earlier checkpoint (when the newest is damaged); newer "
        "checkpoints are moved aside, not deleted",
    )
    parser.add_argument("--tpu", action="store_true", help="shard the batch over every TPU")
    parser.add_argument("--devices", type=cli.positive_int, default=None, help="use N devices")
    parser.add_argument("--log-every", type=cli.positive_int, default=50, help="steps per log row")
    parser.add_argument(
        "--eval-every", type=cli.non_negative_int, default=500, help="0: only at the end"
    )
    parser.add_argument(
        "--no-eval",
        action="store_true",
        help="no evaluation and no classifier (smoke runs): metrics.json without FCD & co.",
    )
    parser.add_argument("--checkpoint-every", type=cli.positive_int, default=500)
    parser.add_argument("--sample-every", type=cli.non_negative_int, default=500, help="0: never")
    parser.add_argument("--eval-samples", type=cli.positive_int, default=1000)
    add_classifier_flags(parser)
    parser.add_argument(
        "--data-dir", type=cli.existing_directory, default=None, help="tfds data directory"
    )
    parser.add_argument(
        "--max-examples", type=cli.positive_int, default=None, help="use the first N images"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def add_classifier_flags(parser: cli.argparse.ArgumentParser) -> None:
    """``--classifier`` and ``--classifier-steps``: the evaluation classifier
    :func:`get_classifier` returns (every CLI that scores generated images with it)."""
    parser.add_argument("--classifier", default=None, help="classifier checkpoint folder")
    parser.add_argument(
        "--classifier-steps",
        type=cli.positive_int,
        default=DEFAULT_CLASSIFIER_STEPS,
        help="training steps of the evaluation classifier when none is cached (another "
        "count caches it apart, in runs/classifier_<dataset>_<resolution>_steps<N>)",
    )


def add_fit_flags(
    parser: cli.ArgumentParser,
    *,
    lr: float,
    scheme: str,
    workdir: str | None,
    workdir_help: str = "checkpoints",
    run: str = "the run",
) -> None:
    """The optimiser, run-folder and fit-loop flags of a CLI that trains through
    :func:`fit_without_evaluation` (``super_resolution``, ``opengan``,
    ``semantic_pyramid``)."""
    add = parser.add_argument
    add("--lr", type=cli.positive_float, default=lr, help="Adam rate of both players")
    add("--scheme", type=cli.choice("scheme", SCHEMES), default=scheme, help=", ".join(SCHEMES))
    add("--seed", type=int, default=0, help="PRNG seed")
    add("--workdir", type=cli.output_directory, default=workdir, help=workdir_help)
    add(
        "--out",
        type=cli.output_directory,
        default=None,
        help="figures + metrics.json (default <workdir>/figures)",
    )
    add("--resume", action="store_true", help=f"continue {run} in --workdir")
    add(
        "--resume-from",
        type=cli.non_negative_int,
        default=None,
        metavar="STEP",
        help="continue from this earlier checkpoint; newer ones are moved aside",
    )
    add("--log-every", type=cli.positive_int, default=50, help="steps per log row")
    add("--checkpoint-every", type=cli.positive_int, default=500)
    add("--data-dir", type=cli.existing_directory, default=None, help="tfds data directory")
    add("--no-progress", action="store_true", help="no progress bar")


def evaluation_runs(scheme: str, evals: list[dict]) -> dict[str, list[dict]]:
    """The lines of ``eval_curves.png``: one per generator evaluated (G's average and the
    trained G when the rows have ``fcd_raw``)."""
    if not evals or "fcd_raw" not in evals[0]:
        return {scheme: evals}
    raw = [
        {**e, **{key.removesuffix("_raw"): v for key, v in e.items() if key.endswith("_raw")}}
        for e in evals
    ]  # every measure of the trained G, not G's average under the trained G's label
    return {f"{scheme}, G's average": evals, f"{scheme}, trained G": raw}


def progressive_resolution_flag(text: str) -> int:
    """argparse type of PGGAN's and StyleGAN's ``--resolution``: ``4·2^k``."""
    try:
        stage_resolutions(int(text))
    except ValueError as err:
        raise cli.argparse.ArgumentTypeError(f"{err}: pass one of those sizes") from None
    return int(text)


def add_progressive_flags(parser: cli.ArgumentParser, defaults: Any) -> None:
    """The flags PGGAN and StyleGAN share, with ``defaults`` (their config): the final
    ``--resolution``, ``--latent-dim``, the width rule, Adam's ``--beta2`` and R1's γ."""
    add = parser.add_argument
    add("--resolution", type=progressive_resolution_flag, default=32, help="4·2^k")
    add("--latent-dim", type=cli.positive_int, default=defaults.latent_dim)
    add(
        "--fmap-base",
        type=cli.positive_int,
        default=defaults.fmap_base,
        help="width at resolution r: min(fmap_max, fmap_base/r)",
    )
    add("--fmap-max", type=cli.positive_int, default=defaults.fmap_max)
    add("--beta2", type=cli.decay_rate, default=defaults.beta2, help="Adam β₂ of both players")
    add("--r1-gamma", type=cli.non_negative_float, default=defaults.r1_gamma, help="γ of (γ/2)·R1")


@dataclasses.dataclass
class RunPlan:
    """A training command that has passed every check :func:`plan_run` makes: where it
    writes, what it resumes, and the run-defining settings for ``config.json``.  Nothing
    is on disk yet; :meth:`start` makes the first write."""

    workdir: str
    out: str
    settings: dict[str, Any]
    resume: bool
    resume_from: int | None
    fit: training.FitConfig
    started: bool = False

    def start(self) -> None:
        """Create the run directory and, for a new run, write ``config.json`` (process 0
        only).  Call it once the command's last check has passed, right before its first
        write; later calls do nothing."""
        if self.started:
            return
        self.started = True
        if self.resume or not parallel.is_primary():
            return
        os.makedirs(self.workdir, exist_ok=True)
        with open(os.path.join(self.workdir, CONFIG_FILE), "w") as f:
            json.dump(self.settings, f, indent=2, sort_keys=True)


def plan_run(
    args: Any,
    workdir: str,
    out: str | None,
    run_defining: Sequence[str],
    other_datasets: Sequence[str] = (),
    saved_defaults: Mapping[str, Any] | None = None,
) -> RunPlan:
    """Check a training command against the file system before it writes anything.

    One rule for every training CLI: a command that would be refused is refused *here*, in
    one line naming the fix, with nothing created or changed (the flags' own types have
    already checked values and ranges).  Checked, without loading JAX's backends (so a
    multi-process job fails before :func:`gan_jax.training.parallel.initialize_distributed`):

    * the fit loop's intervals (:func:`fit_config`);
    * the dataset's name (one of :data:`gan_jax.data.DATASETS` or ``other_datasets``);
    * ``--workdir`` and ``--out`` (default ``<workdir>/figures``) are directories the run
      can write (or create);
    * the run state: a new run needs a ``--workdir`` without checkpoints; ``--resume`` needs
      the run's ``config.json`` with the same run-defining settings (``run_defining``, as
      ``config.json`` holds them; a setting a run saved before it existed reads as its
      value in ``saved_defaults``) and at least one checkpoint; ``--resume-from STEP`` needs
      that step on disk.

    What cannot be known without the data or the model (an unavailable tfds dataset, a
    model-specific constraint) fails later, but still before :meth:`RunPlan.start`.
    """
    fit = fit_config(args)
    if args.dataset not in other_datasets:
        data.check_dataset_name(args.dataset)
    resume_from = getattr(args, "resume_from", None)
    resume = bool(args.resume or resume_from is not None)
    workdir = cli.check_writable_directory(workdir, "--workdir")
    out = cli.check_writable_directory(out or os.path.join(workdir, "figures"), "--out")
    settings = json.loads(json.dumps({name: getattr(args, name) for name in run_defining}))
    steps = run_steps(workdir)
    config_path = os.path.join(workdir, CONFIG_FILE)
    if not resume:
        if steps:
            raise cli.UserError(
                f"{workdir} already holds checkpoints (steps {steps}): pass --resume to "
                "continue that run, or choose a new --workdir"
            )
        return RunPlan(workdir, out, settings, resume, resume_from, fit)
    if not os.path.isfile(config_path):
        raise CheckpointError(
            f"no run to resume in {workdir} (no {CONFIG_FILE}): start it without --resume, "
            "or point --workdir at the run to continue"
        )
    with open(config_path) as f:
        saved = {**(saved_defaults or {}), **json.load(f)}
    changed = [
        f"--{k.replace('_', '-')} {saved.get(k)} → {v}"
        for k, v in settings.items()
        if saved.get(k) != v
    ]
    if changed:
        raise cli.UserError(
            f"--resume with different settings ({'; '.join(changed)}): use the run's "
            "original flags, or a new --workdir"
        )
    if not steps:
        raise CheckpointError(
            f"no checkpoint in {workdir}: start a new run without --resume (and a new --workdir)"
        )
    if resume_from is not None and resume_from not in steps:
        raise CheckpointError(
            f"no checkpoint for step {resume_from} in {workdir} (have {steps}): pass one of "
            "those steps to --resume-from"
        )
    return RunPlan(workdir, out, saved, resume, resume_from, fit)


def run_steps(workdir: str) -> list[int]:
    """The finished checkpoints' steps of the run in ``workdir``: ``<workdir>/checkpoints``,
    and ``<workdir>/<phase>/checkpoints`` of a trainer that keeps its run in phases (PGGAN's
    stages), not counting phases set aside by ``--resume-from`` (``*.abandoned-*``)."""
    folders = [workdir]
    if os.path.isdir(workdir):
        folders += [
            os.path.join(workdir, name)
            for name in sorted(os.listdir(workdir))
            if ".abandoned" not in name and os.path.isdir(os.path.join(workdir, name))
        ]
    steps = (saved_steps(os.path.join(folder, training.CHECKPOINT_DIR)) for folder in folders)
    return sorted({step for found in steps for step in found})


def fit_config(args: Any) -> training.FitConfig:
    """The :class:`~gan_jax.training.FitConfig` of the flags (its interval checks are user
    errors that must come before any work)."""
    return training.FitConfig(
        steps=args.steps or 1,  # a trainer with its own schedule ignores it
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        eval_every=getattr(args, "eval_every", 0),
        sample_every=getattr(args, "sample_every", 0),
    )


def fit_without_evaluation(
    step: training.StepFn, state: GameState, plan: RunPlan, args: Any, description: str
) -> tuple[training.FitResult, float]:
    """:func:`gan_jax.training.fit` of the run ``plan`` for ``--steps`` with ``--log-every``,
    ``--checkpoint-every`` and ``--no-progress``, no periodic evaluation or samples (the CLIs
    that measure once at the end: ``super_resolution``, ``opengan``, ``semantic_pyramid``).
    On Ctrl-C it prints the resume advice and exits with the interrupted code.  Returns
    the result and the seconds it took."""
    plan.start()
    start = time.perf_counter()
    result = training.fit(
        step,
        state,
        plan.workdir,
        plan.fit,
        resume=plan.resume,
        progress=not args.no_progress,
        description=description,
        resume_from=plan.resume_from,
        figures=RunFigures(),
    )
    if result.interrupted:
        print(f"interrupted at step {result.step}; continue with the same command plus --resume")
        raise SystemExit(cli.INTERRUPTED_EXIT_CODE)
    return result, time.perf_counter() - start


def get_classifier(args: Any, resolution: int, dataset: str | None = None) -> tuple:
    """The evaluation classifier (:func:`add_classifier_flags`): ``--classifier``, or the
    cached one for ``dataset`` (default ``args.dataset``) and ``resolution``
    (:func:`gan_jax.models.feature_classifier.cached_classifier`, trained on first use for
    ``--classifier-steps``)."""
    if args.classifier:
        return load_classifier(args.classifier)
    steps = getattr(args, "classifier_steps", DEFAULT_CLASSIFIER_STEPS)
    return cached_classifier(
        dataset or args.dataset, resolution, steps, data_dir=getattr(args, "data_dir", None)
    )


def run(
    args: Any,
    name: str,
    build: Callable[[Any, data.ImageDataset, Any], Trainer],
    run_defining: Sequence[str] = (),
    resolution: int = 32,
    figures: Callable[[Trainer, GameState, str, str, dict, ClassifierMetrics], None] | None = None,
    saved_defaults: Mapping[str, Any] | None = None,
) -> dict:
    """Train the model ``build`` returns on ``args.dataset`` and write the outputs (module
    doc); ``figures(trainer, state, workdir, out, metrics, measure)`` adds the model's own
    figures and numbers (``measure``: the evaluation classifier's
    :class:`~gan_jax.models.feature_classifier.ClassifierMetrics`; not called with ``--no-eval``).
    Returns ``metrics.json``'s content (``{}`` on processes other than 0).
    ``saved_defaults``: see :func:`plan_run`.

    Order: every check that needs no data (:func:`plan_run`, the fit intervals) comes
    before the processes of a multi-process job connect; the data, the model and the
    classifier come next; the run's first write (:meth:`RunPlan.start`) comes last."""
    workdir = args.workdir or os.path.join("runs", f"{name.lower()}_{args.dataset}")
    plan = plan_run(
        args, workdir, args.out, (*RUN_DEFINING, *run_defining), saved_defaults=saved_defaults
    )
    workdir, out = plan.workdir, plan.out
    parallel.initialize_distributed()
    devices = parallel.select_devices(args.tpu, args.devices)
    mesh = parallel.data_mesh(devices) if (args.tpu or len(devices) > 1) else None

    train_set = data.load_dataset(
        args.dataset, resolution, "train", args.data_dir, args.max_examples
    )
    test_set = data.load_dataset(args.dataset, resolution, "test", args.data_dir)
    trainer = build(args, train_set, mesh)
    primary = parallel.is_primary()  # only process 0 evaluates and writes outputs
    evaluating = primary and not args.no_eval
    if evaluating:
        classifier, classifier_params, classifier_meta = get_classifier(args, resolution)
        measure = ClassifierMetrics(classifier, classifier_params, train_set.images)
        real_test_samples = min(args.eval_samples, len(test_set))
        # what a perfect generator would score, at the generated set's size where possible
        real_test = measure(test_set.images[:real_test_samples])
        fcd_real_test = real_test["fcd"]
    eval_z = latents(jax.random.key(args.seed + 1), args.eval_samples, trainer.latent_dim)
    sample_z = latents(jax.random.key(args.seed + 2), NUM_SAMPLES, trainer.latent_dim)

    def evaluate(state: GameState) -> dict[str, float]:
        numbers = {**measure(trainer.generate(state, eval_z)), **trainer.progress(state)}
        raw = getattr(trainer, "generate_raw", None)  # a trainer that averages G's weights
        if raw is not None:
            numbers.update({f"{k}_raw": v for k, v in measure(raw(state, eval_z)).items()})
        return numbers

    def samples(state: GameState) -> np.ndarray:
        return np.asarray(trainer.generate(state, sample_z))

    plan.start()
    start = time.perf_counter()
    result = trainer.fit(
        workdir,
        plan.fit,
        evaluate=evaluate if evaluating else None,
        sample_fn=samples if primary else None,
        resume=plan.resume,
        resume_from=plan.resume_from,
        progress=not args.no_progress,
        description=f"{name} {args.dataset} ({args.scheme})",
        figures=RunFigures(),
    )
    seconds = time.perf_counter() - start
    if not primary:
        if result.interrupted:
            raise SystemExit(cli.INTERRUPTED_EXIT_CODE)
        return {}
    state = parallel.host_local(result.state)  # like fit, evaluate on one device's copy
    rows = trainer.read_metrics(workdir)
    evals = [r for r in rows if r.get("eval")]
    losses = {
        f"{loss}_mean_last_{LOSS_WINDOW}_steps": float(
            np.mean([r[loss] for r in rows if loss in r][-LOSS_WINDOW:])
        )
        for loss in ("loss_d", "loss_g")
    }
    metrics = {
        "model": name,
        "dataset": args.dataset,
        "steps": result.step,
        "images": trainer.progress(state)["images"],
        "interrupted": result.interrupted,
        "scheme": args.scheme,
        "loss": args.loss,
        "devices": len(devices),
        "processes": jax.process_count(),
        "backend": devices[0].platform,
        "seconds_this_session": round(seconds, 1),
        **losses,
    }
    if evaluating:
        if evals and evals[-1]["step"] == result.step:  # fit evaluated the final state already
            final = evals[-1]
        else:
            final = evaluate(state)
        metrics.update(
            {
                "fcd": final["fcd"],
                "classes": int(final["classes"]),
                "class_kl": final["class_kl"],
                **{k: final[k] for k in FEATURE_SET_METRICS + ("kid_se",) if k in final},
                **{k: v for k, v in final.items() if k.endswith("_raw")},
                "fcd_real_test": fcd_real_test,
                **{f"{k}_real_test": real_test[k] for k in FEATURE_SET_METRICS if k in real_test},
                "classifier_test_accuracy": classifier_meta.get("test_accuracy"),
                "eval_samples": args.eval_samples,
                "real_test_samples": real_test_samples,
                "history": evals,
            }
        )
    os.makedirs(out, exist_ok=True)
    title = f"{name} on {args.dataset} ({args.scheme}), step {result.step}"
    if evaluating:
        title += f": FCD {final['fcd']:.1f}, {int(final['classes'])} classes"
    save_image_grid(samples(state), os.path.join(out, "samples.png"), ncols=10, title=title)
    curves = training.loss_curves(rows)
    if curves:
        plot_curves(curves, os.path.join(out, "curves.png"), ylabel="loss", title="losses")
    if evals and evaluating:  # a --no-eval resume of an evaluated run has no real-test FCD
        plot_classifier_metrics(
            evaluation_runs(args.scheme, evals), os.path.join(out, "eval_curves.png"), fcd_real_test
        )
    if figures is not None and evaluating:
        figures(trainer, state, workdir, out, metrics, measure)
    cli.write_metrics(out, metrics)
    if result.interrupted:
        print(
            f"interrupted at step {result.step}; checkpoint saved in {workdir}: continue "
            "with the same command plus --resume"
        )
        raise SystemExit(cli.INTERRUPTED_EXIT_CODE)
    if not evaluating:
        print(f"step {result.step} (no evaluation: --no-eval); outputs in {out}")
        return metrics
    print(
        f"step {result.step}: FCD {final['fcd']:.3f} (real held-out {fcd_real_test:.3f}), "
        f"KID {final['kid']:.4f} ± {final['kid_se']:.4f}, precision {final['precision']:.3f}, "
        f"recall {final['recall']:.3f}, {int(final['classes'])}/{train_set.num_classes} "
        f"classes, KL {final['class_kl']:.3f}; outputs in {out}"
    )
    return metrics


if __name__ == "__main__":
    cli.fail(
        "gan_jax.runner.image_runs is the training CLIs' shared runner, not a command: run "
        "python -m experiments.train_dcgan (or train_pggan, train_stylegan) --help"
    )
