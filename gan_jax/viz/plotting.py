"""Matplotlib figures: sample grids, 2-D samples with mode centres, training curves.

All functions take host or device arrays and write PNGs with the non-interactive Agg
backend, so they work on a headless machine.  They never hold state between calls.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from gan_jax.metrics import mean_and_standard_error
from gan_jax.training.logs import loss_curves, read_metrics
from gan_jax.training.writers import image_grid

CENTER_STYLE = {
    "marker": "x",
    "color": "crimson",
    "s": 40,
    "linewidths": 1.5,
    "label": "mode centres",
}


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> str:
    """Save ``fig`` to ``path`` (creating folders), close it, and return the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def save_image_grid(
    images: np.ndarray,
    path: str | os.PathLike,
    ncols: int | None = None,
    title: str | None = None,
    scale: float = 0.12,
) -> str:
    """Write :func:`image_grid` of ``images`` to ``path`` as a PNG (grey for one channel)."""
    grid = image_grid(images, ncols)
    height, width = grid.shape[:2]
    fig, ax = plt.subplots(figsize=(max(3.0, width * scale / 4), max(3.0, height * scale / 4)))
    if grid.shape[-1] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def scatter_with_modes(
    ax: Axes,
    samples: np.ndarray,
    centers: np.ndarray | None = None,
    title: str | None = None,
    limit: float | None = None,
) -> Axes:
    """2-D samples as a scatter, with the mixture's mode centres overlaid as red crosses."""
    samples = np.asarray(samples)
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue", label="samples")
    if centers is not None:
        centers = np.asarray(centers)
        ax.scatter(centers[:, 0], centers[:, 1], **CENTER_STYLE)
    _finish_2d_axes(ax, title, limit)
    return ax


def density_with_modes(
    ax: Axes,
    samples: np.ndarray,
    centers: np.ndarray | None = None,
    title: str | None = None,
    limit: float = 3.0,
    bins: int = 100,
) -> Axes:
    """A 2-D histogram (log colour scale) of the samples on ``[-limit, limit]²``, with the
    mode centres overlaid."""
    samples = np.asarray(samples)
    hist, xedges, yedges = np.histogram2d(
        samples[:, 0], samples[:, 1], bins=bins, range=[[-limit, limit], [-limit, limit]]
    )
    ax.imshow(
        np.log1p(hist.T),
        origin="lower",
        extent=(xedges[0], xedges[-1], yedges[0], yedges[-1]),
        cmap="viridis",
        aspect="equal",
    )
    if centers is not None:
        centers = np.asarray(centers)
        ax.scatter(centers[:, 0], centers[:, 1], **{**CENTER_STYLE, "color": "white"})
    _finish_2d_axes(ax, title, limit)
    return ax


def _finish_2d_axes(ax: Axes, title: str | None, limit: float | None) -> None:
    if limit is not None:
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    if title:
        ax.set_title(title)


