"""Image-restoration metrics of super-resolution: PSNR, LR consistency, sharpness and
per-pixel diversity by region (LAG, arXiv:2003.02365)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from gan_jax.nets.progressive import area_downsample
from gan_jax.nets.superres import bicubic_upsample

Array = jax.Array

__all__ = [
    "detail_by_region",
    "detail_layer",
    "diversity_by_region",
    "edge_and_flat_masks",
    "high_frequency_energy",
    "lr_consistency",
    "per_pixel_std",
    "psnr",
    "sharpness_ratio",
]


# --------------------------------------------------------------------------- super-resolution


@jax.jit
def psnr(images: Array, targets: Array, data_range: float = 2.0) -> Array:
    """Peak signal-to-noise ratio per image, ``10·log₁₀(range² / MSE)`` dB (``range`` = 2
    for images in ``[−1, 1]``); ``+inf`` for identical images."""
    axes = tuple(range(1, images.ndim))
    mse = jnp.mean(jnp.square(images - targets), axis=axes)
    return 10.0 * jnp.log10(data_range**2 / mse)


@jax.jit
def lr_consistency(outputs: Array, low_res: Array) -> Array:
    """PSNR between the area down-sampled outputs and the low-resolution inputs, per image:
    how well a super-resolved image explains its seed (``+inf`` when exactly)."""

    return psnr(area_downsample(outputs, outputs.shape[1] // low_res.shape[1]), low_res)


@jax.jit
def high_frequency_energy(images: Array, cutoff: float = 0.125) -> Array:
    """Spectral energy ``Σ |F(x)|²`` of each image (all channels) at radial frequencies
    above ``cutoff`` cycles per pixel (the Nyquist limit is 0.5; an ×4 low-resolution image
    holds nothing above 0.125)."""
    h, w = images.shape[1:3]
    fy, fx = jnp.fft.fftfreq(h)[:, None], jnp.fft.fftfreq(w)[None, :]
    high = (jnp.sqrt(fy**2 + fx**2) > cutoff)[None, :, :, None]
    spectrum = jnp.square(jnp.abs(jnp.fft.fft2(images, axes=(1, 2))))
    return jnp.sum(spectrum * high, axis=(1, 2, 3))


def sharpness_ratio(outputs: Array, targets: Array, cutoff: float = 0.125) -> float:
    """``Σ high-frequency energy of the outputs / Σ that of the targets`` over a batch
    (:func:`high_frequency_energy`): 1 when the outputs are as detailed as the truth, below
    1 when blurred (an L2 regression's answer), above 1 when over-sharpened or noisy."""
    return float(
        jnp.sum(high_frequency_energy(outputs, cutoff))
        / jnp.sum(high_frequency_energy(targets, cutoff))
    )


@jax.jit
def per_pixel_std(samples: Array) -> Array:
    """``(Z, N, H, W, C) -> (N, H, W)``: the standard deviation over ``Z`` samples for the
    same input (LAG's different z), averaged over channels."""
    return jnp.mean(jnp.std(samples, axis=0), axis=-1)


@functools.partial(jax.jit, static_argnames=("fraction",))
def edge_and_flat_masks(images: Array, fraction: float = 0.2) -> tuple[Array, Array]:
    """Per image, the ``k = round(fraction·H·W)`` pixels with the largest gradient
    magnitude (edges) and the ``k`` with the smallest (flat regions), from forward
    differences of the channel mean, ``(N, H, W)`` booleans each.  By rank, so ties (a
    flat image) still give ``k`` pixels each."""
    luma = jnp.mean(images, axis=-1)
    gy = jnp.diff(luma, axis=1, append=luma[:, -1:, :])
    gx = jnp.diff(luma, axis=2, append=luma[:, :, -1:])
    magnitude = jnp.sqrt(gy**2 + gx**2).reshape(images.shape[0], -1)
    count = magnitude.shape[1]
    k = max(1, round(fraction * count))
    rank = jnp.argsort(jnp.argsort(magnitude, axis=1, stable=True), axis=1)
    return (rank >= count - k).reshape(luma.shape), (rank < k).reshape(luma.shape)


def diversity_by_region(samples: Array, targets: Array, fraction: float = 0.2) -> dict:
    """Mean :func:`per_pixel_std` over all pixels, over the targets' edges and over their
    flat regions (:func:`edge_and_flat_masks`): where a conditional generator's
    variation concentrates."""
    std = per_pixel_std(samples)
    edges, flat = edge_and_flat_masks(targets, fraction)
    return {
        "mean": float(jnp.mean(std)),
        "edges": float(jnp.sum(std * edges) / jnp.sum(edges)),
        "flat": float(jnp.sum(std * flat) / jnp.sum(flat)),
    }


@functools.partial(jax.jit, static_argnames=("scale",))
def detail_layer(images: Array, scale: int) -> Array:
    """What an ×``scale`` seed cannot hold: ``x − bicubic(area_down(x))`` per pixel, the
    band a super-resolver has to invent (0 for an image its own seed explains)."""
    return images - bicubic_upsample(area_downsample(images, scale), scale)


def detail_by_region(outputs: Array, targets: Array, scale: int, fraction: float = 0.2) -> dict:
    """Where a super-resolver puts its detail (:func:`detail_layer`), split by the targets'
    edges and flat regions (:func:`edge_and_flat_masks`):

    * ``edges_ratio``: ``Σ_edges |detail(x̂)|² / Σ_edges |detail(x)|²``, the sharpness of
      the outputs where the truth has detail (1 = as detailed as the truth there);
    * ``flat_rms`` / ``target_flat_rms``: the root-mean-square detail of the outputs and
      of the truth on the truth's flat regions, where the truth has almost none: detail
      there is an artifact (speckle), which a pooled sharpness ratio
      (:func:`sharpness_ratio`) would count as sharpness."""
    detail_out = jnp.mean(jnp.square(detail_layer(outputs, scale)), axis=-1)
    detail_true = jnp.mean(jnp.square(detail_layer(targets, scale)), axis=-1)
    edges, flat = edge_and_flat_masks(targets, fraction)
    return {
        "edges_ratio": float(jnp.sum(detail_out * edges) / jnp.sum(detail_true * edges)),
        "flat_rms": float(jnp.sqrt(jnp.sum(detail_out * flat) / jnp.sum(flat))),
        "target_flat_rms": float(jnp.sqrt(jnp.sum(detail_true * flat) / jnp.sum(flat))),
    }
