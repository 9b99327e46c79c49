"""Figures of game dynamics: phase portraits, vector fields, spectral radii, eigenvalues."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.ticker import NullFormatter

from gan_jax.viz.plotting import plt, save_figure

SCHEME_COLORS = {
    "simultaneous": "tab:red",
    "alternating": "tab:blue",
    "extragradient": "tab:green",
    "optimistic": "tab:purple",
    "consensus": "tab:orange",
    "alternating + negative momentum": "tab:cyan",
    "simultaneous + momentum": "tab:brown",
    "extragradient + self reg.": "tab:olive",
}


def _color(name: str, index: int) -> str:
    return SCHEME_COLORS.get(name, f"C{index % 10}")


def plot_phase_portraits(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
    path: str | os.PathLike,
    flow_radius: float | None = None,
    suptitle: str | None = None,
    xlabel: str = "x (g player)",
    ylabel: str = "y (d player)",
    ncols: int = 4,
) -> str:
    """One panel per ``(title, xs, ys)`` trajectory: the path, its start (circle) and end
    (square); optionally the continuous-time gradient-flow circle of ``flow_radius``."""
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_axis_off()
    for i, (ax, (title, xs, ys)) in enumerate(zip(axes.ravel(), panels)):
        xs, ys = np.asarray(xs), np.asarray(ys)
        finite = np.isfinite(xs) & np.isfinite(ys)
        xs, ys = xs[finite], ys[finite]
        reach = max(2.0, float(np.max(np.abs(np.concatenate([xs, ys])))) * 1.08)
        if flow_radius is not None:
            theta = np.linspace(0, 2 * np.pi, 200)
            ax.plot(
                flow_radius * np.cos(theta),
                flow_radius * np.sin(theta),
                color="gray",
                linestyle="--",
                linewidth=1.0,
                label="gradient flow",
            )
        ax.plot(
            xs, ys, color=_color(title.split("\n")[0], i), linewidth=0.9, marker=".", markersize=2
        )
        ax.plot(xs[0], ys[0], "o", color="black", markersize=5, label="start")
        ax.plot(
            xs[-1],
            ys[-1],
            "s",
            color=_color(title.split("\n")[0], i),
            markeredgecolor="black",
            markersize=6,
            label="end",
        )
        ax.axhline(0, color="lightgray", linewidth=0.8, zorder=0)
        ax.axvline(0, color="lightgray", linewidth=0.8, zorder=0)
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-reach, reach)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
    axes.ravel()[0].legend(fontsize=7, loc="lower left")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_spectral_radius(
    etas: np.ndarray,
    theory: Mapping[str, np.ndarray],
    measured: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | os.PathLike,
    title: str = "Spectral radius of the update map on f(x, y) = xy",
) -> str:
    """Closed-form ρ(η) curves (lines) and measured growth rates (markers), log y-axis."""
    fig, ax = plt.subplots(figsize=(8.0, 5.0))
    for i, (name, rho) in enumerate(theory.items()):
        ax.plot(etas, rho, color=_color(name, i), linewidth=1.5, label=f"{name} (theory)")
        if name in measured:
            m_etas, m_rho = measured[name]
            ax.plot(m_etas, m_rho, "o", color=_color(name, i), markersize=4, markerfacecolor="none")
    ax.axhline(1.0, color="black", linewidth=1.0, linestyle=":")
    ax.plot([], [], "o", color="gray", markerfacecolor="none", label="measured (rollouts)")
    ax.set_yscale("log")
    ax.set_xlabel("step size η")
    ax.set_ylabel("spectral radius ρ   (< 1 converges)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    return save_figure(fig, path)


def plot_sign_cycle(
    xs: np.ndarray,
    ys: np.ndarray,
    eta: float,
    change_steps: Sequence[tuple[int, str]],
    period_etas: np.ndarray,
    measured_periods: np.ndarray,
    path: str | os.PathLike,
) -> str:
    """The sign cycle of alternating GDA on xy.

    Left: one revolution in the (x, y) plane, quadrants labelled by their sign pair, and
    every sign change annotated with its step.  Middle: x_t and y_t over the steps.
    Right: measured steps per revolution against 2π/η and the exact 2π/arccos(1 - η²/2).
    """
    fig, (ax, ax_t, ax_p) = plt.subplots(1, 3, figsize=(16.0, 5.0))
    reach = 1.25 * float(np.max(np.abs(np.concatenate([xs, ys]))))
    for sx, sy in [(1, 1), (-1, 1), (-1, -1), (1, -1)]:
        label = f"({'+' if sx > 0 else '−'},{'+' if sy > 0 else '−'})"
        ax.text(
            sx * 0.8 * reach,
            sy * 0.88 * reach,
            label,
            ha="center",
            va="center",
            fontsize=13,
            color="dimgray",
            weight="bold",
        )
    ax.plot(xs, ys, color="tab:blue", linewidth=1.2, marker=".", markersize=3)
    ax.plot(xs[0], ys[0], "o", color="black", markersize=6)
    for step, text in change_steps:
        ax.plot(xs[step], ys[step], "D", color="tab:red", markersize=6)
        ax.annotate(
            f"step {step}: {text}",
            (xs[step], ys[step]),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
            color="tab:red",
        )
    ax.axhline(0, color="gray", linewidth=0.8)
    ax.axvline(0, color="gray", linewidth=0.8)
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.set_xlabel("x (g player)")
    ax.set_ylabel("y (d player)")
    ax.set_title(
        f"Alternating GDA on xy, η = {eta:g}: (+,+) → (−,+) → (−,−) → (+,−) → (+,+)", fontsize=9
    )

    steps = np.arange(len(xs))
    ax_t.plot(steps, xs, label="x_t", color="tab:blue")
    ax_t.plot(steps, ys, label="y_t", color="tab:orange")
    for step, _ in change_steps:
        ax_t.axvline(step, color="tab:red", linewidth=0.8, linestyle=":")
    ax_t.axhline(0, color="gray", linewidth=0.8)
    ax_t.set_xlabel("step")
    ax_t.set_ylabel("value")
    ax_t.set_title("coordinates over time (red: sign changes)", fontsize=9)
    ax_t.legend(fontsize=8)
    ax_t.grid(alpha=0.3)

    fine = np.linspace(period_etas.min(), period_etas.max(), 200)
    ax_p.plot(fine, 2 * np.pi / fine, color="gray", linestyle="--", label="2π/η")
    ax_p.plot(
        fine,
        2 * np.pi / np.arccos(1 - fine**2 / 2),
        color="black",
        linewidth=1.0,
        label="2π / arccos(1 − η²/2) (exact)",
    )
    ax_p.plot(period_etas, measured_periods, "o", color="tab:red", label="measured")
    ax_p.set_xscale("log")
    ax_p.set_yscale("log")
    ax_p.set_xlabel("step size η")
    ax_p.set_ylabel("steps per revolution")
    ax_p.set_title("period of the cycle", fontsize=9)
    ax_p.legend(fontsize=8)
    ax_p.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_vector_fields(
    panels: Sequence[Mapping[str, np.ndarray | str]],
    path: str | os.PathLike,
    suptitle: str,
    ncols: int = 4,
    limit: float = 2.0,
) -> str:
    """Dirac-GAN style panels: the field (``grid_x, grid_y, u, v``) as a quiver plot and the
    discrete trajectory (``xs, ys``) on top; ``title`` per panel."""
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 3.8 * nrows), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_axis_off()
    for ax, panel in zip(axes.ravel(), panels):
        u, v = np.asarray(panel["u"]), np.asarray(panel["v"])
        grid_x = np.asarray(panel["grid_x"])
        spacing = float(grid_x[0, 1] - grid_x[0, 0])
        speed = np.maximum(np.hypot(u, v), 1e-12)
        # Unit arrows (direction only) of 0.7 grid spacings, shaded by log speed.
        ax.quiver(
            grid_x,
            panel["grid_y"],
            u / speed,
            v / speed,
            np.log10(speed),
            cmap="Blues",
            angles="xy",
            scale_units="xy",
            scale=1.0 / (0.7 * spacing),
            pivot="mid",
            width=0.005,
            clim=(np.log10(speed).max() - 2.0, np.log10(speed).max()),
        )
        xs, ys = np.asarray(panel["xs"]), np.asarray(panel["ys"])
        ax.plot(xs, ys, color="tab:red", linewidth=1.2)
        ax.plot(xs[0], ys[0], "o", color="black", markersize=5)
        ax.plot(xs[-1], ys[-1], "s", color="tab:red", markeredgecolor="black", markersize=6)
        ax.plot(0, 0, "*", color="gold", markeredgecolor="black", markersize=11)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_title(str(panel["title"]), fontsize=9)
        ax.set_xlabel("θ (generator)", fontsize=8)
        ax.set_ylabel("ψ (discriminator)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(suptitle)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_eigenvalues(
    measured: Mapping[str, np.ndarray],
    closed_form: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    title: str,
) -> str:
    """Eigenvalues in the complex plane: autodiff (filled) against closed forms (rings)."""
    fig, ax = plt.subplots(figsize=(7.0, 5.5))
    for i, (name, eigs) in enumerate(measured.items()):
        eigs = np.asarray(eigs)
        # Distinct, shrinking markers keep coinciding spectra (GAN = NS-GAN) visible.
        ax.plot(
            eigs.real,
            eigs.imag,
            "osD^vPX"[i % 7],
            color=f"C{i}",
            markersize=max(3, 9 - i),
            label=name,
            linestyle="none",
        )
        if name in closed_form:
            ref = np.asarray(closed_form[name])
            ax.plot(ref.real, ref.imag, "o", color=f"C{i}", markersize=13, markerfacecolor="none")
    ax.plot([], [], "o", color="gray", markersize=13, markerfacecolor="none", label="closed form")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("Re λ   (< 0: locally convergent flow)")
    ax.set_ylabel("Im λ")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save_figure(fig, path)


def plot_distances(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | os.PathLike,
    title: str,
    zoom: tuple[float, float] = (0.1, 20.0),
) -> str:
    """‖z_t‖ over steps on a log scale: the full range (left) and a zoom around the start
    (right), where the slowly converging, cycling and slowly diverging rules separate."""
    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.5))
    for ax, limits in zip(axes, (None, zoom)):
        for i, (name, (steps, values)) in enumerate(curves.items()):
            ax.plot(steps, values, color=_color(name, i), linewidth=1.4, label=name)
        ax.set_yscale("log")
        if limits is not None:
            ax.set_ylim(*limits)
            ax.set_title("zoom", fontsize=10)
        else:
            ax.set_title("full range", fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("‖(x, y)‖")
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_game_spectra(runs: Mapping[str, dict], dirac: Mapping[str, dict], path: str) -> str:
    """Left: the top eigenvalues of each run's game Jacobian, one colour per training step
    (``runs[name]["steps"][step]["eigenvalues"]`` as ``[re, im]`` pairs).  Right: the
    Dirac-GAN's measured eigenvalues (filled) on their closed forms (rings)."""
    fig, (ax_run, ax_dirac) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=(1.6, 1))
    markers = "osD^v"
    for r, (name, run) in enumerate(runs.items()):
        steps = list(run["steps"])
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(steps)))
        for color, step in zip(colors, steps, strict=True):
            values = np.asarray(run["steps"][step]["eigenvalues"])
            label = f"{name}, step {step}" if len(runs) > 1 else f"step {step}"
            ax_run.plot(values[:, 0], values[:, 1], markers[r % 5], color=color, label=label, ms=6)
    ax_run.set_xscale("symlog", linthresh=1.0)
    ax_run.set_yscale("symlog", linthresh=1.0)
    ax_run.axvline(0, color="black", lw=0.8)
    ax_run.axhline(0, color="black", lw=0.8)
    ax_run.set(
        xlabel="Re λ (symlog; > 0: attracting for gradient descent)",
        ylabel="Im λ (symlog; rotation)",
        title="DCGAN game Jacobian: eigenvalues of largest |λ|",
    )
    ax_run.grid(alpha=0.3)
    ax_run.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    for i, (name, row) in enumerate(dirac.items()):
        measured, closed = np.asarray(row["eigenvalues"]), np.asarray(row["closed_form"])
        ax_dirac.plot(closed[:, 0], closed[:, 1], "o", color=f"C{i}", ms=14, mfc="none")
        ax_dirac.plot(measured[:, 0], measured[:, 1], "osD"[i], color=f"C{i}", ms=6, label=name)
    ax_dirac.plot([], [], "o", color="gray", ms=14, mfc="none", label="closed form")
    ax_dirac.axvline(0, color="black", lw=0.8)
    ax_dirac.axhline(0, color="black", lw=0.8)
    ax_dirac.set(xlabel="Re λ", ylabel="Im λ", title="calibration: Dirac-GAN at equilibrium")
    ax_dirac.grid(alpha=0.3)
    ax_dirac.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_path_angles(runs: Mapping[str, dict], dirac: Mapping[str, dict], path: str) -> str:
    """Berard et al.'s path-angle plot: the cosine between the vector field and the path
    from the start to the end point (top) and the field's norm (bottom, log), against α
    (0: start, 1: end), for each run and for the Dirac-GAN calibration; the titles give the
    end point's dip (:func:`gan_jax.dynamics.spectrum.end_dip`) where it was measured."""

    def dip(row: Mapping) -> str:
        return f"\n‖v(end)‖ / median ‖v‖ = {row['end_dip']:.2g}" if "end_dip" in row else ""

    panels = [
        (
            f"DCGAN {name}: step {run['path_from_to'][0]} → {run['path_from_to'][1]}{dip(run)}",
            run["path_angle"],
        )
        for name, run in runs.items()
    ]
    panels += [
        (f"Dirac-GAN {name}: (1, 1) → equilibrium{dip(row)}", row["path_angle"])
        for name, row in dirac.items()
    ]
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 6), squeeze=False)
    for column, (title, angle) in enumerate(panels):
        alpha = np.asarray(angle["alpha"])
        top, bottom = axes[0, column], axes[1, column]
        cosine = np.asarray(angle["cosine"])
        top.plot(alpha, cosine, "o-", ms=3)
        # small cosines (a rotation-dominated field) would be a flat line on [−1, 1]
        reach = max(0.05, 1.15 * float(np.max(np.abs(cosine))))
        top.set(
            ylim=(-reach, reach) if reach < 0.5 else (-1.05, 1.05),
            ylabel="cos(v, end − start)",
            title=title,
        )
        bottom.semilogy(alpha, np.maximum(np.asarray(angle["norm"]), 1e-12), "o-", ms=3)
        bottom.set(xlabel="α (0: start, 1: end)", ylabel="‖v‖")
        for ax in (top, bottom):
            ax.axvline(0, color="gray", lw=0.8, ls="--")
            ax.axvline(1, color="gray", lw=0.8, ls="--")
            ax.grid(alpha=0.3)
        top.axhline(0, color="black", lw=0.8)
        top.title.set_fontsize(9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_hessian_extremes(runs: Mapping[str, dict], path: str) -> str:
    """The largest and smallest eigenvalues of G's and D's own Hessians at the steps where
    they were measured (markers only: separate measurements, nothing in between is
    known); a negative smallest value for G means G's loss curves downward there."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, player in zip(axes, ("g", "d"), strict=True):
        measured: set[int] = set()
        for r, (name, run) in enumerate(runs.items()):
            rows = [
                (int(s), row[f"hessian_{player}"])
                for s, row in run["steps"].items()
                if f"hessian_{player}" in row
            ]
            steps = [s for s, _ in rows]
            measured.update(steps)
            for end, marker in (("largest", "o"), ("smallest", "s")):
                ax.plot(
                    steps,
                    [h[end] for _, h in rows],
                    marker,
                    ls="none",
                    ms=8,
                    mfc="none" if end == "smallest" else None,
                    color=f"C{r}",
                    label=f"{name}: {end}" if len(runs) > 1 else end,
                )
        ax.set_xticks(sorted(measured))
        span = max(measured) - min(measured) if measured else 1
        ax.set_xlim(min(measured, default=0) - 0.15 * span, max(measured, default=1) + 0.15 * span)
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.margins(y=0.08)  # markers at the extremes stay inside the axes
        ax.autoscale_view()
        ax.axhline(0, color="black", lw=0.8)
        who = "G: ∇²_g L_g" if player == "g" else "D: ∇²_d L_d"
        ax.set(xlabel="training step", ylabel="eigenvalue (symlog)", title=f"{who}, extremes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def _drift_grid(runs: Mapping, title: str):
    """A games × schemes grid of axes for the drift figures, titled per panel."""
    games = list(dict.fromkeys(game for game, _ in runs))
    schemes = list(dict.fromkeys(scheme for _, scheme in runs))
    fig, axes = plt.subplots(
        len(games), len(schemes), figsize=(4.6 * len(schemes), 4.0 * len(games)), squeeze=False
    )
    fig.suptitle(title)
    panels = {
        (game, scheme): axes[i, j]
        for i, game in enumerate(games)
        for j, scheme in enumerate(schemes)
    }
    for (game, scheme), ax in panels.items():
        ax.set_title(f"{game.replace('_', '-')}, {scheme} GD", fontsize=10)
        ax.grid(alpha=0.3)
    return fig, panels


def plot_drift_trajectories(runs: Mapping, path: str | os.PathLike, h: float) -> str:
    """Per game and scheme: the discrete iterates (dots), the game's own flow (gray) and the
    modified flow with the drift (dashed), from the same start (Rosca et al. 2021)."""
    steps = len(next(iter(runs.values()))["discrete"]) - 1
    fig, panels = _drift_grid(runs, f"Iterates vs flows, h = {h:g}, {steps} steps from (1, 1)")
    for key, ax in panels.items():
        run = runs[key]
        ax.plot(*run["original"].T, color="gray", linewidth=1.2, label="game's flow ż = F")
        ax.plot(*run["discrete"].T, ".", color="tab:blue", markersize=2.5, label="GD iterates")
        ax.plot(*run["modified"].T, "--", color="tab:red", linewidth=1.0,
                label="modified flow ż = F + C")  # fmt: skip
        ax.plot(*run["discrete"][0], "o", color="black", markersize=4)
        ax.set_xlabel("θ / x (G)")
        ax.set_ylabel("ψ / y (D)")
        ax.set_aspect("equal", adjustable="datalim")
    next(iter(panels.values())).legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_drift_errors(runs: Mapping, path: str | os.PathLike, h: float) -> str:
    """Per game and scheme: the iterates' distance to each flow over the steps (log)."""
    fig, panels = _drift_grid(runs, f"Distance of the GD iterates to each flow, h = {h:g}")
    for key, ax in panels.items():
        run = runs[key]
        steps = np.arange(len(run["discrete"]))
        for name, style in (("original", "-"), ("modified", "--")):
            gap = np.linalg.norm(run["discrete"] - run[name], axis=1)
            label = "to the game's flow" if name == "original" else "to the modified flow"
            ax.plot(steps[1:], gap[1:], style, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("‖z_n − z(n)‖")
    next(iter(panels.values())).legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_drift_orders(orders: Mapping, path: str | os.PathLike) -> str:
    """Per game and scheme: the error at the horizon against ``h`` (log-log) for each flow,
    with the fitted orders (the modified flow's is 2, the game's own 1)."""
    horizon = next(iter(orders.values()))["horizon"]
    fig, panels = _drift_grid(orders, f"Error at the horizon T = {horizon:g} against the step h")
    for key, ax in panels.items():
        row = orders[key]
        hs = np.asarray(row["order_h"])
        ax.loglog(hs, row["error_original"], "o-",
                  label=f"game's flow: order {row['order_original']:.2f}")  # fmt: skip
        ax.loglog(hs, row["error_modified"], "s--",
                  label=f"modified flow: order {row['order_modified']:.2f}")  # fmt: skip
        ax.set_xticks(hs, [f"{h:g}" for h in hs])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("h")
        ax.set_ylabel("‖z_n − z(T)‖")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


# D's sharpness below this is a diverged run's (saturated logits, zero curvature)
SHARPNESS_FLOOR = 1e-3


def plot_drift_along_runs(
    rows: Mapping[str, Sequence[Mapping]], path: str | os.PathLike, lr: float
) -> str:
    """Per rule along a DCGAN run, four panels: the drift's self term against the field,
    ``‖C_self‖/‖F‖`` for D (solid) and G (dashed), where first-order backward error
    analysis needs it small; D's mean logits on real (solid) and generated (dashed)
    images; the same at the lookahead ``z + F(z)``, where extragradient takes its
    gradient; and D's sharpness ``η·λ_max(∇²_d L_d)`` against the limits of gradient
    descent (2) and extragradient (1) on a quadratic.  Logits on symmetric-log axes."""
    fig, axes = plt.subplots(2, 2, figsize=(13.0, 8.6))
    ratio, logits, ahead, sharpness = axes.ravel()
    for i, (scheme, evals) in enumerate(rows.items()):
        color = _color(scheme, i)
        steps = [e["step"] for e in evals]
        for ax, key, style, suffix in (
            (ratio, "self_ratio_d", "-", "D"),
            (ratio, "self_ratio_g", "--", "G"),
            (logits, "logit_real", "-", "real"),
            (logits, "logit_fake", "--", "generated"),
            (ahead, "lookahead_logit_real", "-", "real"),
            (ahead, "lookahead_logit_fake", "--", "generated"),
            (sharpness, "sharpness_d", "-o", "D"),
        ):
            values = [float(e[key]) for e in evals]  # "nan" where the log wrote a non-number
            ax.plot(steps, values, style, color=color, label=f"{scheme}: {suffix}", markersize=3)
    ratio.set_yscale("log")
    ratio.axhline(1.0, color="gray", linestyle=":", linewidth=1.0)
    ratio.set_title(f"‖C_self‖ / ‖F‖ along each run (SGD η = {lr:g})", fontsize=10)
    for ax, title in (
        (logits, "D's mean logit (> 0: called real)"),
        (ahead, "D's mean logit at the lookahead z + F(z) (extragradient's half step)"),
    ):
        ax.set_yscale("symlog", linthresh=1.0)
        ax.axhline(0.0, color="gray", linestyle=":", linewidth=1.0)
        ax.set_title(title, fontsize=10)
    sharpness.set_yscale("log")
    values = [float(e["sharpness_d"]) for evals in rows.values() for e in evals]
    shown = [v for v in values if v >= SHARPNESS_FLOOR]  # below: a diverged run's flat D
    sharpness.set_ylim(min([0.5, *shown]) / 1.5, max([4.0, *shown]) * 1.5)
    for limit, name in ((2.0, "gradient descent's limit"), (1.0, "extragradient's limit")):
        sharpness.axhline(limit, color="gray", linestyle=":" if limit == 1 else "--",
                          linewidth=1.0, label=name)  # fmt: skip
    title = "D's sharpness η·λ_max(∇²_d L_d) (Lanczos lower bound)"
    if len(shown) < len([v for v in values if math.isfinite(v)]):
        title += f"\n(values below {SHARPNESS_FLOOR:g}, a diverged run's, are off the axis)"
    sharpness.set_title(title, fontsize=10)
    for ax in axes.ravel():
        ax.set_xlabel("step (sampled every 25: a sign flip every step shows as alternation)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5)
    fig.tight_layout()
    return save_figure(fig, path)
