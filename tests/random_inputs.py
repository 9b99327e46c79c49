"""Random test inputs drawn with NumPy, not ``jax.random``.

A test's inputs only need to be fixed and generic.  ``jax.random.normal`` run outside
``jax.jit`` compiles a program for every new shape (≈ 80 ms each, the threefry hash and
the inverse-erf transform), so a suite that drew its inputs with it compiled a few hundred
programs for them.  An array built by NumPy and put on the device with ``jax.device_put``
compiles nothing (``jnp.asarray`` of a NumPy array compiles a copy, ``jit(stage)``, per
shape; tests/README.md).  Where a test checks what the library draws from a key (a game's
latents, a batch's noise), it keeps ``jax.random``.
"""

from __future__ import annotations

import jax
import numpy as np


def _as(values: np.ndarray, dtype) -> jax.Array:
    """``values`` as ``dtype``, by default JAX's float (float64 under ``jax.enable_x64``,
    as ``jax.random`` would give), converted by NumPy."""
    dtype = jax.dtypes.canonicalize_dtype(np.float64 if dtype is None else dtype)
    return jax.device_put(values.astype(dtype))  # jnp.asarray would compile a copy per shape


def normal(seed: int, shape: tuple[int, ...], dtype=None) -> jax.Array:
    """Standard normal values of ``shape``, fixed by ``seed``."""
    return _as(np.random.default_rng(seed).standard_normal(shape), dtype)


def uniform(
    seed: int, shape: tuple[int, ...], minval: float = 0.0, maxval: float = 1.0, dtype=None
) -> jax.Array:
    """Values uniform on ``[minval, maxval)`` of ``shape``, fixed by ``seed``."""
    return _as(np.random.default_rng(seed).uniform(minval, maxval, shape), dtype)
