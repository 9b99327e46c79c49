"""Update rules for two-player games, written once for any pair of parameter pytrees.

Every scheme takes optax optimizers (``opt_d`` defaults to ``opt_g``) and is an object with

* ``init(game, g, d) -> GameState``
* ``step(game, state, batch=None) -> (GameState, metrics)``

where ``metrics`` holds ``loss_g`` and ``loss_d`` as evaluated by the step.  A scheme never
knows whether it moves two scalars or two CNNs.  Heavy-ball and negative momentum are the
optimizer's business (``optax.sgd(lr, momentum=beta)``); Adam, weight clipping
(:func:`clip_parameters`) and the like compose the same way.

With ``optax.sgd(η)`` on the bilinear game ``f = x·y`` (``F(x, y) = (y, -x)`` the vector
field of :meth:`Game.vector_field`) the schemes are exactly the textbook maps:

* simultaneous: ``z⁺ = z - η F(z)``, i.e. ``x⁺ = x - ηy``, ``y⁺ = y + ηx``;
* alternating (``d_first``): ``y⁺ = y + ηx``, then ``x⁺ = x - ηy⁺``;
* extragradient (Korpelevich 1976): ``z½ = z - η F(z)``, ``z⁺ = z - η F(z½)``;
* optimistic (OGDA, Daskalakis et al. 2018, arXiv:1711.00141):
  ``z⁺ = z - 2η F(z) + η F(z₋)``, with ``z₋₁ = z₀``;
* consensus (Mescheder et al. 2017, arXiv:1705.10461):
  ``z⁺ = z - η (F(z) + γ ∇ ½‖F(z)‖²)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from gan_jax.dynamics.game import Game, GameState, PyTree, fold_batch

Metrics = dict[str, jax.Array]


def apply_update(
    optimizer: optax.GradientTransformation,
    grads: PyTree,
    opt_state: PyTree,
    player: PyTree,
    model_state: PyTree = None,
) -> tuple[PyTree, PyTree]:
    """One optimizer step of ``player`` with ``grads``, then its new ``model_state`` written
    over it (:meth:`~gan_jax.dynamics.game.Game.absorb`).  Returns ``(player, opt_state)``.

    Every scheme updates a player through this, and so does the inner loop of
    :func:`gan_jax.gan.unrolled`.
    """
    updates, opt_state = optimizer.update(grads, opt_state, player)
    return Game.absorb(optax.apply_updates(player, updates), model_state), opt_state


def _init_state(
    opt_g: optax.GradientTransformation,
    opt_d: optax.GradientTransformation,
    g: PyTree,
    d: PyTree,
    memory: PyTree = None,
) -> GameState:
    return GameState(
        g=g,
        d=d,
        opt_state_g=opt_g.init(g),
        opt_state_d=opt_d.init(d),
        step=jnp.zeros((), jnp.int32),
        memory=memory,
    )


@dataclasses.dataclass(frozen=True)
class Scheme:
    """Shared plumbing: the two optimizers and ``init``.  Subclasses define ``step``."""

    opt_g: optax.GradientTransformation
    opt_d: optax.GradientTransformation | None = None

    @property
    def optimizer_d(self) -> optax.GradientTransformation:
        return self.opt_g if self.opt_d is None else self.opt_d

    def init(self, game: Game, g: PyTree, d: PyTree) -> GameState:
        del game
        return _init_state(self.opt_g, self.optimizer_d, g, d)

    def step(self, game: Game, state: GameState, batch: PyTree = None) -> tuple[GameState, Metrics]:
        raise NotImplementedError

    def _simultaneous_update(
        self,
        state: GameState,
        grads: tuple[PyTree, PyTree],
        model_states: tuple[PyTree, PyTree] = (None, None),
    ) -> GameState:
        """Both players step with ``grads`` from ``state``'s parameters, then absorb their new
        model states (see :class:`~gan_jax.dynamics.game.Game`)."""
        g, opt_state_g = apply_update(
            self.opt_g, grads[0], state.opt_state_g, state.g, model_states[0]
        )
        d, opt_state_d = apply_update(
            self.optimizer_d, grads[1], state.opt_state_d, state.d, model_states[1]
        )
        return state.replace(
            g=g, d=d, opt_state_g=opt_state_g, opt_state_d=opt_state_d, step=state.step + 1
        )


def with_d_optimizer_state(batch: PyTree, opt_state_d: PyTree) -> PyTree:
    """``batch`` with D's optimizer state under ``"opt_state_d"`` (dict batches only): what
    G's loss sees in the alternating and simultaneous schemes, so an unrolled generator
    loss can continue D's own optimizer (:func:`gan_jax.gan.unrolled`).  Losses that do
    not read it compile it away."""
    if isinstance(batch, dict):
        return {**batch, "opt_state_d": opt_state_d}
    return batch


def _metrics(losses: tuple[jax.Array, jax.Array]) -> Metrics:
    return {"loss_g": losses[0], "loss_d": losses[1]}


@dataclasses.dataclass(frozen=True)
class Simultaneous(Scheme):
    """Simultaneous gradient descent: both players step from the same point."""

    def step(self, game: Game, state: GameState, batch: PyTree = None) -> tuple[GameState, Metrics]:
        batch = with_d_optimizer_state(batch, state.opt_state_d)
        losses, grads, model_states = game.gradients(state.g, state.d, batch)
        return self._simultaneous_update(state, grads, model_states), _metrics(losses)


def _repeat(
    update: Callable[[GameState, Any], tuple[GameState, jax.Array]],
    state: GameState,
    start: int,
    count: int,
) -> tuple[GameState, jax.Array]:
    """``update`` applied ``count`` times with indices ``start, start+1, …``; returns the final
    state and the last loss.  Unrolled rather than a ``lax.scan``: the counts are a few steps,
    and XLA:CPU runs convolutions inside a loop body many times slower
    (:func:`gan_jax.training.make_chunk`; the benchmarks page has the DCGAN step with two
    G updates both ways)."""
    loss = None
    for index in range(start, start + count):
        state, loss = update(state, index)
    return state, loss


@dataclasses.dataclass(frozen=True)
class Alternating(Scheme):
    """Alternating updates: ``d_steps`` D steps, then ``g_steps`` G steps, each seeing the
    other player's newest parameters (``d_first=False`` puts G first).

    Each of the ``d_steps + g_steps`` evaluations gets its own batch via
    :func:`~gan_jax.dynamics.game.fold_batch` (fresh noise per step).
    """

    d_steps: int = 1
    g_steps: int = 1
    d_first: bool = True

    def __post_init__(self) -> None:
        if self.d_steps < 1 or self.g_steps < 1:
            raise ValueError("d_steps and g_steps must be at least 1")

    def step(self, game: Game, state: GameState, batch: PyTree = None) -> tuple[GameState, Metrics]:
        opt_d = self.optimizer_d

        def d_update(s: GameState, index: Any) -> tuple[GameState, jax.Array]:
            loss, grad, model_state = game.grad_d(s.g, s.d, fold_batch(batch, index))
            d, opt_state_d = apply_update(opt_d, grad, s.opt_state_d, s.d, model_state)
            return s.replace(d=d, opt_state_d=opt_state_d), loss

        def g_update(s: GameState, index: Any) -> tuple[GameState, jax.Array]:
            g_batch = with_d_optimizer_state(fold_batch(batch, index), s.opt_state_d)
            loss, grad, model_state = game.grad_g(s.g, s.d, g_batch)
            g, opt_state_g = apply_update(self.opt_g, grad, s.opt_state_g, s.g, model_state)
            return s.replace(g=g, opt_state_g=opt_state_g), loss

        if self.d_first:
            state, loss_d = _repeat(d_update, state, 0, self.d_steps)
            state, loss_g = _repeat(g_update, state, self.d_steps, self.g_steps)
        else:
            state, loss_g = _repeat(g_update, state, 0, self.g_steps)
            state, loss_d = _repeat(d_update, state, self.g_steps, self.d_steps)
        return state.replace(step=state.step + 1), _metrics((loss_g, loss_d))


@dataclasses.dataclass(frozen=True)
class Extragradient(Scheme):
    """Extragradient (Korpelevich 1976): step to ``z½`` with ``F(z)``, then from ``z`` with
    ``F(z½)``.

    With a stateful optimizer the extrapolation uses the current optimizer state and
    discards its update of it, so the optimizer sees one gradient (``F(z½)``) per step;
    this is Extra-SGD / Extra-Adam of Gidel et al. 2019 (arXiv:1802.10551) up to that
    choice.  Model state (BatchNorm statistics) is taken from the evaluation at ``z½``.
    """

    def step(self, game: Game, state: GameState, batch: PyTree = None) -> tuple[GameState, Metrics]:
        losses, grads, model_states = game.gradients(state.g, state.d, batch)
        half = self._simultaneous_update(state, grads, model_states)
        _, grads_half, states_half = game.gradients(half.g, half.d, fold_batch(batch, 1))
        # Step from z with F(z½); the model state is the one reached at z½.
        return self._simultaneous_update(state, grads_half, states_half), _metrics(losses)


class OptimisticMemory(NamedTuple):
    """The previous step's gradients ``F(z₋)`` of optimistic GDA."""

    grad_g: PyTree
    grad_d: PyTree


