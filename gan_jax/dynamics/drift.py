"""Discretisation drift: the modified flows that the discrete update rules actually follow.

Rosca, Wu, Dherin and Barrett, "Discretization Drift in Two-Player Games" (ICML 2021,
arXiv:2105.13922), by backward error analysis.  For a :class:`~gan_jax.dynamics.Game`
with losses ``L_g``, ``L_d``, vector fields ``f_g = −∇_g L_g``, ``f_d = −∇_d L_d`` and
plain gradient descent with learning rates ``η_g``, ``η_d``, the discrete iterates
``z_n = (g_n, d_n)`` follow, up to ``O(η³)`` per step, the *modified flow*

    ż = F(z) + C(z),    F = (k_g η_g f_g,  k_d η_d f_d),    C = O(η²),

time counted in steps (one scheme step is one unit; ``k_g``, ``k_d`` are alternating's
steps per update, 1 for simultaneous).  ``F`` is the game's continuous flow; ``C``, the
**drift**, is what the update rule adds to it.  With the **self terms**
``S_g = (∂_g f_g) f_g = ½ ∇_g ‖∇_g L_g‖²`` (with ``−½η²`` in front: a player's own
implicit gradient regularisation, Barrett and Dherin 2021, arXiv:2009.11162) and the **interaction terms** ``I_g = (∂_d f_g) f_d`` (how the other
player's step moves this player's gradient), and the same with ``g`` and ``d`` swapped:

* simultaneous: ``C_g = −½ η_g² S_g − ½ η_g η_d I_g``, ``C_d = −½ η_d² S_d − ½ η_g η_d I_d``;
* alternating, D first (``k_d`` D steps, then ``k_g`` G steps that see D's new
  parameters): ``C_d = −½ k_d η_d² S_d − ½ k_g k_d η_g η_d I_d`` and
  ``C_g = −½ k_g η_g² S_g + ½ k_g k_d η_g η_d I_g``; G first: the roles swap.  The player
  that moves second sees the other's update, and its interaction term changes sign.

Derivation (ours, in the paper's terms): one step is the map ``z ↦ z + Φ₁(z) + Φ₂(z) +
O(η³)`` with ``Φ₁ = F`` and ``Φ₂`` its second-order part (alternating's second mover:
``k_g k_d η_g η_d (∂_d f_g) f_d`` from evaluating ``f_g`` at the moved D; ``k`` repeated
steps: ``½ k(k−1) η² S``); the modified flow's first correction is ``C = Φ₂ − ½ (∂F) F``
(Hairer, Lubich and Wanner, *Geometric Numerical Integration*, ch. IX).  For a zero-sum
game the simultaneous interaction terms make each player *increase* the other's gradient
norm (``I_g = −∇_g ½‖∇_d L_d‖²`` there, with ``−½η_gη_d`` in front), which is what
destabilises simultaneous updates; alternating flips the second mover's sign.

* extragradient (``z + ηF(z + ηF(z))``, the half step with the same rates):
  ``Φ₂ = (∂F)F``, so ``C = +½(∂F)F``, exactly minus simultaneous' drift: both
  interaction terms turn beneficial (each player now lowers the other's gradient norm:
  why it converges on ``xy``), and both self terms turn into *anti*-regularisation (each
  player is pushed up its own gradient norm, ``+¼η²∇‖∇L‖²``).  Our derivation; not in
  the paper.

Every term is the gradient of an inner product with a fixed direction, so it is computed
by reverse-over-reverse differentiation (no Jacobian is formed; it works through layers
with a custom VJP, such as our BatchNorm): ``S_g = −∇_g ⟨∇_g L_g, f_g⟩``,
``I_g = −∇_g ⟨∇_d L_g, f_d⟩`` with ``f`` held fixed.  As in
:mod:`gan_jax.dynamics.spectrum`, only the players' trainable parameters are
differentiated (model state such as BatchNorm statistics is frozen; the batch is fixed).

**Explicit regularisation** (:func:`drift_regularized`): adding
``R_g = −(η_d/2) ⟨∇_d L_g, sg(∇_d L_d)⟩`` to ``L_g`` (``sg``: stop-gradient) changes G's
flow by ``−η_g ∇_g R_g = +½ η_g η_d I_g``, which cancels simultaneous updates' interaction
term to first order; for a zero-sum game ``R_g = (η_d/4) ‖∇_d L_d‖²`` in its gradient:
each player minimises the other's gradient norm (the paper's explicit regulariser, with
its coefficient from the step sizes).  ``strength`` scales it: 1 cancels the harmful
term, 0 leaves the drift, −1 doubles it.  The *self* regulariser
``R^self_g = (η_g/4) ‖∇_g L_g‖²`` changes G's flow by ``−η_g ∇_g R^self_g = −½ η_g² S_g``:
strength 1 doubles gradient descent's implicit self term (Barrett and Dherin's explicit
gradient regularisation, arXiv:2009.11162) and cancels extragradient's anti-regularising
one, to first order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from optax.tree_utils import tree_vdot

from gan_jax.dynamics.game import Game, PyTree
from gan_jax.dynamics.spectrum import trainable, with_trainable

__all__ = [
    "DRIFT_SCHEMES",
    "Drift",
    "DriftCoefficients",
    "drift_coefficients",
    "drift_regularized",
    "drift_terms",
    "modified_field",
    "modified_flow",
]

DRIFT_SCHEMES = ("simultaneous", "alternating", "extragradient")


class DriftCoefficients(NamedTuple):
    """The factors of ``f``, ``S`` and ``I`` in ``F`` and ``C`` (module doc), per player."""

    field_g: float
    field_d: float
    self_g: float
    self_d: float
    interaction_g: float
    interaction_d: float


def drift_coefficients(
    scheme: str,
    lr_g: float,
    lr_d: float,
    *,
    d_first: bool = True,
    g_steps: int = 1,
    d_steps: int = 1,
) -> DriftCoefficients:
    """The coefficients of the modified flow of ``scheme`` (``"simultaneous"``,
    ``"extragradient"`` or ``"alternating"``, the last with ``d_first``, ``g_steps``, ``d_steps`` as
    :func:`gan_jax.dynamics.alternating`) with plain gradient descent at ``lr_g``,
    ``lr_d`` (module doc)."""
    if scheme not in DRIFT_SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of: {', '.join(DRIFT_SCHEMES)}")
    if scheme in ("simultaneous", "extragradient"):
        if g_steps != 1 or d_steps != 1:
            raise ValueError(f"{scheme} updates take one step of each player")
        sign = -1.0 if scheme == "simultaneous" else 1.0  # extragradient: the opposite drift
        both = 0.5 * sign * lr_g * lr_d
        return DriftCoefficients(lr_g, lr_d, 0.5 * sign * lr_g**2, 0.5 * sign * lr_d**2, both, both)
    if g_steps < 1 or d_steps < 1:
        raise ValueError("g_steps and d_steps must be at least 1")
    both = 0.5 * g_steps * d_steps * lr_g * lr_d
    return DriftCoefficients(
        g_steps * lr_g,
        d_steps * lr_d,
        -0.5 * g_steps * lr_g**2,
        -0.5 * d_steps * lr_d**2,
        both if d_first else -both,  # the second mover's interaction term changes sign
        -both if d_first else both,
    )


class DriftTerms(NamedTuple):
    """``f``, ``S`` and ``I`` of each player (module doc), as pytrees of its trainable
    parameters."""

    field_g: PyTree
    field_d: PyTree
    self_g: PyTree
    self_d: PyTree
    interaction_g: PyTree
    interaction_d: PyTree


def _scaled_sum(*pairs: tuple[float, PyTree]) -> PyTree:
    """``Σ c_i · tree_i``."""
    trees = [jax.tree.map(lambda x, c=c: c * x, tree) for c, tree in pairs]
    return jax.tree.map(lambda *xs: sum(xs), *trees)


def _value_losses(game: Game, g: PyTree, d: PyTree, batch: PyTree) -> tuple[Callable, Callable]:
    """``L_g`` and ``L_d`` as functions of the trainable parameters, values only."""

    def value(loss: Callable) -> Callable:
        def of(params_g: PyTree, params_d: PyTree) -> jax.Array:
            out = loss(with_trainable(g, params_g), with_trainable(d, params_d), batch)
            return out[0] if game.has_aux else out

        return of

    return value(game.loss_g), value(game.loss_d)


def drift_terms(game: Game, g: PyTree, d: PyTree, batch: PyTree = None) -> DriftTerms:
    """The vector fields ``f`` and the self and interaction terms ``S``, ``I`` of both
    players at ``(g, d)`` (module doc; each a reverse-over-reverse gradient)."""
    loss_g, loss_d = _value_losses(game, g, d, batch)
    params_g, params_d = trainable(g), trainable(d)
    field_g = jax.tree.map(jnp.negative, jax.grad(loss_g, 0)(params_g, params_d))
    field_d = jax.tree.map(jnp.negative, jax.grad(loss_d, 1)(params_g, params_d))

    def term(loss: Callable, inner: int, outer: int, direction: PyTree) -> PyTree:
        """``−∇_outer ⟨∇_inner L, direction⟩`` (``direction`` fixed)."""

        def product(params: PyTree) -> jax.Array:
            both = [params_g, params_d]
            both[outer] = params
            return tree_vdot(jax.grad(loss, inner)(*both), direction)

        return jax.tree.map(jnp.negative, jax.grad(product)((params_g, params_d)[outer]))

    return DriftTerms(
        field_g,
        field_d,
        term(loss_g, 0, 0, field_g),
        term(loss_d, 1, 1, field_d),
        term(loss_g, 1, 0, field_d),
        term(loss_d, 0, 1, field_g),
    )


class Drift(NamedTuple):
    """The modified flow at a point, per player (pytrees of the trainable parameters):
    ``field`` is ``F``, ``self_terms`` and ``interaction`` the two parts of the drift
    ``C`` with their coefficients applied (module doc).  A pytree, so
    :func:`modified_flow` can be jitted."""

    field: tuple[PyTree, PyTree]
    self_terms: tuple[PyTree, PyTree]
    interaction: tuple[PyTree, PyTree]

    @property
    def total(self) -> tuple[PyTree, PyTree]:
        """The drift ``C = self + interaction``."""
        return tuple(
            _scaled_sum((1.0, s), (1.0, i))
            for s, i in zip(self.self_terms, self.interaction, strict=True)
        )

    @property
    def modified(self) -> tuple[PyTree, PyTree]:
        """The modified field ``F + C``."""
        return tuple(_scaled_sum((1.0, f), (1.0, c)) for f, c in zip(self.field, self.total))


def modified_flow(
    game: Game,
    g: PyTree,
    d: PyTree,
    lr_g: float,
    lr_d: float,
    scheme: str = "simultaneous",
    *,
    d_first: bool = True,
    g_steps: int = 1,
    d_steps: int = 1,
    batch: PyTree = None,
) -> Drift:
    """The modified flow of ``scheme`` with plain gradient descent at ``lr_g``, ``lr_d``,
    at ``(g, d)``: :func:`drift_terms` weighted by :func:`drift_coefficients`."""
    c = drift_coefficients(scheme, lr_g, lr_d, d_first=d_first, g_steps=g_steps, d_steps=d_steps)
    t = drift_terms(game, g, d, batch)
    return Drift(
        field=(_scaled_sum((c.field_g, t.field_g)), _scaled_sum((c.field_d, t.field_d))),
        self_terms=(_scaled_sum((c.self_g, t.self_g)), _scaled_sum((c.self_d, t.self_d))),
        interaction=(
            _scaled_sum((c.interaction_g, t.interaction_g)),
            _scaled_sum((c.interaction_d, t.interaction_d)),
        ),
    )


def modified_field(
    game: Game,
    lr_g: float,
    lr_d: float,
    scheme: str = "simultaneous",
    *,
    drift_order: int = 1,
    batch: PyTree = None,
    **scheme_options: int | bool,
) -> Callable[[tuple[PyTree, PyTree]], tuple[PyTree, PyTree]]:
    """``z ↦ F(z) + C(z)`` (``drift_order=1``) or ``z ↦ F(z)`` (``0``: the game's own flow
    at the scheme's speed), for ``z = (g, d)`` pytrees of plain arrays: the right-hand side
    to integrate (``jax.experimental.ode.odeint``) against the discrete iterates."""
    if drift_order not in (0, 1):
        raise ValueError("drift_order is 0 (the original flow) or 1 (the modified flow)")

    def field(z: tuple[PyTree, PyTree]) -> tuple[PyTree, PyTree]:
        flow = modified_flow(game, z[0], z[1], lr_g, lr_d, scheme, batch=batch, **scheme_options)
        return flow.modified if drift_order else flow.field

    return field


def drift_regularized(
    game: Game,
    lr_g: float,
    lr_d: float,
    strength_g: float = 1.0,
    strength_d: float = 1.0,
    *,
    self_g: float = 0.0,
    self_d: float = 0.0,
) -> Game:
    """``game`` with the explicit drift regularisers (module doc) added to its losses:
    ``L_g + strength_g·R_g + self_g·R^self_g`` and the same for D, with
    ``R_g = −(η_d/2) ⟨∇_d L_g, sg(∇_d L_d)⟩``, ``R_d = −(η_g/2) ⟨∇_g L_d, sg(∇_g L_g)⟩``
    and ``R^self_i = (η_i/4) ‖∇_i L_i‖²``.  At ``strength 1`` the interaction regularisers
    cancel simultaneous updates' interaction terms to first order; for alternating with D
    first, D's interaction term is the harmful one (``strength_g=0, strength_d=1``).  At
    ``self 1`` the self regulariser adds ``−½η²S``: it cancels extragradient's self terms.
    Model state (``has_aux``) is the original losses'."""

    def regularized(index: int, strength: float, own: float, rates: tuple) -> Callable:
        """Player ``index``'s loss plus ``strength·R + own·R^self``."""
        other = 1 - index

        def loss(g: PyTree, d: PyTree, batch: PyTree):
            out = (game.loss_g, game.loss_d)[index](g, d, batch)
            if not (strength or own):
                return out
            losses = _value_losses(game, g, d, batch)
            params = (trainable(g), trainable(d))
            penalty = 0.0
            if strength:
                fixed = jax.lax.stop_gradient(jax.grad(losses[other], other)(*params))
                inner = tree_vdot(jax.grad(losses[index], other)(*params), fixed)
                penalty = penalty - strength * 0.5 * rates[other] * inner
            if own:
                gradient = jax.grad(losses[index], index)(*params)
                penalty = penalty + own * 0.25 * rates[index] * tree_vdot(gradient, gradient)
            if game.has_aux:
                return out[0] + penalty, out[1]
            return out + penalty

        return loss

    rates = (lr_g, lr_d)
    regularized_g = regularized(0, strength_g, self_g, rates)
    regularized_d = regularized(1, strength_d, self_d, rates)
    return Game(loss_g=regularized_g, loss_d=regularized_d, has_aux=game.has_aux)
