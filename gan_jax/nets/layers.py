"""Layers shared by the discriminators and generators."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class MinibatchStdDev(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, arXiv:1710.10196, §3).

    The batch is split into groups of ``group_size`` samples (sample ``i`` is in group slot
    ``i mod (N/G)``, as in the paper's reshape to ``[G, N/G, …]``).  For each slot, the
    standard deviation over the ``G`` group members of every feature is averaged into one
    number, which is appended to each member as an extra feature (vectors ``(N, F)``) or
    an extra constant channel (images ``(N, H, W, C)``).  A collapsed generator produces
    near-zero spread, which the discriminator can then see.  ``group_size`` is clipped to
    the batch size, which it must divide.
    """

    group_size: int = 4
    epsilon: float = 1e-8

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        n = x.shape[0]
        group = min(self.group_size, n)
        if n % group:
            raise ValueError(f"batch size {n} is not a multiple of the group size {group}")
        grouped = x.reshape((group, n // group) + x.shape[1:])
        std = jnp.sqrt(jnp.var(grouped, axis=0) + self.epsilon)  # (N/G, ...)
        stat = jnp.mean(std.reshape(n // group, -1), axis=1)  # (N/G,)
        per_sample = jnp.tile(stat, group)  # sample g·(N/G) + m gets stat[m]
        feature = jnp.broadcast_to(
            per_sample.reshape((n,) + (1,) * (x.ndim - 1)), x.shape[:-1] + (1,)
        )
        return jnp.concatenate([x, feature.astype(x.dtype)], axis=-1)
