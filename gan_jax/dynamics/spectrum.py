"""The game-Jacobian spectrum of games with millions of parameters, matrix-free.

Berard et al. 2020, "A Closer Look at the Optimization Landscapes of Generative
Adversarial Networks" (arXiv:1906.04848), read a GAN's training dynamics off three
quantities, all here for any :class:`~gan_jax.dynamics.game.Game`:

* **The game Jacobian** ``J = ∂v/∂θ`` of the vector field ``v(θ) = (∇_g L_g, ∇_d L_d)``
  at ``θ = (g, d)``: eigenvalues with large imaginary parts mean rotation; gradient
  descent on ``v`` is locally stable where every eigenvalue has a positive real part.
  :func:`game_eigenvalues` finds the top ``k`` (largest modulus, or largest or smallest
  real part) by ARPACK's implicitly restarted Arnoldi iteration
  (``scipy.sparse.linalg.eigs``) over a ``LinearOperator`` whose product ``Jᵀ·u`` (same
  eigenvalues as ``J``) is one jitted VJP of ``v`` (reverse over reverse, so layers with
  a custom VJP such as our BatchNorm work); ``J`` is never formed.  (The flow
  ``θ̇ = −v`` of :func:`~gan_jax.dynamics.analysis.flow_jacobian` has Jacobian ``−J``.)
* **The players' Hessians** ``∇²_g L_g`` and ``∇²_d L_d``: :func:`hessian_eigenvalues`
  gives their extreme eigenvalues by Lanczos (:func:`lanczos`, full reorthogonalisation)
  on Hessian-vector products.  A negative eigenvalue of G's Hessian at a stable point
  means it is not a local Nash equilibrium.
* **The path angle** (:func:`path_angle`): along the line ``θ_α = θ_start + α (θ_end −
  θ_start)``, the cosine between ``v(θ_α)`` and the direction ``θ_end − θ_start``, and the
  field's norm.  A gradient field towards the end point gives cosine −1 before it and +1
  after it; a rotational field gives cosines near 0 with a bump around the end point.
* **Stationarity** (:func:`field_norms`, :func:`end_dip`): the spectrum's vocabulary
  (locally stable stationary point, local Nash equilibrium) describes stationary points,
  ``v(θ) = 0``.  Training never reaches one exactly, so a point is called
  **near-stationary** only where the field's norm dips at it along the path:
  ``end_dip = ‖v(θ_end)‖ / median_α ‖v(θ_α)‖`` (the median over the path's other points)
  at most :data:`NEAR_STATIONARY_DIP` (an order of magnitude; Dirac-GAN's equilibrium
  dips to ≈ 1e-12).  Our choice of measure; Berard et al. read the same dip off their
  path-angle plots.

**What is differentiated.**  Only the trainable parameters (a flax player's ``"params"``
collection; a plain array player whole).  **Model state** such as BatchNorm statistics
is frozen: every loss evaluation runs in training-mode semantics (batch statistics of the
fixed batch), and the running averages it would update are discarded, so ``v`` is a
deterministic function of the parameters.  Products cost a few gradients each; how a
layer is computed decides how fast XLA differentiates it twice, so build DCGANs for
analysis with :data:`gan_jax.nets.dcgan.SECOND_ORDER_METHODS` (same parameters and
function, ≈ 3× faster products on CPU).  The batch (real images and the noise key) is
fixed too.  Arrays are as the players' dtypes; run under ``jax.enable_x64`` with float64
players for the closed-form checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, partial
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gan_jax.dynamics.game import Game, PyTree
from gan_jax.xla_options import step_compiler_options

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

# Below this many parameters (or when k is too close to it for ARPACK) the operator is
# materialised column by column from the same products and solved densely.
DENSE_LIMIT = 64

# A path's end point is near-stationary when its field norm is at most this share of the
# median norm along the path (:func:`end_dip`).
NEAR_STATIONARY_DIP = 0.1


def trainable(player: PyTree) -> PyTree:
    """The differentiated part of a player: its ``"params"`` collection, or all of it."""
    if isinstance(player, dict) and "params" in player:
        return player["params"]
    return player


def with_trainable(player: PyTree, params: PyTree) -> PyTree:
    """``player`` with its trainable part replaced by ``params``."""
    if isinstance(player, dict) and "params" in player:
        return {**player, "params": params}
    return params


def _field_at(game: Game, g: PyTree, d: PyTree, theta: jax.Array, batch: PyTree) -> jax.Array:
    """``v(θ)`` flattened, with ``θ`` unravelled into the trainable parts of ``(g, d)``
    (their model state taken from ``g`` and ``d``)."""
    unravel = ravel_pytree((trainable(g), trainable(d)))[1]
    params_g, params_d = unravel(theta)
    grad_g, grad_d = game.vector_field(
        with_trainable(g, params_g), with_trainable(d, params_d), batch
    )
    return ravel_pytree((trainable(grad_g), trainable(grad_d)))[0]


def _transposed_product(game, g, d, theta, batch, u):
    return jax.vjp(lambda t: _field_at(game, g, d, t, batch), theta)[1](u)[0]


def _player_hvp(game, index, g, d, theta, batch, u):
    """``∇²L_player · u`` over that player's parameters (the other's held fixed): the VJP
    of that player's own gradient alone (``Game.grad_g`` / ``grad_d``), not of the whole
    field, so the other player's gradient is not computed."""
    split = ravel_pytree(trainable(g))[0].shape[0]
    own = theta[:split] if index == 0 else theta[split:]
    unravel = ravel_pytree((trainable(g), trainable(d)))[1]

    def own_gradient(params: jax.Array) -> jax.Array:
        both = jnp.concatenate([params, theta[split:]] if index == 0 else [theta[:split], params])
        params_g, params_d = unravel(both)
        players = with_trainable(g, params_g), with_trainable(d, params_d)
        grad = (game.grad_g if index == 0 else game.grad_d)(*players, batch)[1]
        return ravel_pytree(trainable(grad))[0]

    return jax.vjp(own_gradient, own)[1](u)[0]