@dataclasses.dataclass(frozen=True)
class Optimistic(Scheme):
    """Optimistic GDA (Daskalakis et al. 2018, arXiv:1711.00141): the optimizer is fed
    ``2 F(z_t) - F(z_{t-1})``; on the first step ``F(z₋₁) = F(z₀)`` (``z₋₁ = z₀``).
    """

    def init(self, game: Game, g: PyTree, d: PyTree) -> GameState:
        del game
        zeros = OptimisticMemory(jax.tree.map(jnp.zeros_like, g), jax.tree.map(jnp.zeros_like, d))
        return _init_state(self.opt_g, self.optimizer_d, g, d, memory=zeros)

    def step(self, game: Game, state: GameState, batch: PyTree = None) -> tuple[GameState, Metrics]:
        losses, grads, model_states = game.gradients(state.g, state.d, batch)
        first = state.step == 0
        previous = jax.tree.map(
            lambda now, before: jnp.where(first, now, before), grads, tuple(state.memory)
        )
        optimistic = jax.tree.map(lambda now, before: 2.0 * now - before, grads, previous)
        new_state = self._simultaneous_update(state, optimistic, model_states)
        return new_state.replace(memory=OptimisticMemory(*grads)), _metrics(losses)


@dataclasses.dataclass(frozen=True)
class Consensus(Scheme):
    """Consensus optimization (Mescheder et al. 2017, arXiv:1705.10461).

    Each player's gradient gains ``γ ∇ L`` with ``L = ½‖v‖²``, ``v = (∇_g loss_g, ∇_d loss_d)``;
    ``∇L = Jᵀv`` is one vector-Jacobian product through the vector field.
    """

    gamma: float = 1.0

    def step(self, game: Game, state: GameState, batch: PyTree = None) -> tuple[GameState, Metrics]:
        def field_with_aux(g: PyTree, d: PyTree):
            losses, grads, model_states = game.gradients(g, d, batch)
            return grads, (losses, model_states)

        field, vjp, (losses, model_states) = jax.vjp(field_with_aux, state.g, state.d, has_aux=True)
        consensus_grad = vjp(field)
        grads = jax.tree.map(lambda v, c: v + self.gamma * c, field, consensus_grad)
        return self._simultaneous_update(state, grads, model_states), _metrics(losses)


