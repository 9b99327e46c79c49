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
A legacy ``jax.random.PRNGKey`` (a ``uint32[..., 2]`` array) cannot be told from data, so
folding would silently hand every evaluation the same randomness: :func:`fold_batch` refuses
such a leaf with a :class:`TypeError` that names the conversion
(``jax.random.wrap_key_data``).
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

    **Model state** (``has_aux=True``).  Players that carry non-trained state, such as
    BatchNorm statistics in a flax variables dict ``{"params": …, "batch_stats": …}``,
    return ``(loss, new_state)`` from their own loss: ``new_state`` is a dict of the
    collections to replace in that player (``{"batch_stats": …}``, or ``{}``).  A scheme
    applies the optimizer to the whole player (the loss does not depend on the state, so
    its gradient is zero) and then writes ``new_state`` over it with :meth:`absorb`: each
    player's state is updated by the forward passes of its own loss.
    """

    loss_g: Loss
    loss_d: Loss
    has_aux: bool = False

    def _value_and_grad(self, loss: Loss, argnum: int, g: PyTree, d: PyTree, batch: PyTree):
        if self.has_aux:
            (value, aux), grad = jax.value_and_grad(loss, argnums=argnum, has_aux=True)(g, d, batch)
            return value, grad, aux
        value, grad = jax.value_and_grad(loss, argnums=argnum)(g, d, batch)
        return value, grad, None

    def grad_g(self, g: PyTree, d: PyTree, batch: PyTree = None) -> tuple[Array, PyTree, PyTree]:
        """``(loss_g, ∇_g loss_g, new model state of g or None)``."""
        return self._value_and_grad(self.loss_g, 0, g, d, batch)

    def grad_d(self, g: PyTree, d: PyTree, batch: PyTree = None) -> tuple[Array, PyTree, PyTree]:
        """``(loss_d, ∇_d loss_d, new model state of d or None)``."""
        return self._value_and_grad(self.loss_d, 1, g, d, batch)

    def losses(self, g: PyTree, d: PyTree, batch: PyTree = None) -> tuple[Array, Array]:
        """``(loss_g, loss_d)`` at ``(g, d)``."""
        loss_g, loss_d = self.loss_g(g, d, batch), self.loss_d(g, d, batch)
        if self.has_aux:
            return loss_g[0], loss_d[0]
        return loss_g, loss_d

    def gradients(
        self, g: PyTree, d: PyTree, batch: PyTree = None
    ) -> tuple[tuple[Array, Array], tuple[PyTree, PyTree], tuple[PyTree, PyTree]]:
        """``((loss_g, loss_d), (∇_g loss_g, ∇_d loss_d), (state_g, state_d))``: each
        player's own gradient (and new model state, ``None`` without ``has_aux``).

        ``(∇_g loss_g, ∇_d loss_d)`` is the game's (simultaneous) vector field; gradient
        descent on it is simultaneous GDA.
        """
        loss_g, grad_g, aux_g = self.grad_g(g, d, batch)
        loss_d, grad_d, aux_d = self.grad_d(g, d, batch)
        return (loss_g, loss_d), (grad_g, grad_d), (aux_g, aux_d)

    def vector_field(self, g: PyTree, d: PyTree, batch: PyTree = None) -> tuple[PyTree, PyTree]:
        """``(∇_g loss_g, ∇_d loss_d)`` without the loss values."""
        return self.gradients(g, d, batch)[1]

    @staticmethod
    def absorb(player: PyTree, state: PyTree) -> PyTree:
        """``player`` with the collections in ``state`` written over it (``None``: as is)."""
        if not state:
            return player
        return {**player, **state}


@flax.struct.dataclass
class GameState:
    """Everything a scheme carries from one step to the next, explicitly.

    ``g``, ``d``: the players' parameters.  ``opt_state_g``, ``opt_state_d``: their optax
    states.  ``step``: the number of scheme steps taken.  ``memory``: what a scheme keeps
    besides that (the previous gradients for optimistic GDA), ``None`` for most.  ``key``:
    the PRNG key of a training loop (:mod:`gan_jax.training` draws every step's data and noise
    from it), ``None`` when the caller supplies batches itself.  ``extra``: the training
    loop's own variables beside the game (PGGAN's stage and fade-in α, an EMA of G),
    checkpointed with the rest; :func:`gan_jax.training.make_train_step` updates it, ``None``
    when there are none.  Model state (BatchNorm statistics) lives inside the players'
    variables dicts.  Schemes update the state with ``replace``, so fields they do not
    know about pass through unchanged.
    """

    g: PyTree
    d: PyTree
    opt_state_g: PyTree
    opt_state_d: PyTree
    step: Array
    memory: PyTree = None
    key: PyTree = None
    extra: PyTree = None


def is_typed_key(leaf: Any) -> bool:
    """Whether ``leaf`` is a new-style typed PRNG key array (``jax.random.key``)."""
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


LEGACY_KEY_FIX = (
    "pass a typed key, jax.random.key(seed), or convert a legacy one with "
    "jax.random.wrap_key_data(key)"
)


def looks_like_legacy_key(leaf: Any) -> bool:
    """Whether ``leaf`` has the layout of a legacy ``jax.random.PRNGKey`` (``uint32[..., 2]``)."""
    shape = getattr(leaf, "shape", ())
    return bool(shape) and shape[-1] == 2 and getattr(leaf, "dtype", None) == jnp.uint32


def require_typed_key(key: Any, where: str) -> Array:
    """``key`` if it is a typed PRNG key, else a :class:`TypeError` naming ``where`` and the
    fix: a function that splits or folds a key never guesses which raw arrays are keys."""
    if not is_typed_key(key):
        kind = "a legacy uint32 PRNGKey" if looks_like_legacy_key(key) else type(key).__name__
        raise TypeError(f"{where} must be a typed PRNG key, got {kind}: {LEGACY_KEY_FIX}")
    return key


def fold_batch(batch: PyTree, index: int | Array) -> PyTree:
    """The batch for evaluation ``index``: typed PRNG keys folded with ``index``.

    ``fold_batch(batch, 0)`` is ``batch`` itself, so a single-evaluation scheme sees the
    caller's batch unchanged.  For any other index a leaf laid out like a legacy
    ``PRNGKey`` (``uint32[..., 2]``) is a :class:`TypeError`: passed on unfolded, it would
    give every evaluation the same noise.
    """
    if batch is None or (isinstance(index, int) and index == 0):
        return batch

    def fold(leaf: Any) -> Any:
        if looks_like_legacy_key(leaf):
            raise TypeError(
                "the batch holds a legacy uint32 PRNGKey, which a scheme that evaluates the "
                f"game more than once per step cannot fold (every evaluation would reuse its "
                f"noise): {LEGACY_KEY_FIX}"
            )
        if not is_typed_key(leaf):
            return leaf
        folded = jax.random.fold_in(leaf, index)
        if isinstance(index, int):
            return folded
        # A traced index (inside scan): keep index 0 unchanged here too.
        data = jnp.where(index == 0, jax.random.key_data(leaf), jax.random.key_data(folded))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))

    return jax.tree.map(fold, batch)