def _path_measures(game, g, d, alphas, theta_start, direction, batch):
    """The cosine between ``v(θ_α)`` and ``direction``, and ``‖v(θ_α)‖``, at every
    ``θ_α = θ_start + α·direction`` (one ``lax.map``); the cosine is 0 where ``v`` vanishes."""

    def measure(alpha: jax.Array) -> tuple[jax.Array, jax.Array]:
        field = _field_at(game, g, d, theta_start + alpha * direction, batch)
        norm = jnp.linalg.norm(field)
        scale = norm * jnp.linalg.norm(direction)
        safe = jnp.where(scale > 0, scale, 1.0)
        return jnp.where(scale > 0, jnp.vdot(field, direction) / safe, 0.0), norm

    return jax.lax.map(measure, alphas)


def _player_norms(game, g, d, batch):
    grad_g, grad_d = game.vector_field(g, d, batch)
    flat_g = ravel_pytree(trainable(grad_g))[0]
    flat_d = ravel_pytree(trainable(grad_d))[0]
    return jnp.linalg.norm(flat_g), jnp.linalg.norm(flat_d)


@cache
def _kernels() -> dict[str, Callable]:
    """The jitted products, one set per process: the game is a static argument and the
    players (their model state included) and the point are arguments, so a new point of
    the same game and shapes reuses the traced and compiled programs, and no state is
    baked in as a constant.  (θ and the batch are arguments, not closed-over constants:
    XLA would otherwise constant-fold whole forward passes at compile time.)  The training
    step's XLA:CPU options (Eigen convolutions): 2-3× faster products."""
    jit = partial(jax.jit, compiler_options=step_compiler_options())
    return {
        "transposed": jit(_transposed_product, static_argnums=0),
        "hvp": jit(_player_hvp, static_argnums=(0, 1)),
        "path": jax.jit(_path_measures, static_argnums=0),
        "norms": jax.jit(_player_norms, static_argnums=0),
    }


