"""Checks of a training run shared by the engine's and the recipes' tests: its logged
losses, and two states equal bit for bit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import training


def loss_rows(workdir) -> list[tuple[int, float, float]]:
    return [
        (r["step"], r["loss_d"], r["loss_g"])
        for r in training.read_metrics(workdir)
        if "loss_d" in r
    ]


def assert_same_state(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
