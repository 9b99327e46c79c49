"""The host loop: the steps of :mod:`gan_jax.training.steps` for many steps, without ever
losing work.

* **Chunks.**  :func:`fit` dispatches one jitted step (state buffers donated) in chunks
  that end on multiples of ``log_every`` (:func:`chunk_lengths`; see :func:`make_chunk` for
  why this is not a ``lax.scan`` on CPU).  Host work (logging, evaluation, sample grids,
  checkpoints, the progress bar) happens between chunks.  ``steps`` need not be a multiple
  of ``log_every``: the last chunk is shorter, and it is logged, evaluated, sampled and
  checkpointed like any other.
* **Regularisation steps.**  A :class:`PeriodicStep` (``make_train_step(...,
  regularize_every=k)``, StyleGAN2's lazy R1) is compiled as two steps, one with the lazy
  penalties and one without, and :func:`fit` picks one per global step on the host.
* **Logging.**  ``workdir/metrics.jsonl``: one row per step (``step``, ``loss_g``,
  ``loss_d``) and one per evaluation (``step`` plus the evaluator's numbers), written by
  :class:`~gan_jax.training.writers.JsonlWriter`, the first of the run's callbacks.
  ``workdir/curves.png`` is re-rendered at every evaluation.
* **Callbacks.**  ``callbacks`` (:mod:`gan_jax.training.callbacks`: TensorBoard and W&B
  writers, a researcher's own hooks) see every step's losses, every evaluation and every
  sample grid; one can stop the run early (saved), and one that raises stops it with the
  last good checkpoint on disk.
* **Samples.**  ``sample_fn(state)`` (images from a fixed latent batch) every
  ``sample_every`` steps: ``workdir/samples/step_XXXXXXX.png`` and ``workdir/samples.png``.
* **Checkpoints.**  orbax (atomic) every ``checkpoint_every`` steps, at the end, and on
  SIGINT/SIGTERM: the handler only raises a flag, the running chunk finishes (at most
  ``log_every`` steps), its state is saved and :func:`fit` returns with
  ``interrupted=True``.  A second Ctrl-C aborts at once (the last checkpoint stays).
* **Resume.**  ``resume=True`` restores the latest checkpoint, drops ``metrics.jsonl`` rows
  past it, and continues.  Because the key is part of the state and every step is the
  same jitted function of it, however the steps are cut into chunks, 2 × 50 resumed steps
  give bit-identical losses to 100 straight ones, and so do 2 × 37 and 74.
  ``resume_from=STEP`` continues from an earlier checkpoint instead (the fall-back when
  the newest is damaged: its :class:`~gan_jax.training.checkpoint.CheckpointError` lists the intact
  steps); the newer steps are moved aside, not deleted
  (:meth:`~gan_jax.training.checkpoint.Checkpointer.set_aside_after`).
* **NaN guard.**  After every chunk the losses are checked; a non-finite one raises
  :class:`NonFiniteLossError` naming the first bad step, *before* anything from that chunk is
  saved, so the last good checkpoint is what is on disk.
* **Several processes** (:mod:`gan_jax.training.parallel`, multi-controller): every process runs the
  same chunks and saves the checkpoints together; process 0 alone writes
  ``metrics.jsonl``, figures and samples, shows the progress bar and calls ``evaluate`` and
  ``sample_fn`` (on its local copy of the replicated state, :func:`parallel.host_local`).
  The losses are replicated, so the NaN guard fires at the same step on every process; a
  stop request is OR-ed over the processes after each chunk (:func:`parallel.any_process`),
  so a Ctrl-C that reaches one process stops them all at the same step, saved.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import jax
import numpy as np
import optax
from tqdm import tqdm

from gan_jax import cli
from gan_jax.configs import SETTING, option
from gan_jax.dynamics.game import GameState, PyTree
from gan_jax.errors import UserError
from gan_jax.nets.variables import copy_tree
from gan_jax.training import parallel
from gan_jax.training.callbacks import Callback, call_all, close_all
from gan_jax.training.checkpoint import Checkpointer
from gan_jax.training.logs import json_number
from gan_jax.training.steps import StepFn, chunk_lengths, step_runner
from gan_jax.training.writers import JsonlWriter
from gan_jax.xla_options import full_optimization_options

__all__ = [
    "CHECKPOINT_DIR",
    "FitConfig",
    "FitFigures",
    "FitResult",
    "NonFiniteLossError",
    "first_non_finite",
    "fit",
    "minimize",
    "stop_requests",
]

CHECKPOINT_DIR = "checkpoints"


class NonFiniteLossError(UserError):
    """A loss became NaN or ±Inf; the run stopped before saving anything from that chunk."""


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """How long to train and how often to do host-side work (all in steps).

    ``checkpoint_every``, ``eval_every`` and ``sample_every`` must be multiples of
    ``log_every`` (the chunk length); ``0`` switches periodic evaluation or samples off
    (the final step is still evaluated).  ``steps`` is any positive count.
    """

    steps: int = option(help="training steps", type=cli.positive_int, role=SETTING)
    log_every: int = option(50, "steps per log row", type=cli.positive_int, role=SETTING)
    checkpoint_every: int = option(500, "steps per checkpoint", type=cli.positive_int, role=SETTING)
    eval_every: int = option(
        500, "steps per evaluation (0: only at the end)", type=cli.non_negative_int, role=SETTING
    )
    sample_every: int = option(
        500, "steps per sample grid (0: never)", type=cli.non_negative_int, role=SETTING
    )
    max_to_keep: int = option(
        3, "checkpoints kept (the newest)", type=cli.positive_int, role=SETTING
    )

    def __post_init__(self) -> None:
        for name in ("checkpoint_every", "eval_every", "sample_every"):
            value = getattr(self, name)
            if value < 0 or (value and value % self.log_every):
                raise UserError(
                    f"--{name.replace('_', '-')} {value} must be a multiple of --log-every "
                    f"{self.log_every}"
                )


@dataclasses.dataclass
class FitResult:
    """Where :func:`fit` ended: ``interrupted`` by Ctrl-C/SIGTERM, or ``stopped_early`` by a
    callback (both saved), else at ``config.steps``."""

    state: GameState
    step: int
    interrupted: bool
    stopped_early: bool = False


def first_non_finite(metrics: dict[str, np.ndarray]) -> tuple[int, str, float] | None:
    """``(index, name, value)`` of the earliest non-finite entry of per-step metric arrays."""
    worst = None
    for name, values in metrics.items():
        values = np.asarray(values)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size and (worst is None or bad[0] < worst[0]):
            worst = (int(bad[0]), name, float(values[bad[0]]))
    return worst


@contextmanager
def stop_requests() -> Iterator[dict[str, bool]]:
    """While active, SIGINT/SIGTERM set ``flags["stop"]`` instead of killing the process; a
    second SIGINT raises :class:`KeyboardInterrupt`.  Previous handlers come back after."""
    flags = {"stop": False}

    def handler(signum: int, frame: Any) -> None:
        if flags["stop"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flags["stop"] = True

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: no handlers, no graceful stop
        pass
    try:
        yield flags
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class FitFigures(Protocol):
    """What :func:`fit` draws, if given one (the engine itself imports no plotting):
    :class:`gan_jax.viz.plotting.RunFigures` draws ``workdir/curves.png`` and the sample grids."""

    def losses(self, workdir: str) -> None:
        """Redraw the loss curves of ``workdir/metrics.jsonl``."""

    def samples(self, images: np.ndarray, workdir: str, step: int) -> None:
        """Save the sample grid ``images`` of ``step``."""


def fit(
    step: StepFn,
    state: GameState,
    workdir: str | os.PathLike,
    config: FitConfig,
    evaluate: Callable[[GameState], dict[str, float]] | None = None,
    sample_fn: Callable[[GameState], np.ndarray] | None = None,
    resume: bool = False,
    progress: bool = True,
    description: str = "train",
    resume_from: int | None = None,
    figures: FitFigures | None = None,
    callbacks: Sequence[Callback] = (),
) -> FitResult:
    """Train ``state`` with ``step`` until ``state.step == config.steps`` (see module doc).

    ``state`` is the freshly initialised state; with ``resume=True`` it is the template the
    latest checkpoint is restored into (a :class:`~gan_jax.training.checkpoint.CheckpointError` if
    there is none, it does not fit or it fails its digests); ``resume_from=STEP`` restores
    that step instead and sets the newer ones aside.  ``evaluate(state)`` returns numbers
    logged as an ``eval`` row (every ``eval_every`` steps and at the last step);
    ``sample_fn(state)`` returns images ``(N, H, W, C)`` in ``[-1, 1]`` for
    ``figures.samples``; ``figures`` (a :class:`FitFigures`) draws the loss curves after
    each evaluation and at the end.  ``callbacks`` (:mod:`gan_jax.training.callbacks`) see
    every step's losses, every evaluation and every sample grid, after
    ``workdir/metrics.jsonl`` (:class:`~gan_jax.training.writers.JsonlWriter`) has them; one
    that returns ``True`` stops the run early (saved), one that raises stops it with the
    last good checkpoint on disk.
    """
    workdir = os.path.abspath(os.fspath(workdir))
    os.makedirs(workdir, exist_ok=True)
    checkpointer = Checkpointer(
        os.path.join(workdir, CHECKPOINT_DIR), max_to_keep=config.max_to_keep, create=True
    )
    primary = parallel.is_primary()
    resumed = resume or resume_from is not None
    if resumed:
        state = checkpointer.restore(resume_from, template=state)
        if resume_from is not None:
            for path in checkpointer.set_aside_after(resume_from):
                print(f"set aside the newer checkpoint {path}")
    else:
        # The chunks donate their input buffers; never consume the caller's arrays.
        state = copy_tree(state)
        if checkpointer.all_steps():
            raise UserError(
                f"{workdir} already holds checkpoints: pass --resume to continue that run, "
                "or choose a new --workdir"
            )
    # process 0 alone logs, evaluates and writes; metrics.jsonl first, the caller's after
    hooks = [JsonlWriter(workdir), *callbacks] if primary else []
    parallel.sync("gan_jax_fit_start")  # every process has looked before step 0 is saved
    start = int(state.step)
    run_steps = step_runner(step)
    interrupted = stopped_early = False
    current = start

    with stop_requests() as flags, _closing(hooks):
        for hook in hooks:
            hook.on_start(workdir, start, resumed)
        bar = tqdm(
            total=config.steps,
            initial=start,
            desc=description,
            disable=not (progress and primary),
            unit="step",
        )
        if start == 0:
            checkpointer.save(0, state)
        for length in chunk_lengths(start, config.steps, config.log_every):
            new_state, metrics = run_steps(state, length, current)
            host = {k: np.asarray(v) for k, v in metrics.items()}
            bad = first_non_finite(host)
            if bad is not None:
                index, name, value = bad
                last = checkpointer.latest_step()
                bar.close()  # the error's line comes after the bar's, not on it
                raise NonFiniteLossError(
                    f"{name} became {value} at step {current + index + 1}; stopped without "
                    f"saving, the last good checkpoint (step {last}) is in "
                    f"{checkpointer.directory}: resume from it with a smaller learning rate "
                    "or another loss"
                )
            state = new_state
            rows = [
                {"step": current + i + 1, **{k: json_number(v[i]) for k, v in host.items()}}
                for i in range(length)
            ]
            current += length
            bar.update(length)
            bar.set_postfix({k: f"{float(v[-1]):.3f}" for k, v in host.items()})
            try:
                asked = call_all(hooks, "on_steps", rows)
                if (
                    primary
                    and evaluate is not None
                    and (
                        (config.eval_every and current % config.eval_every == 0)
                        or current == config.steps
                    )
                ):
                    local = parallel.host_local(state)
                    numbers = {k: json_number(v) for k, v in evaluate(local).items()}
                    asked = call_all(hooks, "on_evaluation", current, numbers, local) or asked
                    if figures is not None:
                        figures.losses(workdir)
                if (
                    primary
                    and sample_fn is not None
                    and config.sample_every
                    and (current % config.sample_every == 0 or current == config.steps)
                ):
                    images = np.asarray(sample_fn(parallel.host_local(state)))
                    if figures is not None:
                        figures.samples(images, workdir, current)
                    asked = call_all(hooks, "on_samples", current, images) or asked
            except BaseException:
                bar.close()  # the error's line comes after the bar's, not on it
                raise
            # every process stops at one step: a Ctrl-C on any, or a callback on process 0
            interrupted = parallel.any_process(flags["stop"])
            stopped_early = not interrupted and parallel.any_process(asked)
            stop = interrupted or stopped_early
            every = config.checkpoint_every
            if (every and current % every == 0) or current == config.steps or stop:
                checkpointer.save(current, state)
            if stop:
                break
        bar.close()
    if primary and figures is not None:
        figures.losses(workdir)
    checkpointer.close()
    return FitResult(
        state=state, step=current, interrupted=interrupted, stopped_early=stopped_early
    )


@contextmanager
def _closing(callbacks: Sequence[Callback]) -> Iterator[None]:
    """Close ``callbacks`` however the block ends (an error inside wins over one closing)."""
    try:
        yield
    except BaseException:
        try:
            close_all(callbacks)
        except Exception:  # noqa: BLE001, S110 — the block's own error is the one to report
            pass
        raise
    close_all(callbacks)


def minimize(
    loss: Callable[[PyTree, jax.Array], jax.Array],
    params: PyTree,
    key: jax.Array,
    steps: int,
    optimizer: Any,
    description: str = "train",
    progress: bool = True,
) -> tuple[PyTree, list[float]]:
    """Minimise ``loss(params, key_i)`` with ``optimizer`` (optax) for ``steps`` steps, step
    ``i`` drawing its batch from ``key_i = fold_in(key, i)``: the supervised loop of the
    metric's classifier and of the projection encoder (models that are not games).  One
    jitted step with :func:`~gan_jax.xla_options.full_optimization_options`; returns the
    parameters and the per-step losses."""

    def step(params: PyTree, opt_state: Any, key: jax.Array) -> tuple:
        value, grads = jax.value_and_grad(loss)(params, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    step = jax.jit(step, compiler_options=full_optimization_options())
    opt_state = optimizer.init(params)
    history = []
    for i in tqdm(range(steps), desc=description, disable=not progress, unit="step"):
        params, opt_state, value = step(params, opt_state, jax.random.fold_in(key, i))
        history.append(value)
    return params, [float(x) for x in jax.device_get(history)]