class FlatGame:
    """The vector field and its derivatives for ``game`` at ``(g, d)`` over one flat vector
    of the trainable parameters, ``θ = (params_g, params_d)``.

    ``theta``: the point; ``size_g``: how many of its entries are G's;
    ``transposed_product(u) = Jᵀ·u`` at ``theta``; ``hvp(player, u)`` (``"g"`` or ``"d"``),
    both jitted once per game and shapes (``_kernels``), whatever the point.  Products
    are reverse-over-reverse (VJPs of the gradient), which works through layers with a
    custom VJP (our BatchNorm) where forward mode cannot: ``Jᵀ`` has the eigenvalues of
    ``J``, and a player's Hessian is symmetric.
    """

    def __init__(self, game: Game, g: PyTree, d: PyTree, batch: PyTree = None) -> None:
        self.game, self.g, self.d, self.batch = game, g, d, batch
        self.theta, self._unravel = ravel_pytree((trainable(g), trainable(d)))
        self.size_g = ravel_pytree(trainable(g))[0].shape[0]

    @property
    def size(self) -> int:
        return int(self.theta.shape[0])

    def players(self, theta: jax.Array) -> tuple[PyTree, PyTree]:
        params_g, params_d = self._unravel(theta)
        return with_trainable(self.g, params_g), with_trainable(self.d, params_d)

    def transposed_product(self, u: jax.Array) -> jax.Array:
        """``Jᵀ·u`` at ``theta``."""
        return _kernels()["transposed"](self.game, self.g, self.d, self.theta, self.batch, u)

    def hvp(self, player: str, u: jax.Array) -> jax.Array:
        """``∇²_player L_player · u`` at ``theta``."""
        index = 0 if player == "g" else 1
        return _kernels()["hvp"](self.game, index, self.g, self.d, self.theta, self.batch, u)


def _operator(
    size: int, matvec: Callable[[jax.Array], jax.Array], dtype, info: dict | None = None
) -> LinearOperator:
    """scipy's ``LinearOperator`` of ``matvec`` (scipy is imported here, on first use, so
    that ``import gan_jax.dynamics`` does not load it)."""
    from scipy.sparse.linalg import LinearOperator

    def product(u: np.ndarray) -> np.ndarray:
        if info is not None:
            info["products"] = info.get("products", 0) + 1
        return np.asarray(matvec(jnp.asarray(np.real(u).ravel(), dtype)), np.float64)

    return LinearOperator((size, size), matvec=product, dtype=np.float64)


def _dense(size: int, matvec: Callable[[jax.Array], jax.Array], dtype) -> np.ndarray:
    eye = jnp.eye(size, dtype=dtype)
    return np.stack([np.asarray(matvec(eye[i]), np.float64) for i in range(size)], axis=1)


_ORDER = {
    "LM": lambda v: -np.abs(v),
    "LR": lambda v: -np.real(v),
    "SR": lambda v: np.real(v),
    "LI": lambda v: -np.abs(np.imag(v)),
}


def game_eigenvalues(
    game: Game,
    g: PyTree,
    d: PyTree,
    batch: PyTree = None,
    k: int = 20,
    which: str = "LM",
    tol: float = 0.0,
    ncv: int | None = None,
    maxiter: int | None = None,
    dense_limit: int = DENSE_LIMIT,
    info: dict | None = None,
) -> np.ndarray:
    """The ``k`` eigenvalues of the game Jacobian ``J = ∂(∇_g L_g, ∇_d L_d)`` at ``(g, d)``
    selected by ``which`` (ARPACK's codes: ``"LM"`` largest modulus, ``"LR"`` / ``"SR"``
    largest / smallest real part, ``"LI"`` largest imaginary part), sorted in that
    order.  Matrix-free above ``dense_limit`` parameters (module doc).  ``tol`` is ARPACK's
    relative accuracy (0: machine precision).  A dict ``info`` receives ``parameters`` and
    ``products`` (the products with ``Jᵀ`` ARPACK asked for)."""
    flat = FlatGame(game, g, d, batch)
    if info is not None:
        info["parameters"] = flat.size
    if which not in _ORDER:
        raise ValueError(f"unknown which={which!r}; choose one of {', '.join(_ORDER)}")
    if flat.size <= dense_limit or k >= flat.size - 1:
        values = np.linalg.eigvals(_dense(flat.size, flat.transposed_product, flat.theta.dtype))
    else:
        from scipy.sparse.linalg import eigs  # on first use (see _operator)

        operator = _operator(flat.size, flat.transposed_product, flat.theta.dtype, info)
        values = eigs(
            operator, k=k, which=which, tol=tol, ncv=ncv, maxiter=maxiter, return_eigenvectors=False
        )
    return values[np.argsort(_ORDER[which](values), kind="stable")][:k]


