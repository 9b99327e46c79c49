"""Multilayer perceptron generator and discriminator (flax.linen).

Used for the toy studies: 1-D and 2-D densities, mixtures of Gaussians and the optimal
discriminator.  Width, depth and activation are configurable; the discriminator returns
one raw logit per sample, as every loss in :mod:`gan_jax.losses` expects.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.nets.layers import BatchNorm, Maxout, MinibatchStdDev

Activation = Callable[[jax.Array], jax.Array]
Initializer = Callable[..., jax.Array]

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
    """``depth`` hidden layers of ``width`` units with ``activation``, then a linear head.

    Inputs are flattened to ``(batch, features)``.  ``param_dtype`` is flax's (float32 by
    default; float64 under ``jax.enable_x64`` for reference computations).  Options the
    published toy setups need (all off by default):

    * ``maxout_pieces = k > 0``: every hidden layer is a :class:`~gan_jax.nets.layers.Maxout`
      layer of ``width`` units with ``k`` pieces (the activation is then unused), as
      PacGAN's 2-D discriminator (arXiv:1712.04086);
    * ``batch_norm``: bias-free Dense, BatchNorm (running averages with momentum 0.95, as
      PacGAN's code), activation: PacGAN's 2-D generator.  ``train`` selects batch
      statistics or the running averages;
    * ``minibatch_std_group = G > 0``: a :class:`~gan_jax.nets.layers.MinibatchStdDev`
      feature appended before the last hidden layer (Karras et al. 2018 put it before D's
      last block);
    * ``kernel_init``: the weights' initializer (flax's LeCun normal by default; PacGAN's
      code N(0, 0.02²), Metz et al.'s orthogonal with gain 1.4).
    """

    output_dim: int
    width: int = 128
    depth: int = 2
    activation: str | Activation = "relu"
    param_dtype: Any = jnp.float32
    maxout_pieces: int = 0
    batch_norm: bool = False
    minibatch_std_group: int = 0
    kernel_init: Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        act = get_activation(self.activation)
        dense = functools.partial(
            nn.Dense, kernel_init=self.kernel_init, param_dtype=self.param_dtype
        )
        h = x.reshape(x.shape[0], -1)
        for i in range(self.depth):
            if self.minibatch_std_group and i == self.depth - 1:
                h = MinibatchStdDev(self.minibatch_std_group, name="minibatch_std")(h)
            if self.maxout_pieces:
                h = Maxout(
                    self.width,
                    self.maxout_pieces,
                    kernel_init=self.kernel_init,
                    param_dtype=self.param_dtype,
                    name=f"hidden_{i}",
                )(h)
                continue
            h = dense(self.width, use_bias=not self.batch_norm, name=f"hidden_{i}")(h)
            if self.batch_norm:
                h = BatchNorm(use_running_average=not train, momentum=0.95, name=f"norm_{i}")(h)
            h = act(h)
        return dense(self.output_dim, name="head")(h)


def with_discrete_code(z: jax.Array, codes: int) -> jax.Array:
    """``[one_hot(argmax z[:, :K]), z[:, K:]]``: the first ``K`` coordinates of a Gaussian
    latent pick one of ``K`` codes, each with probability ``1/K`` (the arg-max of ``K``
    i.i.d. normals is uniform), and the generator sees the code as a one-hot vector beside
    the remaining ``latent_dim − K`` coordinates.  The prior stays ``N(0, I)``."""
    if not 0 < codes < z.shape[-1]:
        raise ValueError(f"{codes} discrete codes need a latent of more than {codes} dimensions")
    code = jax.nn.one_hot(jnp.argmax(z[:, :codes], axis=-1), codes, dtype=z.dtype)
    return jnp.concatenate([code, z[:, codes:]], axis=-1)


class MLPGenerator(nn.Module):
    """Maps latent codes ``z`` of shape ``(batch, latent_dim)`` to samples ``(batch, data_dim)``
    (an :class:`MLP`; with ``batch_norm`` it has BatchNorm statistics and takes ``train``).

    ``discrete_codes = K > 0`` makes G a mixture of ``K`` generators that share every
    weight but a first-layer bias per code (:func:`with_discrete_code`), in the spirit of
    MGAN's parameter-shared generators (Hoang et al. 2018, arXiv:1708.02556).  A continuous
    G maps the connected Gaussian latent space onto a connected set, so between the
    disconnected modes of a mixture it must put samples on bridges (Khayatkhoei et al.
    2018, arXiv:1806.00880; Tanielian et al. 2020, arXiv:2006.04596 bound that mass from
    below); a discrete code lets it jump between modes.
    """

    data_dim: int
    width: int = 128
    depth: int = 3
    activation: str | Activation = "relu"
    param_dtype: Any = jnp.float32
    batch_norm: bool = False
    kernel_init: Initializer = nn.initializers.lecun_normal()
    discrete_codes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        if self.discrete_codes:
            z = with_discrete_code(z, self.discrete_codes)
        mlp = MLP(
            self.data_dim,
            self.width,
            self.depth,
            self.activation,
            self.param_dtype,
            batch_norm=self.batch_norm,
            kernel_init=self.kernel_init,
            name="mlp",
        )
        return mlp(z, train)


class MLPDiscriminator(nn.Module):
    """Maps samples ``(batch, ...)`` to one raw logit each, shape ``(batch,)`` (an
    :class:`MLP` with one output).

    LeakyReLU(0.2) by default, following DCGAN (arXiv:1511.06434); ``maxout_pieces``,
    ``minibatch_std_group`` and ``kernel_init`` as in :class:`MLP`.

    ``code_outputs = n > 0`` adds InfoGAN's recognition head Q on D's body (Chen et al.
    2016, arXiv:1606.03657): the last layer has ``1 + n`` outputs and D returns
    ``(logits (batch,), code_logits (batch, n))``, the form
    :func:`gan_jax.gan.gan_game` with ``latent_codes`` expects (``n = pack × codes``).
    """

    width: int = 128
    depth: int = 3
    activation: str | Activation = "leaky_relu"
    minibatch_std_group: int = 0
    param_dtype: Any = jnp.float32
    maxout_pieces: int = 0
    kernel_init: Initializer = nn.initializers.lecun_normal()
    code_outputs: int = 0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array]:
        mlp = MLP(
            1 + self.code_outputs,
            self.width,
            self.depth,
            self.activation,
            self.param_dtype,
            maxout_pieces=self.maxout_pieces,
            minibatch_std_group=self.minibatch_std_group,
            kernel_init=self.kernel_init,
            name="mlp",
        )
        outputs = mlp(x)
        if self.code_outputs:
            return outputs[:, 0], outputs[:, 1:]
        return outputs[:, 0]
