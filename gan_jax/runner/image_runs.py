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

from gan_jax import cli, configs, data, training
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
from gan_jax.runner.settings import ClassifierSettings, ImageRunSettings, RunSettings
from gan_jax.training import parallel
from gan_jax.training.checkpoint import CheckpointError, saved_steps
from gan_jax.viz.plotting import RunFigures, plot_classifier_metrics, plot_curves, save_image_grid

# the feature-set metrics every evaluation records beside FCD and the class coverage
FEATURE_SET_METRICS = (
    "kid", "precision", "recall", "density", "coverage", "classifier_score",
)  # fmt: skip

NUM_SAMPLES = 100
SCHEMES = tuple(SCHEME_BUILDERS)
CONFIG_FILE = "config.json"
LOSS_WINDOW = 100  # metrics.json's loss_*_mean_last_100_steps: the steps averaged


def build_parser(
    prog: str,
    description: str,
    model: type,
    model_defaults: Any = None,
    *,
    steps: int | None,
    dataset: str = "mnist",
) -> configs.ConfigParser:
    """The flags of an image-GAN CLI, one per field (:mod:`gan_jax.configs`): the run's
    (:class:`~gan_jax.runner.settings.RunSettings`, ``dataset`` its default ``--dataset``),
    the fit's (:class:`~gan_jax.training.FitConfig`, ``steps`` its default ``--steps``;
    ``None``: the model's schedule decides), devices and evaluation, the evaluation
    classifier, and the ``model`` config's with ``model_defaults`` (an instance or a
    mapping; default the dataclass's)."""
    parser = configs.ConfigParser(prog=prog, description=description)
    parser.add_config(RunSettings, {"dataset": dataset})
    parser.add_config(
        training.FitConfig,
        {"steps": steps},
        helps=None if steps else {"steps": "training steps (default: the schedule's)"},
    )
    parser.add_config(ImageRunSettings)
    parser.add_config(ClassifierSettings)
    parser.add_config(model, model_defaults)
    return parser


def feature_run_parser(
    prog: str, description: str, model: type, model_defaults: Any = None, *, steps: int,
    dataset: str, classifier: bool = True, helps: Mapping[str, str] | None = None,
) -> configs.ConfigParser:  # fmt: skip
    """The flags of a CLI that trains through :func:`fit_without_evaluation` (``opengan``,
    ``semantic_pyramid``, ``super_resolution``): the run's, the fit's but periodic
    evaluation and samples (these measure once, at the end), the evaluation classifier's
    (with ``classifier``) and the ``model`` config's; ``helps`` replaces the run settings'
    help texts (a study's own ``--dataset`` list)."""
    parser = configs.ConfigParser(prog=prog, description=description)
    parser.add_config(RunSettings, {"dataset": dataset}, helps=helps)
    parser.add_config(training.FitConfig, {"steps": steps}, exclude=("eval_every", "sample_every"))
    if classifier:
        parser.add_config(ClassifierSettings)
    parser.add_config(model, model_defaults)
    return parser


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
        """Create the run directory and write ``config.json`` (process 0 only): every
        setting of the command but the invocation ones (:mod:`gan_jax.configs`), so
        ``--config <workdir>/config.json`` re-launches it; a resumed run's file gets the
        settings it continued with.  Call it once the command's last check has passed,
        right before its first write; later calls do nothing."""
        if self.started:
            return
        self.started = True
        if not parallel.is_primary():
            return
        os.makedirs(self.workdir, exist_ok=True)
        with open(os.path.join(self.workdir, CONFIG_FILE), "w") as f:
            json.dump(self.settings, f, indent=2, sort_keys=True)
            f.write("\n")


def plan_run(
    args: Any,
    workdir: str,
    out: str | None,
    parser: configs.ConfigParser,
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
      the run's ``config.json`` with the same run-defining settings (the ``parser``'s
      :meth:`~gan_jax.configs.ConfigParser.defining` flags; a setting the file lacks reads
      as its value in ``saved_defaults``, else as its declared default: the value of every
      run saved before the setting was a flag) and at least one checkpoint;
      ``--resume-from STEP`` needs that step on disk.

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
    settings = json.loads(json.dumps(parser.saved_settings(args)))
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
        saved_file = json.load(f)
    defining = parser.defining()
    declared = {dest: parser.declared[dest] for dest in defining}
    saved = json.loads(json.dumps({**declared, **(saved_defaults or {}), **saved_file}))
    changed = [
        f"--{k.replace('_', '-')} {saved.get(k)} → {settings[k]}"
        for k in defining
        if saved.get(k) != settings[k]
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
    return RunPlan(workdir, out, {**saved_file, **settings}, resume, resume_from, fit)


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
    errors that must come before any work); a command without ``--eval-every`` or
    ``--sample-every`` neither evaluates nor samples periodically."""
    unflagged = {name: 0 for name in ("eval_every", "sample_every") if not hasattr(args, name)}
    # a trainer with its own schedule (no --steps) ignores steps
    return configs.from_flags(training.FitConfig, args, steps=args.steps or 1, **unflagged)


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
        callbacks=writers(args, plan),
    )
    if result.interrupted:
        print(f"interrupted at step {result.step}; continue with the same command plus --resume")
        raise SystemExit(cli.INTERRUPTED_EXIT_CODE)
    return result, time.perf_counter() - start


def writers(args: Any, plan: RunPlan) -> list[training.Callback]:
    """The metric writers ``--writers`` names besides ``metrics.jsonl``, on process 0
    (:func:`gan_jax.training.make_writers`), with the run's settings as their config."""
    if not parallel.is_primary():
        return []
    return training.make_writers(args.writers, plan.workdir, plan.settings)


def get_classifier(args: Any, resolution: int, dataset: str | None = None) -> tuple:
    """The evaluation classifier (:class:`~gan_jax.runner.settings.ClassifierSettings`): ``--classifier``, or the
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
    parser: configs.ConfigParser,
    name: str,
    build: Callable[[Any, data.ImageDataset, Any], Trainer],
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
    plan = plan_run(args, workdir, args.out, parser, saved_defaults=saved_defaults)
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
        callbacks=writers(args, plan),
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
        "seconds_this_invocation": round(seconds, 1),
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
