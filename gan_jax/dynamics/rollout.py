"""Trajectories of a scheme on a game, as one ``lax.scan``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.dynamics.game import Game, PyTree, fold_batch


@flax.struct.dataclass
class Trajectory:
    """``g`` and ``d`` stacked over the kept states (the initial one first; all
    ``num_steps + 1`` of them unless thinned with ``every``), and the per-step ``metrics``
    stacked over ``num_steps``."""

    g: PyTree
    d: PyTree
    metrics: dict[str, jax.Array]


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
    """
    if num_steps < 1 or every < 1:
        raise ValueError(f"num_steps={num_steps} and every={every} must be positive")
    batch_at = batch if callable(batch) else (lambda t: fold_batch(batch, t))

    def step(state: Any, t: jax.Array) -> tuple[Any, dict]:
        return scheme.step(game, state, batch_at(t))

    def keep(state: Any, t: jax.Array) -> tuple[Any, tuple[PyTree, PyTree, dict]]:
        state, metrics = step(state, t)
        return state, (state.g, state.d, metrics)

    def block(state: Any, start: jax.Array) -> tuple[Any, tuple[PyTree, PyTree, dict]]:
        state, metrics = jax.lax.scan(step, state, start + jnp.arange(every), unroll=unroll)
        return state, (state.g, state.d, metrics)

    state = scheme.init(game, g0, d0)
    if every == 1:
        _, (gs, ds, metrics) = jax.lax.scan(keep, state, jnp.arange(num_steps), unroll=unroll)
    else:
        full = num_steps - num_steps % every
        state, (gs, ds, metrics) = jax.lax.scan(block, state, jnp.arange(0, full, every))
        metrics = jax.tree.map(lambda m: m.reshape((full,) + m.shape[2:]), metrics)
        if full < num_steps:  # a last, shorter block ending at num_steps
            state, last = jax.lax.scan(step, state, jnp.arange(full, num_steps), unroll=unroll)

            def append(kept: jax.Array, new: jax.Array) -> jax.Array:
                return jnp.concatenate([kept, new[None]])

            gs, ds = jax.tree.map(append, gs, state.g), jax.tree.map(append, ds, state.d)
            metrics = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), metrics, last)

    def prepend(first: jax.Array, rest: jax.Array) -> jax.Array:
        return jnp.concatenate([jnp.asarray(first, rest.dtype)[None], rest], axis=0)

    return Trajectory(
        g=jax.tree.map(prepend, g0, gs), d=jax.tree.map(prepend, d0, ds), metrics=metrics
    )