def lanczos(
    matvec: Callable[[np.ndarray], np.ndarray], size: int, steps: int, key: jax.Array
) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` iterations of the Lanczos process with full reorthogonalisation for a
    symmetric operator: the Ritz values ``θ_i`` (ascending) of the tridiagonal ``T_m`` and
    their residual norms ``|β_m s_{m,i}|`` (``‖A y_i − θ_i y_i‖`` for the Ritz vector
    ``y_i``; an eigenvalue of ``A`` lies within it of ``θ_i``).  By Cauchy interlacing
    ``λ_min ≤ θ_1`` and ``θ_m ≤ λ_max``: a negative smallest Ritz value *proves* a
    negative eigenvalue.  Vectors live on the host (float64); the start is a random
    unit vector from ``key``."""
    steps = min(steps, size)
    basis = np.zeros((steps, size))
    start = np.asarray(jax.random.normal(key, (size,)), np.float64)
    basis[0] = start / np.linalg.norm(start)
    alphas, betas = [], []
    for j in range(steps):
        w = np.array(matvec(basis[j]), np.float64)  # a writable copy
        alphas.append(float(basis[j] @ w))
        for _ in range(2):  # twice is enough (Kahan's "twice is enough")
            w -= basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = float(np.linalg.norm(w))
        betas.append(beta)
        if j + 1 == steps or beta <= 1e-12 * max(1.0, abs(alphas[-1])):
            break
        basis[j + 1] = w / beta
    m = len(alphas)
    tridiagonal = np.diag(alphas) + np.diag(betas[: m - 1], 1) + np.diag(betas[: m - 1], -1)
    ritz, vectors = np.linalg.eigh(tridiagonal)
    return ritz, np.abs(betas[m - 1] * vectors[-1, :])


def hessian_eigenvalues(
    game: Game,
    g: PyTree,
    d: PyTree,
    batch: PyTree = None,
    player: str = "g",
    k: int = 1,
    steps: int = 40,
    key: jax.Array | None = None,
    dense_limit: int = DENSE_LIMIT,
) -> dict[str, np.ndarray]:
    """The ``k`` largest and ``k`` smallest eigenvalues of a player's own-loss Hessian
    (``∇²_g L_g`` for ``player="g"``, ``∇²_d L_d`` for ``"d"``) by :func:`lanczos` on
    Hessian-vector products, ``steps`` of them: ``{"largest", "smallest"}`` (ascending
    Ritz values) and their ``"residual_largest"``, ``"residual_smallest"``.  The extreme
    Ritz values converge first and are bounded by the true extremes (interlacing);
    ``steps ≥`` the player's size gives the exact spectrum.  A fixed number of products
    keeps the cost known where ARPACK's "smallest algebraic" mode ran for over 10
    minutes on the DCGAN's D without converging to 1e-3."""
    if player not in ("g", "d"):
        raise ValueError(f"player must be 'g' or 'd', got {player!r}")
    flat = FlatGame(game, g, d, batch)
    size = flat.size_g if player == "g" else flat.size - flat.size_g
    dtype = flat.theta.dtype
    if size <= dense_limit:
        dense = _dense(size, partial(flat.hvp, player), dtype)
        values = np.linalg.eigvalsh(0.5 * (dense + dense.T))
        zeros = np.zeros(k)
        return {
            "largest": values[-k:],
            "smallest": values[:k],
            "residual_largest": zeros,
            "residual_smallest": zeros,
        }

    def product(u: np.ndarray) -> np.ndarray:
        return np.asarray(flat.hvp(player, jnp.asarray(u, dtype)), np.float64)

    ritz, residuals = lanczos(product, size, steps, jax.random.key(0) if key is None else key)
    return {
        "largest": ritz[-k:],
        "smallest": ritz[:k],
        "residual_largest": residuals[-k:],
        "residual_smallest": residuals[:k],
    }


def path_angle(
    game: Game,
    start: tuple[PyTree, PyTree],
    end: tuple[PyTree, PyTree],
    batch: PyTree = None,
    num: int = 41,
    alphas: Sequence[float] | None = None,
) -> dict[str, np.ndarray]:
    """Berard et al.'s path angle: for ``α`` in ``alphas`` (default ``num`` points on
    ``[−0.5, 1.5]``, our choice, so that both ends are crossed), the cosine between the
    vector field ``v(θ_α)`` at ``θ_α = θ_start + α (θ_end − θ_start)`` and ``θ_end −
    θ_start``, and ``‖v(θ_α)‖``.  ``start`` and ``end`` are ``(g, d)`` pairs with the same
    structure; model state (BatchNorm statistics) is taken from ``end``.  Where the
    field vanishes the cosine is reported as 0.  Returns ``{"alpha", "cosine", "norm"}``."""
    flat = FlatGame(game, *end, batch)
    theta_start = ravel_pytree((trainable(start[0]), trainable(start[1])))[0]
    direction = flat.theta - theta_start
    alphas = np.linspace(-0.5, 1.5, num) if alphas is None else np.asarray(alphas)

    cosines, norms = _kernels()["path"](
        game, *end, jnp.asarray(alphas, flat.theta.dtype), theta_start, direction, flat.batch
    )
    return {
        "alpha": alphas,
        "cosine": np.asarray(cosines, np.float64),
        "norm": np.asarray(norms, np.float64),
    }


def field_norms(game: Game, g: PyTree, d: PyTree, batch: PyTree = None) -> dict[str, float]:
    """The norms of the vector field at ``(g, d)``: ``‖∇_g L_g‖``, ``‖∇_d L_d‖`` and
    ``‖v‖ = √(‖∇_g L_g‖² + ‖∇_d L_d‖²)``, over the trainable parameters (model state
    frozen, as in the rest of this module)."""

    norm_g, norm_d = (float(n) for n in _kernels()["norms"](game, g, d, batch))
    return {"g": norm_g, "d": norm_d, "total": float(np.hypot(norm_g, norm_d))}


def end_dip(angle: dict[str, np.ndarray]) -> float:
    """``‖v(θ_end)‖ / median ‖v(θ_α)‖`` over the other points of a :func:`path_angle`
    result (which must include ``α = 1``): near 0 where the end point is a stationary point
    the path runs into, ≈ 1 or more where the field does not dip there.  The end point is
    near-stationary when this is at most :data:`NEAR_STATIONARY_DIP`."""
    alpha, norm = np.asarray(angle["alpha"]), np.asarray(angle["norm"])
    at_end = np.isclose(alpha, 1.0)
    if not at_end.any():
        raise ValueError("end_dip needs the path's end point, α = 1, among the alphas")
    others = norm[~at_end]
    return float(norm[at_end][0] / max(float(np.median(others)), 1e-300))


__all__ = [
    "DENSE_LIMIT",
    "NEAR_STATIONARY_DIP",
    "FlatGame",
    "end_dip",
    "field_norms",
    "game_eigenvalues",
    "hessian_eigenvalues",
    "lanczos",
    "path_angle",
    "trainable",
    "with_trainable",
]
