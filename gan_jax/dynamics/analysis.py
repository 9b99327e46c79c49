"""Linear analysis of update rules: Jacobians of one step, spectral radii, flow Jacobians.

A scheme's step is a map ``state -> state``.  Its Jacobian at an equilibrium decides local
convergence: the iteration converges locally iff the spectral radius is below 1 (Mescheder
et al. 2017, arXiv:1705.10461, Prop. 3).  Everything here is autodiff through the very
``scheme.step`` that training runs, so the closed forms in :mod:`~gan_jax.dynamics.theory`
are checked against the implementation itself, not a re-derivation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from gan_jax.dynamics.game import Game, GameState, PyTree
from gan_jax.dynamics.schemes import simultaneous


def update_jacobian(
    game: Game, scheme: Any, g: PyTree, d: PyTree, batch: PyTree = None
) -> jax.Array:
    """Jacobian of one step of ``scheme`` from a freshly initialised state at ``(g, d)``,
    as a 2-D array over the flattened ``(g, d)``.

    For schemes with memory (momentum, optimistic) the first step from a fresh state is a
    plain gradient step; use :func:`state_jacobian` for their steady-state recurrence.
    """
    flat, unravel = ravel_pytree((g, d))

    def step(z: jax.Array) -> jax.Array:
        g_, d_ = unravel(z)
        new, _ = scheme.step(game, scheme.init(game, g_, d_), batch)
        return ravel_pytree((new.g, new.d))[0]

    return jax.jacfwd(step)(flat)


def _split_inexact(state: GameState) -> tuple[list[Any], list[bool]]:
    leaves = jax.tree.leaves(state)
    return leaves, [jnp.issubdtype(jnp.result_type(x), jnp.inexact) for x in leaves]


def state_jacobian(game: Game, scheme: Any, state: GameState, batch: PyTree = None) -> jax.Array:
    """Jacobian of ``scheme.step`` with respect to every floating-point leaf of ``state``
    (parameters, optimizer buffers such as momentum traces, the optimistic memory).

    Integer leaves (the step counter) are held fixed.  Take ``state`` after at least one
    step so memory-based schemes are in their steady-state recurrence.
    """
    leaves, inexact = _split_inexact(state)
    treedef = jax.tree.structure(state)
    flat, unravel = ravel_pytree([x for x, f in zip(leaves, inexact) if f])

    def step(z: jax.Array) -> jax.Array:
        floats = iter(unravel(z))
        merged = [next(floats) if f else x for x, f in zip(leaves, inexact)]
        new, _ = scheme.step(game, jax.tree.unflatten(treedef, merged), batch)
        new_leaves, new_inexact = _split_inexact(new)
        return ravel_pytree([x for x, f in zip(new_leaves, new_inexact) if f])[0]

    return jax.jacfwd(step)(flat)


def flow_jacobian(
    game: Game,
    g: PyTree,
    d: PyTree,
    scheme: Callable[[optax.GradientTransformation], Any] = simultaneous,
    batch: PyTree = None,
) -> jax.Array:
    """Jacobian of the continuous-time dynamics of a first-order scheme.

    A memoryless scheme with ``optax.sgd(η)`` is ``z⁺ = z - η w(z)``; its flow is
    ``ż = -w(z)`` with Jacobian ``-∂w = update_jacobian(sgd(1)) - I``.  The default
    (simultaneous) gives the gradient field ``ż = -(∇_g loss_g, ∇_d loss_d)`` of Mescheder
    et al.; ``scheme=lambda opt: consensus(opt, gamma=γ)`` gives the consensus field.
    """
    jacobian = update_jacobian(game, scheme(optax.sgd(1.0)), g, d, batch)
    return jacobian - jnp.eye(jacobian.shape[0], dtype=jacobian.dtype)


def eigenvalues(matrix: jax.Array | np.ndarray) -> np.ndarray:
    """Eigenvalues of a square matrix (NumPy, complex), sorted by imaginary part."""
    values = np.linalg.eigvals(np.asarray(matrix, dtype=np.float64))
    return values[np.lexsort((values.real, values.imag))]


def spectral_radius(matrix: jax.Array | np.ndarray) -> float:
    """``max |λ|`` over the eigenvalues of ``matrix``."""
    return float(np.max(np.abs(eigenvalues(matrix))))


def sign_change_steps(series: np.ndarray) -> np.ndarray:
    """Indices ``t`` at which ``series[t]`` has the opposite sign of ``series[t - 1]``."""
    signs = np.sign(np.asarray(series))
    return np.nonzero(signs[1:] * signs[:-1] < 0)[0] + 1


def steps_per_revolution(series: np.ndarray) -> float:
    """Measured period of an oscillating coordinate: two sign changes per revolution, so
    ``2·(last - first change) / (number of changes - 1)``; NaN with fewer than 3 changes."""
    changes = sign_change_steps(series)
    if len(changes) < 3:
        return float("nan")
    return float(2.0 * (changes[-1] - changes[0]) / (len(changes) - 1))


def log_growth_rate(norms: jax.Array, start: int) -> jax.Array:
    """Per-step growth rate ``(‖z_T‖ / ‖z_start‖)^{1/(T - start)}`` of a norm series along
    its last axis, computed in log space; it tends to the spectral radius as T grows."""
    steps = norms.shape[-1] - 1 - start
    return jnp.exp((jnp.log(norms[..., -1]) - jnp.log(norms[..., start])) / steps)
