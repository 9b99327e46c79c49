"""Discretisation drift on the toy games (Rosca et al. 2021, arXiv:2105.13922): the discrete
iterates of simultaneous and alternating gradient descent against the game's own flow and
against the modified flow of :mod:`gan_jax.dynamics.drift`, both integrated with
``jax.experimental.ode.odeint`` (Dormand–Prince, tolerances 1e-10) in float64.

* **Trajectories**: the bilinear game ``xy`` and Dirac-GAN (arXiv:1801.04406) from
  ``(1, 1)`` with step ``h`` for ``steps`` steps: the iterates, both flows sampled at the
  iterates' step times, and the distance of the iterates to each over time.
* **Orders**: over a fixed horizon ``T`` (``n = T/h`` steps) for several ``h``, the
  iterates' distance at ``T`` to the game's flow (``O(h)``) and to the modified flow
  (``O(h²)``): the fitted slopes of ``log error`` against ``log h``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import shutil
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental.ode import odeint
from optax.tree_utils import tree_norm, tree_vdot

from gan_jax import dynamics as dy
from gan_jax import training
from gan_jax.dynamics.drift import DRIFT_SCHEMES, modified_field, modified_flow
from gan_jax.dynamics.game import PyTree
from gan_jax.dynamics.spectrum import trainable, with_trainable
from gan_jax.gan import latents
from gan_jax.metrics import mean_and_standard_error
from gan_jax.models.image_gan import ImageGANConfig, build_image_gan

__all__ = [
    "DCGAN_VARIANTS", "DRIFT_SCHEMES", "SHARPNESS_STEPS", "TOY_GAMES", "TRAINED_FCD", "ToyDrift", "dcgan_summary", "drift_along_run", "drift_diagnostics",
    "fitted_order", "measure_toys",
    "toy_game", "toy_run",
]  # fmt: skip

TOY_GAMES = ("bilinear", "dirac_gan")
START = (1.0, 1.0)
TOLERANCE = 1e-10


@functools.cache
def toy_game(name: str) -> dy.Game:
    """``xy`` (``x`` minimises) or Dirac-GAN with the saturating GAN loss."""
    return dy.bilinear(1.0) if name == "bilinear" else dy.dirac_gan("gan")


def _schemes(name: str, h: float):
    make = {"simultaneous": dy.simultaneous, "alternating": dy.alternating,
            "extragradient": dy.extragradient}[name]  # fmt: skip
    return make(optax.sgd(h), optax.sgd(h))


@functools.cache
def _flow_solver(game_name: str, scheme: str, order: int) -> Callable:
    """``solve(start, times, h)``: the game's flow (``order`` 0) or the modified flow (1)
    of ``scheme`` at step ``h`` (a traced argument, so one compiled solver serves every
    ``h``), integrated to ``times``."""
    game = toy_game(game_name)

    def rhs(z: tuple, t: jax.Array, h: jax.Array) -> tuple:
        return modified_field(game, h, h, scheme, drift_order=order)(z)

    @jax.jit
    def solve(start: tuple, times: jax.Array, h: jax.Array) -> tuple:
        return odeint(rhs, start, times, h, rtol=TOLERANCE, atol=TOLERANCE)

    return solve


def toy_run(
    game_name: str, scheme: str, h: float, steps: int, every_step: bool = True
) -> dict[str, np.ndarray]:
    """The iterates and both flows at step times ``0 … steps`` (arrays ``(steps + 1, 2)``):
    ``discrete``, ``original`` (``ż = F``) and ``modified`` (``ż = F + C``), in float64;
    with ``every_step=False`` the flows only at ``0`` and ``steps`` (one compiled solver
    then serves every step count)."""
    with jax.enable_x64(True):
        start = (jnp.float64(START[0]), jnp.float64(START[1]))
        trajectory = dy.rollout(toy_game(game_name), _schemes(scheme, h), start[0], start[1], steps)
        out = {"discrete": np.stack([np.asarray(trajectory.g), np.asarray(trajectory.d)], 1)}
        times = jnp.arange(steps + 1) if every_step else jnp.array([0, steps])
        for order, name in ((0, "original"), (1, "modified")):
            solve = _flow_solver(game_name, scheme, order)
            solution = solve(start, times.astype(jnp.float64), jnp.float64(h))
            out[name] = np.stack([np.asarray(solution[0]), np.asarray(solution[1])], 1)
    return out


def fitted_order(hs: Sequence[float], errors: Sequence[float]) -> float:
    """The slope of ``log error`` against ``log h`` (least squares)."""
    return float(np.polyfit(np.log(hs), np.log(errors), 1)[0])


@dataclasses.dataclass(frozen=True)
class ToyDrift:
    """Per ``(game, scheme)``: ``runs`` (:func:`toy_run` at the figure's ``h``) and
    ``orders`` (``h``, the errors at the horizon against each flow, the fitted slopes)."""

    h: float
    runs: dict[tuple[str, str], dict[str, np.ndarray]]
    orders: dict[tuple[str, str], dict[str, list[float] | float]]

    def numbers(self) -> dict:
        rows = {}
        for (game, scheme), run in self.runs.items():
            gap = {
                k: np.linalg.norm(run["discrete"] - run[k], axis=1)
                for k in ("original", "modified")
            }
            order = self.orders[(game, scheme)]
            rows[f"{game}/{scheme}"] = {
                "final_norm": {k: float(np.linalg.norm(v[-1])) for k, v in run.items()},
                "max_error_original": float(gap["original"].max()),
                "max_error_modified": float(gap["modified"].max()),
                **order,
            }
        return {"h": self.h, "start": list(START), "runs": rows}


def measure_toys(h: float, steps: int, order_hs: Sequence[float], horizon: float) -> ToyDrift:
    """Both toy games under both schemes (module doc)."""
    runs, orders = {}, {}
    for game_name in TOY_GAMES:
        for scheme in DRIFT_SCHEMES:
            runs[(game_name, scheme)] = toy_run(game_name, scheme, h, steps)
            errors = {"original": [], "modified": []}
            for step in order_hs:
                run = toy_run(game_name, scheme, step, round(horizon / step), every_step=False)
                for name, found in errors.items():
                    found.append(float(np.linalg.norm(run["discrete"][-1] - run[name][-1])))
            orders[(game_name, scheme)] = {
                "order_h": [float(x) for x in order_hs],
                "horizon": horizon,
                "error_original": errors["original"],
                "error_modified": errors["modified"],
                "order_original": fitted_order(order_hs, errors["original"]),
                "order_modified": fitted_order(order_hs, errors["modified"]),
            }
    return ToyDrift(h, runs, orders)


# --------------------------------------------------------------------------- DCGAN
# The paper's headline comparison (its Fig. 6, CIFAR-10): simultaneous and alternating SGD,
# each with and without the explicit regulariser that cancels its harmful interaction
# terms, over learning rates and seeds.

# a run "trained" when its final FCD is below this: on the embedded MNIST at 16×16 the runs
# that learn digits end at FCD 11–54 and those that fail at 330–840 (the real floor is
# 1.4), so any threshold between about 60 and 300 splits them the same way
TRAINED_FCD = 100.0
DCGAN_VARIANTS = {
    "simultaneous": ("simultaneous", 0.0),
    "simultaneous + drift reg.": ("simultaneous", 1.0),
    "alternating": ("alternating", 0.0),
    "alternating + drift reg.": ("alternating", 1.0),
}


def _mean_and_error(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """:func:`gan_jax.metrics.mean_and_standard_error` over the finite values of seeds
    (``None`` without any: every seed diverged)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return None, None
    mean, error = mean_and_standard_error(np.asarray(finite))
    return float(mean), float(error)


def _median(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(finite)) if finite else None


def dcgan_summary(rows: dict[str, dict[str, list[dict]]]) -> dict:
    """Per learning rate (``rows[lr][variant]``: one row per seed, ``{"fcd", "kid",
    "diverged"}``): each variant's final FCD and KID as mean ± standard error over its
    seeds that finished, their median, how many trained (final FCD below
    :data:`TRAINED_FCD`) and the mean FCD of those, the gap ``FCD_sim − FCD_alt`` in mean FCD and, where it is
    positive (simultaneous worse, the paper's premise), the share of it the regulariser
    closes, ``(FCD_sim − FCD_sim+reg) / (FCD_sim − FCD_alt)`` (the paper's claim: most of
    it; above 1: regularised simultaneous beats plain alternating)."""
    summary = {}
    for lr, variants in rows.items():
        table = {}
        for name, seeds in variants.items():
            fcd, fcd_se = _mean_and_error([r.get("fcd") for r in seeds])
            kid, kid_se = _mean_and_error([r.get("kid") for r in seeds])
            table[name] = {
                "fcd": fcd, "fcd_se": fcd_se, "kid": kid, "kid_se_over_seeds": kid_se,
                "fcd_per_seed": [r.get("fcd") for r in seeds],
                "fcd_median": _median([r.get("fcd") for r in seeds]),
                "trained": sum(r.get("fcd") is not None and r["fcd"] < TRAINED_FCD for r in seeds),
                "fcd_of_trained": _mean_and_error(
                    [r["fcd"] for r in seeds if r.get("fcd") is not None and r["fcd"] < TRAINED_FCD]
                )[0],
                "diverged": sum(bool(r.get("diverged")) for r in seeds), "seeds": len(seeds),
            }  # fmt: skip
        sim, reg, alt = (table.get(k, {}).get("fcd") for k in (
            "simultaneous", "simultaneous + drift reg.", "alternating"))  # fmt: skip
        gap = closed = None
        if None not in (sim, reg, alt):
            gap = sim - alt  # > 0: simultaneous is worse, the paper's premise
            closed = (sim - reg) / gap if gap > 0 else None
        summary[lr] = {
            "variants": table,
            "fcd_gap_simultaneous_minus_alternating": gap,
            "gap_closed_by_regulariser": closed,
        }
    return summary


# ----------------------------------------------------------------- drift along a run


# Lanczos steps for D's top Hessian eigenvalue along a run: its Ritz value, a lower bound
SHARPNESS_STEPS = 20


def drift_diagnostics(
    model: Any, batch: dict, lr: float, scheme: str, z: jax.Array, game: dy.Game | None = None
):
    """An ``evaluate(state)`` for :func:`gan_jax.training.fit` on a DCGAN trained with
    plain SGD at ``lr``, measured on ``game`` (default ``model.game``) and the fixed
    ``batch``: per player the norms of the field ``F`` and of the self and interaction
    drift of ``scheme`` (:mod:`gan_jax.dynamics.drift`) and the ratio ``‖C_self‖/‖F‖``
    (first-order backward error analysis needs it small); D's mean logits on the batch's
    real images and on ``G(z)`` (D in training mode, as in the losses), and how fast each of
    D's three terms moves them, ``push_<term>_<real|fake> = ⟨∇_d mean D(x), term_d⟩`` per
    step (positive: toward calling the images real); D's mean logits at the lookahead
    ``z + F(z)`` (one plain step of both players: where extragradient takes the gradient
    it steps with), ``lookahead_logit_<real|fake>``; and D's sharpness ``η·λ_max`` of
    ``∇²_d L_d`` (:func:`gan_jax.dynamics.hessian_eigenvalues`, :data:`SHARPNESS_STEPS`
    Lanczos steps, so a lower bound): on a quadratic, gradient descent tolerates up to 2,
    extragradient up to 1 (:func:`gan_jax.dynamics.theory.minimization_factor`)."""
    game = model.game if game is None else game

    def logits(params_d: PyTree, d: PyTree, images: jax.Array) -> jax.Array:
        variables = with_trainable(d, params_d)
        scores = model.discriminator.apply(variables, images, train=True, mutable=["batch_stats"])
        return jnp.mean(scores[0])

    @jax.jit
    def measure(g: PyTree, d: PyTree, fakes: jax.Array) -> tuple[dict, PyTree, PyTree]:
        flow = modified_flow(game, g, d, lr, lr, scheme, batch=batch)
        out = {}
        for i, player in enumerate(("g", "d")):
            out[f"field_{player}"] = tree_norm(flow.field[i])
            out[f"self_{player}"] = tree_norm(flow.self_terms[i])
            out[f"interaction_{player}"] = tree_norm(flow.interaction[i])
        params = trainable(d)
        terms = {"field": flow.field[1], "self": flow.self_terms[1],
                 "interaction": flow.interaction[1]}  # fmt: skip
        for kind, images in (("real", batch["real"]), ("fake", fakes)):
            # reverse mode (our BatchNorm has a custom VJP, so no JVP through it)
            out[f"logit_{kind}"], gradient = jax.value_and_grad(logits)(params, d, images)
            for name, direction in terms.items():
                out[f"push_{name}_{kind}"] = tree_vdot(gradient, direction)
        # the lookahead z + F(z): one plain step of both players (extragradient's half step)
        ahead = [
            with_trainable(p, jax.tree.map(jnp.add, trainable(p), f))
            for p, f in zip((g, d), flow.field, strict=True)
        ]
        return out, *ahead

    logits_at = jax.jit(logits)

    def evaluate(state: Any) -> dict[str, float]:
        measured, g_ahead, d_ahead = measure(state.g, state.d, model.generate(state, z))
        numbers = {k: float(v) for k, v in measured.items()}
        fakes_ahead = model.generate(state.replace(g=g_ahead), z)
        for kind, images in (("real", batch["real"]), ("fake", fakes_ahead)):
            numbers[f"lookahead_logit_{kind}"] = float(
                logits_at(trainable(d_ahead), d_ahead, images)
            )
        for player in ("g", "d"):
            field = numbers[f"field_{player}"]  # 0 where G's loss saturates in float32
            numbers[f"self_ratio_{player}"] = (
                numbers[f"self_{player}"] / field if field else math.nan
            )
        top = dy.hessian_eigenvalues(game, state.g, state.d, batch, "d", steps=SHARPNESS_STEPS)
        numbers["sharpness_d"] = lr * float(top["largest"][-1])
        return numbers

    return evaluate


def drift_along_run(
    scheme: str,
    images: jax.Array,
    lr: float,
    steps: int,
    workdir: str,
    *,
    resolution: int = 32,
    width: int = 16,
    seed: int = 0,
    self_regularizer: float = 0.0,
    progress: bool = True,
) -> list[dict]:
    """A DCGAN trained with plain SGD at ``lr`` under ``scheme`` for ``steps`` steps from
    ``seed`` (one start for every rule), through :func:`gan_jax.training.fit` with
    :func:`drift_diagnostics` as its evaluation every 25 steps; the rows of step 0 and of
    every evaluation (``workdir`` is the run's folder, replaced).  ``self_regularizer``:
    the config's ``self_drift_regularizer`` (1 cancels extragradient's self terms); the
    diagnostics are of the unregularised losses."""
    config = ImageGANConfig(
        resolution=resolution, channels=int(images.shape[-1]), width=width, optimizer="sgd",
        scheme=scheme, lr_g=lr, lr_d=lr, self_drift_regularizer=self_regularizer,
    )  # fmt: skip
    model = build_image_gan(config, images, jax.random.key(seed))
    batch = {"real": images[:64], "key": jax.random.key(9), "step": jnp.int32(0)}
    z = latents(jax.random.key(10), 64, config.latent_dim)
    game = model.game
    if self_regularizer:  # the diagnostics measure the unregularised losses
        plain = dataclasses.replace(config, self_drift_regularizer=0.0)
        game = build_image_gan(plain, images[:64], jax.random.key(seed)).game
    evaluate = drift_diagnostics(model, batch, lr, scheme, z, game)
    shutil.rmtree(workdir, ignore_errors=True)
    fit = training.FitConfig(steps, log_every=25, eval_every=25, checkpoint_every=steps,
                             sample_every=0)  # fmt: skip
    training.fit(model.step, model.state, workdir, fit, evaluate=evaluate, progress=progress,
                 description=f"drift along {scheme}")  # fmt: skip
    start = {"step": 0, **evaluate(model.state)}
    return [start] + [row for row in training.read_metrics(workdir) if row.get("eval")]
