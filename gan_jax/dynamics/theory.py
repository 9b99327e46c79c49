"""Closed forms for the bilinear game ``f(x, y) = a·x·y`` under ``optax.sgd(η)``.

Each ``*_radius`` function is the spectral radius ρ of the linear update map of a scheme
(ρ < 1: converges to the equilibrium 0 geometrically; ρ > 1: diverges; ρ = 1: neither).
Write ``h = ηa`` and ``F(z) = a·(y, -x)``, whose Jacobian has eigenvalues ``±ia``.

* simultaneous GDA: ``z⁺ = (I - ηJ)z`` → ``ρ = √(1 + h²)`` (always > 1: spirals out);
* alternating GDA: ``det = 1``, ``tr = 2 - h²`` → ``ρ = 1`` for ``h ≤ 2`` (cycles forever),
  else ``(|tr| + √(tr² - 4))/2``; it conserves ``x² + y² + h·xy`` (D first) or
  ``x² + y² - h·xy`` (G first), an ellipse for ``h < 2``;
* extragradient: ``I - ηJ + η²J²`` → ``ρ = √((1 - h²)² + h²)``, < 1 iff ``h < 1``;
* optimistic GDA: ``λ² - (1 - 2ηb)λ - ηb = 0`` with ``b = ±ia`` (two-step recurrence);
* consensus with γ: ``I - η(J + γJᵀJ)`` → ``ρ = √((1 - ηγa²)² + h²)``;
* heavy-ball momentum β (``optax.sgd(η, momentum=β)``), with ``P(λ) = (λ - 1)(λ - β)``:
  simultaneous ``P(λ) = ±ihλ``; alternating ``P(λ)² + h²λ³ = 0`` (Gidel et al. 2019,
  arXiv:1807.04740: negative β makes alternating GDA converge; no β fixes simultaneous).

Functions accept scalars or NumPy arrays of η (they broadcast).  The discretisation drift
of simultaneous and alternating GD (:mod:`gan_jax.dynamics.drift`) has closed forms here
for the bilinear game (:func:`simultaneous_drift_rate`, :func:`bilinear_drift`) and
Dirac-GAN (:func:`dirac_drift_terms`); :func:`minimization_factor` is a player's own
curvature limit under each rule, and :func:`logistic_extragradient_fixed_point` where
extragradient stalls beyond it.
"""

from __future__ import annotations

import numpy as np

ArrayLike = float | np.ndarray


def _max_root_modulus(coefficients: np.ndarray) -> float:
    return float(np.max(np.abs(np.roots(coefficients))))


def _vectorize(fn):
    vectorized = np.vectorize(fn, otypes=[float])

    def wrapper(*args, **kwargs):
        out = vectorized(*args, **kwargs)
        return float(out) if np.ndim(out) == 0 else out

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def simultaneous_radius(eta: ArrayLike, a: float = 1.0) -> ArrayLike:
    """``ρ = √(1 + (ηa)²)``: the norm grows by exactly this factor every step."""
    return np.sqrt(1.0 + np.square(np.asarray(eta) * a))


def alternating_radius(eta: ArrayLike, a: float = 1.0) -> ArrayLike:
    """``ρ = 1`` for ``ηa ≤ 2``; beyond, the larger real root of ``λ² - (2 - h²)λ + 1``."""
    trace = 2.0 - np.square(np.asarray(eta, dtype=float) * a)
    excess = np.sqrt(np.maximum(trace * trace - 4.0, 0.0))
    return np.where(np.abs(trace) <= 2.0, 1.0, (np.abs(trace) + excess) / 2.0)


def extragradient_radius(eta: ArrayLike, a: float = 1.0) -> ArrayLike:
    """``ρ = √((1 - h²)² + h²)``, below 1 exactly for ``0 < h < 1``."""
    h2 = np.square(np.asarray(eta) * a)
    return np.sqrt(np.square(1.0 - h2) + h2)


