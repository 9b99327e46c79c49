"""The non-convergence of ``min_x max_y xy`` (Goodfellow 2016, arXiv:1701.00160 §8.2),
measured for every update rule: the study of ``python -m experiments.bilinear_game``.

Every run is a ``lax.scan`` rollout (:func:`gan_jax.dynamics.rollout`) of a library scheme
under ``optax.sgd`` from ``(1, 1)``, in float64:

* trajectories at the step size ``eta``;
* the growth rate ``ρ̂(η)`` of ``‖z_t‖`` over the second half of a rollout, for a sweep of
  step sizes (``vmap``), against each scheme's closed-form spectral radius
  (:mod:`gan_jax.dynamics.theory`);
* alternating GDA's sign cycle (+,+) → (−,+) → (−,−) → (+,−) and its period over a range
  of step sizes, against ``2π/η`` and the exact period.

``settings``: any object with ``eta, steps, momentum, sim_momentum, consensus_gamma,
sweep_points, sweep_max_eta, sweep_steps, cycle_eta`` (the experiment's flags).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from gan_jax import dynamics as dy
from gan_jax.dynamics import theory
from gan_jax.dynamics.analysis import log_growth_rate, sign_change_steps, steps_per_revolution

__all__ = ["BilinearResults", "closed_forms", "measure", "schemes"]

PERIOD_STEPS = 20_000  # rollout length of the period measurement


def schemes(settings: Any) -> dict[str, Callable[[float], object]]:
    """Scheme factories of the step size, in figure order."""
    return {
        "simultaneous": lambda eta: dy.simultaneous(optax.sgd(eta)),
        "alternating": lambda eta: dy.alternating(optax.sgd(eta)),
        "extragradient": lambda eta: dy.extragradient(optax.sgd(eta)),
        "optimistic": lambda eta: dy.optimistic(optax.sgd(eta)),
        "consensus": lambda eta: dy.consensus(optax.sgd(eta), gamma=settings.consensus_gamma),
        "alternating + negative momentum": lambda eta: dy.alternating(
            optax.sgd(eta, momentum=settings.momentum)
        ),
        "simultaneous + momentum": lambda eta: dy.simultaneous(
            optax.sgd(eta, momentum=settings.sim_momentum)
        ),
    }


def closed_forms(settings: Any) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Each scheme's spectral radius ``ρ(η)`` in closed form."""
    return {
        "simultaneous": theory.simultaneous_radius,
        "alternating": theory.alternating_radius,
        "extragradient": theory.extragradient_radius,
        "optimistic": theory.optimistic_radius,
        "consensus": lambda e: theory.consensus_radius(e, settings.consensus_gamma),
        "alternating + negative momentum": lambda e: theory.alternating_momentum_radius(
            e, settings.momentum
        ),
        "simultaneous + momentum": lambda e: theory.simultaneous_momentum_radius(
            e, settings.sim_momentum
        ),
    }


