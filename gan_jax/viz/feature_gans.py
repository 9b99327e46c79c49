"""Figures of the feature-conditioned GAN studies (:mod:`gan_jax.studies.opengan`)."""

from __future__ import annotations

import os
from collections.abc import Callable

import jax
import numpy as np

from gan_jax.data import ImageDataset
from gan_jax.viz.plotting import plot_image_rows, plt, save_figure

__all__ = [
    "plot_fidelity",
    "plot_opengan",
    "plot_opengan_generations",
    "plot_opengan_generations_k5",
    "plot_pyramid",
    "plot_pyramid_trends",
]


def _class_name(c: int, unseen: list[int]) -> str:
    return f"{c} ({'unseen' if c in unseen else 'seen'})"


def plot_opengan_generations(
    path: str,
    test_set: ImageDataset,
    unseen: list[int],
    embed: Callable[[jax.Array], jax.Array],
    generate: Callable[[jax.Array, int, jax.Array], jax.Array],
    seed: int,
    samples: int = 8,
) -> str:
    """Per class, its first test exemplar and ``samples`` generations conditioned on it."""
    labels = np.asarray(test_set.labels)
    rows = []
    for c in range(test_set.num_classes):
        exemplar = test_set.images[np.flatnonzero(labels == c)[:1]]
        generated = generate(embed(exemplar), samples, jax.random.key(seed + 77 + c))
        rows.append(np.concatenate([np.asarray(exemplar), np.asarray(generated)]))
    return plot_image_rows(
        rows,
        path,
        row_labels=[_class_name(c, unseen) for c in range(test_set.num_classes)],
        col_labels=["exemplar"] + [f"G {i + 1}" for i in range(samples)],
        title=f"OpenGAN, one exemplar (test split); classes {unseen} never trained on",
    )


def plot_opengan_generations_k5(
    path: str, samples_k5: dict[int, jax.Array], unseen: list[int], samples: int = 8
) -> str:
    """Per class, the first ``samples`` generations conditioned on five exemplars."""
    rows = [np.asarray(samples_k5[c][:samples]) for c in sorted(samples_k5)]
    return plot_image_rows(
        rows,
        path,
        row_labels=[_class_name(c, unseen) for c in sorted(samples_k5)],
        title=f"OpenGAN, five exemplars per condition (the first {samples} samples)",
    )


def plot_fidelity(path: str, per_class: dict[str, dict], unseen: list[int]) -> str:
    """Per class, the share of samples classified as the exemplars' class at k = 1 and 5,
    against chance, twice chance and, where ``per_class`` holds it, the class's empirical
    null (``null_k{k}``: how often samples conditioned on the *other* classes are called
    this one), drawn as a black tick on each bar."""
    classes = np.arange(len(per_class))
    chance = 1.0 / len(per_class)
    fig, ax = plt.subplots(figsize=(10.5, 3.6))
    for offset, k in ((-0.2, 1), (0.2, 5)):
        values = [per_class[str(c)][f"fidelity_k{k}"] for c in classes]
        ax.bar(classes + offset, values, width=0.4, label=f"k = {k} exemplars")
        nulls = [per_class[str(c)].get(f"null_k{k}") for c in classes]
        if all(n is not None for n in nulls):
            label = "empirical null (other classes' conditions)" if k == 1 else None
            ax.scatter(classes + offset, nulls, marker="_", s=150, color="black", label=label)
    ax.axhline(
        chance, color="black", linestyle="--", linewidth=1, label=f"chance (1/{len(classes)})"
    )
    ax.axhline(2 * chance, color="gray", linestyle=":", linewidth=1, label="2 × chance")
    ax.set_xticks(classes, [f"{c}\n{'unseen' if c in unseen else 'seen'}" for c in classes])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("samples classified as the exemplar's class")
    ax.set_title("OpenGAN fidelity per class (our all-class digit classifier)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return save_figure(fig, path)


def plot_opengan(
    out: str,
    test_set: ImageDataset,
    unseen: list[int],
    embed: Callable[[jax.Array], jax.Array],
    generate: Callable[[jax.Array, int, jax.Array], jax.Array],
    seed: int,
    samples_k5: dict[int, jax.Array],
    per_class: dict[str, dict],
) -> None:
    """The OpenGAN study's figures in ``out``: ``generations.png`` (one exemplar),
    ``generations_k5.png`` and ``fidelity.png``."""
    plot_opengan_generations(
        os.path.join(out, "generations.png"), test_set, unseen, embed, generate, seed
    )
    plot_opengan_generations_k5(os.path.join(out, "generations_k5.png"), samples_k5, unseen)
    plot_fidelity(os.path.join(out, "fidelity.png"), per_class, unseen)


def plot_pyramid(
    path: str, sources: np.ndarray, columns: list[np.ndarray], levels: list[str]
) -> str:
    """One row per (source, z): the source, then its generation from each level."""
    rows, names = [], []
    for i in range(sources.shape[0]):
        for s in range(columns[0].shape[0]):
            rows.append(np.stack([sources[i]] + [column[s, i] for column in columns]))
            names.append(f"source {i + 1}, z{s + 1}")
    return plot_image_rows(
        rows,
        path,
        row_labels=names,
        col_labels=["source", *levels],
        title="Semantic Pyramid: generation from one level of a frozen classifier",
    )


def plot_pyramid_trends(path: str, per_level: dict[str, dict[str, float]]) -> str:
    """Pixel similarity, class agreement and diversity per conditioning level, and the
    samples' precision and recall against real images when the rows have them."""
    names = list(per_level)
    x = np.arange(len(names))
    panels = [
        (("psnr_to_source",), "PSNR to the source (dB)", "pixel similarity"),
        (("class_agreement",), "fraction with the source's class", "class agreement"),
        (("diversity",), "mean per-pixel std over z", "diversity across z"),
    ]
    if "precision" in per_level[names[0]]:
        panels.append((("precision", "recall"), "fraction", "sample quality vs real"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.6))
    for ax, (keys, ylabel, title) in zip(axes, panels):
        for key in keys:
            ax.plot(x, [per_level[n][key] for n in names], "o-", label=key)
        ax.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=8)
        if keys[0] in ("class_agreement", "precision"):
            ax.set_ylim(0, 1.05)
    fig.suptitle("Semantic Pyramid on held-out images, by conditioning level")
    fig.tight_layout()
    return save_figure(fig, path)