@_vectorize
def optimistic_radius(eta: float, a: float = 1.0) -> float:
    """Largest root modulus of ``λ² - (1 - 2ηb)λ - ηb`` with ``b = ia`` (and its conjugate)."""
    b = 1j * a
    return _max_root_modulus(np.array([1.0, -(1.0 - 2.0 * eta * b), -eta * b]))


def consensus_radius(eta: ArrayLike, gamma: float = 1.0, a: float = 1.0) -> ArrayLike:
    """``ρ = √((1 - ηγa²)² + (ηa)²)``."""
    eta = np.asarray(eta)
    return np.sqrt(np.square(1.0 - eta * gamma * a * a) + np.square(eta * a))


@_vectorize
def simultaneous_momentum_radius(eta: float, beta: float, a: float = 1.0) -> float:
    """Largest root modulus of ``λ² - (1 + β - iηa)λ + β`` (and its conjugate)."""
    return _max_root_modulus(np.array([1.0, -(1.0 + beta - 1j * eta * a), beta]))


@_vectorize
def alternating_momentum_radius(eta: float, beta: float, a: float = 1.0) -> float:
    """Largest root modulus of the quartic ``(λ - 1)²(λ - β)² + (ηa)²λ³``."""
    p = np.polymul([1.0, -1.0], [1.0, -beta])
    quartic = np.polyadd(np.polymul(p, p), [(eta * a) ** 2, 0.0, 0.0, 0.0])
    return _max_root_modulus(quartic)


def alternating_invariant(
    x: ArrayLike, y: ArrayLike, eta: float, d_first: bool = True, a: float = 1.0
) -> ArrayLike:
    """The quantity alternating GDA conserves: ``x² + y² ± ηa·xy`` (+ when D moves first)."""
    sign = 1.0 if d_first else -1.0
    return np.square(x) + np.square(y) + sign * eta * a * np.asarray(x) * np.asarray(y)


def alternating_period(eta: ArrayLike, a: float = 1.0) -> ArrayLike:
    """Steps per revolution of alternating GDA: ``2π / arccos(1 - h²/2)`` (→ 2π/h as h → 0)."""
    h = np.asarray(eta) * a
    return 2.0 * np.pi / np.arccos(1.0 - h * h / 2.0)


# Dirac-GAN (arXiv:1801.04406): eigenvalues of the Jacobian of the continuous gradient
# field at the equilibrium, with a = f'(0) and b = f''(0).
DIRAC_F_PRIME = {"gan": 0.5, "nsgan": 0.5, "wgan": 1.0}
DIRAC_F_SECOND = {"gan": -0.25, "nsgan": -0.25, "wgan": 0.0}


def dirac_jacobian(
    loss: str = "gan",
    regularizer: str | None = None,
    gamma: float = 0.0,
    noise_std: float = 1.0,
    consensus_gamma: float = 0.0,
) -> np.ndarray:
    """Closed-form Jacobian at (θ, ψ) = (0, 0) of the Dirac-GAN gradient field ``ż = -F(z)``.

    ``J = [[0, -a], [a, c]]`` with ``a = f'(0)``, ``c = -γ`` for R1/R2, ``c = 2bσ²`` for
    instance noise (``b = f''(0)``), ``c = 0`` otherwise.  Consensus optimisation with
    weight ``γ_c`` follows ``ż = -(F + γ_c ∇½‖F‖²)``, whose Jacobian is ``J - γ_c JᵀJ``.
    WGAN-GP is not differentiable at ψ = 0 and has no entry here.
    """
    a = DIRAC_F_PRIME[loss]
    if regularizer in ("r1", "r2"):
        c = -gamma
    elif regularizer == "instance_noise":
        c = 2.0 * DIRAC_F_SECOND[loss] * noise_std**2
    elif regularizer is None:
        c = 0.0
    else:
        raise ValueError(f"no closed form for regularizer {regularizer!r}")
    jacobian = np.array([[0.0, -a], [a, c]])
    return jacobian - consensus_gamma * jacobian.T @ jacobian


