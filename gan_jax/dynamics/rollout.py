"""Trajectories of a scheme on a game, as one ``lax.scan``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.dynamics.game import Game, GameState, PyTree, fold_batch


@flax.struct.dataclass
class Trajectory:
    """``g`` and ``d`` stacked over the kept states (the initial one first; all
    ``num_steps + 1`` of them unless thinned with ``every``), the per-step ``metrics``
    stacked over ``num_steps``, and the state's ``extra`` (a generator's moving average)
    stacked like ``g`` (``None`` without one)."""

    g: PyTree
    d: PyTree
    metrics: dict[str, jax.Array]
    extra: PyTree = None


def scheme_step(
    game: Game,
    scheme: Any,
    state: GameState,
    batch: PyTree,
    update_extra: Callable[[GameState], PyTree] | None = None,
) -> tuple[GameState, dict]:
    """One step of the update rule, then ``state.extra ← update_extra(state)`` (a
    generator's moving average, PGGAN's α) on the stepped state: the step that
    :func:`continue_rollout` scans and :func:`gan_jax.training.make_train_step` jits."""
    state, metrics = scheme.step(game, state, batch)
    if update_extra is not None:
        state = state.replace(extra=update_extra(state))
    return state, metrics


def kept_steps(num_steps: int, every: int) -> np.ndarray:
    """The steps after which :func:`rollout` keeps a state: 0, every, 2·every, …, and
    ``num_steps`` itself when ``every`` does not divide it."""
    steps = np.arange(0, num_steps + 1, every)
    return steps if steps[-1] == num_steps else np.append(steps, num_steps)


def rollout(
    game: Game,
    scheme: Any,
    g0: PyTree,
    d0: PyTree,
    num_steps: int,
    batch: PyTree | Callable[[jax.Array], PyTree] = None,
    unroll: int = 1,
    every: int = 1,
    extra: PyTree = None,
    update_extra: Callable[[GameState], PyTree] | None = None,
) -> Trajectory:
    """Run ``num_steps`` steps of ``scheme`` from ``(g0, d0)`` and keep every ``every``-th state.

    Step ``t`` sees ``fold_batch(batch, t)``: typed PRNG keys in ``batch`` are folded with
    the step index, so a stochastic game draws fresh noise each step.  ``batch`` may also
    be a function ``t -> batch`` (for example one that samples real data on device from a
    key folded with ``t``); it is traced once, inside the scan.

    The trajectory holds the states after the steps :func:`kept_steps` lists (the initial
    one, then the state after steps ``every, 2·every, …``, and the final state when
    ``every`` does not divide ``num_steps``) and the metrics of every step.  Thinning with
    ``every > 1`` keeps memory at ``O(num_steps / every)`` for networks; it is a nested
    ``lax.scan``, so the result is the same as ``every = 1`` subsampled.  Pure: jit it, and
    ``vmap`` it over step sizes (build the optimizer inside the vmapped function), seeds or
    initial points.  ``unroll`` is passed to the inner ``lax.scan``.

    ``extra`` is the state's initial ``extra`` and ``update_extra(state)`` its new value
    after each scheme step, as in :func:`gan_jax.training.make_train_step` (a generator's EMA:
    :class:`gan_jax.averaging.GeneratorEMA`).

    Called outside ``jax.jit``, the whole rollout (initial state, scan, stacking) is one
    compiled program rather than the scan plus a program per eager op around it; inside a
    caller's ``jit`` or ``vmap`` it is traced into the caller's program.
    """

    def run(g0: PyTree, d0: PyTree, extra: PyTree, batch: Any) -> Trajectory:
        state = scheme.init(game, g0, d0).replace(extra=extra)
        first = (state.g, state.d, state.extra)
        _, (states, metrics) = continue_rollout(
            game, scheme, state, 0, num_steps, batch, unroll, every, update_extra
        )

        def prepend(first: jax.Array, rest: jax.Array) -> jax.Array:
            return jnp.concatenate([jnp.asarray(first, rest.dtype)[None], rest], axis=0)

        gs, ds, extras = jax.tree.map(prepend, first, states)
        return Trajectory(g=gs, d=ds, metrics=metrics, extra=extras)

    if callable(batch):  # a function of the step is closed over, not an argument
        return jax.jit(lambda g0, d0, extra: run(g0, d0, extra, batch))(g0, d0, extra)
    return jax.jit(run)(g0, d0, extra, batch)


def continue_rollout(
    game: Game,
    scheme: Any,
    state: GameState,
    start: int | jax.Array,
    num_steps: int,
    batch: PyTree | Callable[[jax.Array], PyTree] = None,
    unroll: int = 1,
    every: int = 1,
    update_extra: Callable[[GameState], PyTree] | None = None,
) -> tuple[GameState, tuple[tuple[PyTree, PyTree, PyTree], dict]]:
    """Steps ``start … start + num_steps − 1`` of ``scheme`` from ``state``: the engine of
    :func:`rollout`, for runs that go on in chunks (``start`` may be traced, so one compiled
    chunk serves every chunk of a run).

    Returns the final state and ``((g, d, extra) after steps start + every, start +
    2·every, …, and after the last step when ``every`` does not divide ``num_steps``),
    per-step metrics)``, without the starting state.
    """
    if num_steps < 1 or every < 1:
        raise ValueError(f"num_steps={num_steps} and every={every} must be positive")
    batch_at = batch if callable(batch) else (lambda t: fold_batch(batch, t))

    def step(state: Any, t: jax.Array) -> tuple[Any, dict]:
        return scheme_step(game, scheme, state, batch_at(t), update_extra)

    def kept(state: Any) -> tuple[PyTree, PyTree, PyTree]:
        return state.g, state.d, state.extra

    def keep(state: Any, t: jax.Array) -> tuple[Any, tuple]:
        state, metrics = step(state, t)
        return state, (kept(state), metrics)

    def block(state: Any, first: jax.Array) -> tuple[Any, tuple]:
        state, metrics = jax.lax.scan(step, state, first + jnp.arange(every), unroll=unroll)
        return state, (kept(state), metrics)

    if every == 1:
        return jax.lax.scan(keep, state, start + jnp.arange(num_steps), unroll=unroll)
    full = num_steps - num_steps % every
    states, metrics = None, None
    if full:
        state, (states, metrics) = jax.lax.scan(block, state, start + jnp.arange(0, full, every))
        metrics = jax.tree.map(lambda m: m.reshape((full,) + m.shape[2:]), metrics)
    if full < num_steps:  # a last, shorter block ending at start + num_steps
        steps_left = start + jnp.arange(full, num_steps)
        state, last = jax.lax.scan(step, state, steps_left, unroll=unroll)

        def append(kept: jax.Array | None, new: jax.Array) -> jax.Array:
            return new[None] if kept is None else jnp.concatenate([kept, new[None]])

        if states is None:
            states, metrics = jax.tree.map(lambda x: x[None], kept(state)), last
        else:
            states = jax.tree.map(append, states, kept(state))
            metrics = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), metrics, last)
    return state, (states, metrics)
