"""The spectrum of a GAN's game over training (Berard et al. 2020, arXiv:1906.04848): the
study of ``python -m experiments.game_spectrum``.

For each kept checkpoint of a DCGAN run (and its step-0 state): the ``k`` eigenvalues of
largest modulus of the game's Jacobian (:func:`gan_jax.dynamics.spectrum.game_eigenvalues`,
ARPACK on Jacobian-vector products) and the share of rotation ``max |Im λ|/|λ|``; at the
first and last point, the extreme eigenvalues of each player's Hessian (Lanczos); and the
path angle along the straight line from the first to the last point, with the field's
norm at each point and the end point's dip along the path
(:func:`~gan_jax.dynamics.spectrum.end_dip`): the words "locally stable stationary point"
and "local Nash equilibrium" apply to the last point only where it is near-stationary
(``near_stationary``), and local stability would need the real parts of *all* eigenvalues,
not the top ``k``.  Dirac-GAN at its
equilibrium calibrates the measurement against closed forms
(:func:`dirac_calibration`).  The run's model is rebuilt from its config with the
layers computed for second derivatives (:data:`gan_jax.nets.dcgan.SECOND_ORDER_METHODS`:
the same parameters and function, products about 3× faster).

``settings``: any object with ``k, tol, lanczos_steps, path_points, progress``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from gan_jax import data
from gan_jax.dynamics import dirac_gan, spectrum, theory
from gan_jax.models.image_gan import ImageGANConfig, build_image_gan
from gan_jax.nets.dcgan import SECOND_ORDER_METHODS
from gan_jax.training.checkpoint import Checkpointer
from gan_jax.training.loop import CHECKPOINT_DIR

__all__ = ["analyse_run", "as_pairs", "dirac_calibration", "path_alphas", "rotation_share"]


def rotation_share(values: np.ndarray) -> float:
    """``max |Im λ| / |λ|`` over the eigenvalues: 1 for a rotation, 0 for a potential."""
    return float(np.max(np.abs(values.imag) / np.maximum(np.abs(values), 1e-30)))


def as_pairs(values: np.ndarray) -> list[list[float]]:
    """Complex eigenvalues as ``[real, imaginary]`` pairs (JSON has no complex numbers)."""
    return [[float(v.real), float(v.imag)] for v in values]


def analyse_run(
    workdir: str,
    steps: list[int],
    config: ImageGANConfig,
    seed: int,
    settings: Any,
    train_set: data.ImageDataset,
) -> dict:
    """The game spectrum at step 0 and at every kept checkpoint ``steps`` of the DCGAN run
    in ``workdir``, whose model is ``config`` and initial state that of ``seed`` (the run's
    own ``config.json``: :func:`gan_jax.runner.dcgan.read_run_config`)."""
    images = train_set.images[:64]
    # the run's model with layers computed for second derivatives (same parameters and
    # function, products ≈ 3× faster: gan_jax.nets.dcgan.SECOND_ORDER_METHODS)
    config = dataclasses.replace(config, **SECOND_ORDER_METHODS)
    trainer = build_image_gan(config, train_set.images, jax.random.key(seed))
    initial = trainer.state
    checkpointer = Checkpointer(os.path.join(workdir, CHECKPOINT_DIR))
    batch = {"real": images, "key": jax.random.key(settings.seed + 100)}
    game = trainer.game
    points, states = {}, {0: initial}
    for step in steps:
        states[step] = checkpointer.restore(step, template=initial)
    order = sorted(states)
    for step in tqdm(
        order, desc=f"spectrum {os.path.basename(workdir)}", disable=not settings.progress
    ):
        state = states[step]
        info: dict = {}
        start = time.perf_counter()
        values = spectrum.game_eigenvalues(
            game, state.g, state.d, batch, k=settings.k, tol=settings.tol, info=info
        )
        row = {
            "eigenvalues": as_pairs(values),
            "rotation_share": rotation_share(values),
            "field_norm": spectrum.field_norms(game, state.g, state.d, batch),
            "products": info.get("products"),
            "seconds": round(time.perf_counter() - start, 1),
        }
        if step in (order[0], order[-1]):
            for player in ("g", "d"):
                extremes = spectrum.hessian_eigenvalues(
                    game, state.g, state.d, batch, player, steps=settings.lanczos_steps
                )
                row[f"hessian_{player}"] = {
                    name: float(extremes[name][0])
                    for name in ("largest", "smallest", "residual_largest", "residual_smallest")
                }
        points[step] = row
    angle = spectrum.path_angle(
        game,
        (initial.g, initial.d),
        (states[order[-1]].g, states[order[-1]].d),
        batch,
        alphas=path_alphas(settings.path_points),
    )
    dip = spectrum.end_dip(angle)
    return {
        "parameters": info["parameters"],
        "steps": {str(s): points[s] for s in order},
        "path_angle": {k: v.tolist() for k, v in angle.items()},
        "path_from_to": [order[0], order[-1]],
        "end_dip": dip,
        "near_stationary": dip <= spectrum.NEAR_STATIONARY_DIP,
    }


def path_alphas(num: int) -> np.ndarray:
    """``num`` points on ``[−0.5, 1.5]`` and always the path's two ends, ``α = 0`` and
    ``α = 1`` (:func:`~gan_jax.dynamics.spectrum.end_dip` reads the field at the end)."""
    return np.union1d(np.round(np.linspace(-0.5, 1.5, num), 12), [0.0, 1.0])


def dirac_calibration(path_points: int) -> dict:
    """Dirac-GAN at its equilibrium: measured eigenvalues next to the closed forms, and the
    path angle from (θ, ψ) = (1, 1) to the equilibrium."""
    result = {}
    with jax.enable_x64():
        zero = jnp.float64(0.0)
        for name, regularizer, gamma in (("gan", None, 0.0), ("gan_r1", "r1", 0.3)):
            game = dirac_gan("gan", regularizer, gamma)
            measured = spectrum.game_eigenvalues(game, zero, zero, k=2)
            closed = -theory.dirac_eigenvalues("gan", regularizer, gamma)
            angle = spectrum.path_angle(
                game,
                (jnp.float64(1.0), jnp.float64(1.0)),
                (zero, zero),
                alphas=path_alphas(path_points),
            )
            result[name] = {
                "eigenvalues": as_pairs(np.sort_complex(measured)),
                "closed_form": as_pairs(np.sort_complex(closed)),
                "max_error": float(
                    np.max(np.abs(np.sort_complex(measured) - np.sort_complex(closed)))
                ),
                "path_angle": {k: v.tolist() for k, v in angle.items()},
                "end_dip": spectrum.end_dip(angle),
            }
    return result