def dirac_eigenvalues(
    loss: str = "gan",
    regularizer: str | None = None,
    gamma: float = 0.0,
    noise_std: float = 1.0,
    consensus_gamma: float = 0.0,
) -> np.ndarray:
    """Eigenvalues of :func:`dirac_jacobian`, sorted by imaginary part (complex, shape (2,)).

    In closed form, ``λ = c/2 ± √(c²/4 - a²)``: ``±ia`` unregularised (``±i/2`` GAN, ``±i``
    WGAN: purely imaginary, no convergence), ``-γ/2 ± √(γ²/4 - a²)`` for R1/R2,
    ``bσ² ± √(b²σ⁴ - a²)`` for instance noise, and ``-γ_c a² ± ia`` for consensus.
    """
    eigenvalues = np.linalg.eigvals(
        dirac_jacobian(loss, regularizer, gamma, noise_std, consensus_gamma)
    )
    return eigenvalues[np.argsort(eigenvalues.imag)]


# Discretisation drift (Rosca et al. 2021, arXiv:2105.13922; gan_jax.dynamics.drift): the
# first-order corrections of the modified flows, in closed form.


def simultaneous_drift_rate(eta_g: ArrayLike, eta_d: ArrayLike | None = None, a: float = 1.0):
    """The growth rate per step of ``‖z‖`` under simultaneous GD on ``a·xy``: its modified
    flow is ``ż = a(−η_g y, η_d x) + ½ η_g η_d a² z``, the drift pushing straight out, so
    ``‖z_n‖ ≈ ‖z₀‖ e^{½ η_g η_d a² n}``; with one η, ``½(ηa)²``, against the discrete
    ``log √(1 + h²) = ½h² − ¼h⁴ + …`` per step (equal to ``O(h⁴)``)."""
    eta_d = eta_g if eta_d is None else eta_d
    return 0.5 * np.asarray(eta_g) * np.asarray(eta_d) * a * a


def bilinear_drift(
    x: ArrayLike, y: ArrayLike, eta_g: float, eta_d: float, scheme: str, a: float = 1.0,
    d_first: bool = True,
) -> tuple[ArrayLike, ArrayLike]:  # fmt: skip
    """The drift ``(C_x, C_y)`` of gradient descent on ``a·xy`` (``x`` = G minimises): the
    self terms vanish and the interaction terms are ``I_x = −a²x``, ``I_y = −a²y``, so
    simultaneous ``C = ½η_gη_d a²(x, y)`` (outwards), extragradient the opposite
    (inwards: its radius ``√(1 − h² + h⁴)`` is ``e^{−h²/2 + O(h⁴)}``), alternating D first
    ``C = ½η_gη_d a²(−x, y)`` (G first: ``(x, −y)``), whose modified flow conserves
    :func:`alternating_invariant` exactly."""
    c = 0.5 * eta_g * eta_d * a * a
    x, y = np.asarray(x), np.asarray(y)
    if scheme in ("simultaneous", "extragradient"):
        sign = 1.0 if scheme == "simultaneous" else -1.0
        return sign * c * x, sign * c * y
    if scheme == "alternating":
        sign = 1.0 if d_first else -1.0
        return -sign * c * x, sign * c * y
    raise ValueError(f"no closed form for scheme {scheme!r}")


