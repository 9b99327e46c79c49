"""Dirac-GAN (Mescheder, Geiger & Nowozin 2018, arXiv:1801.04406): which training methods
converge, on the paper's 2-parameter counterexample; the study of
``python -m experiments.dirac_gan``.

Each variant (GAN, NS-GAN, clipped WGAN, WGAN-GP, R1, instance noise, consensus) is rolled
out with ``optax.sgd(h)`` from ``start`` under simultaneous updates and alternating
updates with 1 and 5 discriminator steps (:func:`update_rules`); a run has converged when
it ends within ``CONVERGED_RADIUS`` of the equilibrium.  The eigenvalues of the gradient
field's Jacobian at the equilibrium are computed by autodiff through the library's schemes
and set beside the paper's closed forms (:func:`gan_jax.dynamics.theory.dirac_eigenvalues`).

``settings``: any object with ``h, steps, start, r1_gamma, gp_gamma, noise_std, clip,
consensus_gamma, grid`` (the experiment's flags).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from gan_jax import dynamics as dy
from gan_jax.dynamics import theory

__all__ = [
    "CONVERGED_RADIUS",
    "DiracResults",
    "measure",
    "update_rules",
    "variants",
    "vector_field",
]

CONVERGED_RADIUS = 1e-2
FIELD_LIMIT = 2.0  # the vector field's half-width in θ and ψ


def variants(settings: Any) -> dict[str, dict]:
    """Each variant: its game, D's optimizer transform, the flow scheme and closed form."""
    plain = {"opt_d": lambda opt: opt, "scheme": None}
    return {
        "GAN": {
            "game": dy.dirac_gan("gan"),
            **plain,
            "closed_form": theory.dirac_eigenvalues("gan"),
        },
        "NS-GAN": {
            "game": dy.dirac_gan("nsgan"),
            **plain,
            "closed_form": theory.dirac_eigenvalues("nsgan"),
        },
        f"WGAN (clip {settings.clip:g})": {
            "game": dy.dirac_gan("wgan"),
            "opt_d": lambda opt: optax.chain(opt, dy.clip_parameters(settings.clip)),
            "scheme": None,
            "closed_form": theory.dirac_eigenvalues("wgan"),
        },
        f"WGAN-GP (γ={settings.gp_gamma:g})": {
            "game": dy.dirac_gan("wgan", "wgan_gp", settings.gp_gamma),
            **plain,
            "closed_form": None,
        },
        f"R1 (γ={settings.r1_gamma:g})": {
            "game": dy.dirac_gan("gan", "r1", settings.r1_gamma),
            **plain,
            "closed_form": theory.dirac_eigenvalues("gan", "r1", settings.r1_gamma),
        },
        f"instance noise (σ={settings.noise_std:g})": {
            "game": dy.dirac_gan("gan", "instance_noise", noise_std=settings.noise_std),
            **plain,
            "closed_form": theory.dirac_eigenvalues(
                "gan", "instance_noise", noise_std=settings.noise_std
            ),
        },
        f"consensus (γ={settings.consensus_gamma:g})": {
            "game": dy.dirac_gan("gan"),
            "opt_d": lambda opt: opt,
            "scheme": lambda opt, opt_d=None: dy.consensus(
                opt, opt_d, gamma=settings.consensus_gamma
            ),
            "closed_form": theory.dirac_eigenvalues(consensus_gamma=settings.consensus_gamma),
        },
    }


def update_rules(variant: dict) -> dict[str, Callable]:
    """The three update rules; consensus replaces the simultaneous/alternating base rule."""
    if variant["scheme"] is not None:
        return {"simultaneous": variant["scheme"]}
    return {
        "simultaneous": lambda opt, opt_d: dy.simultaneous(opt, opt_d),
        "alternating (1 D step)": lambda opt, opt_d: dy.alternating(opt, opt_d, d_steps=1),
        "alternating (5 D steps)": lambda opt, opt_d: dy.alternating(opt, opt_d, d_steps=5),
    }


