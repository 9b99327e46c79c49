"""Interpolation between latents (a leaf module: networks, metrics and the latent-space
tools all use it, and it imports nothing of the library).

``lerp(a, b, t) = (1 − t)·a + t·b``.  ``slerp`` follows the great circle (Shoemake 1985;
for GAN latents White 2016, arXiv:1609.04468):
``slerp(a, b, t) = sin((1 − t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b`` with ``cos Ω = â·b̂``.
Both act on the last axis; ``t`` broadcasts against the endpoints' leading axes.  Both
are jitted (one program per shape rather than one per operation when called eagerly).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["lerp", "slerp"]


@jax.jit
def lerp(a: Array, b: Array, t: Array | float) -> Array:
    """``(1 − t)·a + t·b`` along the last axis; ``t`` broadcasts against ``a.shape[:-1]``
    (exact endpoints)."""
    t = jnp.asarray(t)[..., None]
    return (1.0 - t) * a + t * b


@jax.jit
def slerp(a: Array, b: Array, t: Array | float, eps: float = 1e-7) -> Array:
    """Spherical interpolation (see module doc); falls back to :func:`lerp` where ``a`` and
    ``b`` are (anti)parallel to within ``eps``."""
    t = jnp.asarray(t)[..., None]
    cos = jnp.sum(a * b, -1) / (jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1))
    omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))[..., None]
    sin = jnp.sin(omega)
    degenerate = sin < eps
    safe = jnp.where(degenerate, 1.0, sin)
    weight_a = jnp.where(degenerate, 1.0 - t, jnp.sin((1.0 - t) * omega) / safe)
    weight_b = jnp.where(degenerate, t, jnp.sin(t * omega) / safe)
    return weight_a * a + weight_b * b
