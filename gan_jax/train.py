"""The fit loop: any :class:`~gan_jax.dynamics.Game` under any scheme, for many steps, without
ever losing work.

* **Pure step.**  :func:`make_train_step` turns ``(game, scheme, batch_fn)`` into
  ``GameState -> (GameState, metrics)``: it splits ``state.key``, asks
  ``batch_fn(key, state)`` for the step's batch (data sampled with ``jax.random`` on
  device; the state gives the step count and ``state.extra``, e.g. PGGAN's α), applies
  ``scheme.step`` and then ``update_extra``.  Everything a step depends on (parameters,
  BatchNorm statistics, optimizer states, the step count, the key, the schedule's
  variables) is in the :class:`~gan_jax.dynamics.GameState`.
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
  ``loss_d``) and one per evaluation (``step`` plus the evaluator's numbers).
  ``workdir/curves.png`` is re-rendered at every evaluation.
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
  the newest is damaged: its :class:`~gan_jax.checkpoint.CheckpointError` lists the intact
  steps); the newer steps are moved aside, not deleted
  (:meth:`~gan_jax.checkpoint.Checkpointer.set_aside_after`).
* **NaN guard.**  After every chunk the losses are checked; a non-finite one raises
  :class:`NonFiniteLossError` naming the first bad step, *before* anything from that chunk is
  saved, so the last good checkpoint is what is on disk.
* **Several processes** (:mod:`gan_jax.parallel`, multi-controller): every process runs the
  same chunks and saves the checkpoints together; process 0 alone writes
  ``metrics.jsonl``, figures and samples, shows the progress bar and calls ``evaluate`` and
  ``sample_fn`` (on its local copy of the replicated state, :func:`parallel.host_local`).
  The losses are replicated, so the NaN guard fires at the same step on every process; a
  stop request is OR-ed over the processes after each chunk (:func:`parallel.any_process`),
  so a Ctrl-C that reaches one process stops them all at the same step, saved.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh
from tqdm import tqdm

from gan_jax import parallel
from gan_jax.checkpoint import Checkpointer
from gan_jax.dynamics.game import Game, GameState, PyTree
from gan_jax.errors import UserError
from gan_jax.xla_options import XLA_CPU_OPTIONS, step_compiler_options

__all__ = [
    "CHECKPOINT_DIR",
    "LR_SCHEDULES",
    "METRICS_FILE",
    "XLA_CPU_OPTIONS",
    "FitConfig",
    "FitFigures",
    "FitResult",
    "NonFiniteLossError",
    "PeriodicStep",
    "chunk_lengths",
    "first_non_finite",
    "fit",
    "init_state",
    "learning_rate_schedule",
    "loss_curves",
    "make_chunk",
    "make_train_step",
    "minimize",
    "read_metrics",
    "step_compiler_options",
    "stop_requests",
]

Metrics = dict[str, jax.Array]
BatchFn = Callable[[jax.Array, GameState], PyTree]  # (key, state before the step) -> batch
StepFn = Callable[[GameState], tuple[GameState, Metrics]]

METRICS_FILE = "metrics.jsonl"
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

    steps: int
    log_every: int = 50
    checkpoint_every: int = 500
    eval_every: int = 500
    sample_every: int = 500
    max_to_keep: int = 3

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
    state: GameState
    step: int
    interrupted: bool


@dataclasses.dataclass(frozen=True)
class PeriodicStep:
    """A training step whose every ``every``-th step (global steps ``t ≡ 0 mod every``) is a
    *regularisation step*: ``fn(state, regularize)`` puts ``regularize`` in the batch, where
    lazy penalties (:class:`gan_jax.gan.LazyPenalty`) read it.

    :func:`fit` compiles ``fn`` twice, with ``regularize`` a static ``True`` and ``False``,
    and picks one per step on the host: the other steps carry no trace of the penalty.  (A
    ``lax.cond`` on the step count, which calling the object with the state alone uses, as
    ``lax.scan`` must, ran the StyleGAN-32 step with widths ``min(64, 512/r)`` 2.6× slower
    on XLA:CPU than no penalty at all: 15.5 s against 5.9 s per 16 steps, where the two
    compiled steps take 6.1 s.)
    """

    fn: Callable[[GameState, Any], tuple[GameState, Metrics]]
    every: int

    def __call__(self, state: GameState) -> tuple[GameState, Metrics]:
        return self.fn(state, state.step % self.every == 0)

    def regularizes(self, step: int) -> bool:
        return step % self.every == 0


LR_SCHEDULES = ("constant", "linear", "cosine")


def learning_rate_schedule(
    kind: str, learning_rate: float, steps: int, final_fraction: float = 0.0
) -> optax.Schedule | float:
    """A step-size schedule for a player's optimizer (``optax.adam(schedule, ...)``):

    * ``constant``: ``η`` (returned as a float);
    * ``linear``: ``η → f·η`` linearly over ``steps`` (``optax.linear_schedule``);
    * ``cosine``: ``η·(f + (1 − f)·½(1 + cos(π t/steps)))`` (``optax.cosine_decay_schedule``,
      Loshchilov & Hutter 2017, arXiv:1608.03983, without restarts).

    ``f = final_fraction``; both decays stay at ``f·η`` after ``steps``.  The schedule reads
    the optimizer's own step count, so it lives in the optimizer state and resumes with it.
    """
    if kind not in LR_SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; choose one of: {', '.join(LR_SCHEDULES)}")
    if kind == "constant":
        return learning_rate
    if steps < 1 or not 0.0 <= final_fraction <= 1.0:
        raise ValueError(
            f"need steps ≥ 1 and 0 ≤ final_fraction ≤ 1, got {steps}, {final_fraction}"
        )
    if kind == "linear":
        return optax.linear_schedule(learning_rate, final_fraction * learning_rate, steps)
    return optax.cosine_decay_schedule(learning_rate, steps, alpha=final_fraction)


def make_train_step(
    game: Game,
    scheme: Any,
    batch_fn: BatchFn,
    mesh: Mesh | None = None,
    update_extra: Callable[[GameState], PyTree] | None = None,
    regularize_every: int = 1,
) -> StepFn:
    """One training step as a pure function of the state (see module doc).  With ``mesh``
    the batch is sharded along ``"data"`` (:func:`gan_jax.parallel.constrain_batch`).
    ``update_extra(state)`` gives the new ``state.extra`` from the state after the scheme's
    step (its step count already advanced).  ``regularize_every > 1`` returns a
    :class:`PeriodicStep` whose batches (dicts) carry ``"regularize"``."""

    def step_with(state: GameState, regularize: Any) -> tuple[GameState, Metrics]:
        key, batch_key = jax.random.split(state.key)
        batch = batch_fn(batch_key, state)
        if regularize is not None:
            batch = {**batch, "regularize": regularize}
        batch = parallel.constrain_batch(batch, mesh)
        new_state, metrics = scheme.step(game, state, batch)
        new_state = new_state.replace(key=key)
        if update_extra is not None:
            new_state = new_state.replace(extra=update_extra(new_state))
        return new_state, metrics

    if regularize_every > 1:
        return PeriodicStep(step_with, regularize_every)
    return lambda state: step_with(state, None)


def make_chunk(
    step: StepFn, length: int, scan: bool = False
) -> Callable[[GameState], tuple[GameState, Metrics]]:
    """``length`` steps; returns the final state and the stacked per-step metrics.

    ``scan=False`` (default) dispatches one jitted step (state buffers donated) ``length``
    times from Python: dispatch is asynchronous, so nothing waits on the host inside a chunk.
    ``scan=True`` runs the steps in one ``lax.scan``; that is the right choice for tiny
    steps (toy games), but on XLA:CPU (jax 0.10) convolutions inside a loop body lose their
    fast library path: the DCGAN-32 step ran 0.21 s straight and 6.7 s inside a scan.
    Both compile with :func:`step_compiler_options`.
    """
    options = step_compiler_options()
    if scan:

        def scanned(state: GameState) -> tuple[GameState, Metrics]:
            return jax.lax.scan(lambda s, _: step(s), state, None, length=length)

        return jax.jit(scanned, donate_argnums=0, compiler_options=options)

    run = _step_runner(step)
    return lambda state: run(state, length)


def _step_runner(step: StepFn) -> Callable[..., tuple[GameState, Metrics]]:
    """``run(state, n, start=None)``: ``n`` dispatches of one jitted step, so chunks of any
    length share one compilation.  A :class:`PeriodicStep` is compiled as its two variants,
    chosen by the global step (``start``, the state's step count: read from the device when
    not given)."""
    options = step_compiler_options()
    if isinstance(step, PeriodicStep):
        variant = jax.jit(step.fn, static_argnums=1, donate_argnums=0, compiler_options=options)
    else:
        jitted = jax.jit(step, donate_argnums=0, compiler_options=options)

        def variant(state: GameState, regularize: bool) -> tuple[GameState, Metrics]:
            return jitted(state)

    def run(state: GameState, length: int, start: int | None = None) -> tuple[GameState, Metrics]:
        periodic = isinstance(step, PeriodicStep)
        if periodic and start is None:
            start = int(state.step)
        history = []
        for i in range(length):
            state, metrics = variant(state, periodic and step.regularizes(start + i))
            history.append(metrics)
        return state, jax.tree.map(lambda *xs: jnp.stack(xs), *history)

    return run


def chunk_lengths(start: int, stop: int, every: int) -> list[int]:
    """Chunk lengths from step ``start`` to ``stop``, each ending on a multiple of ``every``
    or at ``stop``: ``chunk_lengths(37, 74, 10) == [3, 10, 10, 10, 4]``."""
    lengths, current = [], start
    while current < stop:
        end = min(stop, (current // every + 1) * every)
        lengths.append(end - current)
        current = end
    return lengths


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


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of ``workdir/metrics.jsonl`` (empty if there is none)."""
    path = os.path.join(os.fspath(workdir), METRICS_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _truncate_metrics(workdir: str, last_step: int) -> None:
    rows = [row for row in read_metrics(workdir) if row["step"] <= last_step]
    with open(os.path.join(workdir, METRICS_FILE), "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)


def _json_number(value: Any) -> Any:
    value = float(value)
    return value if math.isfinite(value) else str(value)


def loss_curves(rows: list[dict[str, Any]], names: tuple[str, ...] = ("loss_d", "loss_g")):
    """``{name: (steps, values)}`` of the per-step rows of ``metrics.jsonl``."""
    curves = {}
    for name in names:
        points = [(r["step"], r[name]) for r in rows if name in r and "eval" not in r]
        if points:
            steps, values = zip(*points)
            curves[name] = (np.array(steps), np.array(values, dtype=float))
    return curves


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
) -> FitResult:
    """Train ``state`` with ``step`` until ``state.step == config.steps`` (see module doc).

    ``state`` is the freshly initialised state; with ``resume=True`` it is the template the
    latest checkpoint is restored into (a :class:`~gan_jax.checkpoint.CheckpointError` if
    there is none, it does not fit or it fails its digests); ``resume_from=STEP`` restores
    that step instead and sets the newer ones aside.  ``evaluate(state)`` returns numbers
    logged as an ``eval`` row (every ``eval_every`` steps and at the last step);
    ``sample_fn(state)`` returns images ``(N, H, W, C)`` in ``[-1, 1]`` for
    ``figures.samples``; ``figures`` (a :class:`FitFigures`) draws the loss curves after
    each evaluation and at the end.
    """
    workdir = os.path.abspath(os.fspath(workdir))
    os.makedirs(workdir, exist_ok=True)
    checkpointer = Checkpointer(
        os.path.join(workdir, CHECKPOINT_DIR), max_to_keep=config.max_to_keep, create=True
    )
    metrics_path = os.path.join(workdir, METRICS_FILE)
    primary = parallel.is_primary()
    if resume or resume_from is not None:
        state = checkpointer.restore(resume_from, template=state)
        if resume_from is not None:
            for path in checkpointer.set_aside_after(resume_from):
                print(f"set aside the newer checkpoint {path}")
        if primary:
            _truncate_metrics(workdir, int(state.step))
    else:
        # The chunks donate their input buffers; never consume the caller's arrays.
        state = jax.tree.map(lambda leaf: leaf.copy(), state)
        if checkpointer.all_steps():
            raise UserError(
                f"{workdir} already holds checkpoints: pass --resume to continue that run, "
                "or choose a new --workdir"
            )
        if primary:
            open(metrics_path, "w").close()
    parallel.sync("gan_jax_fit_start")  # every process has looked before step 0 is saved
    start = int(state.step)
    run_steps = _step_runner(step)
    interrupted = False
    current = start

    with stop_requests() as flags, open(metrics_path if primary else os.devnull, "a") as log:
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
            for i in range(length):
                row = {"step": current + i + 1}
                row.update({k: _json_number(v[i]) for k, v in host.items()})
                log.write(json.dumps(row) + "\n")
            current += length
            bar.update(length)
            bar.set_postfix({k: f"{float(v[-1]):.3f}" for k, v in host.items()})
            stop = parallel.any_process(flags["stop"])  # all processes stop at one step
            if (
                primary
                and evaluate is not None
                and (
                    (config.eval_every and current % config.eval_every == 0)
                    or current == config.steps
                )
            ):
                numbers = {
                    k: _json_number(v) for k, v in evaluate(parallel.host_local(state)).items()
                }
                log.write(json.dumps({"step": current, "eval": True, **numbers}) + "\n")
                log.flush()
                if figures is not None:
                    figures.losses(workdir)
            if (
                primary
                and sample_fn is not None
                and figures is not None
                and config.sample_every
                and (current % config.sample_every == 0 or current == config.steps)
            ):
                figures.samples(sample_fn(parallel.host_local(state)), workdir, current)
            log.flush()
            every = config.checkpoint_every
            if (every and current % every == 0) or current == config.steps or stop:
                checkpointer.save(current, state)
            if stop:
                interrupted = True
                break
        bar.close()
    if primary and figures is not None:
        figures.losses(workdir)
    checkpointer.close()
    return FitResult(state=state, step=current, interrupted=interrupted)


def init_state(scheme: Any, game: Game, g: PyTree, d: PyTree, key: jax.Array) -> GameState:
    """``scheme.init(game, g, d)`` with the training key attached (one jitted program)."""
    return jax.jit(lambda g, d: scheme.init(game, g, d))(g, d).replace(key=key)


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
    jitted step with :func:`step_compiler_options`; returns the parameters and the
    per-step losses."""

    def step(params: PyTree, opt_state: Any, key: jax.Array) -> tuple:
        value, grads = jax.value_and_grad(loss)(params, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    step = jax.jit(step, compiler_options=step_compiler_options())
    opt_state = optimizer.init(params)
    history = []
    for i in tqdm(range(steps), desc=description, disable=not progress, unit="step"):
        params, opt_state, value = step(params, opt_state, jax.random.fold_in(key, i))
        history.append(value)
    return params, [float(x) for x in jax.device_get(history)]