@dataclasses.dataclass(frozen=True)
class BilinearResults:
    """``trajectories[name] = (x_t, y_t)``; the sweep's step sizes ``etas``, the measured
    ``ρ̂`` per scheme and the closed forms ``forms``; the sign cycle's ``cx, cy`` and its
    ``changes`` ``[(step, "x → −"), …]``; the periods measured at ``period_etas``."""

    settings: Any
    trajectories: dict[str, tuple[np.ndarray, np.ndarray]]
    etas: np.ndarray
    measured: dict[str, np.ndarray]
    forms: dict[str, Callable[[np.ndarray], np.ndarray]]
    sweep_seconds: float
    cx: np.ndarray
    cy: np.ndarray
    changes: list[tuple[int, str]]
    period_etas: np.ndarray
    measured_periods: np.ndarray

    def metrics(self) -> dict[str, Any]:
        s = self.settings
        rows = {}
        for name, (xs, ys) in self.trajectories.items():
            rho_theory = float(self.forms[name](s.eta))
            finite = np.isfinite(self.measured[name])
            error = np.abs(self.measured[name][finite] - self.forms[name](self.etas[finite]))
            rows[name] = {
                "rho_theory_at_eta": rho_theory,
                "converges": rho_theory < 1.0,
                "final_distance": float(np.hypot(xs[-1], ys[-1])),
                "initial_distance": float(np.hypot(xs[0], ys[0])),
                "sweep_max_abs_error_rho": float(np.max(error)),
            }
        signs = [(int(np.sign(self.cx[t])), int(np.sign(self.cy[t]))) for t, _ in self.changes]
        return {
            "schemes": rows,
            "sweep": {
                "num_step_sizes": len(self.etas),
                "steps": s.sweep_steps,
                "seconds_including_compile": self.sweep_seconds,
            },
            "sign_cycle": {
                "eta": s.cycle_eta,
                "sign_changes": [
                    {"step": t, "change": c, "signs_after": sign}
                    for (t, c), sign in zip(self.changes, signs)
                ],
                "sign_sequence": [[1, 1]] + [list(sign) for sign in signs],
                "period": {
                    "eta": self.period_etas.tolist(),
                    "measured_steps_per_revolution": self.measured_periods.tolist(),
                    "two_pi_over_eta": (2 * np.pi / self.period_etas).tolist(),
                    "exact": theory.alternating_period(self.period_etas).tolist(),
                },
            },
        }


def measure(settings: Any, progress: bool = True) -> BilinearResults:
    """Every rollout of the study (module doc)."""
    game = dy.bilinear()
    factories = schemes(settings)
    with jax.enable_x64(True):  # the sweep spans ρ^300 from 1e-45 to 1e229
        one = jnp.float64(1.0)
        trajectories = {}
        for name, make in tqdm(
            factories.items(), desc="trajectories", unit="scheme", disable=not progress
        ):
            traj = jax.jit(
                lambda make=make: dy.rollout(game, make(settings.eta), one, one, settings.steps)
            )()
            trajectories[name] = (np.asarray(traj.g), np.asarray(traj.d))

        etas = np.linspace(
            settings.sweep_max_eta / settings.sweep_points,
            settings.sweep_max_eta,
            settings.sweep_points,
        )
        start = time.perf_counter()
        measured = {}
        for name, make in tqdm(
            factories.items(), desc="ρ(η) sweep", unit="scheme", disable=not progress
        ):

            def growth(eta, make=make):
                traj = dy.rollout(game, make(eta), one, one, settings.sweep_steps)
                return log_growth_rate(jnp.hypot(traj.g, traj.d), settings.sweep_steps // 2)

            measured[name] = np.asarray(jax.jit(jax.vmap(growth))(jnp.asarray(etas)))
        sweep_seconds = time.perf_counter() - start

        cycle_steps = int(1.1 * theory.alternating_period(settings.cycle_eta)) + 1
        alternating = dy.alternating(optax.sgd(settings.cycle_eta))
        cycle = dy.rollout(game, alternating, one, one, cycle_steps)
        period_etas = np.geomspace(0.02, 1.0, 12)

        def alternating_xs(eta):
            return dy.rollout(game, dy.alternating(optax.sgd(eta)), one, one, PERIOD_STEPS).g

        xs_by_eta = np.asarray(jax.jit(jax.vmap(alternating_xs))(jnp.asarray(period_etas)))

    measured_periods = np.array([steps_per_revolution(xs) for xs in xs_by_eta])
    cx, cy = np.asarray(cycle.g), np.asarray(cycle.d)
    changes = sorted(
        [(int(t), "x → " + ("−" if cx[t] < 0 else "+")) for t in sign_change_steps(cx)]
        + [(int(t), "y → " + ("−" if cy[t] < 0 else "+")) for t in sign_change_steps(cy)]
    )
    return BilinearResults(
        settings, trajectories, etas, measured, closed_forms(settings), sweep_seconds,
        cx, cy, changes, period_etas, measured_periods,
    )  # fmt: skip
