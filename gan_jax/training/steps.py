"""The engine's pure step machinery: what one training step is, and how steps run.

* :func:`make_train_step` turns ``(game, scheme, batch_fn)`` into
  ``GameState -> (GameState, metrics)``: it splits ``state.key``, asks
  ``batch_fn(key, state)`` for the step's batch (data sampled with ``jax.random`` on
  device; the state gives the step count and ``state.extra``, e.g. PGGAN's α), applies the
  scheme's step and ``update_extra`` (:func:`gan_jax.dynamics.rollout.scheme_step`, the one
  step :func:`~gan_jax.dynamics.rollout` scans too).  Everything a step depends on
  (parameters, BatchNorm statistics, optimizer states, the step count, the key, the
  schedule's variables) is in the :class:`~gan_jax.dynamics.GameState`.
* A :class:`PeriodicStep` (``make_train_step(..., regularize_every=k)``, StyleGAN2's lazy
  R1) is compiled as two steps, one with the lazy penalties and one without; the host
  picks one per global step.
* :func:`make_chunk` / :func:`step_runner` run many steps (one jitted, donated step
  dispatched from Python, or one ``lax.scan``); :func:`chunk_lengths` cuts a run into
  chunks that end on multiples of the logging interval.
* :func:`learning_rate_schedule` and :func:`init_state` complete the pieces a recipe needs.

Nothing here touches the disk, draws or parses flags: the host loop that does is
:mod:`gan_jax.training.loop`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from gan_jax.dynamics.game import Game, GameState, PyTree
from gan_jax.dynamics.rollout import scheme_step
from gan_jax.training import parallel
from gan_jax.xla_options import step_compiler_options

__all__ = [
    "LR_SCHEDULES",
    "BatchFn",
    "Metrics",
    "PeriodicStep",
    "StepFn",
    "chunk_lengths",
    "init_state",
    "learning_rate_schedule",
    "make_chunk",
    "make_train_step",
    "step_runner",
]

Metrics = dict[str, jax.Array]
BatchFn = Callable[[jax.Array, GameState], PyTree]  # (key, state before the step) -> batch
StepFn = Callable[[GameState], tuple[GameState, Metrics]]


@dataclasses.dataclass(frozen=True)
class PeriodicStep:
    """A training step whose every ``every``-th step (global steps ``t ≡ 0 mod every``) is a
    *regularisation step*: ``fn(state, regularize)`` puts ``regularize`` in the batch, where
    lazy penalties (:class:`gan_jax.gan.LazyPenalty`) read it.

    :func:`fit` compiles ``fn`` twice, with ``regularize`` a static ``True`` and ``False``,
    and picks one per step on the host: the other steps carry no trace of the penalty.  (A
    ``lax.cond`` on the step count, which calling the object with the state alone uses, as
    ``lax.scan`` must, runs every step at the cost of the penalty's step on XLA:CPU; the
    measurements are on the benchmarks page of the documentation.)
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
    the batch is sharded along ``"data"`` (:func:`gan_jax.training.parallel.constrain_batch`).
    ``update_extra(state)`` gives the new ``state.extra`` from the state after the scheme's
    step (its step count already advanced).  ``regularize_every > 1`` returns a
    :class:`PeriodicStep` whose batches (dicts) carry ``"regularize"``."""

    def step_with(state: GameState, regularize: Any) -> tuple[GameState, Metrics]:
        key, batch_key = jax.random.split(state.key)
        batch = batch_fn(batch_key, state)
        if regularize is not None:
            batch = {**batch, "regularize": regularize}
        batch = parallel.constrain_batch(batch, mesh)
        new_state, metrics = scheme_step(game, scheme, state, batch, update_extra)
        return new_state.replace(key=key), metrics

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
    fast library path, and the DCGAN-32 step runs many times slower inside a scan
    (measured on :doc:`/library/image_gans`).
    Both compile with :func:`step_compiler_options`.
    """
    options = step_compiler_options()
    if scan:

        def scanned(state: GameState) -> tuple[GameState, Metrics]:
            return jax.lax.scan(lambda s, _: step(s), state, None, length=length)

        return jax.jit(scanned, donate_argnums=0, compiler_options=options)

    run = step_runner(step)
    return lambda state: run(state, length)


def step_runner(step: StepFn) -> Callable[..., tuple[GameState, Metrics]]:
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


def init_state(scheme: Any, game: Game, g: PyTree, d: PyTree, key: jax.Array) -> GameState:
    """``scheme.init(game, g, d)`` with the training key attached (one jitted program)."""
    return jax.jit(lambda g, d: scheme.init(game, g, d))(g, d).replace(key=key)
