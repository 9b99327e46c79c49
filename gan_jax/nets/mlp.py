"""Multilayer perceptron generator and discriminator (flax.linen).

Used for the toy studies: 1-D and 2-D densities, mixtures of Gaussians and the optimal
discriminator.  Width, depth and activation are configurable; the discriminator returns
one raw logit per sample, as every loss in :mod:`gan_jax.losses` expects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.nets.layers import MinibatchStdDev

Activation = Callable[[jax.Array], jax.Array]

ACTIVATIONS: dict[str, Activation] = {
    "relu": nn.relu,
    "leaky_relu": lambda x: nn.leaky_relu(x, negative_slope=0.2),
    "tanh": jnp.tanh,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "softplus": nn.softplus,
}


def get_activation(activation: str | Activation) -> Activation:
    """Resolve an activation given by name (see ``ACTIVATIONS``) or as a callable."""
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except KeyError:
        valid = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {activation!r}; choose one of: {valid}") from None


class MLP(nn.Module):
    """``depth`` hidden Dense layers of ``width`` units with ``activation``, then a linear head.

    Inputs are flattened to ``(batch, features)``.  ``param_dtype`` is flax's (float32 by
    default; float64 under ``jax.enable_x64`` for reference computations).
    """

    output_dim: int
    width: int = 128
    depth: int = 2
    activation: str | Activation = "relu"
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = get_activation(self.activation)
        h = x.reshape(x.shape[0], -1)
        for i in range(self.depth):
            h = act(nn.Dense(self.width, param_dtype=self.param_dtype, name=f"hidden_{i}")(h))
        return nn.Dense(self.output_dim, param_dtype=self.param_dtype, name="head")(h)


class MLPGenerator(nn.Module):
    """Maps latent codes ``z`` of shape ``(batch, latent_dim)`` to samples ``(batch, data_dim)``."""

    data_dim: int
    width: int = 128
    depth: int = 3
    activation: str | Activation = "relu"
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        mlp = MLP(
            self.data_dim, self.width, self.depth, self.activation, self.param_dtype, name="mlp"
        )
        return mlp(z)


class MLPDiscriminator(nn.Module):
    """Maps samples ``(batch, ...)`` to one raw logit each, shape ``(batch,)``.

    LeakyReLU(0.2) by default, following DCGAN (arXiv:1511.06434).  With
    ``minibatch_std_group > 0`` a :class:`~gan_jax.nets.layers.MinibatchStdDev` feature is
    appended before the last hidden layer (Karras et al. 2018 put it before D's last block).
    """

    width: int = 128
    depth: int = 3
    activation: str | Activation = "leaky_relu"
    minibatch_std_group: int = 0
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if not self.minibatch_std_group:
            mlp = MLP(1, self.width, self.depth, self.activation, self.param_dtype, name="mlp")
            return mlp(x)[:, 0]
        act = get_activation(self.activation)
        h = x.reshape(x.shape[0], -1)
        for i in range(self.depth):
            if i == self.depth - 1:
                h = MinibatchStdDev(self.minibatch_std_group, name="minibatch_std")(h)
            h = act(nn.Dense(self.width, param_dtype=self.param_dtype, name=f"hidden_{i}")(h))
        return nn.Dense(1, param_dtype=self.param_dtype, name="head")(h)[:, 0]
