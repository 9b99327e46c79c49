"""The two-player differentiable game, its training state and its batches.

A game has players ``g`` and ``d``; each minimises its own loss ``(g, d, batch) -> scalar``.
For a zero-sum value ``f`` that ``g`` minimises and ``d`` maximises, ``loss_g = f`` and
``loss_d = -f``.  Players are arbitrary pytrees: two scalars for ``f(x, y) = x·y``, the
weights of two CNNs for DCGAN.  Update rules (:mod:`gan_jax.dynamics.schemes`) only ever
see this interface.

``batch`` is any pytree (data, a PRNG key) or ``None``.  Schemes that evaluate the game
more than once per step (alternating with several D steps, extragradient) and rollouts
over many steps derive distinct batches with :func:`fold_batch`: every *typed* PRNG key
leaf (``jax.random.key``) is folded with the evaluation index, so each evaluation draws
fresh noise, while data arrays are passed unchanged.  Index 0 leaves the batch as is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

Array = jax.Array
PyTree = Any
Loss = Callable[[PyTree, PyTree, PyTree], Array]


@dataclasses.dataclass(frozen=True)
class Game:
    """A two-player differentiable game: ``g`` minimises ``loss_g``, ``d`` minimises ``loss_d``.

    Both losses have the signature ``(g, d, batch) -> scalar``.  Frozen and hashable, so
    a game can be a static argument of ``jax.jit``.
    """

    loss_g: Loss
    loss_d: Loss

    def losses(self, g: PyTree, d: PyTree, batch: PyTree = None) -> tuple[Array, Array]:
        """``(loss_g, loss_d)`` at ``(g, d)``."""
        return self.loss_g(g, d, batch), self.loss_d(g, d, batch)

    def gradients(
        self, g: PyTree, d: PyTree, batch: PyTree = None
    ) -> tuple[tuple[Array, Array], tuple[PyTree, PyTree]]:
        """``((loss_g, loss_d), (∇_g loss_g, ∇_d loss_d))``: each player's own gradient.

        ``(∇_g loss_g, ∇_d loss_d)`` is the game's (simultaneous) vector field; gradient
        descent on it is simultaneous GDA.
        """
        loss_g, grad_g = jax.value_and_grad(self.loss_g, argnums=0)(g, d, batch)
        loss_d, grad_d = jax.value_and_grad(self.loss_d, argnums=1)(g, d, batch)
        return (loss_g, loss_d), (grad_g, grad_d)

    def vector_field(self, g: PyTree, d: PyTree, batch: PyTree = None) -> tuple[PyTree, PyTree]:
        """``(∇_g loss_g, ∇_d loss_d)`` without the loss values."""
        return self.gradients(g, d, batch)[1]


@flax.struct.dataclass
class GameState:
    """Everything a scheme carries from one step to the next, explicitly.

    ``g``, ``d``: the players' parameters.  ``opt_state_g``, ``opt_state_d``: their optax
    states.  ``step``: the number of scheme steps taken.  ``memory``: what a scheme keeps
    besides that (the previous gradients for optimistic GDA), ``None`` for most.
    """

    g: PyTree
    d: PyTree
    opt_state_g: PyTree
    opt_state_d: PyTree
    step: Array
    memory: PyTree = None


def _is_typed_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def fold_batch(batch: PyTree, index: int | Array) -> PyTree:
    """The batch for evaluation ``index``: typed PRNG keys folded with ``index``.

    ``fold_batch(batch, 0)`` is ``batch`` itself, so a single-evaluation scheme sees the
    caller's batch unchanged.
    """
    if batch is None or (isinstance(index, int) and index == 0):
        return batch

    def fold(leaf: Any) -> Any:
        if not _is_typed_key(leaf):
            return leaf
        folded = jax.random.fold_in(leaf, index)
        if isinstance(index, int):
            return folded
        # A traced index (inside scan): keep index 0 unchanged here too.
        data = jnp.where(index == 0, jax.random.key_data(leaf), jax.random.key_data(folded))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))

    return jax.tree.map(fold, batch)
