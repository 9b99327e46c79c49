"""Trajectories of a scheme on a game, as one ``lax.scan``."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from gan_jax.dynamics.game import Game, PyTree, fold_batch


@flax.struct.dataclass
class Trajectory:
    """``g`` and ``d`` stacked over ``num_steps + 1`` states (the initial one first), and the
    per-step ``metrics`` stacked over ``num_steps``."""

    g: PyTree
    d: PyTree
    metrics: dict[str, jax.Array]


def rollout(
    game: Game,
    scheme: Any,
    g0: PyTree,
    d0: PyTree,
    num_steps: int,
    batch: PyTree = None,
    unroll: int = 1,
) -> Trajectory:
    """Run ``num_steps`` steps of ``scheme`` from ``(g0, d0)`` and keep every state.

    Step ``t`` sees ``fold_batch(batch, t)``: typed PRNG keys in ``batch`` are folded with
    the step index, so a stochastic game draws fresh noise each step.  Pure and built on
    ``lax.scan``: jit it, and ``vmap`` it over step sizes (build the optimizer inside the
    vmapped function) or initial points.  ``unroll`` is passed to ``lax.scan``.
    """

    def body(state: Any, t: jax.Array) -> tuple[Any, tuple[PyTree, PyTree, dict]]:
        new_state, metrics = scheme.step(game, state, fold_batch(batch, t))
        return new_state, (new_state.g, new_state.d, metrics)

    state = scheme.init(game, g0, d0)
    _, (gs, ds, metrics) = jax.lax.scan(body, state, jnp.arange(num_steps), unroll=unroll)

    def prepend(first: jax.Array, rest: jax.Array) -> jax.Array:
        return jnp.concatenate([jnp.asarray(first, rest.dtype)[None], rest], axis=0)

    return Trajectory(
        g=jax.tree.map(prepend, g0, gs), d=jax.tree.map(prepend, d0, ds), metrics=metrics
    )