def simultaneous(
    opt_g: optax.GradientTransformation, opt_d: optax.GradientTransformation | None = None
) -> Simultaneous:
    """Simultaneous gradient descent for both players (see :class:`Simultaneous`)."""
    return Simultaneous(opt_g, opt_d)


def alternating(
    opt_g: optax.GradientTransformation,
    opt_d: optax.GradientTransformation | None = None,
    d_steps: int = 1,
    g_steps: int = 1,
    d_first: bool = True,
) -> Alternating:
    """Alternating updates (see :class:`Alternating`); with ``optax.sgd(lr, momentum=β < 0)``
    this is negative momentum (Gidel et al. 2019, arXiv:1807.04740)."""
    return Alternating(opt_g, opt_d, d_steps=d_steps, g_steps=g_steps, d_first=d_first)


def extragradient(
    opt_g: optax.GradientTransformation, opt_d: optax.GradientTransformation | None = None
) -> Extragradient:
    """Extragradient (see :class:`Extragradient`)."""
    return Extragradient(opt_g, opt_d)


def optimistic(
    opt_g: optax.GradientTransformation, opt_d: optax.GradientTransformation | None = None
) -> Optimistic:
    """Optimistic gradient descent-ascent (see :class:`Optimistic`)."""
    return Optimistic(opt_g, opt_d)


def consensus(
    opt_g: optax.GradientTransformation,
    opt_d: optax.GradientTransformation | None = None,
    gamma: float = 1.0,
) -> Consensus:
    """Consensus optimization (see :class:`Consensus`)."""
    return Consensus(opt_g, opt_d, gamma=gamma)


def clip_parameters(limit: float) -> optax.GradientTransformation:
    """An optax transformation that keeps parameters in ``[-limit, limit]`` after the update:
    the weight clipping of WGAN (Arjovsky et al. 2017, arXiv:1701.07875).

    Chain it last: ``optax.chain(optax.sgd(lr), clip_parameters(0.01))``.
    """

    def init(params: PyTree) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update(updates: PyTree, state: Any, params: PyTree = None) -> tuple[PyTree, Any]:
        if params is None:
            raise ValueError("clip_parameters needs the parameters: call update(…, params)")
        clipped = jax.tree.map(lambda p, u: jnp.clip(p + u, -limit, limit) - p, params, updates)
        return clipped, state

    return optax.GradientTransformation(init, update)