def dirac_drift_terms(theta: ArrayLike, psi: ArrayLike, loss: str = "gan") -> dict[str, ArrayLike]:
    """Dirac-GAN's (arXiv:1801.04406) vector fields and drift terms in closed form.

    With ``u = ψθ``, ``L_d = −f(u)`` (``r = f'(u)``, ``r' = f''(u)``) and ``L_g`` of
    derivative ``p = dL_g/du`` (``q = dp/du``): ``f(u) = log σ(u)`` for ``"gan"`` (``L_g =
    f(u)``) and ``"nsgan"`` (``L_g = softplus(u)``), ``f(u) = u`` for ``"wgan"``:
    ``f_g = −ψp``, ``f_d = θr``, ``S_g = ψ³pq``, ``I_g = −θr(p + uq)``, ``S_d = θ³rr'``,
    ``I_d = −ψp(r + ur')`` (the terms of :mod:`gan_jax.dynamics.drift`)."""
    theta, psi = np.asarray(theta, float), np.asarray(psi, float)
    u = psi * theta
    s = 1.0 / (1.0 + np.exp(-u))
    if loss == "wgan":
        r, r1 = np.ones_like(u), np.zeros_like(u)
    else:
        r, r1 = 1.0 - s, -s * (1.0 - s)
    if loss == "nsgan":
        p, q = s, s * (1.0 - s)
    elif loss in ("gan", "wgan"):
        p, q = r, r1
    else:
        raise ValueError(f"no closed form for loss {loss!r}")
    return {
        "field_g": -psi * p,
        "field_d": theta * r,
        "self_g": psi**3 * p * q,
        "interaction_g": -theta * r * (p + u * q),
        "self_d": theta**3 * r * r1,
        "interaction_d": -psi * p * (r + u * r1),
    }


def minimization_factor(scheme: str, a: ArrayLike) -> ArrayLike:
    """The factor by which one step multiplies the distance to the minimum of a player's
    own quadratic loss ``½λx²`` along an eigendirection of curvature ``λ``, the other
    player held still, with ``a = ηλ``: gradient descent ``1 − a`` (stable for
    ``0 < a < 2``, oscillating in sign beyond ``a = 1``), extragradient ``1 − a + a²``
    (its half step ``x − ηλx`` and the step with the gradient there: stable only for
    ``0 < a < 1``, and *positive* beyond, so it grows monotonically away from the
    minimum).  Extragradient halves the sharpness a player can tolerate: at ``1 < ηλ < 2``
    gradient descent still converges and extragradient is pushed out of that curvature."""
    a = np.asarray(a, float)
    if scheme in ("simultaneous", "alternating"):
        return 1.0 - a
    if scheme == "extragradient":
        return 1.0 - a + a * a
    raise ValueError(f"no closed form for scheme {scheme!r}")


def logistic_extragradient_fixed_point(sharpness: float) -> float:
    """Where extragradient stalls on the common mode of a logistic discriminator.

    With D's logits on real and generated data equal, ``c``, its loss is
    ``L(c) = softplus(−c) + softplus(c)`` (minimum at ``c = 0``, ``L'(c) = tanh(c/2)``,
    ``L''(0) = ½``); a parameter move of ``δ`` moves ``c`` by ``kδ``, so a step of size
    ``η`` is ``c ↦ c − a·tanh(c/2)`` with ``a = ηk²`` and sharpness ``s = ηλ = a/2`` at the
    minimum.  Extragradient, ``c ↦ c − a·tanh((c − a·tanh(c/2))/2)``, is at rest wherever
    its lookahead lands on the minimum, ``c = a·tanh(c/2)``: besides ``c = 0`` this has the
    roots ``±c*`` once ``s > 1`` (a pitchfork exactly at extragradient's curvature limit,
    :func:`minimization_factor`), *spurious* fixed points at which both logits sit at
    ``c*`` and D no longer separates the two; gradient descent's only fixed point is the
    minimum.  Returns ``c* ≥ 0`` (0 for ``s ≤ 1``), by bisection."""
    a = 2.0 * float(sharpness)
    if a <= 2.0:
        return 0.0
    low, high = 1e-12, a  # a·tanh(c/2) − c is positive just above 0 and negative at c = a
    for _ in range(200):
        mid = 0.5 * (low + high)
        if a * np.tanh(0.5 * mid) > mid:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)