def plot_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    xlabel: str = "step",
    ylabel: str = "value",
    title: str | None = None,
    logy: bool = False,
    hlines: Mapping[str, float] | None = None,
) -> str:
    """Curves over training steps, one line per ``name: (steps, values)``; optional
    labelled horizontal reference lines (``hlines``)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for name, (steps, values) in curves.items():
        ax.plot(np.asarray(steps), np.asarray(values), label=name, linewidth=1.2)
    for name, value in (hlines or {}).items():
        ax.axhline(value, linestyle="--", color="gray", linewidth=1.0, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_optimal_discriminator(
    x: np.ndarray,
    panels: Sequence[Mapping[str, object]],
    path: str | os.PathLike,
) -> str:
    """One panel per generator: ``p_data``, ``p_g``, the learned ``D`` and ``D*`` over ``x``.

    Each panel mapping has keys ``mu``, ``p_data``, ``p_g``, ``d_learned``, ``d_star``,
    ``max_abs_error``, ``value_mc`` and ``value_theory``.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, panel in zip(axes, panels):
        ax.fill_between(x, panel["p_data"], color="tab:blue", alpha=0.2, linewidth=0)
        ax.plot(x, panel["p_data"], color="tab:blue", linewidth=1.2, label="p_data = N(0,1)")
        ax.fill_between(x, panel["p_g"], color="tab:orange", alpha=0.2, linewidth=0)
        ax.plot(
            x, panel["p_g"], color="tab:orange", linewidth=1.2, linestyle=":", label="p_g = N(μ,1)"
        )
        ax.plot(x, panel["d_star"], color="black", linewidth=2.0, label="D*(x) = σ(μ²/2 − μx)")
        ax.plot(
            x,
            panel["d_learned"],
            color="tab:red",
            linestyle="--",
            linewidth=1.8,
            label="learned D(x)",
        )
        ax.set_title(f"μ = {panel['mu']:g}", fontsize=11)
        ax.text(
            0.97,
            0.97,
            f"max|D − D*| = {panel['max_abs_error']:.3f}\n"
            f"V̂ = {panel['value_mc']:.4f}\nV* = {panel['value_theory']:.4f}",
            transform=ax.transAxes,
            fontsize=8,
            va="top",
            ha="right",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "lightgray"},
        )
        ax.set_xlabel("x")
        ax.set_ylim(-0.02, 1.05)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("density / D(x)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize=9, bbox_to_anchor=(0.5, 1.08))
    fig.suptitle("Optimal discriminator (Goodfellow et al. 2014, Prop. 1)", y=1.15)
    return save_figure(fig, path)


def plot_sample_snapshots(
    samples: Mapping[str, np.ndarray],
    steps: Sequence[int],
    centers: np.ndarray,
    path: str | os.PathLike,
    columns: int = 6,
    limit: float | None = None,
    title: str | None = None,
) -> str:
    """A grid of 2-D sample scatters: one row per run (``name: (snapshots, N, 2)``), one
    column per chosen snapshot (``columns`` of them, evenly spaced and ending with the
    last), with the mode centres overlaid, so collapse and mode hopping are visible."""
    num_snapshots = len(steps)
    chosen = np.unique(np.linspace(0, num_snapshots - 1, min(columns, num_snapshots)).round())
    chosen = chosen.astype(int)
    rows = len(samples)
    fig, axes = plt.subplots(
        rows, len(chosen), figsize=(1.9 * len(chosen), 1.9 * rows), squeeze=False
    )
    for r, (name, runs) in enumerate(samples.items()):
        for c, index in enumerate(chosen):
            ax = axes[r, c]
            points = np.asarray(runs[index])
            ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.3, color="tab:blue")
            ax.scatter(centers[:, 0], centers[:, 1], **{**CENTER_STYLE, "s": 12, "linewidths": 0.8})
            if limit is not None:
                ax.set_xlim(-limit, limit)
                ax.set_ylim(-limit, limit)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"step {int(steps[index])}", fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_mean_with_band(
    runs: Mapping[str, np.ndarray],
    steps: Sequence[float],
    path: str | os.PathLike,
    xlabel: str = "step",
    ylabel: str = "value",
    title: str | None = None,
    hlines: Mapping[str, float] | None = None,
) -> str:
    """Curves over steps of many seeds: for each ``name: (seeds, steps)`` the mean over seeds
    as a line and ± one standard error as a shaded band."""
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, values) in enumerate(runs.items()):
        mean, se = mean_and_standard_error(values)
        style = "--" if i >= len(cycle) else "-"
        color = cycle[i % len(cycle)]
        ax.plot(steps, mean, style, color=color, label=name, linewidth=1.3)
        ax.fill_between(steps, mean - se, mean + se, color=color, alpha=0.15)
    for name, value in (hlines or {}).items():
        ax.axhline(value, linestyle=":", color="gray", linewidth=1.0, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save_figure(fig, path)


def plot_classifier_metrics(
    runs: Mapping[str, Sequence[Mapping[str, float]]],
    path: str | os.PathLike,
    fcd_floor: float,
    marks: Sequence[tuple[float, str]] = (),
) -> str:
    """Fréchet classifier distance (log scale) and classes covered over training, one line
    per run (rows with ``step``, ``fcd``, ``classes``), with the real held-out FCD as a
    dashed reference; a third panel of precision (solid) and recall (dashed) when every
    row has them.  The x axis is real images seen when every row has ``images``, else
    steps; ``marks`` are labelled vertical lines at such x values (PGGAN's stages)."""
    rows = [e for evals in runs.values() for e in evals]
    x_key = "images" if rows and all("images" in e for e in rows) else "step"
    with_pr = bool(rows) and all("precision" in e and "recall" in e for e in rows)
    fig, axes = plt.subplots(1, 3 if with_pr else 2, figsize=(16 if with_pr else 11, 4))
    ax_fcd, ax_cls = axes[0], axes[1]
    for index, (name, evals) in enumerate(runs.items()):
        xs = [e[x_key] for e in evals]
        ax_fcd.plot(xs, [float(e["fcd"]) for e in evals], marker="o", ms=3, label=name)
        ax_cls.plot(xs, [float(e["classes"]) for e in evals], marker="o", ms=3, label=name)
        if with_pr:
            color = f"C{index % 10}"
            for key, style in (("precision", "-"), ("recall", "--")):
                axes[2].plot(
                    xs,
                    [float(e[key]) for e in evals],
                    style,
                    color=color,
                    marker="o",
                    ms=3,
                    label=f"{name}: {key}" if len(runs) > 1 else key,
                )
    ax_fcd.axhline(fcd_floor, ls="--", color="gray", label="real held-out images")
    ax_fcd.set_yscale("log")
    xlabel = "real images seen" if x_key == "images" else "step"
    ax_fcd.set(xlabel=xlabel, ylabel="Fréchet classifier distance", title="FCD (lower is better)")
    ax_cls.set(xlabel=xlabel, ylabel="classes covered", title="class coverage", ylim=(0, 10.5))
    panels = [(ax_fcd, "lower left"), (ax_cls, "lower right")]
    if with_pr:
        axes[2].set(
            xlabel=xlabel,
            ylabel="fraction",
            title="precision (quality) and recall (coverage), k = 3",
            ylim=(0, 1.05),
        )
        panels.append((axes[2], "lower right"))
    for ax, legend_at in panels:
        for x, label in marks:
            ax.axvline(x, color="tab:red", lw=0.8, alpha=0.5)
            ax.annotate(
                label,
                (x, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -10),
                textcoords="offset points",
                fontsize=7,
                color="tab:red",
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole numbers
        if x_key == "images":  # 160000 → 160k: six-digit ticks run into each other
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
        ax.legend(fontsize=8, loc=legend_at)
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_truncation_tradeoff(rows: Sequence[Mapping[str, float]], path: str | os.PathLike) -> str:
    """StyleGAN's truncation trade-off against ψ, from rows with ``psi``, ``fcd``,
    ``diversity`` and ``classes``: FCD (log) and feature diversity on the left panel; where
    the rows hold them, precision and recall (Kynkäänniemi et al. 2019, arXiv:1904.06991,
    the measure their paper uses to show the trade-off: precision rises and recall falls as
    ψ → 0) and density and coverage on the right panel."""
    psi = [float(r["psi"]) for r in rows]
    fidelity = [k for k in ("precision", "recall", "density", "coverage") if k in rows[0]]
    fig, axes = plt.subplots(1, 2 if fidelity else 1, figsize=(12, 4) if fidelity else (6.5, 4))
    ax = axes[0] if fidelity else axes
    ax.plot(psi, [float(r["fcd"]) for r in rows], "o-", color="tab:blue", ms=4, label="FCD")
    ax.set_yscale("log")
    ax.set(xlabel="truncation ψ (1 = none)", ylabel="Fréchet classifier distance")
    ax.yaxis.label.set_color("tab:blue")
    twin = ax.twinx()
    twin.plot(
        psi,
        [float(r["diversity"]) for r in rows],
        "s-",
        color="tab:orange",
        ms=4,
        label="diversity",
    )
    twin.set_ylabel("diversity (mean pairwise feature distance)", color="tab:orange")
    twin.set_ylim(bottom=0)
    for r in rows:
        ax.annotate(
            f"{int(r['classes'])}",
            (float(r["psi"]), float(r["fcd"])),
            xytext=(0, 6),
            textcoords="offset points",
            fontsize=7,
            ha="center",
            color="tab:blue",
        )
    ax.set_title("Truncation: FCD and diversity (numbers: classes covered)", fontsize=10)
    ax.grid(alpha=0.3)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles, ["FCD", "diversity"], fontsize=8, loc="upper center")
    if fidelity:
        right = axes[1]
        for key, marker in zip(fidelity, "o^sD", strict=False):
            right.plot(psi, [float(r[key]) for r in rows], f"{marker}-", ms=4, label=key)
        right.set(xlabel="truncation ψ (1 = none)", ylabel="fraction (density: ratio)")
        right.set_ylim(bottom=0)
        right.set_title("Truncation: precision, recall, density, coverage", fontsize=10)
        right.grid(alpha=0.3)
        right.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_image_rows(
    rows: Sequence[np.ndarray],
    path: str | os.PathLike,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    size: float = 0.9,
) -> str:
    """Rows of images (each ``(n_i, H, W, C)`` in ``[−1, 1]``) as one labelled grid; a row
    shorter than the longest leaves its right-hand cells blank (white).  Drawn as one
    canvas, so a 10 × 9 grid renders in a fraction of a second."""
    ncols = max(len(row) for row in rows)
    height, width, channels = np.asarray(rows[0]).shape[1:]
    pad = max(1, height // 8)
    canvas = np.ones(
        (len(rows) * (height + pad) - pad, ncols * (width + pad) - pad, channels), np.float32
    )
    for i, row in enumerate(rows):
        for j, image in enumerate(np.asarray(row, dtype=np.float32)):
            y, x = i * (height + pad), j * (width + pad)
            canvas[y : y + height, x : x + width] = (image + 1.0) / 2.0
    label_width = 1.6 if row_labels else 0.2
    fig, ax = plt.subplots(
        figsize=(ncols * size + label_width, len(rows) * size + (0.9 if title else 0.5))
    )
    if channels == 1:
        # blank cells are white, images grey on black
        ax.imshow(canvas[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(np.clip(canvas, 0.0, 1.0), interpolation="nearest")
    ax.set_xticks([(width + pad) * j + width / 2 for j in range(len(col_labels or []))])
    ax.set_xticklabels(list(col_labels or []), fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks([(height + pad) * i + height / 2 for i in range(len(row_labels or []))])
    ax.set_yticklabels(list(row_labels or []), fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10, pad=18 if col_labels else 6)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_projection_study(
    final_losses: np.ndarray,
    restart_counts: Sequence[int],
    success: Mapping[int, float],
    predicted: Mapping[int, float],
    threshold: float,
    path: str | os.PathLike,
) -> str:
    """Left: every restart's final loss per target (log scale) and the success threshold;
    right: the fraction of targets solved by the best of R restarts, measured and as
    predicted for independent restarts."""
    final_losses = np.asarray(final_losses)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rng = np.random.default_rng(0)
    for n, row in enumerate(final_losses):
        jitter = n + rng.uniform(-0.25, 0.25, row.shape)
        ok = row < threshold
        left.scatter(jitter[ok], row[ok], s=6, color="tab:green", alpha=0.7)
        left.scatter(jitter[~ok], row[~ok], s=6, color="tab:red", alpha=0.7)
    left.axhline(threshold, color="black", linestyle="--", linewidth=1,
                 label=f"success: MSE < {threshold:g}")  # fmt: skip
    left.set_yscale("log")
    left.set_xlabel("target")
    left.set_ylabel("final pixel MSE of each restart")
    left.set_title(f"final loss of each of {final_losses.shape[1]} restarts, per target")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.legend(fontsize=8)
    counts = list(restart_counts)
    right.plot(counts, [success[r] for r in counts], "o-", label="measured (best of first R)")
    right.plot(counts, [predicted[r] for r in counts], "s--", color="gray",
               label="1 − (1 − p)^R, p = per-restart rate")  # fmt: skip
    right.set_xscale("log", base=2)
    right.set_xticks(counts, [str(r) for r in counts])
    right.set_ylim(-0.02, 1.02)
    right.set_xlabel("restarts R")
    right.set_ylabel("targets projected successfully")
    right.set_title("success vs restarts")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_latent_slice(
    a: np.ndarray,
    b: np.ndarray,
    losses: np.ndarray,
    points: Mapping[str, tuple[float, float]],
    path: str | os.PathLike,
) -> str:
    """Filled contours of ``log10`` loss on a 2-D plane of latent space (``losses[j, i]``
    at ``(a[i], b[j])``) with named points marked."""
    fig, ax = plt.subplots(figsize=(6, 5))
    # floored at 1e-5 (RMS 0.003): below that every image is the target to the eye
    contour = ax.contourf(a, b, np.log10(np.maximum(losses, 1e-5)), levels=30, cmap="viridis")
    fig.colorbar(contour, ax=ax, label="log10 pixel MSE")
    markers = iter(["*", "X", "o", "s"])
    for name, (x, y) in points.items():
        ax.plot(x, y, next(markers), color="white", markeredgecolor="black", markersize=12,
                label=name)  # fmt: skip
    ax.set_xlabel("along (restart's end − z*)")
    ax.set_ylabel("along (start − z*), orthogonalised")
    ax.set_title("loss on the plane through z*, a typical failed restart's end and start")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path)


class RunFigures:
    """The figures :func:`gan_jax.training.fit` draws while it trains (a
    :class:`~gan_jax.training.FitFigures`): ``workdir/curves.png`` (the losses so far) and the
    sample grids ``workdir/samples/step_XXXXXXX.png``, the newest also as
    ``workdir/samples.png``."""

    def losses(self, workdir: str) -> None:
        curves = loss_curves(read_metrics(workdir))
        if curves:
            plot_curves(curves, os.path.join(workdir, "curves.png"), ylabel="loss", title="losses")

    def samples(self, images: np.ndarray, workdir: str, step: int) -> None:
        images = np.asarray(images)
        ncols = math.ceil(math.sqrt(images.shape[0]))
        path = os.path.join(workdir, "samples", f"step_{step:07d}.png")
        save_image_grid(images, path, ncols, f"step {step}")
        shutil.copyfile(path, os.path.join(workdir, "samples.png"))


def plot_seed_curves(
    panels: Mapping[str, Mapping[str, Sequence[tuple[Sequence[float], Sequence[float]]]]],
    path: str | os.PathLike,
    xlabel: str = "step",
    ylabel: str = "value",
    logy: bool = False,
    hlines: Mapping[str, float] | None = None,
    suptitle: str | None = None,
) -> str:
    """One panel per ``{title: {group: [(x, y) per run]}}``: every run its own line, one
    colour per group, so that bimodal outcomes (runs that train and runs that fail) stay
    visible where a mean ± standard-error band would hide them."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.6 * len(panels), 4.0), sharey=True, squeeze=False
    )
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (title, groups) in zip(axes[0], panels.items()):
        for i, (group, runs) in enumerate(groups.items()):
            for k, (x, y) in enumerate(runs):
                ax.plot(x, y, color=cycle[i % len(cycle)], linewidth=1.1, alpha=0.8,
                        marker=".", label=f"{group} ({len(runs)} runs)" if k == 0 else None)  # fmt: skip
        for name, value in (hlines or {}).items():
            ax.axhline(value, linestyle=":", color="gray", linewidth=1.0, label=name)
        if logy:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(ylabel)
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return save_figure(fig, path)