def vector_field(game: dy.Game, scheme: Callable, limit: float, n: int) -> dict:
    """The continuous flow ``ż = step_{sgd(1)}(z) − z`` of a first-order scheme on a grid."""
    ticks = jnp.linspace(-limit, limit, n)
    grid_x, grid_y = jnp.meshgrid(ticks, ticks)
    rule = scheme(optax.sgd(1.0), None)

    def flow(theta, psi):
        new, _ = rule.step(game, rule.init(game, theta, psi))
        return new.g - theta, new.d - psi

    u, v = jax.jit(jax.vmap(jax.vmap(flow)))(grid_x, grid_y)  # one program, not one per op
    return {
        "grid_x": np.asarray(grid_x),
        "grid_y": np.asarray(grid_y),
        "u": np.asarray(u),
        "v": np.asarray(v),
    }


@dataclasses.dataclass(frozen=True)
class DiracResults:
    """``runs``: per "variant | rule" the end point and whether it converged;
    ``eigenvalues``: per variant the measured and closed-form eigenvalues (or why there are
    none); ``panels[rule]``: each variant's trajectory over its vector field;
    ``measured``/``closed``: the eigenvalues as arrays."""

    runs: dict[str, dict]
    eigenvalues: dict[str, dict]
    panels: dict[str, list[dict]]
    measured: dict[str, np.ndarray]
    closed: dict[str, np.ndarray]


def measure(settings: Any, progress: bool = True) -> DiracResults:
    """Every run and eigenvalue of the study (module doc)."""
    theta0, psi0 = (jnp.float32(v) for v in settings.start)
    opt = optax.sgd(settings.h)
    runs, eigenvalues, panels, measured, closed = {}, {}, {}, {}, {}
    for name, variant in tqdm(
        variants(settings).items(), desc="variants", unit="variant", disable=not progress
    ):
        game = variant["game"]
        base_rule = variant["scheme"] or dy.simultaneous  # the flow drawn under the arrows
        field = vector_field(game, base_rule, FIELD_LIMIT, settings.grid)
        for rule_name, make in update_rules(variant).items():
            scheme = make(opt, variant["opt_d"](opt))
            traj = jax.jit(
                lambda scheme=scheme, game=game: dy.rollout(
                    game, scheme, theta0, psi0, settings.steps
                )
            )()
            thetas, psis = np.asarray(traj.g), np.asarray(traj.d)
            distance = np.hypot(thetas, psis)
            runs[f"{name} | {rule_name}"] = {
                "final_theta": float(thetas[-1]),
                "final_psi": float(psis[-1]),
                "final_distance": float(distance[-1]),
                "min_distance_last_100": float(np.min(distance[-100:])),
                "converged": bool(distance[-1] < CONVERGED_RADIUS),
            }
            title = f"{name}\n{rule_name}: ‖z_T‖ = {distance[-1]:.2g}"
            panels.setdefault(rule_name, []).append(
                {**field, "xs": thetas, "ys": psis, "title": title}
            )
        if variant["closed_form"] is None:
            eigenvalues[name] = {
                "note": "(γ/2)(|ψ| − 1)² is not differentiable at the equilibrium ψ = 0: no "
                "Jacobian there, so no eigenvalues"
            }
            continue
        jacobian = jax.jit(  # one program per variant, not one per operation
            lambda game=game, rule=base_rule: dy.flow_jacobian(
                game, jnp.float32(0.0), jnp.float32(0.0), scheme=lambda o: rule(o, None)
            )
        )()
        eigs = dy.eigenvalues(jacobian)
        closed_form = np.asarray(variant["closed_form"])
        eigenvalues[name] = {
            "measured": [[float(e.real), float(e.imag)] for e in eigs],
            "closed_form": [[float(e.real), float(e.imag)] for e in closed_form],
            "max_abs_difference": float(
                np.max(np.abs(np.sort_complex(eigs) - np.sort_complex(closed_form)))
            ),
        }
        measured[name] = eigs
        closed[name] = closed_form
    return DiracResults(runs, eigenvalues, panels, measured, closed)
