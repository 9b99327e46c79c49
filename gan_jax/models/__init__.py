"""The recipes: each model family's networks, game and batches, assembled by one
:func:`assemble` into a step and a state for :func:`gan_jax.training.fit`.

* :mod:`~gan_jax.models.assembly`: the :class:`Trainer` protocol, the registries
  :data:`LOSSES` and :data:`SCHEMES`, and :func:`assemble` (and its parts);
* :mod:`~gan_jax.models.image_gan` (DCGAN), :mod:`~gan_jax.models.progressive_gan`,
  :mod:`~gan_jax.models.stylegan`, :mod:`~gan_jax.models.lag`,
  :mod:`~gan_jax.models.feature_gan` (OpenGAN, Semantic Pyramid),
  :mod:`~gan_jax.models.mixture_gan` (2-D mixtures, many seeds under ``vmap``);
* :mod:`~gan_jax.models.feature_classifier`: the evaluation classifier (trained on first
  use and cached) and the feature networks; :mod:`~gan_jax.models.semantic_pyramid` and
  :mod:`~gan_jax.models.optimal_discriminator`: their studies' model pieces.
"""

from gan_jax.models.assembly import (
    LOSSES,
    SCHEMES,
    Assembly,
    Trainer,
    assemble,
    ema_clock,
    extra_update,
    initial_state,
    training_step,
    uniform_real_batches,
)

__all__ = [
    "LOSSES",
    "SCHEMES",
    "Assembly",
    "Trainer",
    "assemble",
    "ema_clock",
    "extra_update",
    "initial_state",
    "training_step",
    "uniform_real_batches",
]
