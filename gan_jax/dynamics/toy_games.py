"""Toy games whose dynamics are known in closed form.

* :func:`bilinear`: ``f(x, y) = xᵀAy``, ``min_x max_y xy`` (Goodfellow 2016, arXiv:1701.00160).
* :func:`dirac_gan`: Mescheder, Geiger & Nowozin 2018 (arXiv:1801.04406), §2: data
  ``p_D = δ_0``, generator ``p_θ = δ_θ``, linear discriminator ``D_ψ(x) = ψx`` and

  ``L(θ, ψ) = E_{x~p_θ} f(D_ψ(x)) + E_{x~p_D} f(-D_ψ(x)) = f(ψθ) + f(0)``

  with ``f(t) = -log(1 + e^{-t})`` (GAN) or ``f(t) = t`` (WGAN).  θ (the ``g`` player)
  minimises ``L``; ψ (the ``d`` player) maximises ``L - R(ψ)``.  The unique equilibrium is
  ``(θ, ψ) = (0, 0)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.dynamics.game import Game

Array = jax.Array


def bilinear(A: float | Array = 1.0) -> Game:
    """``f(x, y) = xᵀAy``; ``x`` is the ``g`` player (minimises ``f``), ``y`` the ``d``
    player (maximises it: ``loss_d = -f``).

    A scalar ``A`` multiplies ``Σ x_i y_i`` (players of any equal shape, scalars included);
    a matrix ``A`` needs vector players.  The unique equilibrium (for non-singular A) is 0.
    """
    A = jnp.asarray(A)

    def value(x: Array, y: Array) -> Array:
        if A.ndim == 2:
            return x @ A @ y
        return A * jnp.sum(x * y)

    return Game(loss_g=lambda g, d, batch: value(g, d), loss_d=lambda g, d, batch: -value(g, d))


DIRAC_LOSSES = ("gan", "nsgan", "wgan")
DIRAC_REGULARIZERS = (None, "r1", "r2", "wgan_gp", "instance_noise")


def _f(loss: str):
    if loss == "wgan":
        return lambda t: t
    return lambda t: -jax.nn.softplus(-t)  # -log(1 + e^{-t}) = log σ(t)


def dirac_gan(
    loss: str = "gan",
    regularizer: str | None = None,
    gamma: float = 0.0,
    *,
    noise_std: float = 1.0,
    gp_target: float = 1.0,
    quadrature_points: int = 64,
) -> Game:
    """Dirac-GAN (arXiv:1801.04406) with scalar players ``g = θ`` and ``d = ψ``.

    ``loss``:

    * ``"gan"``: ``loss_g = L``, ``loss_d = -L`` (the saturating minimax game);
    * ``"nsgan"``: ``loss_g = -f(-ψθ)`` (non-saturating generator), ``loss_d = -L``;
    * ``"wgan"``: ``f(t) = t``; combine with :func:`~gan_jax.dynamics.schemes.clip_parameters`
      on D's optimizer for the clipped WGAN.

    ``regularizer`` adds ``R(ψ)`` to D's loss, with the paper's ``gamma``:

    * ``"r1"``/``"r2"``: ``(γ/2)·‖∇_x D_ψ‖² = (γ/2)·ψ²`` (the gradient of ``ψx`` is ψ at the
      data and at the fake point alike, so R1 and R2 coincide here);
    * ``"wgan_gp"``: ``(γ/2)·(|ψ| - g₀)²`` with ``g₀ = gp_target``;
    * ``"instance_noise"``: no penalty; both distributions are blurred with
      ``N(0, noise_std²)``, ``L = E_ε f(ψ(θ + σε)) + E_ε f(-ψσε)``, the expectations taken
      exactly by ``quadrature_points``-point Gauss–Hermite quadrature (deterministic).

    Jacobian of the gradient field at the equilibrium, with ``a = f'(0)``, ``b = f''(0)``
    (``a = 1/2``, ``b = -1/4`` for GAN; ``a = 1``, ``b = 0`` for WGAN):
    unregularised ``±ia``; R1/R2 ``-γ/2 ± √(γ²/4 - a²)``; instance noise
    ``bσ² ± √(b²σ⁴ - a²)``.  See :mod:`gan_jax.dynamics.theory`.
    """
    if loss not in DIRAC_LOSSES:
        raise ValueError(
            f"unknown Dirac-GAN loss {loss!r}; choose one of: {', '.join(DIRAC_LOSSES)}"
        )
    if regularizer not in DIRAC_REGULARIZERS:
        valid = ", ".join(str(r) for r in DIRAC_REGULARIZERS)
        raise ValueError(f"unknown Dirac-GAN regularizer {regularizer!r}; choose one of: {valid}")
    f = _f(loss)

    if regularizer == "instance_noise":
        nodes, weights = np.polynomial.hermite_e.hermegauss(quadrature_points)
        eps = jnp.asarray(nodes * noise_std, jnp.float32)
        w = jnp.asarray(weights / np.sqrt(2.0 * np.pi), jnp.float32)

        def fake_term(h, theta, psi):
            return jnp.sum(w * h(psi * (theta + eps)))

        def real_term(theta, psi):
            return jnp.sum(w * f(-psi * eps))
    else:

        def fake_term(h, theta, psi):
            return h(psi * theta)

        def real_term(theta, psi):
            return f(jnp.zeros_like(psi * theta))

    def value(theta: Array, psi: Array) -> Array:
        return fake_term(f, theta, psi) + real_term(theta, psi)

    if loss == "nsgan":

        def loss_g(theta, psi, batch):
            return -fake_term(lambda t: f(-t), theta, psi)
    else:

        def loss_g(theta, psi, batch):
            return value(theta, psi)

    if regularizer in ("r1", "r2"):

        def penalty(psi):
            return 0.5 * gamma * psi * psi
    elif regularizer == "wgan_gp":

        def penalty(psi):
            return 0.5 * gamma * jnp.square(jnp.abs(psi) - gp_target)
    else:

        def penalty(psi):
            return jnp.zeros_like(psi)

    def loss_d(theta, psi, batch):
        return -value(theta, psi) + penalty(psi)

    return Game(loss_g=loss_g, loss_d=loss_d)
